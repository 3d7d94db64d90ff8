package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// api sends an API request and checks the answer against the OpenAPI
// document.
func (e *env) api(t *testing.T, c *apiChecker, method, host, target, body string, header map[string]string) response {
	t.Helper()
	h := map[string]string{}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	for k, v := range header {
		h[k] = v
	}
	var r response
	if body != "" {
		r = e.do(method, host, target, strings.NewReader(body), h)
	} else {
		r = e.do(method, host, target, nil, h)
	}
	c.check(t, method, target, r)
	return r
}

// bookingJSON is a valid booking request body.
func bookingJSON(serviceID string, start time.Time, channel string, cit booking.Citizen) string {
	return fmt.Sprintf(`{"service_id":%q,"start":%q,"channel":%q,"citizen":{"given_name":%q,"family_name":%q,"fiscal_code":%q,"email":%q},"details":"","privacy_accepted":true}`,
		serviceID, start.Format(time.RFC3339), channel, cit.GivenName, cit.FamilyName, cit.FiscalCode, cit.Email)
}

type apiError struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func wantAPIError(t *testing.T, r response, status int, code string, fields ...string) apiError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: got %d, want %d; body %s", r.Status, status, r.Body)
	}
	var ae apiError
	r.json(t, &ae)
	if ae.Error.Code != code {
		t.Errorf("error code: got %q, want %q", ae.Error.Code, code)
	}
	if ae.Error.Message == "" {
		t.Errorf("error message empty")
	}
	for _, f := range fields {
		if ae.Error.Fields[f] == "" {
			t.Errorf("error fields lack %q: %v", f, ae.Error.Fields)
		}
	}
	return ae
}

func TestAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newAPIChecker(t, e.handler)
	b := e.bari

	t.Run("openapi document", func(t *testing.T) {
		r := e.api(t, c, "GET", bariHost, "/api/v1/openapi.json", "", nil)
		wantStatus(t, r, http.StatusOK)
		if r.Body != string(openAPIDoc) {
			t.Errorf("served document differs from the embedded one")
		}
	})

	t.Run("offices", func(t *testing.T) {
		r := e.api(t, c, "GET", bariHost, "/api/v1/offices", "", nil)
		wantStatus(t, r, http.StatusOK)
		var got apiOfficeList
		r.json(t, &got)
		if len(got.Offices) != 2 {
			t.Fatalf("offices: got %d, want 2", len(got.Offices))
		}
		var found bool
		for _, o := range got.Offices {
			for _, s := range o.Services {
				if s.ID == b.Remote.ID {
					found = true
					if s.DurationMinutes != 20 || strings.Join(chStrings(s.Channels), ",") != "in_person,video,phone" {
						t.Errorf("service: got %+v", s)
					}
					if o.ID != b.Office.ID || o.Address != b.Office.Address {
						t.Errorf("office of service: got %+v", o)
					}
				}
			}
		}
		if !found {
			t.Errorf("service %s not listed: %s", b.Remote.ID, r.Body)
		}
	})

	t.Run("slots", func(t *testing.T) {
		target := "/api/v1/services/" + b.Remote.ID + "/slots?from=2027-03-26&to=2027-03-30"
		r := e.api(t, c, "GET", bariHost, target, "", nil)
		wantStatus(t, r, http.StatusOK)
		var got apiSlotList
		r.json(t, &got)
		// Friday 26 (9 slots of 20 minutes), Monday 29 is Easter Monday,
		// Tuesday 30 is after the switch to summer time.
		if len(got.Slots) != 18 {
			t.Fatalf("slots: got %d, want 18: %s", len(got.Slots), r.Body)
		}
		if s := got.Slots[0]; s.Start != "2027-03-26T09:00:00+01:00" || s.End != "2027-03-26T09:20:00+01:00" || s.Remaining != 2 {
			t.Errorf("first slot: got %+v", s)
		}
		if s := got.Slots[9]; s.Start != "2027-03-30T09:00:00+02:00" {
			t.Errorf("first slot after DST: got %+v", s)
		}
		// A full slot stays listed with remaining 0.
		e.create(t, b, b.InPerson, slot(3, 10, 0), booking.InPerson, citizen(40))
		r = e.api(t, c, "GET", bariHost, "/api/v1/services/"+b.InPerson.ID+"/slots?from=2027-03-03&to=2027-03-03", "", nil)
		r.json(t, &got)
		var full bool
		for _, s := range got.Slots {
			if s.Start == "2027-03-03T10:00:00+01:00" {
				full = s.Remaining == 0
			}
		}
		if !full {
			t.Errorf("booked slot not listed with remaining 0: %s", r.Body)
		}
		// Defaults: from today, 31 days.
		r = e.api(t, c, "GET", bariHost, "/api/v1/services/"+b.Remote.ID+"/slots", "", nil)
		wantStatus(t, r, http.StatusOK)
		r.json(t, &got)
		if first, last := got.Slots[0].Start, got.Slots[len(got.Slots)-1].Start; !strings.HasPrefix(first, "2027-03-01T09:00") || !strings.HasPrefix(last, "2027-03-31") {
			t.Errorf("default range: first %s, last %s", first, last)
		}
	})
	t.Run("slots errors", func(t *testing.T) {
		base := "/api/v1/services/" + b.Remote.ID + "/slots"
		for _, tt := range []struct{ query, field string }{
			{"?from=2027-3-1", "from"},
			{"?from=2027-03-01&to=domani", "to"},
			{"?from=2027-03-10&to=2027-03-01", "to"},
			{"?from=2027-03-01&to=2027-05-02", "to"},
		} {
			r := e.api(t, c, "GET", bariHost, base+tt.query, "", nil)
			wantAPIError(t, r, http.StatusUnprocessableEntity, "validation_failed", tt.field)
		}
		r := e.api(t, c, "GET", bariHost, "/api/v1/services/nessuno/slots", "", nil)
		wantAPIError(t, r, http.StatusNotFound, "not_found")
	})
	t.Run("challenge", func(t *testing.T) {
		// A service without proof of work: bits 0 (fair_web_test.go
		// tests the proof itself).
		r := e.api(t, c, "GET", bariHost, "/api/v1/services/"+b.InPerson.ID+"/challenge", "", nil)
		wantStatus(t, r, http.StatusOK)
		wantAPIError(t, e.api(t, c, "GET", bariHost, "/api/v1/services/nessuno/challenge", "", nil), http.StatusNotFound, "not_found")
	})

	var created apiBookingCreated
	t.Run("create", func(t *testing.T) {
		r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(2, 10, 0), "in_person", citizen(41)), nil)
		wantStatus(t, r, http.StatusCreated)
		r.json(t, &created)
		if !strings.HasPrefix(created.Code, "BA-") || created.Start != "2027-03-02T10:00:00+01:00" || created.End != "2027-03-02T10:30:00+01:00" {
			t.Errorf("created: got %+v", created)
		}
		if want := "http://" + bariHost + booking.ManagePath(created.Code, created.ManageToken); created.ManageURL != want {
			t.Errorf("manage_url: got %q, want %q", created.ManageURL, want)
		}
		if created.JoinURL != nil {
			t.Errorf("join_url of an in-person booking: got %q, want null", *created.JoinURL)
		}
		if !strings.Contains(r.Body, `"join_url":null`) {
			t.Errorf("join_url not null in %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != "http://"+bariHost+"/api/v1/bookings/"+created.Code {
			t.Errorf("Location: got %q", loc)
		}
	})
	t.Run("create video", func(t *testing.T) {
		r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", bookingJSON(b.Remote.ID, slot(2, 10, 0), "video", citizen(42)), nil)
		wantStatus(t, r, http.StatusCreated)
		var got apiBookingCreated
		r.json(t, &got)
		if got.JoinURL == nil || !strings.HasPrefix(*got.JoinURL, "http://"+bariHost+"/chiamata/"+got.Code+"?t=") {
			t.Errorf("join_url: got %v", got.JoinURL)
		}
	})
	t.Run("create behind a proxy", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.TrustProxyHeaders = true })
		c := newAPIChecker(t, e.handler)
		r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", bookingJSON(e.bari.InPerson.ID, slot(2, 10, 0), "in_person", citizen(1)),
			map[string]string{"X-Forwarded-Proto": "https"})
		wantStatus(t, r, http.StatusCreated)
		var got apiBookingCreated
		r.json(t, &got)
		if !strings.HasPrefix(got.ManageURL, "https://"+bariHost+"/prenotazioni/") {
			t.Errorf("manage_url: got %q, want https", got.ManageURL)
		}
	})
	t.Run("create errors", func(t *testing.T) {
		full := bookingJSON(b.InPerson.ID, slot(2, 10, 0), "in_person", citizen(43))
		tests := []struct {
			name   string
			body   string
			ctype  string
			status int
			code   string
			fields []string
		}{
			{"slot full", full, "", 409, "slot_full", []string{"start"}},
			{"already booked", bookingJSON(b.InPerson.ID, slot(5, 10, 0), "in_person", citizen(41)), "", 409, "already_booked", nil},
			{"invalid fields", `{"service_id":"` + b.InPerson.ID + `","start":"2027-03-05T10:00:00+01:00","channel":"in_person","citizen":{"given_name":"","family_name":"Rossi","fiscal_code":"RSSMRA85T10A562X","email":"x@"},"privacy_accepted":false}`,
				"", 422, "validation_failed", []string{"citizen.given_name", "citizen.fiscal_code", "citizen.email", "privacy_accepted"}},
			{"bad start", strings.Replace(full, "2027-03-02T10:00:00+01:00", "2 marzo alle 10", 1), "", 422, "validation_failed", []string{"start"}},
			{"bad start and other fields", `{"service_id":"` + b.InPerson.ID + `","start":"domani","channel":"in_person","citizen":{"given_name":"","family_name":"Rossi","fiscal_code":"RSSMRA85T10A562X","email":"x@"},"privacy_accepted":false}`,
				"", 422, "validation_failed", []string{"start", "citizen.given_name", "citizen.fiscal_code", "citizen.email", "privacy_accepted"}},
			{"not a slot", strings.Replace(full, "10:00:00", "10:07:00", 1), "", 422, "not_a_slot", []string{"start"}},
			{"too soon", strings.Replace(full, "2027-03-02T10:00:00", "2027-03-01T09:00:00", 1), "", 422, "too_soon", []string{"start"}},
			{"too far", strings.Replace(full, "2027-03-02", "2027-04-06", 1), "", 422, "too_far", []string{"start"}},
			{"closed day", strings.Replace(full, "2027-03-02", "2027-03-29", 1), "", 422, "closed", []string{"start"}},
			{"channel not offered", strings.Replace(full, `"in_person"`, `"video"`, 1), "", 422, "channel_not_offered", []string{"channel"}},
			{"unknown service", strings.Replace(full, b.InPerson.ID, "nessuno", 1), "", 404, "not_found", nil},
			{"unknown field", strings.Replace(full, `"details"`, `"note":"x","details"`, 1), "", 422, "validation_failed", []string{"note"}},
			{"unknown nested field", strings.Replace(full, `"given_name"`, `"age":3,"given_name"`, 1), "", 422, "validation_failed", []string{"citizen.age"}},
			{"wrong type", strings.Replace(full, `"privacy_accepted":true`, `"privacy_accepted":"sì"`, 1), "", 422, "validation_failed", []string{"privacy_accepted"}},
			{"malformed", `{"service_id":`, "", 400, "bad_request", nil},
			{"two objects", full + full, "", 400, "bad_request", nil},
			{"not an object", `[1,2]`, "", 400, "bad_request", nil},
			{"empty body", ``, "application/json", 400, "bad_request", nil},
			{"form content type", full, "application/x-www-form-urlencoded", 415, "unsupported_media_type", nil},
			{"no content type", full, "-", 415, "unsupported_media_type", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := map[string]string{}
				switch tt.ctype {
				case "":
				case "-":
					h["Content-Type"] = ""
				default:
					h["Content-Type"] = tt.ctype
				}
				r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", tt.body, h)
				wantAPIError(t, r, tt.status, tt.code, tt.fields...)
			})
		}
	})

	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	t.Run("get", func(t *testing.T) {
		target := "/api/v1/bookings/" + created.Code
		r := e.api(t, c, "GET", bariHost, target, "", bearer(created.ManageToken))
		wantStatus(t, r, http.StatusOK)
		var got apiBooking
		r.json(t, &got)
		if got.Code != created.Code || got.Status != booking.Active || got.ServiceID != b.InPerson.ID ||
			got.Start != created.Start || got.Citizen.FiscalCode != citizen(41).FiscalCode || got.OfficeID != b.Office.ID {
			t.Errorf("booking: got %+v", got)
		}
		r = e.api(t, c, "GET", bariHost, target+"?token="+url.QueryEscape(created.ManageToken), "", nil)
		wantStatus(t, r, http.StatusOK)
		r = e.api(t, c, "GET", bariHost, strings.ToLower(target)+"?token="+url.QueryEscape(created.ManageToken), "", nil)
		wantStatus(t, r, http.StatusOK)

		wantAPIError(t, e.api(t, c, "GET", bariHost, target, "", nil), 401, "token_required")
		wantAPIError(t, e.api(t, c, "GET", bariHost, target, "", bearer("sbagliato")), 404, "not_found")
		wantAPIError(t, e.api(t, c, "GET", bariHost, target, "", map[string]string{"Authorization": "Basic eDp5"}), 401, "token_required")
		wantAPIError(t, e.api(t, c, "GET", bariHost, "/api/v1/bookings/BA-ZZZZZZ", "", bearer(created.ManageToken)), 404, "not_found")
	})
	t.Run("move", func(t *testing.T) {
		target := "/api/v1/bookings/" + created.Code + "/move"
		other := e.create(t, b, b.InPerson, slot(9, 10, 0), booking.InPerson, citizen(44))
		_ = other
		for _, tt := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"full", `{"start":"2027-03-09T10:00:00+01:00"}`, 409, "slot_full"},
			{"not a slot", `{"start":"2027-03-09T10:05:00+01:00"}`, 422, "not_a_slot"},
			{"bad start", `{"start":"martedì"}`, 422, "validation_failed"},
			{"unknown field", `{"start":"2027-03-09T11:00:00+01:00","end":"x"}`, 422, "validation_failed"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantAPIError(t, e.api(t, c, "POST", bariHost, target, tt.body, bearer(created.ManageToken)), tt.status, tt.code)
			})
		}
		wantAPIError(t, e.api(t, c, "POST", bariHost, target, `{"start":"2027-03-09T11:00:00+01:00"}`, bearer("sbagliato")), 404, "not_found")
		wantAPIError(t, e.api(t, c, "POST", bariHost, target, `{"start":"2027-03-09T11:00:00+01:00"}`, nil), 401, "token_required")
		r := e.api(t, c, "POST", bariHost, target, `{"start":"2027-03-09T11:00:00+01:00"}`, bearer(created.ManageToken))
		wantStatus(t, r, http.StatusOK)
		var got apiBooking
		r.json(t, &got)
		if got.Start != "2027-03-09T11:00:00+01:00" || got.End != "2027-03-09T11:30:00+01:00" {
			t.Errorf("moved: got %s–%s", got.Start, got.End)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		target := "/api/v1/bookings/" + created.Code
		wantAPIError(t, e.api(t, c, "DELETE", bariHost, target, "", bearer("sbagliato")), 404, "not_found")
		wantAPIError(t, e.api(t, c, "DELETE", bariHost, target, "", nil), 401, "token_required")
		r := e.api(t, c, "DELETE", bariHost, target, "", bearer(created.ManageToken))
		wantStatus(t, r, http.StatusOK)
		var got apiBooking
		r.json(t, &got)
		if got.Status != booking.Cancelled {
			t.Errorf("status: got %s, want cancelled", got.Status)
		}
		wantAPIError(t, e.api(t, c, "DELETE", bariHost, target, "", bearer(created.ManageToken)), 409, "cancelled")
		wantAPIError(t, e.api(t, c, "POST", bariHost, target+"/move", `{"start":"2027-03-10T11:00:00+01:00"}`, bearer(created.ManageToken)), 409, "cancelled")
		r = e.api(t, c, "GET", bariHost, target, "", bearer(created.ManageToken))
		wantStatus(t, r, http.StatusOK)
	})
	t.Run("cancel past the deadline", func(t *testing.T) {
		e := newEnv(t)
		c := newAPIChecker(t, e.handler)
		cr := e.create(t, e.bari, e.bari.InPerson, slot(3, 10, 0), booking.InPerson, citizen(1))
		e.clock.Set(slot(2, 11, 0))
		target := "/api/v1/bookings/" + cr.Booking.Code
		wantAPIError(t, e.api(t, c, "DELETE", bariHost, target, "", bearer(cr.ManageToken)), 409, "past_deadline")
		wantAPIError(t, e.api(t, c, "POST", bariHost, target+"/move", `{"start":"2027-03-04T10:00:00+01:00"}`, bearer(cr.ManageToken)), 409, "past_deadline")
	})

	// Every operation of the document was exercised with a success.
	for _, op := range c.spec.operations() {
		ok := false
		for st := range c.seen[op] {
			ok = ok || st < 300
		}
		if !ok {
			t.Errorf("operation %s never answered 2xx in the tests (seen %v)", op, c.seen[op])
		}
	}
}

func chStrings(cs []booking.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
