package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// postFormLang posts form values as a browser with Accept-Language lang.
func (e *env) postFormLang(host, target, lang string, v url.Values) response {
	e.t.Helper()
	return e.do("POST", host, target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type":    "application/x-www-form-urlencoded",
		"Origin":          "http://" + host,
		"Sec-Fetch-Site":  "same-origin",
		"Accept-Language": lang,
	})
}

// TestFlowInLanguages books through the pages in English and German: the
// steps, dates, field errors and the confirmation are in the citizen's
// language, and the booking records it for its emails.
func TestFlowInLanguages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	svc := b.InPerson
	for _, tt := range []struct {
		lang                                string
		step1, step2Day, span, badFiscal    string
		confirmed, changeBy, channel, where string
		notItalian                          []string
	}{
		{
			lang: "en", step1: "Choose the office and the service", step2Day: "Tuesday 2 March 2027",
			span: "Tuesday 2 March 2027, from 10:00 to 10:30", badFiscal: "The tax code is not valid",
			confirmed: "Appointment confirmed", changeBy: "You can move or cancel the appointment until Monday 1 March 2027 at 10:00",
			channel: "In person, at the office", where: "What to bring",
			notItalian: []string{"Indietro", "Avanti", "marzo", "Riepilogo", "obbligatori", "Prenotazione appuntamento"},
		},
		{
			lang: "de", step1: "Wählen Sie das Amt und den Dienst", step2Day: "Dienstag, 2. März 2027",
			span: "Dienstag, 2. März 2027, von 10:00 bis 10:30 Uhr", badFiscal: "Die Steuernummer ist ungültig",
			confirmed: "Termin bestätigt", changeBy: "Sie können den Termin bis Montag, 1. März 2027, 10:00 Uhr verschieben oder absagen.",
			channel: "Persönlich, im Amt", where: "Was Sie mitbringen müssen",
			notItalian: []string{"Indietro", "Avanti", "marzo", "Riepilogo", "obbligatori", "Prenotazione appuntamento"},
		},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			hdr := map[string]string{"Accept-Language": tt.lang}
			r := e.do("GET", bariHost, "/prenota?servizio="+svc.ID, nil, hdr)
			wantStatus(t, r, http.StatusOK)
			wantText(t, r.Body, tt.step1, "1/5")
			wantNoText(t, r.Body, tt.notItalian...)
			if !strings.Contains(r.Body, `<html lang="`+tt.lang+`">`) {
				t.Errorf("page is not marked lang=%s", tt.lang)
			}
			f := findForm(t, r.Body, "/prenota", `name="servizio"`)

			r = e.postFormLang(bariHost, "/prenota", tt.lang, with(f.Values))
			wantStatus(t, r, http.StatusOK)
			wantText(t, r.Body, tt.step2Day)
			wantNoText(t, r.Body, tt.notItalian...)
			f = findForm(t, r.Body, "/prenota", `name="inizio"`)
			state := with(flowState(svc, slot(2, 10, 0)), "codice_fiscale", "RSSMRA85T10A562X", "vai", "5", "passo", "4")
			for k, vs := range f.Values {
				if state.Get(k) == "" {
					state[k] = vs
				}
			}

			// A field error in the page's language, at its field and in
			// the summary.
			r = e.postFormLang(bariHost, "/prenota", tt.lang, state)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			wantFieldError(t, r.Body, "codice_fiscale", tt.badFiscal)
			wantNoText(t, r.Body, "Il codice fiscale", "Controlla i dati inseriti")

			state.Set("codice_fiscale", "RSSMRA85T10A562S")
			r = e.postFormLang(bariHost, "/prenota", tt.lang, state)
			wantStatus(t, r, http.StatusOK)
			wantText(t, r.Body, tt.span, tt.channel)
			wantNoText(t, r.Body, tt.notItalian...)

			r = e.postFormLang(bariHost, "/prenotazioni", tt.lang, with(state, "vai", ""))
			wantStatus(t, r, http.StatusSeeOther)
			loc := r.Header.Get("Location")
			r = e.do("GET", bariHost, loc, nil, hdr)
			wantStatus(t, r, http.StatusOK)
			wantText(t, r.Body, tt.confirmed, tt.span, tt.changeBy, tt.where)
			wantNoText(t, r.Body, tt.notItalian...)

			u, _ := url.Parse(loc)
			bk, err := e.book.Get(t.Context(), "bari", strings.TrimPrefix(u.Path, "/prenotazioni/"), u.Query().Get("token"))
			if err != nil {
				t.Fatal(err)
			}
			if bk.Lang != tt.lang {
				t.Errorf("booking language %q, want %q", bk.Lang, tt.lang)
			}
			// Cancel it, so that the next language may book the slot.
			if _, err := e.book.Cancel(t.Context(), b.Tenant, bk.Code, u.Query().Get("token"), "http://"+bariHost); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPagesInLanguages checks the other citizen pages in German and that
// the Italian default is unchanged without a preference.
func TestPagesInLanguages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	de := map[string]string{"Accept-Language": "de-DE,de;q=0.9,it;q=0.5"}
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/servizi", []string{"Dienste", "Termin buchen", "30 Minuten"}},
		{"/uffici", []string{"Ämter", "Öffnungszeiten", "Montag", "geschlossen", "Buchbare Dienste"}},
		{"/servizi/" + b.Remote.ID, []string{"Was Sie brauchen", "Ablauf", "Per Videoanruf", "Per Telefon", "Dauer des Termins: 20 Minuten."}},
	} {
		r := e.do("GET", bariHost, c.path, nil, de)
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, c.want...)
		wantNoText(t, r.Body, "Orari di apertura", "Prenota appuntamento", "minuti", "chiuso")
		if !strings.Contains(r.Header.Get("Vary"), "Accept-Language") {
			t.Errorf("%s: Vary %q lacks Accept-Language", c.path, r.Header.Get("Vary"))
		}
	}
	caller := citizen(7)
	caller.Phone = "080 1234567"
	c := e.create(t, b, b.Remote, slot(3, 10, 0), booking.Phone, caller)
	r := e.do("GET", bariHost, bookingPath(c.Booking.Code, "sposta", c.ManageToken), nil, de)
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "Termin verschieben", "Aktueller Termin: Mittwoch, 3. März 2027, von 10:00 bis 10:20 Uhr", "Freie Termine im März 2027")
	r = e.do("GET", bariHost, bookingPath(c.Booking.Code, "annulla", c.ManageToken), nil, map[string]string{"Accept-Language": "en"})
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "Do you really want to cancel this appointment?", "Wednesday 3 March 2027, from 10:00 to 10:20")
	r = e.do("GET", bariHost, bookingPath(c.Booking.Code, "", c.ManageToken)+"&confermato=1", nil, map[string]string{"Accept-Language": "en"})
	wantText(t, r.Body, "open this link, or wait for our call")
	// The error page of a wrong link.
	r = e.do("GET", bariHost, "/prenotazioni/BA-ZZZZZZ?token=x", nil, de)
	wantStatus(t, r, http.StatusNotFound)
	wantText(t, r.Body, "Wir haben nicht gefunden, was Sie suchen")
	// No preference: Italian, as before.
	r = e.get(bariHost, "/uffici")
	wantText(t, r.Body, "Orari di apertura", "lunedì", "chiuso")
}

