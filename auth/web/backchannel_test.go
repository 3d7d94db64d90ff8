package web_test

import (
	"net/http"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
)

func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	r.addProvider(t, op, "puglia")
	uri := r.srv.URL + "/_auth/backchannel-logout?provider=puglia"
	otherKey, err := oidctest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := newBrowser(t, r.srv.Client()), newBrowser(t, r.srv.Client())
	b1.login(r, "puglia")
	b2.login(r, "puglia")

	refused := []struct {
		name string
		hook func(*oidctest.IDToken)
	}{
		{"nonce", func(tok *oidctest.IDToken) { tok.Claims["nonce"] = "n" }},
		{"wrong audience", func(tok *oidctest.IDToken) { tok.Claims["aud"] = "another-client" }},
		{"wrong issuer", func(tok *oidctest.IDToken) { tok.Claims["iss"] = "https://evil.example" }},
		{"no event", func(tok *oidctest.IDToken) { delete(tok.Claims, "events") }},
		{"no jti", func(tok *oidctest.IDToken) { delete(tok.Claims, "jti") }},
		{"bad signature", func(tok *oidctest.IDToken) { tok.Key = otherKey }},
		{"alg none", func(tok *oidctest.IDToken) { tok.Alg = "none" }},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			op.OnLogoutToken(tc.hook)
			defer op.OnLogoutToken(nil)
			status, err := op.BackchannelLogout(clientID, uri, mario.Subject, false)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusBadRequest {
				t.Errorf("got %d, want 400", status)
			}
			if ok, _ := b1.loggedIn(r); !ok {
				t.Fatal("a refused logout token ended the session")
			}
		})
	}
	if t.Failed() {
		return
	}

	// The provider's session of the last login (b2's) ends alone.
	if status, err := op.BackchannelLogout(clientID, uri, mario.Subject, true); err != nil || status != http.StatusOK {
		t.Fatalf("logout by sid: got %d, %v; want 200", status, err)
	}
	if ok, _ := b2.loggedIn(r); ok {
		t.Error("the session named by sid is still alive")
	}
	if ok, _ := b1.loggedIn(r); !ok {
		t.Error("another session of the user ended with the sid's")
	}
	// Without sid, every session of the user ends.
	if status, err := op.BackchannelLogout(clientID, uri, mario.Subject, false); err != nil || status != http.StatusOK {
		t.Fatalf("logout by subject: got %d, %v; want 200", status, err)
	}
	if ok, _ := b1.loggedIn(r); ok {
		t.Error("the user's session is still alive after logout by subject")
	}
}
