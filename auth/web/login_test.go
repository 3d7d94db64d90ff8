package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
)

func TestLoginSessionLogout(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	r.addProvider(t, op, "puglia")
	b := newBrowser(t, r.srv.Client())

	if ok, _ := b.loggedIn(r); ok {
		t.Fatal("anonymous: got the private page")
	}
	authURL := b.startLogin(r, "puglia")
	q := mustQuery(t, authURL)
	for k, want := range map[string]string{
		"client_id": clientID, "response_type": "code", "code_challenge_method": "S256",
		"redirect_uri": r.srv.URL + "/_auth/callback", "acr_values": "https://www.spid.gov.it/SpidL2",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s: got %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("authorization request %s: got %q, want 256 random bits", k, q.Get(k))
		}
	}
	if !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("scope %q: want openid", q.Get("scope"))
	}
	cb := b.authorize(authURL)
	status, loc, body := b.get(cb)
	if status != http.StatusSeeOther || loc != "/private" {
		t.Fatalf("callback: got %d %q %s, want 303 to /private", status, loc, body)
	}
	first := b.cookie(r, authweb.SessionCookie)
	ok, page := b.loggedIn(r)
	if !ok {
		t.Fatal("after login: not logged in")
	}
	if got := field(page, "user"); got != "Mario Rossi" {
		t.Errorf("user: got %q, want Mario Rossi", got)
	}
	if got := field(page, "fiscal"); got != "RSSMRA85T10A562S" {
		t.Errorf("fiscal code: got %q, want RSSMRA85T10A562S", got)
	}
	csrf := field(page, "csrf")

	t.Run("CSRF", func(t *testing.T) {
		if status, _, _ := b.do(http.MethodPost, r.srv.URL+"/private", url.Values{}); status != http.StatusForbidden {
			t.Errorf("POST without token: got %d, want 403", status)
		}
		if status, _, _ := b.do(http.MethodPost, r.srv.URL+"/private", url.Values{"csrf": {"x" + csrf}}); status != http.StatusForbidden {
			t.Errorf("POST with a wrong token: got %d, want 403", status)
		}
		if status, _, body := b.do(http.MethodPost, r.srv.URL+"/private", url.Values{"csrf": {csrf}}); status != http.StatusOK {
			t.Errorf("POST with the token: got %d %s, want 200", status, body)
		}
	})

	t.Run("rotation at login", func(t *testing.T) {
		b.login(r, "puglia")
		second := b.cookie(r, authweb.SessionCookie)
		if second == "" || second == first {
			t.Fatalf("session cookie after a second login: got %q, want a new one", second)
		}
		old := newBrowser(t, r.srv.Client())
		u, _ := url.Parse(r.srv.URL)
		old.c.Jar.SetCookies(u, []*http.Cookie{{Name: authweb.SessionCookie, Value: first, Path: "/", Secure: true}})
		if ok, _ := old.loggedIn(r); ok {
			t.Error("the session before the second login still works")
		}
	})

	t.Run("logout", func(t *testing.T) {
		_, page := b.loggedIn(r)
		csrf := field(page, "csrf")
		if status, _, _ := b.do(http.MethodPost, r.srv.URL+"/_auth/logout", url.Values{}); status != http.StatusForbidden {
			t.Errorf("logout without CSRF token: got %d, want 403", status)
		}
		status, loc, body := b.leave(r.srv.URL+"/_auth/logout", url.Values{"csrf": {csrf}})
		if status != http.StatusOK || !strings.HasPrefix(loc, op.Issuer()+"/end_session?") {
			t.Fatalf("logout: got %d %q %s, want a page moving on to the provider's end_session", status, loc, body)
		}
		lq := mustQuery(t, loc)
		if lq.Get("id_token_hint") == "" || lq.Get("post_logout_redirect_uri") != r.srv.URL+"/" {
			t.Errorf("end_session request %v: want id_token_hint and the home page", lq)
		}
		status, loc, _ = b.get(loc)
		if status != http.StatusFound || loc != r.srv.URL+"/" {
			t.Errorf("end_session: got %d %q, want 302 back home", status, loc)
		}
		if got := op.Logouts(); !slices.Contains(got, mario.Subject) {
			t.Errorf("provider logouts: got %v, want %s", got, mario.Subject)
		}
		if ok, _ := b.loggedIn(r); ok {
			t.Error("after logout: still logged in")
		}
	})
}

