package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

const (
	breakGlassUser     = "emergenza"
	breakGlassPassword = "Chiave-di-soccorso-2026"
)

// newBreakGlass creates and confirms the break-glass administrator
// through store and returns its TOTP secret; the clock is moved past the
// confirmation's code.
func newBreakGlass(t *testing.T, store *auth.Store, clk *clustertest.Clock) string {
	t.Helper()
	ctx := context.Background()
	sec, err := store.CreateLocalAdmin(ctx, auth.NewLocalAdmin{Username: breakGlassUser, DisplayName: "Amministratore di emergenza",
		Password: breakGlassPassword})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := auth.TOTPCode(sec.Secret, clk.Now())
	if err := store.ConfirmLocalAdmin(ctx, breakGlassUser, c); err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.TOTPPeriod)
	return sec.Secret
}

// localLogin posts the break-glass form of r and returns status,
// Location and body.
func (b *browser) localLogin(r *rp, user, password, code string) (int, string, string) {
	b.t.Helper()
	return b.do(http.MethodPost, r.srv.URL+"/_auth/locale", url.Values{
		"username": {user}, "password": {password}, "code": {code}, "return": {"/private"},
	})
}

// problemOf returns the text of the form's error alert.
func problemOf(page string) string {
	_, rest, ok := strings.Cut(page, `role="alert"`)
	if !ok {
		return ""
	}
	_, rest, _ = strings.Cut(rest, ">")
	msg, _, _ := strings.Cut(rest, "<")
	return strings.TrimSpace(msg)
}

func totp(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := auth.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBreakGlassLogin logs the break-glass administrator in through the
// form, over HTTPS on a real node: the session is an ordinary one
// (cookie, CSRF token, rotation) with the appliance administrator role;
// every kind of wrong attempt gets the same answer.
func TestBreakGlassLogin(t *testing.T) {
	t.Parallel()
	clk := clustertest.NewClock(time.Now().UTC())
	node := clustertest.New(t, cluster.Config{Now: clk.Now}, auth.Register)
	clustertest.Start(t, node)
	r := startRPClock(t, node, http.DefaultClient, clk.Now)
	secret := newBreakGlass(t, r.store, clk)
	b := newBrowser(t, r.srv.Client())

	// The chooser (no provider configured) links the form, which is a
	// labelled form in the Comune's layout.
	if status, _, page := b.get(r.srv.URL + "/_auth/login"); status != http.StatusOK || !strings.Contains(page, `href="/_auth/locale"`) ||
		!strings.Contains(page, "Accesso di emergenza (amministratori)") {
		t.Fatalf("chooser: got %d, want the link to the break-glass login:\n%s", status, page)
	}
	status, _, page := b.get(r.srv.URL + "/_auth/locale")
	for _, want := range []string{`<label for="username"`, `<label for="password"`, `<label for="code"`, `autocomplete="one-time-code"`, "Comune di Bari"} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("form: got %d, missing %q:\n%s", status, want, page)
		}
	}

	// Wrong attempts: all answered alike, none logs in. Three failures
	// stay under the lock.
	now := totp(t, secret, clk.Now())
	wrongCode := "000000"
	if wrongCode == now {
		wrongCode = "111111"
	}
	for name, try := range map[string][3]string{
		"wrong password": {breakGlassUser, breakGlassPassword + "x", now},
		"wrong code":     {breakGlassUser, breakGlassPassword, wrongCode},
		"unknown user":   {"sconosciuto", breakGlassPassword, now},
	} {
		status, loc, page := b.localLogin(r, try[0], try[1], try[2])
		if status != http.StatusUnauthorized || loc != "" || problemOf(page) != "Credenziali non valide." {
			t.Errorf("%s: got %d %q %q, want 401 Credenziali non valide.", name, status, loc, problemOf(page))
		}
		if b.cookie(r, authweb.SessionCookie) != "" {
			t.Errorf("%s: a session cookie was set", name)
		}
	}

	// The right credentials log in, with a session like an OpenID one.
	status, loc, page := b.localLogin(r, breakGlassUser, breakGlassPassword, now)
	if status != http.StatusSeeOther || loc != "/private" {
		t.Fatalf("login: got %d %q %s, want 303 to /private", status, loc, page)
	}
	ok, page := b.loggedIn(r)
	if !ok || field(page, "user") != "Amministratore di emergenza" || field(page, "csrf") == "" {
		t.Fatalf("after login: logged in %t, page %q", ok, page)
	}
	first := b.cookie(r, authweb.SessionCookie)
	if status, _, _ := b.do(http.MethodPost, r.srv.URL+"/private", url.Values{authweb.CSRFField: {field(page, "csrf")}}); status != http.StatusOK {
		t.Errorf("POST with the session's CSRF token: got %d", status)
	}
	if status, _, _ := b.do(http.MethodPost, r.srv.URL+"/private", url.Values{authweb.CSRFField: {"x"}}); status != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: got %d, want 403", status)
	}
	a, err := r.store.LocalAdmin(context.Background(), breakGlassUser)
	if err != nil || a.Failures != 0 {
		t.Errorf("after a good login: %+v, %v; want the failures reset", a, err)
	}

	// The same code again, from another browser: refused.
	other := newBrowser(t, r.srv.Client())
	if status, _, page := other.localLogin(r, breakGlassUser, breakGlassPassword, now); status != http.StatusUnauthorized || problemOf(page) != "Credenziali non valide." {
		t.Errorf("replayed code: got %d %q", status, problemOf(page))
	}

	// A new login rotates the session: the old cookie is dead.
	clk.Advance(auth.TOTPPeriod)
	if status, _, _ := b.localLogin(r, breakGlassUser, breakGlassPassword, totp(t, secret, clk.Now())); status != http.StatusSeeOther {
		t.Fatalf("second login: got %d", status)
	}
	if second := b.cookie(r, authweb.SessionCookie); second == "" || second == first {
		t.Errorf("session not rotated: %q then %q", first, second)
	}
	if _, _, err := r.store.Session(context.Background(), bari.ID, first); err == nil {
		t.Error("the session before the second login is still alive")
	}

	// Disabling the account ends its session at once and refuses it.
	if err := r.store.SetLocalDisabled(context.Background(), breakGlassUser, true); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.loggedIn(r); ok {
		t.Error("session of a disabled administrator still served")
	}
	clk.Advance(auth.TOTPPeriod)
	if status, _, page := b.localLogin(r, breakGlassUser, breakGlassPassword, totp(t, secret, clk.Now())); status != http.StatusUnauthorized || problemOf(page) != "Credenziali non valide." {
		t.Errorf("disabled account: got %d %q", status, problemOf(page))
	}
}

