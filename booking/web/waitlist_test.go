package web

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/appio"
)

// TestWaitlistPages joins a full service's waiting list through the form,
// gets the seat a cancellation frees and books it from the entry's page.
func TestWaitlistPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	start := slot(3, 10, 0)
	held := e.create(t, e.bari, svc, start, "in_person", citizen(1))
	joinPath := "/lista-attesa/" + svc.ID

	r := e.get(bariHost, joinPath)
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Lista d'attesa per «"+svc.Name+"»") {
		t.Fatalf("join form: %d\n%s", r.Status, text(r.Body))
	}
	f := findForm(t, r.Body, joinPath, "")
	// Bad input: Italian field errors, nothing stored.
	f.Values.Set(fGiven, "Lucia")
	f.Values.Set(fFamily, "Verdi")
	f.Values.Set(fEmail, "non-valida")
	r = e.postForm(bariHost, joinPath, f.Values)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="email-errore"`) || !strings.Contains(r.Body, `role="alert"`) {
		t.Fatalf("bad email: %d\n%s", r.Status, text(r.Body))
	}
	if n, _ := e.book.WaitingCount(context.Background(), e.bari.Tenant.ID, svc.ID); n != 0 {
		t.Fatalf("%d waiting after a refused form", n)
	}
	f.Values.Set(fEmail, "lucia@example.org")
	f.Values.Set(fPrivacy, "1")
	f.Values.Add(fDays, "3") // Wednesdays
	r = e.postForm(bariHost, joinPath, f.Values)
	loc := r.Header.Get("Location")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/lista-attesa/voce/") {
		t.Fatalf("join: %d %q\n%s", r.Status, loc, text(r.Body))
	}
	r = e.get(bariHost, loc)
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Sei in lista d'attesa") || !strings.Contains(text(r.Body), "In attesa di un posto") {
		t.Fatalf("entry page: %d\n%s", r.Status, text(r.Body))
	}
	if r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("the entry page, whose URL holds the token, sends a Referer")
	}
	u, _ := url.Parse(loc)
	entry := strings.TrimPrefix(u.Path, "/lista-attesa/voce/")
	token := u.Query().Get("token")
	// Another Comune does not know the entry.
	if r := e.get(lecceHost, "/lista-attesa/voce/"+entry+"?token="+token); r.Status != http.StatusNotFound {
		t.Errorf("entry from another Comune: %d, want 404", r.Status)
	}

	if _, err := e.book.Cancel(context.Background(), e.bari.Tenant, held.Booking.Code, held.ManageToken, "http://"+bariHost); err != nil {
		t.Fatal(err)
	}
	page := e.get(bariHost, "/lista-attesa/voce/"+entry+"?token="+token)
	if !strings.Contains(text(page.Body), "Si è liberato un posto") || !strings.Contains(text(page.Body), "Mercoledì 3 marzo 2027") {
		t.Fatalf("offer page:\n%s", text(page.Body))
	}
	accept := findForm(t, page.Body, "/lista-attesa/voce/"+entry+"/accetta", "")
	accept.Values.Set(fPrivacy, "1")
	r = e.postForm(bariHost, accept.Action, accept.Values)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="codice_fiscale-errore"`) {
		t.Fatalf("accept without a codice fiscale: %d\n%s", r.Status, text(r.Body))
	}
	accept.Values.Set(fFiscal, citizen(2).FiscalCode)
	r = e.postForm(bariHost, accept.Action, accept.Values)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/prenotazioni/") {
		t.Fatalf("accept: %d %q\n%s", r.Status, r.Header.Get("Location"), text(r.Body))
	}
	if again := e.postForm(bariHost, accept.Action, accept.Values); again.Status != http.StatusConflict || !strings.Contains(text(again.Body), "Hai già prenotato questo appuntamento") {
		t.Errorf("a second press: %d\n%s", again.Status, text(again.Body))
	}
	show := e.get(bariHost, r.Header.Get("Location"))
	if show.Status != http.StatusOK || !strings.Contains(text(show.Body), "lucia@example.org") {
		t.Errorf("the booking's page: %d\n%s", show.Status, text(show.Body))
	}
	if r := e.get(bariHost, "/lista-attesa/voce/"+entry+"?token="+token); !strings.Contains(text(r.Body), "Appuntamento prenotato") {
		t.Errorf("entry after booking:\n%s", text(r.Body))
	}
}

// TestWaitlistLeaveByLink leaves the list from the entry's page.
func TestWaitlistLeaveByLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	f := findForm(t, e.get(bariHost, "/lista-attesa/"+svc.ID).Body, "/lista-attesa/"+svc.ID, "")
	f.Values.Set(fGiven, "Lucia")
	f.Values.Set(fFamily, "Verdi")
	f.Values.Set(fEmail, "lucia@example.org")
	f.Values.Set(fPrivacy, "1")
	r := e.postForm(bariHost, "/lista-attesa/"+svc.ID, f.Values)
	page := e.get(bariHost, r.Header.Get("Location"))
	u, _ := url.Parse(r.Header.Get("Location"))
	leave := findForm(t, page.Body, u.Path+"/esci", "")
	r = e.postForm(bariHost, leave.Action, leave.Values)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("leave: %d\n%s", r.Status, text(r.Body))
	}
	if page := e.get(bariHost, r.Header.Get("Location")); !strings.Contains(text(page.Body), "Sei uscito dalla lista d'attesa") {
		t.Errorf("after leaving:\n%s", text(page.Body))
	}
	if n, _ := e.book.WaitingCount(context.Background(), e.bari.Tenant.ID, svc.ID); n != 0 {
		t.Errorf("%d waiting after leaving", n)
	}
}

