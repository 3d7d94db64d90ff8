package oidctest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/oidctest"
)

// TestProviderFollowsTheSpec checks the provider's own refusals, so that
// the relying party's tests meet a provider that behaves like a real one.
func TestProviderFollowsTheSpec(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t)
	const redirect = "https://rp.example/cb"
	p.AddClient("rp", "secret", redirect)
	p.AddUser(oidctest.User{Subject: "s1", Username: "u", Password: "pw", FiscalNumber: "TINIT-RSSMRA85T10A562S"})
	p.AutoLogin("s1")
	c := p.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, err := c.Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != p.Issuer() || doc["end_session_endpoint"] == nil || doc["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("discovery: got %v", doc)
	}

	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	authorize := func(v url.Values) *http.Response {
		t.Helper()
		resp, err := c.Get(p.Issuer() + "/authorize?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	good := url.Values{"client_id": {"rp"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	with := func(k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range good {
			out[kk] = vv
		}
		out.Set(k, v)
		return out
	}

	if resp := authorize(with("redirect_uri", "https://evil.example/cb")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unregistered redirect_uri: got %d, want 400 (no redirect)", resp.StatusCode)
	}
	if resp := authorize(with("code_challenge_method", "plain")); !strings.Contains(resp.Header.Get("Location"), "error=invalid_request") {
		t.Errorf("plain PKCE: got Location %q, want error=invalid_request", resp.Header.Get("Location"))
	}
	resp = authorize(good)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st" || loc.Query().Get("iss") != p.Issuer() {
		t.Fatalf("authorization response %s: want code, state and iss", loc)
	}

	exchange := func(secret, verifier string) int {
		t.Helper()
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {verifier}, "client_id": {"rp"}, "client_secret": {secret}}
		resp, err := c.PostForm(p.Issuer()+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := exchange("wrong", verifier); got != http.StatusUnauthorized {
		t.Errorf("wrong client secret: got %d, want 401", got)
	}
	if got := exchange("secret", strings.Repeat("w", 43)); got != http.StatusBadRequest {
		t.Errorf("wrong verifier: got %d, want 400", got)
	}
	// The failed verifier used the code up, as the provider must not
	// let an attacker guess verifiers.
	if got := exchange("secret", verifier); got != http.StatusBadRequest {
		t.Errorf("code after a failed exchange: got %d, want 400", got)
	}
	resp = authorize(good)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	code = loc.Query().Get("code")
	if got := exchange("secret", verifier); got != http.StatusOK {
		t.Errorf("good exchange: got %d, want 200", got)
	}
	if got := exchange("secret", verifier); got != http.StatusBadRequest {
		t.Errorf("second exchange: got %d, want 400", got)
	}
	want := []string{"unknown client or redirect_uri", "PKCE with S256 is required", "client authentication failed",
		"PKCE verifier mismatch", "code already used", "code already used"}
	if got := p.Refusals(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("refusals: got %q, want %q", got, want)
	}
}
