package web

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// adminEnv is env with the back office mounted behind the real auth/web
// handler, and users logged in through the real auth store.
type adminEnv struct {
	*env
	store *auth.Store
}

// issuer is the test provider's issuer; logins are recorded directly in
// the store (the OpenID flow itself is auth/web's to test).
const issuer = "https://id.example.it"

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, booking.Register, auth.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	store := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Now: clk.Now})
	logins, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), Now: clk.Now})
	if err != nil {
		t.Fatalf("authweb.New: %v", err)
	}
	h, err := New(Config{Book: book, Site: s, Logger: clustertest.Logger(t), Now: clk.Now, RateLimit: RateLimit{PerMinute: -1},
		Guard: logins, SessionFrom: authweb.SessionFrom, Tenants: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e := &env{t: t, clock: clk, node: n, book: book, handler: h, srv: s.Tenant(logins.Sessions(mux))}
	e.bari = e.seed(reg, "bari", "Comune di Bari", "072006", bariHost)
	e.lecce = e.seed(reg, "lecce", "Comune di Lecce", "075035", lecceHost)
	ae := &adminEnv{env: e, store: store}
	for _, c := range []comune{e.bari, e.lecce} {
		_, err := store.SaveProvider(context.Background(), c.Tenant.ID, auth.Provider{
			ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
			Roles: []auth.RoleRule{
				{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
				{Group: "operatori", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{c.Office.ID}}},
			},
		})
		if err != nil {
			t.Fatalf("SaveProvider: %v", err)
		}
	}
	return ae
}

// user is a logged-in browser of one Comune.
type user struct {
	e      *adminEnv
	c      comune
	cookie string
	csrf   string
}

// login records a login of subject (with the provider's groups) in Comune
// c and returns its browser.
func (ae *adminEnv) login(c comune, subject, name string, groups ...string) *user {
	t := ae.t
	t.Helper()
	lr, cookie, err := ae.store.Login(context.Background(), c.Tenant.ID, auth.Identity{
		Provider: "regione", Issuer: issuer, Subject: subject, DisplayName: name, Groups: groups,
	}, "", "")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return &user{e: ae, c: c, cookie: cookie, csrf: lr.Session.CSRF}
}

// get sends GET target to host as the user.
func (u *user) get(host, target string) response {
	return u.e.do("GET", host, target, nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + u.cookie})
}

// post sends a form to the user's Comune as its own page would, with the
// session's CSRF token unless v sets one.
func (u *user) post(target string, v url.Values) response {
	u.e.t.Helper()
	return u.postHost(u.c.Host, target, v)
}

func (u *user) postHost(host, target string, v url.Values) response {
	if _, ok := v[csrfField]; !ok {
		v = cloneValues(v)
		v.Set(csrfField, u.csrf)
	}
	return u.e.do("POST", host, target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type":   "application/x-www-form-urlencoded",
		"Origin":         "http://" + host,
		"Sec-Fetch-Site": "same-origin",
		"Cookie":         authweb.SessionCookie + "=" + u.cookie,
	})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// follow GETs the Location of a 303 as u.
func (u *user) follow(t *testing.T, r response) response {
	t.Helper()
	if r.Status != http.StatusSeeOther {
		t.Fatalf("got %d, want 303; body:\n%s", r.Status, r.Body)
	}
	return u.get(u.c.Host, r.Header.Get("Location"))
}

// validOfficeForm is a valid office form.
func validOfficeForm(name string) url.Values {
	return url.Values{
		foName: {name}, foAddress: {"Piazza del Ferrarese 1"}, foEmail: {"tributi@comune.bari.it"}, foPhone: {"080 5771111"},
		"orari-1": {"08:30-12:30, 15:00-17:00"}, "orari-3": {"9-12"}, "orari-5": {"08:30-12:30"},
	}
}

// officeNamed returns the office of c named name, with whether found.
func (ae *adminEnv) officeNamed(c comune, name string) (booking.Office, bool) {
	cfg, err := ae.book.Configuration(context.Background(), c.Tenant.ID)
	if err != nil {
		ae.t.Fatalf("Configuration: %v", err)
	}
	for _, o := range cfg.Offices {
		if o.Name == name {
			return o, true
		}
	}
	return booking.Office{}, false
}