// TestBreakGlassLockoutAcrossNodes fails five times alternating between
// two nodes: the lock is in the replicated state, so the right
// credentials are then refused on both.
func TestBreakGlassLockoutAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 2, auth.Register)
	clk := clustertest.NewClock(time.Now().UTC())
	r1 := startRPClock(t, nodes[0], http.DefaultClient, clk.Now)
	r2 := startRPClock(t, nodes[1], http.DefaultClient, clk.Now)
	// The account is created through the leader once there is one: the
	// second node's joining may still be settling.
	lead := clustertest.Leader(t, nodes...)
	secret := newBreakGlass(t, auth.NewStore(auth.Config{Proposer: lead, DB: lead.DB(), Now: clk.Now}), clk)
	// Node 2 must know the account before it is tried there: a node that
	// has not applied its creation answers as for an unknown user.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[1].WaitApplied(ctx, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r1.srv.Client())
	for i := range auth.LocalMaxFailures {
		r := []*rp{r1, r2}[i%2]
		if status, _, _ := b.localLogin(r, breakGlassUser, "Password-sbagliata-1", totp(t, secret, clk.Now())); status != http.StatusUnauthorized {
			t.Fatalf("wrong attempt %d: got %d, want 401", i+1, status)
		}
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := nodes[1].WaitApplied(ctx2, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	for i, r := range []*rp{r2, r1} {
		clk.Advance(auth.TOTPPeriod)
		status, _, page := b.localLogin(r, breakGlassUser, breakGlassPassword, totp(t, secret, clk.Now()))
		if status != http.StatusUnauthorized || problemOf(page) != "Credenziali non valide." {
			t.Errorf("right credentials on node %d of a locked account: got %d %q", 2-i, status, problemOf(page))
		}
	}
	if ok, _ := b.loggedIn(r1); ok {
		t.Error("logged in despite the lock")
	}
}

// TestBreakGlassRateLimit checks the per-client limit of the form and
// that a cross-site POST is refused before any check.
func TestBreakGlassRateLimit(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, auth.Register)
	// The handler's clock stands still: the limit counts per minute, and
	// twelve password checks under the race detector may straddle one.
	clk := clustertest.NewClock(time.Date(2026, 11, 27, 9, 0, 10, 0, time.UTC))
	s, err := site.New(site.Options{Resolver: oneComune{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := authweb.New(authweb.Config{Store: auth.NewStore(auth.Config{Proposer: node, DB: node.DB()}), Site: s,
		Logger: clustertest.Logger(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewTLSServer(s.Tenant(h.Sessions(mux)))
	t.Cleanup(srv.Close)
	r := &rp{srv: srv}
	b := newBrowser(t, r.srv.Client())
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/_auth/locale", strings.NewReader("username=x&password=y&code=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: got %d, want 403", resp.StatusCode)
	}
	limited := 0
	for range 12 {
		if status, _, _ := b.localLogin(r, "nessuno", "Password-qualsiasi-1", "123456"); status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("12 attempts in a minute: %d refused by the limit, want 2", limited)
	}
}