func TestLoginWithForm(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t, oidctest.WithoutEndSession())
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	r.addProvider(t, op, "puglia")
	op.AutoLogin("")
	b := newBrowser(t, r.srv.Client())
	authURL := b.startLogin(r, "puglia")
	status, _, body := b.get(authURL)
	if status != http.StatusOK || !strings.Contains(body, `name="request"`) {
		t.Fatalf("authorize: got %d %s, want the login form", status, body)
	}
	i := strings.Index(body, `name="request" value="`) + len(`name="request" value="`)
	req := body[i : i+strings.Index(body[i:], `"`)]
	status, cb, _ := b.do(http.MethodPost, op.Issuer()+"/login", url.Values{"request": {req}, "username": {"mrossi"}, "password": {"pw"}})
	if status != http.StatusFound {
		t.Fatalf("login form: got %d, want 302", status)
	}
	if status, loc, body := b.get(cb); status != http.StatusSeeOther || loc != "/private" {
		t.Fatalf("callback: got %d %q %s", status, loc, body)
	}
	_, page := b.loggedIn(r)
	// Without end_session_endpoint, logout ends the local session only.
	status, loc, _ := b.do(http.MethodPost, r.srv.URL+"/_auth/logout", url.Values{"csrf": {field(page, "csrf")}})
	if status != http.StatusSeeOther || loc != "/" {
		t.Errorf("logout: got %d %q, want 303 to /", status, loc)
	}
	if ok, _ := b.loggedIn(r); ok {
		t.Error("after logout: still logged in")
	}
}

