package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// summaryForm walks the booking flow of svc at start up to the summary
// and returns it with its form (privacy ticked).
func (e *env) summaryForm(t *testing.T, svc booking.Service, start time.Time, c booking.Citizen) (response, form) {
	t.Helper()
	r := e.get(bariHost, "/prenota?servizio="+svc.ID)
	f := findForm(t, r.Body, "/prenota", `name="servizio"`)
	r = e.advance(bariHost, f, "")
	f = findForm(t, r.Body, "/prenota", `name="inizio"`)
	f.Values.Set("inizio", start.Format(time.RFC3339))
	r = e.advance(bariHost, f, "3")
	f = findForm(t, r.Body, "/prenota", `name="dettagli"`)
	r = e.advance(bariHost, f, "4")
	f = findForm(t, r.Body, "/prenota", `name="nome"`)
	f.Values.Set("nome", c.GivenName)
	f.Values.Set("cognome", c.FamilyName)
	f.Values.Set("codice_fiscale", c.FiscalCode)
	f.Values.Set("email", c.Email)
	r = e.advance(bariHost, f, "5")
	wantStatus(t, r, http.StatusOK)
	f = findForm(t, r.Body, "/prenotazioni", `name="privacy"`)
	f.Values.Set("privacy", "1")
	return r, f
}

// TestFairFormProof: a service that asks a proof of work puts a
// challenge, the script and the no-JavaScript text on the summary; a
// solved challenge books, its replay is refused, and without JavaScript
// the same challenge books once the wait is over, the early press showing
// the same challenge again.
func TestFairFormProof(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	if _, err := e.book.SaveFairSettings(context.Background(), e.bari.Tenant.ID, svc.ID, booking.FairSettings{ProofOfWork: 8}); err != nil {
		t.Fatal(err)
	}
	page, f := e.summaryForm(t, svc, slot(2, 10, 0), citizen(1))
	ch := f.Values.Get(fProofChallenge)
	if ch == "" || !strings.Contains(page.Body, `data-sv-pow="8"`) || !strings.Contains(page.Body, `<script src="/prenota/verifica.js" defer>`) ||
		!strings.Contains(page.Body, `id="verifica-stato"`) || !strings.Contains(page.Body, "Senza JavaScript il calcolo è sostituito da un&#39;attesa") {
		t.Fatalf("summary lacks the proof of work:\n%s", page.Body)
	}
	if js := e.get(bariHost, fairScriptPath); js.Status != http.StatusOK || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("script: %d %q", js.Status, js.Header.Get("Content-Type"))
	}
	// A wrong counter: the summary again with the message.
	bad := cloneValues(f.Values)
	bad.Set(fProofCounter, "not-a-number")
	r := e.postForm(bariHost, "/prenotazioni", bad)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "La verifica anti-abuso non è riuscita") {
		t.Errorf("wrong counter: got %d\n%s", r.Status, text(r.Body))
	}
	// Solved, as the script does: booked.
	f.Values.Set(fProofCounter, fmt.Sprint(booking.SolveProof(ch, 8)))
	r = e.postForm(bariHost, "/prenotazioni", f.Values)
	wantStatus(t, r, http.StatusSeeOther)
	// The same solution again, for another slot and citizen: refused.
	_, f2 := e.summaryForm(t, svc, slot(2, 10, 30), citizen(2))
	f2.Values.Set(fProofChallenge, ch)
	f2.Values.Set(fProofCounter, f.Values.Get(fProofCounter))
	r = e.postForm(bariHost, "/prenotazioni", f2.Values)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "La verifica anti-abuso non è riuscita") {
		t.Errorf("replayed solution: got %d\n%s", r.Status, text(r.Body))
	}

	// Without JavaScript: too early, then after the wait.
	_, f3 := e.summaryForm(t, svc, slot(2, 11, 0), citizen(3))
	ch3 := f3.Values.Get(fProofChallenge)
	r = e.postForm(bariHost, "/prenotazioni", f3.Values)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "attendi ancora qualche secondo") {
		t.Fatalf("no JavaScript, at once: got %d\n%s", r.Status, text(r.Body))
	}
	again := findForm(t, r.Body, "/prenotazioni", `name="privacy"`)
	if again.Values.Get(fProofChallenge) != ch3 {
		t.Errorf("the early press gave a new challenge: the wait would restart")
	}
	e.clock.Advance(noJSWait)
	r = e.postForm(bariHost, "/prenotazioni", f3.Values)
	wantStatus(t, r, http.StatusSeeOther)
}