// TestWaitlistAdminAccess tries every back-office route of the waiting
// list and App IO as anonymous, operator and administrator, and saves an
// App IO key that the page never shows back.
func TestWaitlistAdminAccess(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	ae.handler.appIO = appio.Sealer{Key: make([]byte, 32)}
	rand.Read(ae.handler.appIO.Key)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	operator := ae.login(ae.bari, "op-1", "Olga Verdi", "operatori")
	svc := ae.bari.InPerson
	for _, rt := range ae.handler.waitlistAdminRouteTable() {
		p := strings.ReplaceAll(rt.path, "{id}", svc.ID)
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			if rt.method == "GET" {
				if r := ae.get(bariHost, p); r.Status != http.StatusSeeOther {
					t.Errorf("anonymous: %d, want 303 to the login", r.Status)
				}
				if r := operator.get(bariHost, p); r.Status != http.StatusForbidden {
					t.Errorf("operator: %d, want 403", r.Status)
				}
				if r := admin.get(bariHost, p); r.Status != http.StatusOK {
					t.Errorf("administrator: %d, want 200", r.Status)
				}
				return
			}
			if r := ae.postForm(bariHost, p, url.Values{}); r.Status != http.StatusUnauthorized {
				t.Errorf("anonymous: %d, want 401", r.Status)
			}
			if r := operator.post(p, url.Values{}); r.Status != http.StatusForbidden {
				t.Errorf("operator: %d, want 403", r.Status)
			}
		})
	}
	appIOPath := "/gestione/servizi/" + svc.ID + "/app-io"
	r := admin.post(appIOPath, url.Values{faEnabled: {"1"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="chiave-errore"`) {
		t.Fatalf("enable without a key: %d\n%s", r.Status, text(r.Body))
	}
	r = admin.post(appIOPath, url.Values{faEnabled: {"1"}, faKey: {"chiave-segreta-01"}})
	page := admin.follow(t, r)
	if !strings.Contains(text(page.Body), "Impostazioni di App IO salvate") || strings.Contains(page.Body, "chiave-segreta-01") {
		t.Fatalf("after saving:\n%s", page.Body)
	}
	if s, err := ae.book.AppIO(context.Background(), ae.bari.Tenant.ID, svc.ID); err != nil || !s.Enabled || !s.HasKey {
		t.Errorf("stored: %+v %v", s, err)
	}
	// Another Comune's service is not found.
	if r := admin.get(bariHost, "/gestione/servizi/"+ae.lecce.InPerson.ID+"/app-io"); r.Status != http.StatusNotFound {
		t.Errorf("another Comune's service: %d, want 404", r.Status)
	}
	holdPath := "/gestione/servizi/" + svc.ID + "/lista-attesa"
	if r := admin.post(holdPath, url.Values{faHold: {"100"}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="ore-errore"`) {
		t.Errorf("hold of 100 h: %d", r.Status)
	}
	page = admin.follow(t, admin.post(holdPath, url.Values{faHold: {"1,5"}}))
	if !strings.Contains(text(page.Body), "Impostazioni della lista d'attesa salvate") || !strings.Contains(page.Body, `value="1,5"`) {
		t.Errorf("after saving the hold:\n%s", text(page.Body))
	}
}

// TestWaitlistAcceptAsksTheProof: a service that asks a proof of work
// asks it of an accepted offer too, since accepting is booking.
func TestWaitlistAcceptAsksTheProof(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	svc := e.bari.InPerson
	held := e.create(t, e.bari, svc, slot(3, 10, 0), "in_person", citizen(1))
	if _, err := e.book.SaveFairSettings(ctx, e.bari.Tenant.ID, svc.ID, booking.FairSettings{ProofOfWork: 8}); err != nil {
		t.Fatal(err)
	}
	j, err := e.book.JoinWaitlist(ctx, e.bari.Tenant, booking.WaitRequest{ServiceID: svc.ID, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Lucia", FamilyName: "Verdi", Email: "lucia@example.org", FiscalCode: citizen(2).FiscalCode}}, "http://"+bariHost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.book.Cancel(ctx, e.bari.Tenant, held.Booking.Code, held.ManageToken, "http://"+bariHost); err != nil {
		t.Fatal(err)
	}
	page := e.get(bariHost, booking.WaitPath(j.Entry.ID, j.Token))
	f := findForm(t, page.Body, "/lista-attesa/voce/"+j.Entry.ID+"/accetta", "")
	ch := f.Values.Get(fProofChallenge)
	if ch == "" || !strings.Contains(page.Body, `data-sv-pow="8"`) {
		t.Fatalf("the accept form lacks the proof of work:\n%s", page.Body)
	}
	f.Values.Set(fPrivacy, "1")
	f.Values.Set(fProofCounter, "not-a-number")
	if r := e.postForm(bariHost, f.Action, f.Values); r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "La verifica anti-abuso non è riuscita") {
		t.Fatalf("a wrong proof: %d\n%s", r.Status, text(r.Body))
	}
	f.Values.Set(fProofCounter, fmt.Sprint(booking.SolveProof(ch, 8)))
	if r := e.postForm(bariHost, f.Action, f.Values); r.Status != http.StatusSeeOther {
		t.Fatalf("accept with the proof: %d\n%s", r.Status, text(r.Body))
	}
}