func TestCSRFFieldMatchesAuth(t *testing.T) {
	if csrfField != authweb.CSRFField {
		t.Errorf("csrfField = %q, authweb.CSRFField = %q", csrfField, authweb.CSRFField)
	}
}

// TestAdminAccess tries every back-office route as anonymous, as an
// operator and as an administrator: the route table is enumerated, so a
// new route is tried too.
func TestAdminAccess(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	operator := ae.login(ae.bari, "op-1", "Olga Verdi", "operatori")
	desk, err := ae.book.WriteDesk(context.Background(), ae.bari.Tenant.ID, booking.Desk{OfficeID: ae.bari.Office.ID, Label: "Sportello 1", Kind: booking.DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	pathOf := func(p string) string {
		if strings.HasPrefix(p, "/gestione/sportelli/") {
			return strings.ReplaceAll(p, "{id}", desk.ID)
		}
		if strings.HasPrefix(p, "/gestione/servizi/") {
			return strings.ReplaceAll(p, "{id}", ae.bari.InPerson.ID)
		}
		return strings.ReplaceAll(p, "{id}", ae.bari.Office.ID)
	}

	for _, rt := range ae.handler.adminRouteTable() {
		p := pathOf(rt.path)
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			var anon response
			if rt.method == "GET" {
				anon = ae.get(bariHost, p)
				if anon.Status != http.StatusSeeOther || !strings.HasPrefix(anon.Header.Get("Location"), "/_auth/login?return=") {
					t.Errorf("anonymous: got %d %q, want 303 to the login", anon.Status, anon.Header.Get("Location"))
				}
			} else {
				anon = ae.postForm(bariHost, p, url.Values{})
				if anon.Status != http.StatusUnauthorized {
					t.Errorf("anonymous: got %d, want 401", anon.Status)
				}
			}
			if rt.role == "" {
				return
			}
			var got response
			if rt.method == "GET" {
				got = operator.get(bariHost, p)
			} else {
				got = operator.post(p, url.Values{})
			}
			if got.Status != http.StatusForbidden {
				t.Errorf("operator: got %d, want 403", got.Status)
			}
			if rt.method == "GET" {
				if got := admin.get(bariHost, p); got.Status != http.StatusOK {
					t.Errorf("administrator: got %d, want 200", got.Status)
				}
			}
		})
	}

	t.Run("home", func(t *testing.T) {
		r := operator.get(bariHost, "/gestione")
		if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Benvenuto, Olga Verdi") {
			t.Fatalf("operator home: got %d\n%s", r.Status, text(r.Body))
		}
		if !strings.Contains(r.Body, `href="/gestione/agenda"`) || strings.Contains(r.Body, `href="/gestione/uffici"`) {
			t.Errorf("operator home: want the agenda and not the offices")
		}
		f := findForm(t, r.Body, "/_auth/logout", "")
		if f.Values.Get(csrfField) != operator.csrf {
			t.Errorf("logout form CSRF: got %q, want the session's", f.Values.Get(csrfField))
		}
		r = admin.get(bariHost, "/gestione")
		for _, p := range []string{"/gestione/uffici", "/gestione/servizi", "/gestione/chiusure", "/gestione/utenti", "/gestione/accesso", "/gestione/registro", "/gestione/statistiche", "/gestione/agenda"} {
			if !strings.Contains(r.Body, `href="`+p+`"`) {
				t.Errorf("administrator home: no link to %s", p)
			}
		}
	})
}

