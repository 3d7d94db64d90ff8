package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// bari is the Comune every test request belongs to.
var bari = tenant.Tenant{ID: "bari", Name: "Comune di Bari", TimeZone: "Europe/Rome", Languages: []string{"it"}, CodePrefix: "BA"}

// oneComune resolves every host to bari.
type oneComune struct{}

func (oneComune) Resolve(context.Context, string) (tenant.Tenant, error) { return bari, nil }

const (
	clientID     = "sportello-bari"
	clientSecret = "segreto-di-prova"
)

// mario is the operator every provider knows.
var mario = oidctest.User{
	Subject: "a1b2c3", Username: "mrossi", Password: "pw", Name: "Mario Rossi", Email: "m.rossi@comune.bari.it",
	FiscalNumber: "TINIT-RSSMRA85T10A562S", Groups: []string{"operatori-anagrafe"},
}

// rp is a relying party: one node's handler served over TLS.
type rp struct {
	srv   *httptest.Server
	store *auth.Store
}

// startRP serves the auth routes of a store over node, with two test
// routes: GET /private (operators; prints the user and the CSRF token)
// and POST /private (operators; CSRF checked).
func startRP(t *testing.T, node *cluster.Node, client *http.Client) *rp {
	t.Helper()
	return startRPClock(t, node, client, nil)
}

// startRPClock is startRP with the store's clock (nil: time.Now).
func startRPClock(t *testing.T, node *cluster.Node, client *http.Client, now func() time.Time) *rp {
	t.Helper()
	// Once the server below is closed, the handler's goroutines and those
	// of its requests must be gone.
	leaktest.Check(t)
	s, err := site.New(site.Options{Resolver: oneComune{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB(), Now: now})
	h, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), HTTPClient: client,
		LoginLimit: authweb.LoginLimit{PerClient: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	mux.Handle("GET /private", h.RequireRole(auth.RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u, _ := authweb.SessionFrom(r.Context())
		fmt.Fprintf(w, "user=%s\nfiscal=%s\ncsrf=%s\n", u.DisplayName, u.FiscalCode, authweb.CSRFToken(r))
	})))
	mux.Handle("POST /private", h.RequireRole(auth.RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "done")
	})))
	srv := httptest.NewTLSServer(s.Tenant(h.Sessions(mux)))
	t.Cleanup(srv.Close)
	return &rp{srv: srv, store: store}
}

// addProvider registers the RP at op and configures op in the store as
// provider id, with the rule "operatori-anagrafe" → operator of anagrafe.
func (r *rp) addProvider(t *testing.T, op *oidctest.Provider, id string) {
	t.Helper()
	op.AddClient(clientID, clientSecret, r.srv.URL+"/_auth/callback", r.srv.URL+"/")
	op.AddUser(mario)
	op.AutoLogin(mario.Subject)
	_, err := r.store.SaveProvider(context.Background(), bari.ID, auth.Provider{
		ID: id, Name: "Accedi con " + id, Issuer: op.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
		Scopes: []string{"profile", "email"}, ACRValues: []string{"https://www.spid.gov.it/SpidL2"},
		Roles: []auth.RoleRule{{Group: "operatori-anagrafe", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// browser is an HTTP client with cookies that does not follow redirects,
// so that tests step through the login and tamper with it.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T, base *http.Client) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{
		Transport:     base.Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the status, the Location and the body.
func (b *browser) do(method, u string, form url.Values) (int, string, string) {
	b.t.Helper()
	return b.send(method, u, "", form)
}

// doHost sends a request to u with another Host header.
func (b *browser) doHost(method, u, host string) (int, string, string) {
	b.t.Helper()
	return b.send(method, u, host, nil)
}

func (b *browser) send(method, u, host string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

func (b *browser) get(u string) (int, string, string) { return b.do(http.MethodGet, u, nil) }

// leave posts a logout and returns the status, the URL the answer moves
// on to (the Refresh header's, else the Location) and the body.
func (b *browser) leave(u string, form url.Values) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	next := resp.Header.Get("Location")
	if _, target, ok := strings.Cut(resp.Header.Get("Refresh"), "url="); ok {
		next = target
	}
	return resp.StatusCode, next, string(data)
}

// startLogin asks the RP for a login with provider and returns the
// authorization request URL it redirects to.
func (b *browser) startLogin(r *rp, provider string) string {
	b.t.Helper()
	status, loc, body := b.get(r.srv.URL + "/_auth/login?provider=" + provider + "&return=/private")
	if status != http.StatusSeeOther || loc == "" {
		b.t.Fatalf("login: got %d %q %s, want 303 to the provider", status, loc, body)
	}
	return loc
}

// authorize sends the browser to the provider's authorization URL and
// returns the callback URL the provider answers with.
func (b *browser) authorize(authURL string) string {
	b.t.Helper()
	status, loc, body := b.get(authURL)
	if status != http.StatusFound || !strings.Contains(loc, "/_auth/callback?") {
		b.t.Fatalf("authorize: got %d %q %s, want 302 to the callback", status, loc, body)
	}
	return loc
}

// login runs the whole login with provider and returns the callback URL
// used; it fails the test unless the login succeeds.
func (b *browser) login(r *rp, provider string) string {
	b.t.Helper()
	cb := b.authorize(b.startLogin(r, provider))
	status, loc, body := b.get(cb)
	if status != http.StatusSeeOther || loc != "/private" {
		b.t.Fatalf("callback: got %d %q %s, want 303 to /private", status, loc, body)
	}
	return cb
}

// loggedIn reports whether GET /private on r serves the user, and returns
// the page.
func (b *browser) loggedIn(r *rp) (bool, string) {
	b.t.Helper()
	status, loc, body := b.get(r.srv.URL + "/private")
	switch {
	case status == http.StatusOK:
		return true, body
	case status == http.StatusSeeOther && strings.HasPrefix(loc, "/_auth/login?"):
		return false, body
	}
	b.t.Fatalf("GET /private: got %d %q, want 200 or 303 to the login", status, loc)
	return false, ""
}

func (b *browser) cookie(r *rp, name string) string {
	u, _ := url.Parse(r.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(r *rp, name, value string) {
	u, _ := url.Parse(r.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true}})
}

// field returns the value of "name=" in a /private page.
func field(page, name string) string {
	for line := range strings.SplitSeq(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	return ""
}