// TestAPILang checks "lang" of POST /api/v1/bookings: the booking records
// it, and errors are in it; without it the API answers in Italian, even
// to a client whose Accept-Language prefers German.
func TestAPILang(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	body := func(lang, fiscal string) string {
		s := `{"service_id":"` + b.InPerson.ID + `","start":"` + slot(4, 10, 0).Format(time.RFC3339) + `","channel":"in_person",` +
			`"citizen":{"given_name":"Anna","family_name":"Huber","fiscal_code":"` + fiscal + `","email":"anna@example.org"},"privacy_accepted":true`
		if lang != "" {
			s += `,"lang":"` + lang + `"`
		}
		return s + "}"
	}
	var bad struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	r := e.postJSON(bariHost, "/api/v1/bookings", body("de", "XX"), nil)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	r.json(t, &bad)
	if bad.Error.Code != "validation_failed" || !strings.HasPrefix(bad.Error.Fields["citizen.fiscal_code"], "Die Steuernummer ist ungültig") || !strings.HasPrefix(bad.Error.Message, "Einige Angaben") {
		t.Errorf("German error: %+v", bad.Error)
	}
	r = e.postJSON(bariHost, "/api/v1/bookings", body("", "XX"), map[string]string{"Accept-Language": "de"})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	r.json(t, &bad)
	if !strings.HasPrefix(bad.Error.Fields["citizen.fiscal_code"], "Il codice fiscale non è valido") {
		t.Errorf("error without lang: %+v, want Italian", bad.Error)
	}
	r = e.postJSON(bariHost, "/api/v1/bookings", body("de", "RSSMRA85T10A562S"), nil)
	wantStatus(t, r, http.StatusCreated)
	var created struct {
		Code        string `json:"code"`
		ManageToken string `json:"manage_token"`
	}
	r.json(t, &created)
	bk, err := e.book.Get(t.Context(), "bari", created.Code, created.ManageToken)
	if err != nil {
		t.Fatal(err)
	}
	if bk.Lang != "de" {
		t.Errorf("booking language %q, want de", bk.Lang)
	}
}
