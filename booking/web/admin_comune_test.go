package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// registryOf returns a registry over the environment's node, to read the
// Comuni as they are stored.
func (ae *adminEnv) registryOf() *tenant.Registry {
	return tenant.NewRegistry(ae.node, ae.node.DB(), "example.it")
}

// TestAdminComune changes the Comune's colour and email sender from the
// back office: the citizen pages show the new colour at once and the next
// booking's email, as the outbox holds it, comes from the new sender.
func TestAdminComune(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")

	home := admin.get(bariHost, "/gestione")
	if !strings.Contains(home.Body, `href="/gestione/comune"`) {
		t.Errorf("administrator home: no link to /gestione/comune")
	}
	r := admin.get(bariHost, "/gestione/comune")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /gestione/comune: got %d, want 200\n%s", r.Status, text(r.Body))
	}
	f := findForm(t, r.Body, "/gestione/comune", "")
	if f.Values.Get(fcmName) != "Comune di Bari" || f.Values.Get(csrfField) != admin.csrf {
		t.Errorf("form: got name %q, csrf %q; want the Comune's name and the session's token", f.Values.Get(fcmName), f.Values.Get(csrfField))
	}
	if !strings.Contains(r.Body, "bari.example.it") {
		t.Errorf("page does not list the Comune's host names")
	}

	f.Values.Set(fcmRegion, "Regione Puglia")
	f.Values.Set(fcmColor, "#1A5E20")
	f.Values.Set(fcmLogo, "https://www.comune.bari.it/stemma.svg")
	f.Values.Set(fcmSenderName, "Prenotazioni Comune di Bari")
	f.Values.Set(fcmSenderAddr, "prenotazioni@comune.bari.it")
	f.Values.Set(fcmReplyTo, "urp@comune.bari.it")
	// The Comune is the Host's: a field naming another one is ignored.
	f.Values.Set("id", "lecce")
	r = admin.follow(t, admin.post("/gestione/comune", f.Values))
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Impostazioni del Comune salvate.") {
		t.Fatalf("after save: got %d\n%s", r.Status, text(r.Body))
	}
	if !strings.Contains(r.Body, "--bs-primary:#1a5e20;") {
		t.Errorf("the confirming page is not painted in the new colour")
	}
	if !strings.Contains(text(r.Body), "(comune.bari.it)") {
		t.Errorf("no warning naming the sender's domain")
	}
	if f := findForm(t, r.Body, "/gestione/comune", ""); f.Values.Get(fcmReplyTo) != "urp@comune.bari.it" {
		t.Errorf("page after save: Reply-To %q, want the saved one", f.Values.Get(fcmReplyTo))
	}

	// The citizen's pages: header colour, region label and logo.
	r = ae.get(bariHost, "/servizi")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /servizi: got %d", r.Status)
	}
	for _, want := range []string{"--bs-primary:#1a5e20;", "Regione Puglia", "https://www.comune.bari.it/stemma.svg"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("citizen page lacks %q", want)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://www.comune.bari.it") {
		t.Errorf("CSP %q does not admit the logo's origin", csp)
	}
	if lecce := ae.get(lecceHost, "/servizi"); strings.Contains(lecce.Body, "--bs-primary:#1a5e20;") {
		t.Errorf("Lecce's pages took Bari's colour")
	}

	// The next booking's email comes from the new sender.
	b := ae.postJSON(bariHost, "/api/v1/bookings", bookingJSON(ae.bari.InPerson.ID, slot(3, 10, 0), "in_person", citizen(7)), nil)
	if b.Status != http.StatusCreated {
		t.Fatalf("booking: got %d, want 201\n%s", b.Status, b.Body)
	}
	n := noticeFor(t, ae, citizen(7).Email)
	// The deliverer looks the Reply-To up when it sends; the seeded office
	// has no email, so the Comune's answers.
	replyTo, err := ae.registryOf().ReplyTo(context.Background(), n.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	from, _, msg, err := booking.ComposeEmailReplyTo(n, replyTo, ae.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if from != "prenotazioni@comune.bari.it" {
		t.Errorf("envelope sender: got %q, want prenotazioni@comune.bari.it", from)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(msg)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || a.Name != "Prenotazioni Comune di Bari" || a.Address != "prenotazioni@comune.bari.it" {
		t.Errorf("From: got %q (%v), want Prenotazioni Comune di Bari <prenotazioni@comune.bari.it>", m.Header.Get("From"), err)
	}
	if a, err := mail.ParseAddress(m.Header.Get("Reply-To")); err != nil || a.Address != "urp@comune.bari.it" {
		t.Errorf("Reply-To: got %q (%v), want urp@comune.bari.it", m.Header.Get("Reply-To"), err)
	}

	lecce, err := ae.registryOf().Get(context.Background(), "lecce")
	if err != nil {
		t.Fatal(err)
	}
	if lecce.Branding.PrimaryColor != "" || lecce.Sender.Address != "" || lecce.Name != "Comune di Lecce" {
		t.Errorf("Lecce changed: %+v", tenant.SettingsOf(lecce))
	}
}

// noticeFor returns the outbox notice of the booking of email.
func noticeFor(t *testing.T, ae *adminEnv, email string) booking.Notice {
	t.Helper()
	ms, err := ae.node.Outbox(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		var n booking.Notice
		if json.Unmarshal(m.Payload, &n) == nil && n.Booking.Citizen.Email == email {
			return n
		}
	}
	t.Fatalf("no notice for %s in the outbox", email)
	return booking.Notice{}
}

// TestAdminComuneRefused sends a colour too light for white text and a
// bad sender address: the form comes back with both errors, linked to
// their fields, and the Comune does not change.
func TestAdminComuneRefused(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	reg := ae.registryOf()
	before, err := reg.Get(context.Background(), "bari")
	if err != nil {
		t.Fatal(err)
	}
	f := findForm(t, admin.get(bariHost, "/gestione/comune").Body, "/gestione/comune", "")
	f.Values.Set(fcmColor, "#ffcc00")
	f.Values.Set(fcmSenderAddr, "prenotazioni@")
	f.Values.Set(fcmLogo, "http://www.comune.bari.it/stemma.svg")
	f.Values.Set(fcmReplyTo, "urp")
	r := admin.post("/gestione/comune", f.Values)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("got %d, want 422\n%s", r.Status, text(r.Body))
	}
	wantText(t, r.Body, "Il colore è troppo chiaro", "4,5:1", "Inserisci un indirizzo email valido", "https://")
	for _, id := range []string{fcmColor, fcmSenderAddr, fcmLogo, fcmReplyTo} {
		if !strings.Contains(r.Body, `href="#`+id+`"`) || !strings.Contains(r.Body, `id="`+id+`-errore"`) {
			t.Errorf("field %s: no linked error in the summary or beside the field", id)
		}
	}
	if !strings.Contains(r.Body, `value="#ffcc00"`) {
		t.Errorf("the typed colour is not kept in the form")
	}
	// A sender name without address, and no name at all.
	f.Values.Set(fcmColor, "#0066cc")
	f.Values.Set(fcmLogo, "")
	f.Values.Set(fcmName, "")
	f.Values.Set(fcmSenderAddr, "")
	f.Values.Set(fcmReplyTo, "")
	r = admin.post("/gestione/comune", f.Values)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("got %d, want 422", r.Status)
	}
	wantText(t, r.Body, "Il nome del Comune è obbligatorio")
	after, err := reg.Get(context.Background(), "bari")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := reg.ReplyTo(context.Background(), "bari"); r != "" {
		t.Errorf("refused forms set the Reply-To %q", r)
	}
	if !reflect.DeepEqual(tenant.SettingsOf(after), tenant.SettingsOf(before)) {
		t.Errorf("refused forms changed the Comune: got %+v, want %+v", tenant.SettingsOf(after), tenant.SettingsOf(before))
	}
}

