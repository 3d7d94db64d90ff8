package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// advance submits f with the button vai=step (no button when step is 0,
// as when Enter submits) and returns the answer.
func (e *env) advance(host string, f form, step string) response {
	e.t.Helper()
	v := url.Values{}
	for k, vs := range f.Values {
		v[k] = append([]string(nil), vs...)
	}
	if step != "" {
		v.Set("vai", step)
	}
	return e.postForm(host, f.Action, v)
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status: got %d, want %d; body:\n%s", r.Status, want, r.Body)
	}
}

func wantText(t *testing.T, page string, wants ...string) {
	t.Helper()
	txt := text(page)
	for _, w := range wants {
		if !strings.Contains(txt, w) {
			t.Errorf("page text lacks %q; text:\n%s", w, txt)
		}
	}
}

func wantNoText(t *testing.T, page string, nots ...string) {
	t.Helper()
	txt := text(page)
	for _, w := range nots {
		if strings.Contains(txt, w) {
			t.Errorf("page text has %q, want it absent", w)
		}
	}
}

// TestFlowWithoutJavaScript books from the service page to the
// confirmation with plain form posts, as a browser without JavaScript.
func TestFlowWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	svc := b.InPerson

	page := e.get(bariHost, "/servizi/"+svc.ID)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, `href="/prenota?servizio=`+svc.ID+`" class="btn btn-primary" data-element="service-booking-access"`) {
		t.Fatalf("service page lacks the booking button:\n%s", page.Body)
	}

	// Step 1: only the service's office, the service chosen.
	r := e.get(bariHost, "/prenota?servizio="+svc.ID)
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "1/5", "Luogo", b.Office.Name, b.Office.Address, "I campi contraddistinti dal simbolo asterisco sono obbligatori")
	wantNoText(t, r.Body, b.Other.Name)
	f := findForm(t, r.Body, "/prenota", `name="servizio"`)
	if got := f.Values.Get("servizio"); got != svc.ID {
		t.Fatalf("preselected service: got %q, want %q", got, svc.ID)
	}

	// Step 2: free slots of March, grouped by day.
	r = e.advance(bariHost, f, "")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "2/5", "Data e orario", "marzo 2027", "Lunedì 1 marzo 2027", "lunedì 1 marzo 2027 ore 10:00")
	wantNoText(t, r.Body, "lunedì 1 marzo 2027 ore 09:30") // inside the 2-hour notice
	f = findForm(t, r.Body, "/prenota", `name="inizio"`)
	start := slot(2, 10, 0).Format(time.RFC3339)
	if !contains(f.Radios["inizio"], start) {
		t.Fatalf("slot %s not offered; got %v", start, f.Radios["inizio"])
	}
	f.Values.Set("inizio", start)

	// Step 3: the service shown, its only channel chosen.
	r = e.advance(bariHost, f, "3")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "3/5", "Dettagli appuntamento", svc.Name)
	f = findForm(t, r.Body, "/prenota", `name="dettagli"`)
	if got := f.Values.Get("canale"); got != "in_person" {
		t.Fatalf("channel: got %q, want in_person preselected", got)
	}
	f.Values.Set("dettagli", "Primo rilascio, ho la vecchia carta cartacea.")

	// Step 4: the applicant.
	r = e.advance(bariHost, f, "4")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "4/5", "Richiedente", "Nome", "Cognome", "Codice fiscale", "Email", "Telefono")
	f = findForm(t, r.Body, "/prenota", `name="nome"`)
	f.Values.Set("nome", "Mario")
	f.Values.Set("cognome", "Rossi")
	f.Values.Set("codice_fiscale", "rssmra85t10a562s")
	f.Values.Set("email", "mario.rossi@example.org")

	// Step 5: the summary, each block with its "Modifica".
	r = e.advance(bariHost, f, "5")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "5/5", "Riepilogo", b.Office.Name, "Martedì 2 marzo 2027, dalle 10:00 alle 10:30",
		svc.Name, "Primo rilascio", "Mario", "Rossi", "mario.rossi@example.org")
	if n := strings.Count(r.Body, ">Modifica<"); n != 4 {
		t.Errorf("summary has %d Modifica buttons, want 4", n)
	}
	f = findForm(t, r.Body, "/prenotazioni", `name="privacy"`)
	f.Values.Set("privacy", "1")
	r = e.advance(bariHost, f, "")
	wantStatus(t, r, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/prenotazioni/BA-") || !strings.Contains(loc, "?token=") || !strings.HasSuffix(loc, "&confermato=1") {
		t.Fatalf("redirect: got %q, want /prenotazioni/BA-…?token=…&confermato=1", loc)
	}

	// The confirmation.
	r = e.get(bariHost, loc)
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "Appuntamento confermato", "Abbiamo inviato il riepilogo all'email mario.rossi@example.org",
		"Martedì 2 marzo 2027, dalle 10:00 alle 10:30", b.Office.Address, "Cosa portare", "Una fototessera recente",
		"Aggiungi al calendario", "Sposta appuntamento", "Annulla appuntamento")
	if got := r.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy: got %q, want no-referrer", got)
	}
	u, _ := url.Parse(loc)
	code := strings.TrimPrefix(u.Path, "/prenotazioni/")
	token := u.Query().Get("token")
	bk, err := e.book.Get(t.Context(), "bari", code, token)
	if err != nil {
		t.Fatalf("get booking: %v", err)
	}
	if bk.Citizen.FiscalCode != "RSSMRA85T10A562S" || !bk.Start.Equal(slot(2, 10, 0)) || bk.Details == "" {
		t.Errorf("stored booking: got %+v", bk)
	}
	ics := e.get(bariHost, bookingPath(code, "calendario.ics", token))
	wantStatus(t, ics, http.StatusOK)
	if ct := ics.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/calendar") {
		t.Errorf("calendar Content-Type: got %q", ct)
	}
	if !strings.Contains(ics.Body, "BEGIN:VCALENDAR") || !strings.Contains(ics.Body, "DTSTART:20270302T090000Z") {
		t.Errorf("calendar body:\n%s", ics.Body)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