// TestAdminConfiguresTheComune creates an office, a service and a closure
// through the forms and finds them on the citizen pages; archiving the
// service takes it away from them.
func TestAdminConfiguresTheComune(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")

	// The office.
	r := admin.post("/gestione/uffici/nuovo", validOfficeForm("Tributi"))
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/gestione/uffici?esito=ufficio-creato&indice=") {
		t.Fatalf("create office: got %d %q\n%s", r.Status, loc, text(r.Body))
	}
	page := admin.follow(t, r)
	if !strings.Contains(page.Body, "Ufficio creato.") || !strings.Contains(page.Body, "Tributi") {
		t.Errorf("office list after saving: no confirmation or no office\n%s", text(page.Body))
	}
	office, ok := ae.officeNamed(ae.bari, "Tributi")
	if !ok {
		t.Fatal("office not stored")
	}
	if got := len(office.Hours[1]); got != 2 {
		t.Errorf("Monday intervals: got %d, want 2", got)
	}
	if office.Hours[3][0] != (booking.Interval{Start: 9 * 60, End: 12 * 60}) {
		t.Errorf("Wednesday: got %v, want 9–12", office.Hours[3])
	}
	if r := ae.get(bariHost, "/uffici"); !strings.Contains(r.Body, "Tributi") {
		t.Error("new office missing from /uffici")
	}
	// Editing keeps the ID and shows the stored hours.
	edit := admin.get(bariHost, "/gestione/uffici/"+office.ID)
	f := findForm(t, edit.Body, "/gestione/uffici/"+office.ID, "")
	if f.Values.Get("orari-1") != "08:30-12:30, 15:00-17:00" || f.Values.Get(csrfField) != admin.csrf {
		t.Errorf("edit form: got %v", f.Values)
	}

	// The service, with its own hours.
	svcForm := url.Values{
		fsOffice: {office.ID}, fsName: {"Pagamento TARI"}, fsDescription: {"Chiarimenti sulla tassa sui rifiuti."},
		fsBring: {"Avviso di pagamento\r\nDocumento d'identità"}, fsDuration: {"20"}, fsChannels: {"in_person", "video"},
		fsCapacity: {"2"}, fsNotice: {"1,5"}, fsHorizon: {"45"}, fsDeadline: {"12"}, fsMax: {"1"},
		fsOwnHours: {"propri"}, "orari-2": {"09:00-11:00"},
	}
	r = admin.post("/gestione/servizi/nuovo", svcForm)
	page = admin.follow(t, r)
	if !strings.Contains(page.Body, "Servizio creato.") || !strings.Contains(page.Body, "Pagamento TARI") {
		t.Errorf("service list after saving:\n%s", text(page.Body))
	}
	cfg, _ := ae.book.Configuration(context.Background(), ae.bari.Tenant.ID)
	var svc booking.Service
	for _, o := range cfg.Offices {
		for _, s := range o.Services {
			if s.Name == "Pagamento TARI" {
				svc = s
			}
		}
	}
	if svc.ID == "" || svc.OfficeID != office.ID || svc.Capacity != 2 || svc.MinNotice.Minutes() != 90 || len(svc.WhatToBring) != 2 ||
		len(svc.Hours[2]) != 1 || svc.HorizonDays != 45 {
		t.Fatalf("stored service: got %+v", svc)
	}
	if r := ae.get(bariHost, "/servizi/"+svc.ID); r.Status != http.StatusOK || !strings.Contains(r.Body, "Avviso di pagamento") {
		t.Errorf("citizen service page: got %d", r.Status)
	}

	// A closure of every office on Tuesday 9 March: no slot that day.
	r = admin.post("/gestione/chiusure", url.Values{fcOffice: {""}, fcFrom: {"09/03/2027"}, fcReason: {"Sciopero"}})
	page = admin.follow(t, r)
	if !strings.Contains(page.Body, "Chiusura aggiunta.") || !strings.Contains(page.Body, "Sciopero") {
		t.Errorf("closures after saving:\n%s", text(page.Body))
	}
	slots := ae.get(bariHost, "/api/v1/services/"+svc.ID+"/slots?from=2027-03-09&to=2027-03-09")
	if slots.Status != http.StatusOK || strings.Contains(slots.Body, "2027-03-09T") {
		t.Errorf("slots on the closed day: got %d %s", slots.Status, slots.Body)
	}
	open := ae.get(bariHost, "/api/v1/services/"+svc.ID+"/slots?from=2027-03-16&to=2027-03-16")
	if !strings.Contains(open.Body, "2027-03-16T09:00:00+01:00") {
		t.Errorf("slots on the next Tuesday: got %s", open.Body)
	}

	// Archiving the service hides it from citizens.
	r = admin.post("/gestione/servizi/"+svc.ID+"/archivio", url.Values{"archivia": {"1"}})
	page = admin.follow(t, r)
	if !strings.Contains(page.Body, "Servizio archiviato") {
		t.Errorf("after archiving:\n%s", text(page.Body))
	}
	if r := ae.get(bariHost, "/servizi"); strings.Contains(r.Body, "Pagamento TARI") {
		t.Error("archived service still on /servizi")
	}
	if r := ae.get(bariHost, "/servizi/"+svc.ID); r.Status != http.StatusNotFound {
		t.Errorf("archived service's page: got %d, want 404", r.Status)
	}
	if r := ae.get(bariHost, "/prenota?servizio="+svc.ID); strings.Contains(r.Body, "Pagamento TARI") {
		t.Error("archived service offered by the booking flow")
	}
	// Restoring brings it back.
	admin.follow(t, admin.post("/gestione/servizi/"+svc.ID+"/archivio", url.Values{"archivia": {"0"}}))
	if r := ae.get(bariHost, "/servizi/"+svc.ID); r.Status != http.StatusOK {
		t.Errorf("restored service's page: got %d, want 200", r.Status)
	}
}

