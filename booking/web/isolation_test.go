package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// TestTenantIsolation sends, for every route of the handler, a request on
// lecce's host carrying bari's identifiers (office and service IDs,
// booking code and manage token). None may show or change bari's data.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	bk := e.create(t, b, b.Remote, slot(4, 10, 0), booking.Video, citizen(1))
	code, token := bk.Booking.Code, bk.ManageToken
	bearer := map[string]string{"Authorization": "Bearer " + token}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + lecceHost}
	moveBody := `{"start":"2027-03-05T10:00:00+01:00"}`

	// secrets are what lecce's host must never show of bari.
	secrets := []string{b.Office.ID, b.Office.Name, b.InPerson.ID, b.Remote.ID, b.Other.ID, b.OtherService.ID, code, token, "Comune di Bari"}

	type req struct {
		method, target, body string
		header               map[string]string
		// status is the wanted answer; 0 accepts any 2xx or 4xx that
		// reveals nothing.
		status int
	}
	cases := map[string][]req{
		"GET /servizi":      {{"GET", "/servizi", "", nil, 200}},
		"GET /servizi/{id}": {{"GET", "/servizi/" + b.InPerson.ID, "", nil, 404}},
		"GET /uffici":       {{"GET", "/uffici", "", nil, 200}},
		"GET /prenota":      {{"GET", "/prenota?servizio=" + b.InPerson.ID, "", nil, 404}},
		"POST /prenota": {
			{"POST", "/prenota", url.Values{"passo": {"1"}, "vai": {"2"}, "servizio": {b.InPerson.ID}}.Encode(), form, 422},
			{"POST", "/prenota", with(flowState(b.Remote, slot(5, 10, 0)), "passo", "1", "mese", "2027-03").Encode(), form, 422},
			{"POST", "/prenota", with(flowState(b.Remote, slot(5, 10, 0)), "passo", "4", "vai", "5").Encode(), form, 422},
		},
		"POST /prenotazioni":                      {{"POST", "/prenotazioni", flowState(b.InPerson, slot(5, 10, 0)).Encode(), form, 422}},
		"GET /prenotazioni/{code}":                {{"GET", booking.ManagePath(code, token), "", nil, 404}},
		"GET /prenotazioni/{code}/calendario.ics": {{"GET", bookingPath(code, "calendario.ics", token), "", nil, 404}},
		"GET /prenotazioni/{code}/annulla":        {{"GET", bookingPath(code, "annulla", token), "", nil, 404}},
		"POST /prenotazioni/{code}/annulla":       {{"POST", "/prenotazioni/" + code + "/annulla", url.Values{"token": {token}}.Encode(), form, 404}},
		"GET /prenotazioni/{code}/sposta":         {{"GET", bookingPath(code, "sposta", token), "", nil, 404}},
		"POST /prenotazioni/{code}/sposta": {{"POST", "/prenotazioni/" + code + "/sposta",
			url.Values{"token": {token}, "inizio": {slot(5, 10, 0).Format(time.RFC3339)}}.Encode(), form, 404}},
		// Fair access (fair_web.go).
		"GET /prenotazioni/{code}/conferma":   {{"GET", bookingPath(code, "conferma", token), "", nil, 404}},
		"POST /prenotazioni/{code}/conferma":  {{"POST", "/prenotazioni/" + code + "/conferma", url.Values{"token": {token}}.Encode(), form, 404}},
		"GET /prenota/verifica.js":            {{"GET", "/prenota/verifica.js", "", nil, 200}},
		"GET /api/v1/services/{id}/challenge": {{"GET", "/api/v1/services/" + b.InPerson.ID + "/challenge", "", nil, 404}},
		"GET /api/v1/openapi.json":            {{"GET", "/api/v1/openapi.json", "", nil, 200}},
		"GET /api/v1/offices":                 {{"GET", "/api/v1/offices", "", nil, 200}},
		"GET /api/v1/services/{id}/slots":     {{"GET", "/api/v1/services/" + b.Remote.ID + "/slots", "", nil, 404}},
		"POST /api/v1/bookings":               {{"POST", "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(5, 10, 0), "in_person", citizen(2)), map[string]string{"Content-Type": "application/json"}, 404}},
		"GET /api/v1/bookings/{code}":         {{"GET", "/api/v1/bookings/" + code, "", bearer, 404}, {"GET", "/api/v1/bookings/" + code + "?token=" + url.QueryEscape(token), "", nil, 404}},
		"DELETE /api/v1/bookings/{code}":      {{"DELETE", "/api/v1/bookings/" + code, "", bearer, 404}},
		"POST /api/v1/bookings/{code}/move":   {{"POST", "/api/v1/bookings/" + code + "/move", moveBody, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}, 404}},
	}
	for _, rt := range e.handler.routes {
		key := rt.method + " " + rt.path
		reqs, ok := cases[key]
		if !ok {
			t.Errorf("route %s has no isolation case", key)
			continue
		}
		delete(cases, key)
		for _, rq := range reqs {
			t.Run(key, func(t *testing.T) {
				var body *strings.Reader
				if rq.body != "" {
					body = strings.NewReader(rq.body)
				}
				var r response
				if body != nil {
					r = e.do(rq.method, lecceHost, rq.target, body, rq.header)
				} else {
					r = e.do(rq.method, lecceHost, rq.target, nil, rq.header)
				}
				if r.Status != rq.status {
					t.Errorf("%s %s on lecce: got %d, want %d\n%s", rq.method, rq.target, r.Status, rq.status, r.Body)
				}
				for _, s := range secrets {
					// The request's own values may be echoed back in the
					// form being corrected (the token, a chosen service):
					// only bari's data must not appear outside them.
					if strings.Contains(rq.target+rq.body, url.QueryEscape(s)) || strings.Contains(rq.target+rq.body, s) {
						continue
					}
					if strings.Contains(r.Body, s) {
						t.Errorf("%s %s on lecce reveals %q", rq.method, rq.target, s)
					}
				}
			})
		}
	}
	for key := range cases {
		t.Errorf("isolation case for %s, which is no route", key)
	}

	// bari's booking is unchanged, and nothing was booked for bari.
	got, err := e.book.Get(context.Background(), "bari", code, token)
	if err != nil {
		t.Fatalf("bari's booking: %v", err)
	}
	if got.Status != booking.Active || !got.Start.Equal(slot(4, 10, 0)) || got.Sequence != bk.Booking.Sequence {
		t.Errorf("bari's booking changed: %+v", got)
	}
	bariAll, err := e.book.Bookings(context.Background(), "bari", "", slot(1, 0, 0), slot(31, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(bariAll) != 1 {
		t.Errorf("bari has %d bookings, want 1", len(bariAll))
	}
	lecceAll, err := e.book.Bookings(context.Background(), "lecce", "", slot(1, 0, 0), slot(31, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(lecceAll) != 0 {
		t.Errorf("lecce has %d bookings, want 0", len(lecceAll))
	}

	// The same requests on bari's own host work: the test above is not
	// passing for a broken request.
	for _, rq := range []req{
		{"GET", "/servizi/" + b.InPerson.ID, "", nil, 200},
		{"GET", booking.ManagePath(code, token), "", nil, 200},
		{"GET", "/api/v1/bookings/" + code, "", bearer, 200},
		{"GET", "/api/v1/services/" + b.Remote.ID + "/slots", "", nil, 200},
	} {
		if r := e.do(rq.method, bariHost, rq.target, nil, rq.header); r.Status != rq.status {
			t.Errorf("%s %s on bari: got %d, want %d", rq.method, rq.target, r.Status, rq.status)
		}
	}
}

// TestUnknownHost checks that a host of no Comune gets the neutral 404.
func TestUnknownHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, target := range []string{"/prenota", "/api/v1/offices", "/servizi/" + e.bari.InPerson.ID} {
		r := e.get("taranto.example.it", target)
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s on an unknown host: got %d, want 404", target, r.Status)
		}
		if strings.Contains(r.Body, "Bari") || strings.Contains(r.Body, "Lecce") {
			t.Errorf("GET %s on an unknown host names a Comune", target)
		}
	}
}
