package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/zitadeltest"
)

// zitadelUser is mario as the zitadel provider knows him.
var zitadelUser = zitadeltest.User{
	Subject: mario.Subject, Username: mario.Username, Name: mario.Name, Email: mario.Email,
	FiscalNumber: mario.FiscalNumber, Groups: mario.Groups,
}

// addZitadel starts a zitadel provider, registers the RP there as
// clientID with secret, and configures it in the store as provider id
// with the RP's own secret (clientSecret): a different secret at the
// provider makes the RP's secret wrong.
func (r *rp) addZitadel(t *testing.T, id, secret string) *zitadeltest.Provider {
	t.Helper()
	op := zitadeltest.Start(t, zitadelUser)
	op.AddClient(clientID, secret, []string{r.srv.URL + "/_auth/callback"}, []string{r.srv.URL + "/"})
	_, err := r.store.SaveProvider(context.Background(), bari.ID, auth.Provider{
		ID: id, Name: "Accedi con " + id, Issuer: op.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
		Scopes: []string{"profile", "email"},
		Roles:  []auth.RoleRule{{Group: "operatori-anagrafe", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// zAuthorize follows the zitadel provider's redirects from an
// authorization URL (its login page approves at once) and returns the
// URL of the RP's callback it ends at.
func (b *browser) zAuthorize(r *rp, authURL string) string {
	b.t.Helper()
	next := authURL
	for range 5 {
		status, loc, body := b.get(next)
		if status != http.StatusFound && status != http.StatusSeeOther {
			b.t.Fatalf("provider %s: got %d %s, want a redirect", next, status, body)
		}
		u, err := url.Parse(next)
		if err != nil {
			b.t.Fatal(err)
		}
		l, err := u.Parse(loc)
		if err != nil {
			b.t.Fatal(err)
		}
		next = l.String()
		if strings.HasPrefix(next, r.srv.URL+"/_auth/callback?") {
			return next
		}
	}
	b.t.Fatalf("provider: last redirect %q, want the RP's callback", next)
	return ""
}

// zLogin runs a whole login with provider and returns the callback URL.
func (b *browser) zLogin(r *rp, provider string) string {
	b.t.Helper()
	cb := b.zAuthorize(r, b.startLogin(r, provider))
	if status, loc, body := b.get(cb); status != http.StatusSeeOther || loc != "/private" {
		b.t.Fatalf("callback: got %d %q %s, want 303 to /private", status, loc, body)
	}
	return cb
}

// withParam returns raw with query parameter name set to value ("" to
// remove it).
func withParam(t *testing.T, raw, name, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if value == "" {
		q.Del(name)
	} else {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Italian texts of the callback's refusals (auth/web errors.go).
const (
	msgInvalid = "La richiesta di accesso non è valida, è già stata usata o è scaduta."
	msgRefused = "La risposta del sistema di accesso non è valida e l'accesso è stato rifiutato."
)

// refused checks that a callback answer is the Italian error page with
// status and message, and that the browser got no session.
func refused(t *testing.T, b *browser, r *rp, what string, status int, body string, wantStatus int, wantMsg string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(html.UnescapeString(body), wantMsg) || !strings.Contains(body, `lang="it"`) {
		t.Errorf("%s: got %d, want %d with %q; body:\n%s", what, status, wantStatus, wantMsg, body)
	}
	if ok, _ := b.loggedIn(r); ok {
		t.Errorf("%s: the refused login left a session", what)
	}
}

// TestInteropZitadelRefusals runs the negative cases that a provider we
// did not write (zitadel/oidc's op) can produce against the real login
// handler: each answer must be refused, with the Italian error page and
// no session.
func TestInteropZitadelRefusals(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, auth.Register)
	// Every httptest TLS server has the same certificate: the client of
	// one provider trusts them all.
	probe := zitadeltest.Start(t, zitadelUser)
	r := startRP(t, node, probe.Client())
	a := r.addZitadel(t, "za", clientSecret)
	bProv := r.addZitadel(t, "zb", clientSecret)
	r.addZitadel(t, "zsecret", "segreto-cambiato-dal-fornitore")

	t.Run("a login through A works", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		b.zLogin(r, "za")
		if ok, _ := b.loggedIn(r); !ok {
			t.Fatal("not logged in")
		}
	})

	t.Run("answer of provider B to a flow begun with A", func(t *testing.T) {
		for _, c := range []struct{ name, iss string }{
			{"as B answers", ""},
			{"with B's iss", bProv.Issuer()},
			// B lies that it is A: the code is sent to A, which never
			// issued it.
			{"with A's iss", a.Issuer()},
		} {
			b := newBrowser(t, r.srv.Client())
			authURL := b.startLogin(r, "za")
			if !strings.HasPrefix(authURL, a.Issuer()+"/") {
				t.Fatalf("login: got %q, want A's authorization endpoint", authURL)
			}
			// The same authorization request, answered by B: B's code
			// and the flow's state come back to the RP.
			cb := b.zAuthorize(r, bProv.Issuer()+strings.TrimPrefix(authURL, a.Issuer()))
			if c.iss != "" {
				cb = withParam(t, cb, "iss", c.iss)
			}
			status, _, body := b.get(cb)
			refused(t, b, r, c.name, status, body, http.StatusForbidden, msgRefused)
		}
	})

	t.Run("replayed callback", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		authURL := b.startLogin(r, "za")
		binding := b.cookie(r, authweb.FlowCookie)
		cb := b.zAuthorize(r, authURL)
		if status, loc, body := b.get(cb); status != http.StatusSeeOther || loc != "/private" {
			t.Fatalf("first callback: got %d %q %s, want 303 to /private", status, loc, body)
		}
		// Another browser replays the answer with the flow's cookie:
		// the state has been used.
		thief := newBrowser(t, r.srv.Client())
		thief.setCookie(r, authweb.FlowCookie, binding)
		status, _, body := thief.get(cb)
		refused(t, thief, r, "replay", status, body, http.StatusBadRequest, msgInvalid)
	})

	t.Run("tampered state", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		cb := b.zAuthorize(r, b.startLogin(r, "za"))
		state := mustQuery(t, cb).Get("state")
		if state == "" {
			t.Fatalf("callback %q without state", cb)
		}
		flip := "A"
		if state[len(state)-1] == 'A' {
			flip = "B"
		}
		for name, s := range map[string]string{
			"last character changed": state[:len(state)-1] + flip,
			"shortened":              state[:len(state)/2],
			"lengthened":             state + "x",
		} {
			status, _, body := b.get(withParam(t, cb, "state", s))
			refused(t, b, r, name, status, body, http.StatusBadRequest, msgInvalid)
		}
		// The tampered answers used nothing up: the true one still
		// logs in.
		if status, loc, _ := b.get(cb); status != http.StatusSeeOther || loc != "/private" {
			t.Errorf("true callback after the tampered ones: got %d %q, want 303 to /private", status, loc)
		}
	})

	t.Run("code used twice", func(t *testing.T) {
		first := newBrowser(t, r.srv.Client())
		code := mustQuery(t, first.zLogin(r, "za")).Get("code")
		b := newBrowser(t, r.srv.Client())
		cb := b.zAuthorize(r, b.startLogin(r, "za"))
		status, _, body := b.get(withParam(t, cb, "code", code))
		refused(t, b, r, "code of a finished login", status, body, http.StatusForbidden, msgRefused)
	})

	t.Run("wrong client secret", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		cb := b.zAuthorize(r, b.startLogin(r, "zsecret"))
		status, _, body := b.get(cb)
		refused(t, b, r, "token exchange with a wrong secret", status, body, http.StatusForbidden, msgRefused)
	})

	t.Run("ID token of another client", func(t *testing.T) {
		const other, otherRedirect = "altro-ente", "https://altro-ente.example.it/callback"
		a.AddClient(other, "segreto-altro-ente", []string{otherRedirect}, nil)
		defer a.ReplaceTokens(zitadeltest.Tokens{})
		// The control: tokens of another login of the RP's own client,
		// with this flow's nonce, substituted in the token response,
		// are accepted. So in the case below only the audience differs.
		b := newBrowser(t, r.srv.Client())
		authURL := b.startLogin(r, "za")
		nonce := mustQuery(t, authURL).Get("nonce")
		a.ReplaceTokens(a.TokensFor(t, clientID, clientSecret, r.srv.URL+"/_auth/callback", nonce))
		if status, loc, body := b.get(b.zAuthorize(r, authURL)); status != http.StatusSeeOther || loc != "/private" {
			t.Fatalf("control: got %d %q %s, want 303 to /private", status, loc, body)
		}

		b = newBrowser(t, r.srv.Client())
		authURL = b.startLogin(r, "za")
		nonce = mustQuery(t, authURL).Get("nonce")
		// Genuine tokens of A, for the other client, carrying this
		// flow's nonce (asked for with A answering truly again).
		a.ReplaceTokens(zitadeltest.Tokens{})
		tok := a.TokensFor(t, other, "segreto-altro-ente", otherRedirect, nonce)
		claims := jwtClaims(t, tok.IDToken)
		if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != other || claims["nonce"] != nonce || claims["iss"] != a.Issuer() {
			t.Fatalf("other client's token: claims %v, want aud [%s], this flow's nonce, A's issuer", claims, other)
		}
		a.ReplaceTokens(tok)
		status, _, body := b.get(b.zAuthorize(r, authURL))
		refused(t, b, r, "ID token for "+other, status, body, http.StatusForbidden, msgRefused)
	})

	// No refused case made a user other than the logins that succeeded.
	users, err := r.store.Users(context.Background(), bari.ID)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	issuers := []string{}
	for _, u := range users {
		issuers = append(issuers, u.Issuer)
	}
	if slices.ContainsFunc(issuers, func(s string) bool { return s != a.Issuer() }) {
		t.Errorf("users of issuers %v, want only A's", issuers)
	}
}

// jwtClaims decodes the payload of a JWT without checking it.
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: not a JWS", raw)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(data, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