// TestAdminComuneAccess: an operator is refused (403), and Bari's
// administrator cannot reach Lecce's page or change Lecce.
func TestAdminComuneAccess(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	operator := ae.login(ae.bari, "op-1", "Olga Verdi", "operatori")
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	valid := findForm(t, admin.get(bariHost, "/gestione/comune").Body, "/gestione/comune", "").Values
	valid.Set(fcmColor, "#1a5e20")

	if r := operator.get(bariHost, "/gestione/comune"); r.Status != http.StatusForbidden {
		t.Errorf("operator GET: got %d, want 403", r.Status)
	}
	if r := operator.post("/gestione/comune", valid); r.Status != http.StatusForbidden {
		t.Errorf("operator POST: got %d, want 403", r.Status)
	}
	// Bari's session on Lecce's host: not a session there.
	if r := admin.get(lecceHost, "/gestione/comune"); r.Status == http.StatusOK {
		t.Errorf("Bari's administrator on Lecce's page: got 200")
	}
	if r := admin.postHost(lecceHost, "/gestione/comune", valid); r.Status == http.StatusSeeOther || r.Status == http.StatusOK {
		t.Errorf("Bari's administrator saving Lecce: got %d, want a refusal", r.Status)
	}
	for _, id := range []tenant.ID{"bari", "lecce"} {
		c, err := ae.registryOf().Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Branding.PrimaryColor != "" {
			t.Errorf("%s changed by a refused request: colour %q", id, c.Branding.PrimaryColor)
		}
	}
}

