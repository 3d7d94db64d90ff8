package web_test

import (
	"context"
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

// TestInteropZitadel logs in and out against a provider Sportello did not
// write: zitadel/oidc's op package, in this process, over TLS.
func TestInteropZitadel(t *testing.T) {
	t.Parallel()
	op := zitadeltest.Start(t, zitadeltest.User{
		Subject: mario.Subject, Username: mario.Username, Name: mario.Name, Email: mario.Email,
		FiscalNumber: mario.FiscalNumber, Groups: mario.Groups,
	})
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	op.AddClient(clientID, clientSecret, []string{r.srv.URL + "/_auth/callback"}, []string{r.srv.URL + "/"})
	_, err := r.store.SaveProvider(context.Background(), bari.ID, auth.Provider{
		ID: "zitadel", Name: "Accedi con zitadel", Issuer: op.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
		Scopes: []string{"profile", "email"},
		Roles:  []auth.RoleRule{{Group: "operatori-anagrafe", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.srv.Client())

	authURL := b.startLogin(r, "zitadel")
	if !strings.HasPrefix(authURL, op.Issuer()+"/") {
		t.Fatalf("login: got %q, want the provider's authorization endpoint", authURL)
	}
	if got := mustQuery(t, authURL).Get("code_challenge_method"); got != "S256" {
		t.Errorf("code_challenge_method: got %q, want S256", got)
	}
	// The provider answers with its login page, which approves at once,
	// then with its own callback, then with ours.
	next := authURL
	for range 5 {
		status, loc, body := b.get(next)
		if status != http.StatusFound && status != http.StatusSeeOther {
			t.Fatalf("provider %s: got %d %s, want a redirect", next, status, body)
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		l, err := u.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		next = l.String()
		if strings.HasPrefix(next, r.srv.URL+"/_auth/callback?") {
			break
		}
	}
	if !strings.HasPrefix(next, r.srv.URL+"/_auth/callback?") {
		t.Fatalf("provider: last redirect %q, want our callback", next)
	}
	status, loc, body := b.get(next)
	if status != http.StatusSeeOther || loc != "/private" {
		t.Fatalf("callback: got %d %q %s, want 303 to /private", status, loc, body)
	}

	ok, page := b.loggedIn(r)
	if !ok {
		t.Fatal("after login: not logged in")
	}
	_, u, err := r.store.Session(context.Background(), bari.ID, b.cookie(r, authweb.SessionCookie))
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"display name", u.DisplayName, mario.Name},
		{"username", u.Username, mario.Username},
		{"email", u.Email, mario.Email},
		{"fiscal code", u.FiscalCode, "RSSMRA85T10A562S"},
		{"issuer", u.Issuer, op.Issuer()},
		{"subject", u.Subject, mario.Subject},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	wantGrant := auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}
	if len(u.ClaimGrants) != 1 || u.ClaimGrants[0].Role != wantGrant.Role || !slices.Equal(u.ClaimGrants[0].Offices, wantGrant.Offices) {
		t.Errorf("claim grants: got %+v, want [%+v]", u.ClaimGrants, wantGrant)
	}

	t.Run("RP-initiated logout", func(t *testing.T) {
		status, loc, body := b.leave(r.srv.URL+"/_auth/logout", url.Values{"csrf": {field(page, "csrf")}})
		if status != http.StatusOK || !strings.HasPrefix(loc, op.Issuer()+"/end_session?") {
			t.Fatalf("logout: got %d %q %s, want a page moving on to the provider's end_session", status, loc, body)
		}
		if q := mustQuery(t, loc); q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != r.srv.URL+"/" {
			t.Errorf("end_session request %v: want id_token_hint and the home page", q)
		}
		status, loc, body = b.get(loc)
		if status != http.StatusFound || loc != r.srv.URL+"/" {
			t.Errorf("end_session: got %d %q %s, want 302 back home", status, loc, body)
		}
		if got := op.Logouts(); !slices.Contains(got, mario.Subject) {
			t.Errorf("provider logouts: got %v, want %s", got, mario.Subject)
		}
		if ok, _ := b.loggedIn(r); ok {
			t.Error("after logout: still logged in")
		}
	})
}