// TestAdminInvalidInput checks that bad input shows Italian messages next
// to the fields and in the summary, keeps what was typed and saves
// nothing.
func TestAdminInvalidInput(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	before, _ := ae.book.Configuration(context.Background(), ae.bari.Tenant.ID)

	form := validOfficeForm("")
	form.Set("orari-1", "12:00-09:00")
	form.Set("orari-3", "mattina")
	form.Set(foEmail, "non-una-email")
	r := admin.post("/gestione/uffici/nuovo", form)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("got %d, want 422", r.Status)
	}
	for id, want := range map[string]string{
		"nome-errore": "Inserisci il nome", "email-errore": "non è valido",
		"orari-1-errore": "prima di finire", "orari-3-errore": "Scrivi gli orari",
	} {
		re := regexp.MustCompile(`id="` + id + `">([^<]*)<`)
		if m := re.FindStringSubmatch(r.Body); m == nil || !strings.Contains(m[1], want) {
			t.Errorf("%s: got %v, want a message with %q", id, m, want)
		}
	}
	if tag := elementByID(r.Body, "errori"); !strings.Contains(tag, `role="alert"`) {
		t.Errorf("error summary: got %q, want role=alert", tag)
	}
	if !strings.Contains(r.Body, `href="#orari-3"`) {
		t.Error("the summary does not link to the weekday's field")
	}
	f := findForm(t, r.Body, "/gestione/uffici/nuovo", "")
	if f.Values.Get(foAddress) != "Piazza del Ferrarese 1" || f.Values.Get("orari-3") != "mattina" {
		t.Errorf("values kept: got %v", f.Values)
	}

	svc := url.Values{fsOffice: {ae.bari.Office.ID}, fsName: {"X"}, fsDuration: {"0"}, fsCapacity: {"due"},
		fsNotice: {"2"}, fsHorizon: {"30"}, fsDeadline: {"24"}, fsMax: {"1"}}
	r = admin.post("/gestione/servizi/nuovo", svc)
	if r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, `id="durata-errore"`) || !strings.Contains(r.Body, `id="sportelli-errore"`) || !strings.Contains(r.Body, `id="canali-errore"`) {
		t.Errorf("service: got %d, want errors on durata, sportelli and canali\n%s", r.Status, text(r.Body))
	}

	r = admin.post("/gestione/chiusure", url.Values{fcFrom: {"31/02/2027"}, fcReason: {""}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="chiusura-dal-errore"`) {
		t.Errorf("closure: got %d\n%s", r.Status, text(r.Body))
	}
	r = admin.post("/gestione/aperture", url.Values{fpOffice: {ae.bari.Office.ID}, fpDate: {"2027-03-07"}, fpHours: {"9-8"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="apertura-orari-errore"`) {
		t.Errorf("opening: got %d\n%s", r.Status, text(r.Body))
	}

	after, _ := ae.book.Configuration(context.Background(), ae.bari.Tenant.ID)
	if len(after.Offices) != len(before.Offices) || len(after.Offices[0].Services) != len(before.Offices[0].Services) {
		t.Errorf("configuration changed: %d offices, want %d", len(after.Offices), len(before.Offices))
	}
	if cs, _ := ae.book.Closures(context.Background(), ae.bari.Tenant.ID, civilDay(2027, 1, 1), civilDay(2030, 1, 1)); len(cs) != 0 {
		t.Errorf("closures: got %v, want none", cs)
	}
}