// TestAdminComuneReadsItsWritesOnAnyNode saves through one follower and
// opens the confirming page on the other at once: the page waits for the
// save and shows it, in the new colour.
func TestAdminComuneReadsItsWritesOnAnyNode(t *testing.T) {
	t.Parallel()
	lr, send := newAdminCluster(t)
	colors := []string{"#1a5e20", "#7a1f1f", "#003d66", "#4a2c6d"}
	for i, c := range colors {
		name := fmt.Sprintf("Comune di Bari %d", i)
		form := url.Values{csrfField: {lr.Session.CSRF}, fcmName: {name}, fcmColor: {c}}
		rec := send(1+i%2, "POST", "/gestione/comune", form)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("save through node %d: got %d\n%s", 2+i%2, rec.Code, rec.Body)
		}
		other := 2 - i%2
		page := send(other, "GET", rec.Header().Get("Location"), nil)
		body := page.Body.String()
		if page.Code != http.StatusOK || !strings.Contains(body, `value="`+name+`"`) || !strings.Contains(body, "--bs-primary:"+c+";") {
			t.Fatalf("page on node %d after saving %q %s: got %d, save missing", other+1, name, c, page.Code)
		}
	}
}

// TestAdminComuneLanguages: the administrator chooses the citizen pages'
// languages and the first, the default; a language Sportello has no
// catalog for, or none at all, is refused next to the field and changes
// nothing.
func TestAdminComuneLanguages(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	f := findForm(t, admin.get(bariHost, "/gestione/comune").Body, "/gestione/comune", "")
	if got := f.Values.Get(fcmLanguages); got != "it, en, de" {
		t.Errorf("languages shown: got %q, want the Comune's \"it, en, de\"", got)
	}
	f.Values.Set(fcmLanguages, "DE, it")
	r := admin.follow(t, admin.post("/gestione/comune", f.Values))
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Impostazioni del Comune salvate.") {
		t.Fatalf("after save: got %d\n%s", r.Status, text(r.Body))
	}
	got, err := ae.registryOf().Get(context.Background(), ae.bari.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Languages, ",") != "de,it" {
		t.Fatalf("languages stored: got %v, want [de it]", got.Languages)
	}
	for _, bad := range []string{"fr, it", "", "it, it"} {
		f.Values.Set(fcmLanguages, bad)
		r := admin.post("/gestione/comune", f.Values)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="`+fcmLanguages+`-error"`) && !strings.Contains(r.Body, `aria-invalid="true"`) {
			t.Errorf("languages %q: got %d, want 422 with the field's error", bad, r.Status)
		}
		if bad == "fr, it" && !strings.Contains(text(r.Body), "non è disponibile") {
			t.Errorf("languages %q: the page does not say the language is not available\n%s", bad, text(r.Body))
		}
		got, err := ae.registryOf().Get(context.Background(), ae.bari.Tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got.Languages, ",") != "de,it" {
			t.Errorf("refused languages %q changed them: got %v", bad, got.Languages)
		}
	}
}
