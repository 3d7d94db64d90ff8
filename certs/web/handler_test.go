package web

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The test cluster's base domain and the hosts of its two Comuni.
const (
	base      = "example.it"
	bariHost  = "bari.example.it"
	lecceHost = "lecce.example.it"
	// lecceOwn is Lecce's own domain, which Bari may not take.
	lecceOwn = "servizi.comune.lecce.it"
	issuer   = "https://id.example.it"
)

var testNow = time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC)

// env is the handler over a real one-node cluster with the real tenant
// registry and auth store, behind the site's Tenant middleware and
// auth/web's Sessions, as cmd/sportello mounts it.
type env struct {
	t      *testing.T
	reg    *tenant.Registry
	store  *auth.Store
	srv    http.Handler
	status *statuses
}

// statuses is the certificate state the page reads, set by each test.
type statuses struct {
	byName map[string]certs.CertStatus
	fail   map[string]bool
}

func (s *statuses) get(ctx context.Context, name string) (certs.CertStatus, error) {
	if s.fail[name] {
		return certs.CertStatus{}, errors.New("storage unavailable")
	}
	if st, ok := s.byName[name]; ok {
		return st, nil
	}
	return certs.CertStatus{Name: name, State: "none"}, nil
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, auth.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), base)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	store := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Now: clk.Now})
	logins, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), Now: clk.Now})
	if err != nil {
		t.Fatalf("authweb.New: %v", err)
	}
	st := &statuses{byName: map[string]certs.CertStatus{}, fail: map[string]bool{}}
	h, err := New(Config{Site: s, Tenants: reg, Applied: n, Guard: logins, SessionFrom: authweb.SessionFrom,
		Status: st.get, Addresses: []string{"192.0.2.10", "2001:db8::10"}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e := &env{t: t, reg: reg, store: store, srv: s.Tenant(logins.Sessions(mux)), status: st}
	ctx := context.Background()
	for _, c := range []tenant.Tenant{
		{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"},
		{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035", Domains: []string{lecceOwn}},
	} {
		if _, err := reg.Create(ctx, c); err != nil {
			t.Fatalf("create %s: %v", c.ID, err)
		}
		_, err := store.SaveProvider(ctx, c.ID, auth.Provider{
			ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
			Roles: []auth.RoleRule{
				{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
				{Group: "operatori", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"urp"}}},
			},
		})
		if err != nil {
			t.Fatalf("SaveProvider: %v", err)
		}
	}
	return e
}

// response is a recorded answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// user is a logged-in browser of one Comune.
type user struct {
	e            *env
	host, cookie string
	csrf         string
}

// login records a login of subject with the provider's groups in Comune
// id, on host.
func (e *env) login(id tenant.ID, host, subject string, groups ...string) *user {
	e.t.Helper()
	lr, cookie, err := e.store.Login(context.Background(), id, auth.Identity{
		Provider: "regione", Issuer: issuer, Subject: subject, DisplayName: subject, Groups: groups,
	}, "", "")
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	return &user{e: e, host: host, cookie: cookie, csrf: lr.Session.CSRF}
}

func (e *env) do(method, host, target string, body io.Reader, header map[string]string) response {
	req := httptest.NewRequest(method, target, body)
	req.Host = host
	req.RemoteAddr = "192.0.2.20:40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func (u *user) get(target string) response {
	return u.e.do("GET", u.host, target, nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + u.cookie})
}

// post sends a form as the page would, with the session's CSRF token
// unless v has one.
func (u *user) post(target string, v url.Values) response {
	if _, ok := v[authweb.CSRFField]; !ok {
		v = cloneValues(v)
		v.Set(authweb.CSRFField, u.csrf)
	}
	return u.e.do("POST", u.host, target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type":   "application/x-www-form-urlencoded",
		"Origin":         "http://" + u.host,
		"Sec-Fetch-Site": "same-origin",
		"Cookie":         authweb.SessionCookie + "=" + u.cookie,
	})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// follow GETs the Location of a 303 (on this host).
func (u *user) follow(r response) response {
	u.e.t.Helper()
	if r.Status != http.StatusSeeOther {
		u.e.t.Fatalf("got %d, want 303; body:\n%s", r.Status, r.Body)
	}
	return u.get(r.Header.Get("Location"))
}

func (e *env) domains(id tenant.ID) []string {
	e.t.Helper()
	t, err := e.reg.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("Get %s: %v", id, err)
	}
	return t.Domains
}

