package zitadeltest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/zitadeltest"
)

// TestDiscovery checks that the provider publishes what a relying party
// needs: its issuer, the PKCE method and the endpoints of the login.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	p := zitadeltest.Start(t, zitadeltest.User{Subject: "s1"})
	resp, err := p.Client().Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: got %d, want 200", resp.StatusCode)
	}
	var doc struct {
		Issuer     string   `json:"issuer"`
		JWKS       string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
		PKCE       []string `json:"code_challenge_methods_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != p.Issuer() {
		t.Errorf("issuer: got %q, want %q", doc.Issuer, p.Issuer())
	}
	if doc.JWKS == "" || doc.EndSession == "" {
		t.Errorf("jwks_uri %q, end_session_endpoint %q: want both", doc.JWKS, doc.EndSession)
	}
	if len(doc.PKCE) == 0 || doc.PKCE[0] != "S256" {
		t.Errorf("code_challenge_methods_supported: got %v, want S256", doc.PKCE)
	}
}