// TestFairAPIProof: the API asks the solved challenge of
// /api/v1/services/{id}/challenge, and refuses its replay.
func TestFairAPIProof(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	if _, err := e.book.SaveFairSettings(context.Background(), e.bari.Tenant.ID, svc.ID, booking.FairSettings{ProofOfWork: 8}); err != nil {
		t.Fatal(err)
	}
	body := func(n int, start time.Time, proof string) string {
		c := citizen(n)
		return fmt.Sprintf(`{"service_id":%q,"start":%q,"channel":"in_person","privacy_accepted":true,
			"citizen":{"given_name":%q,"family_name":%q,"fiscal_code":%q,"email":%q}%s}`,
			svc.ID, start.Format(time.RFC3339), c.GivenName, c.FamilyName, c.FiscalCode, c.Email, proof)
	}
	r := e.postJSON(bariHost, "/api/v1/bookings", body(1, slot(2, 10, 0), ""), nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `"proof_of_work"`) {
		t.Errorf("booking without proof: got %d %s", r.Status, r.Body)
	}
	cr := e.get(bariHost, "/api/v1/services/"+svc.ID+"/challenge")
	var ch booking.Challenge
	cr.json(t, &ch)
	if cr.Status != http.StatusOK || ch.Bits != 8 || ch.Challenge == "" {
		t.Fatalf("challenge: %d %s", cr.Status, cr.Body)
	}
	proof := fmt.Sprintf(`,"proof":{"challenge":%q,"counter":%d}`, ch.Challenge, booking.SolveProof(ch.Challenge, 8))
	r = e.postJSON(bariHost, "/api/v1/bookings", body(1, slot(2, 10, 0), proof), nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("booking with a solved proof: %d %s", r.Status, r.Body)
	}
	r = e.postJSON(bariHost, "/api/v1/bookings", body(2, slot(2, 10, 30), proof), nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `"proof_of_work"`) {
		t.Errorf("replayed proof: got %d %s", r.Status, r.Body)
	}
}

// TestFairCapsOnTheForm: the email cap sends the citizen back to the
// applicant step with the message on the email field.
func TestFairCapsOnTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	if _, err := e.book.SaveFairSettings(context.Background(), e.bari.Tenant.ID, svc.ID, booking.FairSettings{MaxActivePerEmail: 1}); err != nil {
		t.Fatal(err)
	}
	c1, c2 := citizen(1), citizen(2)
	c2.Email = c1.Email
	e.create(t, e.bari, svc, slot(2, 10, 0), booking.InPerson, c1)
	_, f := e.summaryForm(t, svc, slot(3, 10, 0), c2)
	r := e.postForm(bariHost, "/prenotazioni", f.Values)
	if r.Status != http.StatusConflict || !strings.Contains(text(r.Body), "Questo indirizzo email ha già il numero massimo") ||
		!strings.Contains(r.Body, `name="email"`) {
		t.Errorf("email cap on the form: got %d\n%s", r.Status, text(r.Body))
	}
}

// TestFairConfirmPage: the link shows the window; the button confirms in
// it, and a GET alone never confirms.
func TestFairConfirmPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	ctx := context.Background()
	if _, err := e.book.SaveFairSettings(ctx, e.bari.Tenant.ID, svc.ID, booking.FairSettings{ConfirmFrom: 72 * time.Hour, ConfirmBy: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	start := slot(8, 10, 0) // Monday 8 March
	cr := e.create(t, e.bari, svc, start, booking.InPerson, citizen(1))
	target := "/prenotazioni/" + cr.Booking.Code + "/conferma?token=" + url.QueryEscape(cr.ManageToken)
	r := e.get(bariHost, target)
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "Conferma appuntamento", "La conferma si apre venerdì 5 marzo 2027 ore 10:00")
	e.clock.Set(start.Add(-48 * time.Hour))
	r = e.get(bariHost, target)
	f := findForm(t, r.Body, "/prenotazioni/"+cr.Booking.Code+"/conferma", `name="token"`)
	if c, _ := e.book.Confirmation(ctx, e.bari.Tenant.ID, cr.Booking); c.Confirmed {
		t.Fatal("a GET confirmed the booking")
	}
	r = e.postForm(bariHost, f.Action, f.Values)
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "l'appuntamento è confermato")
	if c, _ := e.book.Confirmation(ctx, e.bari.Tenant.ID, cr.Booking); !c.Confirmed {
		t.Error("not confirmed after the button")
	}
	// Another booking's token: not found.
	other := e.create(t, e.bari, svc, slot(8, 10, 30), booking.InPerson, citizen(2))
	r = e.postForm(bariHost, f.Action, url.Values{"token": {other.ManageToken}})
	if r.Status != http.StatusNotFound {
		t.Errorf("confirm with another token: got %d", r.Status)
	}
}