// text returns the page's text without tags, spaces collapsed.
func text(body string) string {
	s := regexp.MustCompile(`</?(code|span|strong|a)\b[^>]*>`).ReplaceAllString(body, "")
	s = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func TestPageShowsHostsAndCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	b, _ := e.reg.Get(ctx, "bari")
	b.Domains = []string{"servizi.comune.bari.it", "prenota.comune.bari.it", "vecchio.comune.bari.it"}
	if _, err := e.reg.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	e.status.byName[bariHost] = certs.CertStatus{Name: bariHost, State: "valid", Issuer: "Sportello Test CA",
		NotAfter: time.Date(2027, 3, 12, 10, 0, 0, 0, time.UTC)}
	e.status.byName["servizi.comune.bari.it"] = certs.CertStatus{State: "pending"}
	e.status.byName["prenota.comune.bari.it"] = certs.CertStatus{State: "failed", LastError: "il DNS non punta al servizio",
		LastAttempt: time.Date(2027, 2, 28, 17, 5, 0, 0, time.UTC)}
	e.status.fail["vecchio.comune.bari.it"] = true

	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	r := admin.get("/gestione/domini")
	if r.Status != http.StatusOK {
		t.Fatalf("got %d, want 200:\n%s", r.Status, r.Body)
	}
	page := text(r.Body)
	for _, want := range []string{
		"Domini e certificati",
		"bari.example.it",
		"Certificato valido fino al 12/03/2027, emesso da Sportello Test CA.",
		"In attesa del primo certificato.",
		// 17:05 UTC is 18:05 in Rome.
		"Emissione non riuscita: il DNS non punta al servizio, ultimo tentativo il 28/02/2027 alle 18:05.",
		"Lo stato del certificato non è disponibile in questo momento.",
		"Record DNS da creare: un CNAME da servizi.comune.bari.it a bari.example.it, oppure record A/AAAA verso 192.0.2.10, 2001:db8::10.",
		"Indirizzo assegnato dal servizio: non si può rimuovere.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	// Lecce's domain is not Bari's business.
	if strings.Contains(page, lecceOwn) {
		t.Errorf("Bari's page shows Lecce's domain")
	}
	// The form works without JavaScript: a plain POST with the token.
	if !strings.Contains(r.Body, `<form method="post" action="/gestione/domini"`) ||
		!strings.Contains(r.Body, `name="csrf" value="`+admin.csrf+`"`) {
		t.Errorf("page has no add form with the CSRF token")
	}
	if !strings.Contains(r.Body, `href="/gestione/domini/servizi.comune.bari.it/rimuovi"`) {
		t.Errorf("page has no remove link for servizi.comune.bari.it")
	}
	if strings.Contains(r.Body, "<script") {
		t.Errorf("page has a script")
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func TestAddDomain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")

	r := admin.follow(admin.post("/gestione/domini", url.Values{"dominio": {" Servizi.Comune.Bari.IT. "}}))
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Dominio aggiunto.") {
		t.Fatalf("after add: got %d without the confirmation:\n%s", r.Status, text(r.Body))
	}
	if got := e.domains("bari"); !slices.Equal(got, []string{"servizi.comune.bari.it"}) {
		t.Fatalf("domains %v, want [servizi.comune.bari.it]", got)
	}
	if !strings.Contains(r.Body, `role="status"`) || !strings.Contains(r.Body, `aria-live="polite"`) {
		t.Errorf("confirmation is not announced")
	}
	// The new host answers for Bari at once.
	if got, err := e.reg.Resolve(context.Background(), "servizi.comune.bari.it"); err != nil || got.ID != "bari" {
		t.Errorf("Resolve: %v %v, want bari", got.ID, err)
	}

	// An internationalised name is stored in punycode, as browsers send
	// it, and shown in both forms.
	r = admin.follow(admin.post("/gestione/domini", url.Values{"dominio": {"servizi.comune.città.it"}}))
	if got := e.domains("bari"); !slices.Contains(got, "servizi.comune.xn--citt-3na.it") {
		t.Fatalf("domains %v, want the punycode servizi.comune.xn--citt-3na.it", got)
	}
	if !strings.Contains(text(r.Body), "servizi.comune.xn--citt-3na.it (servizi.comune.città.it)") {
		t.Errorf("page does not show the IDN in both forms:\n%s", text(r.Body))
	}
}

func TestAddDomainRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	b, _ := e.reg.Get(ctx, "bari")
	b.Domains = []string{"servizi.comune.bari.it"}
	if _, err := e.reg.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	for _, tt := range []struct {
		name, typed, want string
	}{
		{"empty", "  ", "Indica il nome del dominio"},
		{"URL", "https://servizi.comune.bari.it/prenota", "senza https://"},
		{"IPv4", "192.0.2.1", "Un indirizzo IP"},
		{"IPv6", "[2001:db8::1]", "Un indirizzo IP"},
		{"with port", "servizi.comune.bari.it:8443", "Un indirizzo IP o una porta"},
		{"two labels", "comune-bari.it", "almeno tre parti"},
		{"one label", "localhost", "almeno tre parti"},
		{"bad characters", "servizi_online.comune.bari.it", "non è un dominio valido"},
		{"empty label", "servizi..bari.it", "non è un dominio valido"},
		{"numeric TLD", "servizi.comune.123", "non è un dominio valido"},
		{"under the base domain", "altro.bari.example.it", "assegnati automaticamente"},
		{"base host of another Comune", "lecce.example.it", "assegnati automaticamente"},
		{"already Bari's", "SERVIZI.comune.bari.it", "già tra quelli del Comune"},
		{"another Comune's", lecceOwn, "già usato da un altro Comune"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post("/gestione/domini", url.Values{"dominio": {tt.typed}})
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422:\n%s", r.Status, text(r.Body))
			}
			if !strings.Contains(r.Body, tt.want) {
				t.Errorf("page lacks %q:\n%s", tt.want, text(r.Body))
			}
			// The error is announced, linked to the field, and the field
			// keeps what was typed.
			for _, want := range []string{`role="alert"`, `href="#dominio"`, `aria-invalid="true"`, `id="dominio-errore"`,
				`value="` + html.EscapeString(strings.TrimSpace(tt.typed)) + `"`} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if got := e.domains("bari"); !slices.Equal(got, []string{"servizi.comune.bari.it"}) {
				t.Errorf("domains changed to %v", got)
			}
		})
	}
	if got := e.domains("lecce"); !slices.Equal(got, []string{lecceOwn}) {
		t.Errorf("Lecce's domains changed to %v", got)
	}
}

func TestDomainLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	b, _ := e.reg.Get(ctx, "bari")
	for i := range maxOwnDomains - 1 {
		b.Domains = append(b.Domains, fmt.Sprintf("s%d.comune.bari.it", i))
	}
	if _, err := e.reg.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	if r := admin.post("/gestione/domini", url.Values{"dominio": {"ultimo.comune.bari.it"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("the %dth domain: got %d, want 303", maxOwnDomains, r.Status)
	}
	r := admin.post("/gestione/domini", url.Values{"dominio": {"troppi.comune.bari.it"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "il massimo") {
		t.Errorf("one more: got %d:\n%s", r.Status, text(r.Body))
	}
	if n := len(e.domains("bari")); n != maxOwnDomains {
		t.Errorf("got %d domains, want %d", n, maxOwnDomains)
	}
	if page := admin.get("/gestione/domini"); strings.Contains(page.Body, `action="/gestione/domini"`) {
		t.Errorf("the full page still offers the add form")
	}
}

func TestRemoveDomain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	b, _ := e.reg.Get(ctx, "bari")
	b.Domains = []string{"servizi.comune.bari.it", "vecchio.comune.bari.it"}
	if _, err := e.reg.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	admin := e.login("bari", bariHost, "admin-1", "amministratori")

	// The link opens a confirmation; nothing is removed by a GET.
	c := admin.get("/gestione/domini/vecchio.comune.bari.it/rimuovi")
	if c.Status != http.StatusOK || !strings.Contains(c.Body, `<form method="post" action="/gestione/domini/vecchio.comune.bari.it/rimuovi"`) ||
		!strings.Contains(c.Body, `value="`+admin.csrf+`"`) || !strings.Contains(c.Body, `href="/gestione/domini"`) {
		t.Fatalf("confirmation: got %d:\n%s", c.Status, c.Body)
	}
	if got := e.domains("bari"); len(got) != 2 {
		t.Fatalf("the confirmation removed something: %v", got)
	}
	r := admin.follow(admin.post("/gestione/domini/vecchio.comune.bari.it/rimuovi", url.Values{}))
	if !strings.Contains(text(r.Body), "Dominio rimosso") || strings.Contains(text(r.Body), "vecchio.comune.bari.it") {
		t.Errorf("after removal:\n%s", text(r.Body))
	}
	if got := e.domains("bari"); !slices.Equal(got, []string{"servizi.comune.bari.it"}) {
		t.Errorf("domains %v, want [servizi.comune.bari.it]", got)
	}
	if _, err := e.reg.Resolve(ctx, "vecchio.comune.bari.it"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("the removed name still resolves: %v", err)
	}

	// Neither an unknown name nor another Comune's can be removed.
	for _, name := range []string{"vecchio.comune.bari.it", lecceOwn, "bari.example.it"} {
		if r := admin.post("/gestione/domini/"+name+"/rimuovi", url.Values{}); r.Status != http.StatusNotFound {
			t.Errorf("remove %s: got %d, want 404", name, r.Status)
		}
		if r := admin.get("/gestione/domini/" + name + "/rimuovi"); r.Status != http.StatusNotFound {
			t.Errorf("confirm %s: got %d, want 404", name, r.Status)
		}
	}
	if got := e.domains("lecce"); !slices.Equal(got, []string{lecceOwn}) {
		t.Errorf("Lecce's domains changed to %v", got)
	}

	// Removing the name the page is open on continues on the Comune's
	// subdomain, since this name no longer answers.
	own := e.login("bari", "servizi.comune.bari.it", "admin-1", "amministratori")
	c = own.get("/gestione/domini/servizi.comune.bari.it/rimuovi")
	if !strings.Contains(text(c.Body), "Stai usando proprio questo indirizzo") {
		t.Errorf("confirmation on the name itself does not warn:\n%s", text(c.Body))
	}
	r = own.post("/gestione/domini/servizi.comune.bari.it/rimuovi", url.Values{})
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "http://bari.example.it/gestione/domini?") {
		t.Errorf("got %d to %q, want 303 to http://bari.example.it/gestione/domini", r.Status, loc)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	operator := e.login("bari", bariHost, "op-1", "operatori")
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	lecceAdmin := e.login("lecce", lecceHost, "admin-2", "amministratori")
	form := url.Values{"dominio": {"servizi.comune.bari.it"}}

	// Anonymous: the login for a page, 401 for a form.
	if r := e.do("GET", bariHost, "/gestione/domini", nil, nil); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/_auth/login") {
		t.Errorf("anonymous GET: got %d %q, want 303 to the login", r.Status, r.Header.Get("Location"))
	}
	if r := e.do("POST", bariHost, "/gestione/domini", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous POST: got %d, want 401", r.Status)
	}
	// An operator is not the Comune's administrator.
	for _, r := range []response{
		operator.get("/gestione/domini"),
		operator.post("/gestione/domini", form),
		operator.get("/gestione/domini/x.comune.bari.it/rimuovi"),
		operator.post("/gestione/domini/x.comune.bari.it/rimuovi", url.Values{}),
	} {
		if r.Status != http.StatusForbidden {
			t.Errorf("operator: got %d, want 403", r.Status)
		}
	}
	// A form without the session's token, or with another's.
	for name, tok := range map[string]string{"missing": "", "other session's": lecceAdmin.csrf} {
		if r := admin.post("/gestione/domini", url.Values{"dominio": form["dominio"], authweb.CSRFField: {tok}}); r.Status != http.StatusForbidden {
			t.Errorf("%s token: got %d, want 403", name, r.Status)
		}
	}
	// Lecce's administrator's cookie means nothing on Bari's host.
	lecceOnBari := &user{e: e, host: bariHost, cookie: lecceAdmin.cookie, csrf: lecceAdmin.csrf}
	if r := lecceOnBari.post("/gestione/domini", form); r.Status == http.StatusSeeOther {
		t.Errorf("Lecce's session changed Bari's domains")
	}
	if got := e.domains("bari"); len(got) != 0 {
		t.Errorf("Bari's domains changed to %v", got)
	}
}

func TestStatusNotManaged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A Handler without a StatusFunc (no TLS on this node) still lists
	// and edits the names, and says why no state is shown.
	h, err := New(Config{Site: mustSite(t, e.reg), Tenants: e.reg, Applied: appliedNop{}, Guard: guardAll{}, SessionFrom: func(ctx context.Context) (auth.Session, auth.User, bool) {
		return auth.Session{CSRF: "x"}, auth.User{ID: "u"}, true
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.reg.Get(context.Background(), "bari")
	req := httptest.NewRequest("GET", "/gestione/domini", nil)
	req = req.WithContext(site.WithTenant(req.Context(), b))
	rec := httptest.NewRecorder()
	h.list(rec, req, request{t: b, csrf: "x"})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "non gestisce i certificati") ||
		strings.Contains(rec.Body.String(), "Nessun certificato") {
		t.Errorf("got %d:\n%s", rec.Code, text(rec.Body.String()))
	}
}

func mustSite(t *testing.T, r site.Resolver) *site.Site {
	s, err := site.New(site.Options{Resolver: r, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type appliedNop struct{}

func (appliedNop) AppliedIndex() uint64                            { return 0 }
func (appliedNop) WaitApplied(ctx context.Context, i uint64) error { return nil }

type guardAll struct{}

func (guardAll) RequireRole(role auth.Role, next http.Handler) http.Handler { return next }

func TestCheckDomain(t *testing.T) {
	ten := tenant.Tenant{Domains: []string{"servizi.comune.bari.it"}}
	for _, tt := range []struct{ typed, want string }{
		{"Prenota.Comune.Bari.It", "prenota.comune.bari.it"},
		{"prenota.comune.bari.it.", "prenota.comune.bari.it"},
		{"servizi.comune.forlì.it", "servizi.comune.xn--forl-tpa.it"},
		{"SERVIZI.COMUNE.FORLÌ.IT", "servizi.comune.xn--forl-tpa.it"},
		{"servizi.comune.xn--forl-tpa.it", "servizi.comune.xn--forl-tpa.it"},
		{"bari.example.it", ""},
		{"example.it", ""},
		{"a.b", ""},
		{"-x.comune.bari.it", ""},
		{"xn--zz.comune.bari.it", ""},
	} {
		got, msg := checkDomain(tt.typed, ten, base)
		if got != tt.want || (tt.want == "") != (msg != "") {
			t.Errorf("checkDomain(%q) = %q, %q; want %q", tt.typed, got, msg, tt.want)
		}
	}
}
