package oidctest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sportello-virtuale/sportello/internal/oidctest"
)

// TestClientAssertionRefusals checks the provider's private_key_jwt
// checks: a good assertion passes client authentication (the request
// then fails on its made-up code), and each bad one is refused as
// invalid_client with its reason.
func TestClientAssertionRefusals(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	p.AddKeyClient("rp", func() (jose.JSONWebKeySet, error) { return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}, nil }, "https://rp.example/cb")
	p.AddClient("secret-rp", "s", "https://rp.example/cb")
	tokenURL := p.Issuer() + "/token"

	sign := func(k *ecdsa.PrivateKey, kid string, c jwt.Claims) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	now := time.Now()
	good := func() jwt.Claims {
		return jwt.Claims{Issuer: "rp", Subject: "rp", Audience: jwt.Audience{tokenURL}, ID: "jti-" + now.String(),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
	}
	post := func(assertion string) (int, string) {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {"nessuno"}, "redirect_uri": {"https://rp.example/cb"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		resp, err := p.Client().PostForm(tokenURL, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error
	}

	okAssertion := sign(key, "k1", good())
	if status, e := post(okAssertion); e != "invalid_grant" {
		t.Fatalf("good assertion: %d %s, want invalid_grant (client authenticated, code unknown)", status, e)
	}
	// The issuer as audience is accepted too.
	issAud := good()
	issAud.ID += "i"
	issAud.Audience = jwt.Audience{p.Issuer()}
	if status, e := post(sign(key, "k1", issAud)); e != "invalid_grant" {
		t.Errorf("issuer as aud: %d %s, want invalid_grant", status, e)
	}
	cases := []struct {
		name, assertion, reason string
	}{
		{"replayed jti", okAssertion, "replayed"},
		{"bad signature", sign(other, "k1", good()), "signature"},
		{"unknown kid", sign(key, "k9", good()), "kid"},
		{"wrong aud", sign(key, "k1", func() jwt.Claims {
			c := good()
			c.ID += "a"
			c.Audience = jwt.Audience{"https://altro.example/token"}
			return c
		}()), "aud"},
		{"expired", sign(key, "k1", func() jwt.Claims {
			c := good()
			c.ID += "e"
			c.IssuedAt, c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)), jwt.NewNumericDate(now.Add(-time.Minute))
			return c
		}()), "exp"},
		{"too long", sign(key, "k1", func() jwt.Claims {
			c := good()
			c.ID += "l"
			c.Expiry = jwt.NewNumericDate(now.Add(time.Hour))
			return c
		}()), "lives"},
		{"no jti", sign(key, "k1", func() jwt.Claims { c := good(); c.ID = ""; return c }()), "jti"},
		{"issuer not subject", sign(key, "k1", func() jwt.Claims { c := good(); c.ID += "s"; c.Subject = "x"; return c }()), "sub"},
		{"secret client", sign(key, "k1", func() jwt.Claims { c := good(); c.ID += "c"; c.Issuer, c.Subject = "secret-rp", "secret-rp"; return c }()), "private_key_jwt"},
	}
	for _, tc := range cases {
		status, e := post(tc.assertion)
		rs := p.Refusals()
		if status != http.StatusUnauthorized || e != "invalid_client" || !strings.Contains(rs[len(rs)-1], tc.reason) {
			t.Errorf("%s: %d %s (%q), want 401 invalid_client about %q", tc.name, status, e, rs[len(rs)-1], tc.reason)
		}
	}
	// A private_key_jwt client cannot authenticate with an empty secret.
	resp, err := p.Client().PostForm(tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"rp"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("key client without assertion: %d, want 401", resp.StatusCode)
	}
	if n := len(p.Assertions()); n != 2 {
		t.Errorf("%d assertions accepted, want 2", n)
	}
}