// TestFairAdminServiceForm: the administrator sets fair access on the
// service form; bad values give Italian field errors and change nothing.
func TestFairAdminServiceForm(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	svc := ae.bari.InPerson
	page := admin.get(bariHost, "/gestione/servizi/"+svc.ID)
	f := findForm(t, page.Body, "/gestione/servizi/"+svc.ID, "")
	if !strings.Contains(page.Body, "Accesso equo") || f.Values.Get(fsProof) != "0" {
		t.Fatalf("service form lacks fair access: %v", f.Values)
	}
	bad := cloneValues(f.Values)
	bad.Set(fsProof, "30")
	bad.Set(fsConfirmFrom, "12")
	bad.Set(fsConfirmBy, "24")
	bad.Set(fsReleaseDays, "30")
	bad.Set(fsReleaseAtMin, "25:99")
	r := admin.post("/gestione/servizi/"+svc.ID, bad)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid fair settings: got %d", r.Status)
	}
	wantText(t, r.Body, "La difficoltà della verifica anti-abuso va da 0", "La conferma deve aprirsi prima della scadenza", "Scrivi l'ora come 08:00.")
	if s, _ := ae.book.FairSettings(context.Background(), ae.bari.Tenant.ID, svc.ID); s != (booking.FairSettings{}) {
		t.Errorf("refused form changed the settings: %+v", s)
	}
	good := cloneValues(f.Values)
	good.Set(fsMaxEmail, "2")
	good.Set(fsMaxPhone, "1")
	good.Set(fsProof, "18")
	good.Set(fsConfirmFrom, "72")
	good.Set(fsConfirmBy, "24")
	good.Set(fsReleaseDays, "30")
	good.Set(fsReleaseAtMin, "08:00")
	r = admin.post("/gestione/servizi/"+svc.ID, good)
	admin.follow(t, r)
	want := booking.FairSettings{MaxActivePerEmail: 2, MaxActivePerPhone: 1, ProofOfWork: 18, ConfirmFrom: 72 * time.Hour,
		ConfirmBy: 24 * time.Hour, ReleaseDaysAhead: 30, ReleaseAt: 8 * 60}
	if s, err := ae.book.FairSettings(context.Background(), ae.bari.Tenant.ID, svc.ID); err != nil || s != want {
		t.Errorf("saved settings: %+v, %v; want %+v", s, err, want)
	}
	page = admin.get(bariHost, "/gestione/servizi/"+svc.ID)
	f = findForm(t, page.Body, "/gestione/servizi/"+svc.ID, "")
	if f.Values.Get(fsReleaseAtMin) != "08:00" || f.Values.Get(fsConfirmFrom) != "72" {
		t.Errorf("form after saving: %v", f.Values)
	}
}

// TestFairReportPage: the administrators' report lists a shared email
// and a name that does not match its codice fiscale.
func TestFairReportPage(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	for i := range 3 {
		c := citizen(10 + i)
		c.Email = "agenzia@example.org"
		if i == 2 {
			c.GivenName, c.FamilyName = "Giuseppe", "Verdi"
		}
		ae.create(t, ae.bari, ae.bari.Remote, slot(2+i, 10, 0), booking.InPerson, c)
	}
	r := admin.get(bariHost, "/gestione/statistiche/anomalie")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "Prenotazioni sospette", "agenzia@example.org", "Verdi Giuseppe")
	home := admin.get(bariHost, "/gestione")
	if !strings.Contains(home.Body, `href="/gestione/statistiche/anomalie"`) {
		t.Error("home lacks the report")
	}
}