// TestAdminCSRF checks that a form without the session's token, with
// another token, or from another site is refused and changes nothing.
func TestAdminCSRF(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	for name, v := range map[string]url.Values{
		"missing": {csrfField: {""}},
		"wrong":   {csrfField: {"not-the-token"}},
	} {
		form := validOfficeForm("Senza token " + name)
		for k, vs := range v {
			form[k] = vs
		}
		if r := admin.post("/gestione/uffici/nuovo", form); r.Status != http.StatusForbidden {
			t.Errorf("%s token: got %d, want 403", name, r.Status)
		}
		if _, ok := ae.officeNamed(ae.bari, "Senza token "+name); ok {
			t.Errorf("%s token: the office was saved", name)
		}
	}
	form := validOfficeForm("Da un altro sito")
	form.Set(csrfField, admin.csrf)
	r := ae.do("POST", bariHost, "/gestione/uffici/nuovo", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example",
		"Cookie": authweb.SessionCookie + "=" + admin.cookie,
	})
	if r.Status != http.StatusForbidden {
		t.Errorf("cross-site: got %d, want 403", r.Status)
	}
	if _, ok := ae.officeNamed(ae.bari, "Da un altro sito"); ok {
		t.Error("cross-site: the office was saved")
	}
}

// TestAdminTenantIsolation checks that an administrator of Bari can
// neither see nor change Lecce's configuration: not on Lecce's host (the
// session is Bari's), and not by putting Lecce's IDs in Bari's forms.
func TestAdminTenantIsolation(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	lecce := ae.lecce
	ctx := context.Background()
	closure, err := ae.book.WriteClosure(ctx, lecce.Tenant.ID, booking.Closure{From: civilDay(2027, 3, 10), To: civilDay(2027, 3, 10), Reason: "Festa"})
	if err != nil {
		t.Fatal(err)
	}

	if r := admin.get(lecceHost, "/gestione/uffici"); r.Status != http.StatusSeeOther {
		t.Errorf("Bari's session on Lecce's host: got %d, want 303 to the login", r.Status)
	}
	if r := admin.postHost(lecceHost, "/gestione/uffici/nuovo", validOfficeForm("Intruso")); r.Status != http.StatusUnauthorized {
		t.Errorf("Bari's session posting on Lecce's host: got %d, want 401", r.Status)
	}
	if r := admin.get(bariHost, "/gestione/uffici/"+lecce.Office.ID); r.Status != http.StatusNotFound {
		t.Errorf("Lecce's office on Bari's host: got %d, want 404", r.Status)
	}
	if r := admin.get(bariHost, "/gestione/servizi/"+lecce.InPerson.ID); r.Status != http.StatusNotFound {
		t.Errorf("Lecce's service on Bari's host: got %d, want 404", r.Status)
	}
	if r := admin.get(bariHost, "/gestione/uffici"); strings.Contains(r.Body, lecce.Office.Name) {
		t.Error("Lecce's office listed in Bari's back office")
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/gestione/uffici/" + lecce.Office.ID, validOfficeForm("Intruso")},
		{"/gestione/servizi/" + lecce.InPerson.ID, url.Values{fsName: {"Intruso"}}},
		{"/gestione/uffici/" + lecce.Office.ID + "/archivio", url.Values{"archivia": {"1"}}},
		{"/gestione/servizi/" + lecce.InPerson.ID + "/archivio", url.Values{"archivia": {"1"}}},
		{"/gestione/chiusure/" + closure.ID + "/rimuovi", url.Values{}},
	} {
		if r := admin.post(p.path, p.form); r.Status != http.StatusNotFound {
			t.Errorf("POST %s: got %d, want 404", p.path, r.Status)
		}
	}
	r := admin.post("/gestione/chiusure", url.Values{fcOffice: {lecce.Office.ID}, fcFrom: {"2027-03-11"}, fcReason: {"Intruso"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="chiusura-ufficio-errore"`) {
		t.Errorf("closure of Lecce's office from Bari: got %d", r.Status)
	}
	r = admin.post("/gestione/servizi/nuovo", url.Values{fsOffice: {lecce.Office.ID}, fsName: {"Intruso"}, fsDuration: {"30"},
		fsChannels: {"in_person"}, fsCapacity: {"1"}, fsNotice: {"1"}, fsHorizon: {"30"}, fsDeadline: {"1"}, fsMax: {"1"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="ufficio-errore"`) {
		t.Errorf("service in Lecce's office from Bari: got %d", r.Status)
	}

	// Nothing of Lecce changed, and nothing was added to Bari.
	cfg, _ := ae.book.Configuration(ctx, lecce.Tenant.ID)
	if len(cfg.ArchivedOffices)+len(cfg.ArchivedServices) != 0 {
		t.Errorf("Lecce archived: %v %v", cfg.ArchivedOffices, cfg.ArchivedServices)
	}
	if o, _ := ae.book.Office(ctx, lecce.Tenant.ID, lecce.Office.ID); o.Name != lecce.Office.Name {
		t.Errorf("Lecce's office renamed to %q", o.Name)
	}
	if cs, _ := ae.book.Closures(ctx, lecce.Tenant.ID, civilDay(2027, 3, 10), civilDay(2027, 3, 10)); len(cs) != 1 {
		t.Errorf("Lecce's closures: got %v, want its one", cs)
	}
	if _, ok := ae.officeNamed(ae.bari, "Intruso"); ok {
		t.Error("an office was created in Bari")
	}
	if cs, _ := ae.book.Closures(ctx, ae.bari.Tenant.ID, civilDay(2027, 1, 1), civilDay(2030, 1, 1)); len(cs) != 0 {
		t.Errorf("Bari's closures: got %v, want none", cs)
	}
}

// civilDay is a date of the Gregorian calendar.
func civilDay(y int, m time.Month, d int) civil.Date { return civil.Date{Year: y, Month: m, Day: d} }

// TestAdminAccessibility runs the accessibility checks of the citizen
// pages on every back-office page, with and without errors.
func TestAdminAccessibility(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	b := ae.bari
	if _, err := ae.book.WriteClosure(context.Background(), b.Tenant.ID, booking.Closure{From: civilDay(2027, 3, 10), To: civilDay(2027, 3, 12), Reason: "Inventario"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ae.book.WriteOpening(context.Background(), b.Tenant.ID, booking.Opening{OfficeID: b.Office.ID, Date: civilDay(2027, 3, 14),
		Intervals: []booking.Interval{{Start: 540, End: 720}}}); err != nil {
		t.Fatal(err)
	}
	pages := map[string]response{
		"home":                 admin.get(bariHost, "/gestione"),
		"offices":              admin.get(bariHost, "/gestione/uffici"),
		"new office":           admin.get(bariHost, "/gestione/uffici/nuovo"),
		"edit office":          admin.get(bariHost, "/gestione/uffici/"+b.Office.ID),
		"office errors":        admin.post("/gestione/uffici/nuovo", url.Values{"orari-2": {"x"}}),
		"services":             admin.get(bariHost, "/gestione/servizi"),
		"new service":          admin.get(bariHost, "/gestione/servizi/nuovo"),
		"edit service":         admin.get(bariHost, "/gestione/servizi/"+b.InPerson.ID),
		"service errors":       admin.post("/gestione/servizi/nuovo", url.Values{fsOwnHours: {"propri"}}),
		"closures":             admin.get(bariHost, "/gestione/chiusure"),
		"closure errors":       admin.post("/gestione/chiusure", url.Values{fcFrom: {"ieri"}}),
		"opening errors":       admin.post("/gestione/aperture", url.Values{fpHours: {"sempre"}}),
		"edit service unknown": admin.get(bariHost, "/gestione/servizi/nessuno"),
	}
	for name, r := range pages {
		if r.Status >= 500 {
			t.Errorf("%s: status %d", name, r.Status)
			continue
		}
		checkAccessible(t, name, r.Body)
	}
}

// TestAdminReadsItsWritesOnAnyNode saves through one node and follows the
// redirect on another: the list waits for the save's index there, so it
// shows the new office although that node applied it on its own time.
func TestAdminReadsItsWritesOnAnyNode(t *testing.T) {
	t.Parallel()
	lr, send := newAdminCluster(t)
	for i := range 5 {
		name := fmt.Sprintf("Ufficio %d", i)
		form := validOfficeForm(name)
		form.Set(csrfField, lr.Session.CSRF)
		rec := send(1+i%2, "POST", "/gestione/uffici/nuovo", form)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("save through node %d: got %d\n%s", 2+i%2, rec.Code, rec.Body)
		}
		other := 2 - i%2
		page := send(other, "GET", rec.Header().Get("Location"), nil)
		if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), name) {
			t.Fatalf("list on node %d after saving %q: got %d, office missing", other+1, name, page.Code)
		}
	}
}

// newAdminCluster starts three nodes, each with the back office behind the
// login, makes Comune bari and logs in its administrator Anna through node
// 1; send serves a request on node i with Anna's session (forms carry no
// CSRF token: add it to v).
func newAdminCluster(t *testing.T) (auth.LoginResult, func(i int, method, target string, v url.Values) *httptest.ResponseRecorder) {
	t.Helper()
	nodes := clustertest.Cluster(t, 3, tenant.Register, booking.Register, auth.Register)
	ctx := context.Background()
	type front struct {
		srv   http.Handler
		store *auth.Store
	}
	fronts := make([]front, len(nodes))
	for i, n := range nodes {
		reg := tenant.NewRegistry(n, n.DB(), "example.it")
		s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		store := auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
		logins, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Config{Book: booking.NewBook(n, n.DB(), time.Now, rand.Reader), Site: s, Logger: clustertest.Logger(t),
			Guard: logins, SessionFrom: authweb.SessionFrom, Tenants: reg})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		h.Routes(mux)
		logins.Routes(mux)
		s.Routes(mux)
		fronts[i] = front{srv: s.Tenant(logins.Sessions(mux)), store: store}
	}
	leader := nodes[0]
	if _, err := tenant.NewRegistry(leader, leader.DB(), "example.it").Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fronts[0].store.SaveProvider(ctx, "bari", auth.Provider{ID: "regione", Name: "Accedi", Issuer: issuer,
		ClientID: "sportello", ClientSecret: "segreto",
		Roles: []auth.RoleRule{{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}}}}); err != nil {
		t.Fatal(err)
	}
	lr, cookie, err := fronts[0].store.Login(ctx, "bari", auth.Identity{Provider: "regione", Issuer: issuer, Subject: "a", DisplayName: "Anna",
		Groups: []string{"amministratori"}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// The Comune, its provider and the session were written through node
	// 1; the other nodes must have applied them before they are asked.
	for _, n := range nodes {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.WaitApplied(wctx, leader.AppliedIndex())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	send := func(i int, method, target string, v url.Values) *httptest.ResponseRecorder {
		var body io.Reader
		if v != nil {
			body = strings.NewReader(v.Encode())
		}
		req := httptest.NewRequest(method, target, body)
		req.Host = bariHost
		req.Header.Set("Cookie", authweb.SessionCookie+"="+cookie)
		if v != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		rec := httptest.NewRecorder()
		fronts[i].srv.ServeHTTP(rec, req)
		return rec
	}
	return lr, send
}