// TestRefusals runs one login per case, each spoiled in one way, and
// checks that it is refused and leaves the browser without a session.
func TestRefusals(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	other := oidctest.Start(t, oidctest.WithoutIssParameter())
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	r.addProvider(t, op, "a")
	r.addProvider(t, other, "b")
	otherKey, err := oidctest.NewKey()
	if err != nil {
		t.Fatal(err)
	}

	tokenCases := []struct {
		name string
		hook func(*oidctest.IDToken)
	}{
		{"wrong issuer", func(tok *oidctest.IDToken) { tok.Claims["iss"] = other.Issuer() }},
		{"wrong audience", func(tok *oidctest.IDToken) { tok.Claims["aud"] = "another-client"; delete(tok.Claims, "azp") }},
		{"wrong azp", func(tok *oidctest.IDToken) { tok.Claims["azp"] = "another-client" }},
		{"expired", func(tok *oidctest.IDToken) {
			tok.Claims["exp"] = time.Now().Add(-10 * time.Minute).Unix()
			tok.Claims["iat"] = time.Now().Add(-20 * time.Minute).Unix()
		}},
		{"alg none", func(tok *oidctest.IDToken) { tok.Alg = "none" }},
		{"bad signature", func(tok *oidctest.IDToken) { tok.Key = otherKey }},
		{"unknown kid", func(tok *oidctest.IDToken) { tok.Key = otherKey; tok.KeyID = "unknown" }},
		{"wrong nonce", func(tok *oidctest.IDToken) { tok.Claims["nonce"] = "another-nonce" }},
		{"no nonce", func(tok *oidctest.IDToken) { delete(tok.Claims, "nonce") }},
	}
	// Cases share the provider's hook: they run one after the other.
	for _, tc := range tokenCases {
		t.Run(tc.name, func(t *testing.T) {
			op.OnIDToken(tc.hook)
			defer op.OnIDToken(nil)
			b := newBrowser(t, r.srv.Client())
			cb := b.authorize(b.startLogin(r, "a"))
			if status, _, body := b.get(cb); status != http.StatusForbidden {
				t.Errorf("callback: got %d %s, want 403", status, body)
			}
			if ok, _ := b.loggedIn(r); ok {
				t.Error("refused login left a session")
			}
		})
	}

	t.Run("missing state", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		cb := b.authorize(b.startLogin(r, "a"))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Del("state")
		u.RawQuery = q.Encode()
		if status, _, body := b.get(u.String()); status != http.StatusBadRequest || !strings.Contains(body, "Torna alla pagina di accesso") {
			t.Errorf("callback without state: got %d, want 400 with the Italian message; body %s", status, body)
		}
		if ok, _ := b.loggedIn(r); ok {
			t.Error("refused login left a session")
		}
	})

	t.Run("replayed state", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		cb := b.authorize(b.startLogin(r, "a"))
		binding := b.cookie(r, authweb.FlowCookie)
		if status, _, _ := b.get(cb); status != http.StatusSeeOther {
			t.Fatalf("first callback: got %d, want 303", status)
		}
		// The browser replays the answer with the flow's cookie restored:
		// the state itself has been used.
		b.setCookie(r, authweb.FlowCookie, binding)
		if status, _, _ := b.get(cb); status != http.StatusBadRequest {
			t.Errorf("replay from the same browser: got %d, want 400", status)
		}
		thief := newBrowser(t, r.srv.Client())
		thief.setCookie(r, authweb.FlowCookie, binding)
		if status, _, _ := thief.get(cb); status != http.StatusBadRequest {
			t.Errorf("replay from another browser with the cookie: got %d, want 400", status)
		}
		if ok, _ := thief.loggedIn(r); ok {
			t.Error("replay gave a session")
		}
	})

	t.Run("state of another browser", func(t *testing.T) {
		victim := newBrowser(t, r.srv.Client())
		cb := victim.authorize(victim.startLogin(r, "a"))
		attacker := newBrowser(t, r.srv.Client())
		attacker.startLogin(r, "a") // a flow cookie of its own
		if status, _, _ := attacker.get(cb); status != http.StatusBadRequest {
			t.Errorf("callback with another flow's cookie: got %d, want 400", status)
		}
		if ok, _ := attacker.loggedIn(r); ok {
			t.Error("attacker got a session")
		}
		// The victim's own login is not spoiled by the attempt.
		if status, loc, _ := victim.get(cb); status != http.StatusSeeOther || loc != "/private" {
			t.Errorf("victim's callback after the attempt: got %d %q, want 303 to /private", status, loc)
		}
	})

	t.Run("code reused", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		cb := b.login(r, "a")
		code := mustQuery(t, cb).Get("code")
		b2 := newBrowser(t, r.srv.Client())
		cb2 := b2.authorize(b2.startLogin(r, "a"))
		u, _ := url.Parse(cb2)
		q := u.Query()
		q.Set("code", code)
		u.RawQuery = q.Encode()
		if status, _, _ := b2.get(u.String()); status != http.StatusForbidden {
			t.Errorf("callback with a used code: got %d, want 403", status)
		}
		if got := op.Refusals(); !slices.Contains(got, "code already used") {
			t.Errorf("provider refusals %v: want code already used", got)
		}
		if ok, _ := b2.loggedIn(r); ok {
			t.Error("reused code gave a session")
		}
	})

	t.Run("answer of provider B to a flow begun with A", func(t *testing.T) {
		for _, withIss := range []bool{false, true} {
			b := newBrowser(t, r.srv.Client())
			authURL := b.startLogin(r, "a")
			// The same authorization request, answered by B.
			cb := b.authorize(other.Issuer() + strings.TrimPrefix(authURL, op.Issuer()))
			if withIss {
				cb += "&iss=" + url.QueryEscape(other.Issuer())
			}
			if status, _, body := b.get(cb); status != http.StatusForbidden {
				t.Errorf("iss=%v: callback: got %d %s, want 403", withIss, status, body)
			}
			if ok, _ := b.loggedIn(r); ok {
				t.Errorf("iss=%v: mix-up gave a session", withIss)
			}
		}
	})

	t.Run("chooser", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		status, _, body := b.get(r.srv.URL + "/_auth/login?return=/private")
		if status != http.StatusOK {
			t.Fatalf("login without provider: got %d, want 200", status)
		}
		for _, want := range []string{"Accesso per il personale", "Accedi con a", "Accedi con b",
			`href="/_auth/login?provider=b&amp;return=%2Fprivate"`} {
			if !strings.Contains(body, want) {
				t.Errorf("chooser page: want %q in it", want)
			}
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		if status, _, _ := b.get(r.srv.URL + "/_auth/login?provider=nope"); status != http.StatusNotFound {
			t.Errorf("got %d, want 404", status)
		}
	})

	t.Run("return path stays on the host", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		status, loc, _ := b.get(r.srv.URL + "/_auth/login?provider=a&return=//evil.example/x")
		if status != http.StatusSeeOther {
			t.Fatalf("login: got %d", status)
		}
		cb := b.authorize(loc)
		if status, loc, _ := b.get(cb); status != http.StatusSeeOther || loc != "/" {
			t.Errorf("callback: got %d %q, want 303 to /", status, loc)
		}
	})
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
