package zitadeltest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Misbehaviour of the provider for negative tests. zitadel's op package
// follows the specification: it never issues an ID token for one client
// to another, so a relying party's audience check cannot be reached
// through it. ReplaceTokens makes the token endpoint answer with tokens
// the op really issued, to another client, the way a compromised or
// mixed-up provider would; TokensFor obtains such tokens by running the
// other client's own login.

// tokenPath is the op's token endpoint (its default path).
const tokenPath = "/oauth/token"

// Tokens are the tokens of one code exchange.
type Tokens struct {
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
}

// hooks holds the provider's misbehaviour; mu guards it.
type hooks struct {
	mu      sync.Mutex
	replace Tokens
}

// ReplaceTokens makes the token endpoint answer every later successful
// exchange with tok's ID and access tokens (the access token too, so that
// the ID token's at_hash matches); the zero Tokens restores the op's own.
func (p *Provider) ReplaceTokens(tok Tokens) {
	p.hooks.mu.Lock()
	defer p.hooks.mu.Unlock()
	p.hooks.replace = tok
}

// tamper wraps the op's handler with the hooks.
func (p *Provider) tamper(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hooks.mu.Lock()
		tok := p.hooks.replace
		p.hooks.mu.Unlock()
		if tok.IDToken == "" || r.URL.Path != tokenPath {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			var resp map[string]any
			if err := json.Unmarshal(body, &resp); err == nil {
				resp["id_token"], resp["access_token"] = tok.IDToken, tok.AccessToken
				if b, err := json.Marshal(resp); err == nil {
					body = b
				}
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// TokensFor runs a login of the provider's user for client id (added
// with AddClient, with redirect as one of its redirect URIs), with nonce,
// and returns the tokens the op issues to that client. Its exchange goes
// through the token endpoint too: call it while no ReplaceTokens is in
// force.
func (p *Provider) TokensFor(t *testing.T, id, secret, redirect, nonce string) Tokens {
	t.Helper()
	c := p.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next := p.Issuer() + "/authorize?" + url.Values{
		"client_id": {id}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"altro"}, "nonce": {nonce},
	}.Encode()
	var code string
	for range 5 {
		resp, err := c.Get(next)
		if err != nil {
			t.Fatalf("zitadeltest: %s: %v", next, err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("zitadeltest: %s: got %d without Location", next, resp.StatusCode)
		}
		if strings.HasPrefix(loc.String(), redirect+"?") {
			code = loc.Query().Get("code")
			break
		}
		next = loc.String()
	}
	if code == "" {
		t.Fatalf("zitadeltest: no code for client %s", id)
	}
	req, err := http.NewRequest(http.MethodPost, p.Issuer()+tokenPath, strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("zitadeltest: token: %v", err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var tok Tokens
	if err := json.Unmarshal(buf.Bytes(), &tok); err != nil || resp.StatusCode != http.StatusOK || tok.IDToken == "" {
		t.Fatalf("zitadeltest: token for %s: got %d %s", id, resp.StatusCode, buf.String())
	}
	return tok
}
