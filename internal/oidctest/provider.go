package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is an account of the provider.
type User struct {
	Subject  string
	Username string
	Password string
	Name     string
	Email    string
	// FiscalNumber is sent as the "fiscal_number" claim, as SPID does
	// ("TINIT-RSSMRA85T10A562S").
	FiscalNumber string
	Groups       []string
	// Extra claims are added to the ID token as they are.
	Extra map[string]any
}

// IDToken is an ID token about to be signed; OnIDToken hooks may change
// every part of it.
type IDToken struct {
	// Claims are the token's claims (iss, sub, aud, exp, iat, nonce,
	// azp, auth_time and the user's).
	Claims map[string]any
	// Alg is "RS256" or "none" (an unsigned token).
	Alg string
	// KeyID is the "kid" header.
	KeyID string
	// Key signs the token; the provider's own key unless changed.
	Key *rsa.PrivateKey
}

// Option configures Start.
type Option func(*Provider)

// WithoutEndSession leaves end_session_endpoint out of discovery (and
// off the routes), as providers without RP-initiated logout do.
func WithoutEndSession() Option { return func(p *Provider) { p.noEndSession = true } }

// WithoutIssParameter leaves the RFC 9207 "iss" out of authorization
// responses and discovery.
func WithoutIssParameter() Option { return func(p *Provider) { p.noIss = true } }

// Provider is a running OpenID provider. Its methods are safe for
// concurrent use; it stops in t.Cleanup.
type Provider struct {
	srv          *httptest.Server
	key          *rsa.PrivateKey
	kid          string
	noEndSession bool
	noIss        bool

	mu        sync.Mutex
	clients   map[string]client
	users     map[string]User // by subject
	autoLogin string
	requests  map[string]authRequest
	codes     map[string]*grant
	tokens    map[string]string // access token → subject
	hook      func(*IDToken)
	lhook     func(*IDToken)
	sids      map[string]string // subject → provider session of its last login
	refusals  []string
	logouts   []string
	seq       int
	// authAlgs are the token endpoint's assertion algorithms; jtis the
	// client assertion IDs seen (client + " " + jti); assertions those
	// accepted.
	authAlgs   []string
	jtis       map[string]bool
	assertions []Assertion
}

type client struct {
	secret       string
	redirectURIs []string
	// jwks, when set, makes the client a private_key_jwt one.
	jwks func() (jose.JSONWebKeySet, error)
}

// authRequest is an authorization request waiting for its login.
type authRequest struct {
	clientID, redirectURI, state, nonce, challenge, scope string
}

// grant is an issued authorization code.
type grant struct {
	req     authRequest
	subject string
	expires time.Time
	used    bool
}

// Start runs a provider on 127.0.0.1 over TLS, with a fresh 2048-bit RSA
// key, and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{
		key: key, kid: "k1-" + randomString(6),
		clients: map[string]client{}, users: map[string]User{}, requests: map[string]authRequest{},
		codes: map[string]*grant{}, tokens: map[string]string{}, sids: map[string]string{},
		authAlgs: []string{"RS256", "ES256"}, jtis: map[string]bool{},
	}
	for _, o := range opts {
		o(p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	if !p.noEndSession {
		mux.HandleFunc("GET /end_session", p.endSession)
	}
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// NewKey returns a fresh 2048-bit RSA key, for tokens signed by a key the
// relying party does not know.
func NewKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
}

// Issuer returns the provider's issuer URL (https://127.0.0.1:port).
func (p *Provider) Issuer() string { return p.srv.URL }

// KeyID returns the kid of the provider's signing key.
func (p *Provider) KeyID() string { return p.kid }

// Client returns an HTTP client that trusts the provider's certificate
// (and that of every httptest TLS server of the process).
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// AddClient registers a relying party. redirectURIs are the exact
// redirect URIs accepted at the authorization endpoint and as
// post_logout_redirect_uri at the end_session endpoint.
func (p *Provider) AddClient(id, secret string, redirectURIs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = client{secret: secret, redirectURIs: slices.Clone(redirectURIs)}
}

// AddUser adds an account (or replaces the one with its subject).
func (p *Provider) AddUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[u.Subject] = u
}

// AutoLogin makes the authorization endpoint log the user with subject in
// at once, without the form ("" brings the form back).
func (p *Provider) AutoLogin(subject string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.autoLogin = subject
}

// OnIDToken sets a hook called on every ID token before it is signed
// (nil removes it).
func (p *Provider) OnIDToken(hook func(*IDToken)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hook = hook
}

// Refusals lists, in order, why the provider refused requests ("code
// already used", "PKCE verifier mismatch", ...).
func (p *Provider) Refusals() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.refusals)
}

// Logouts lists the subjects named by the id_token_hint of each
// RP-initiated logout ("" when no hint was sent).
func (p *Provider) Logouts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.logouts)
}

func (p *Provider) refuse(w http.ResponseWriter, status int, code, why string) {
	p.mu.Lock()
	p.refusals = append(p.refusals, why)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": why})
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.Issuer()
	doc := map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + "/authorize",
		"token_endpoint":                                   iss + "/token",
		"jwks_uri":                                         iss + "/jwks",
		"userinfo_endpoint":                                iss + "/userinfo",
		"response_types_supported":                         []string{"code"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": p.authAlgs,
		"scopes_supported":                                 []string{"openid", "profile", "email", "groups"},
		"claims_supported":                                 []string{"sub", "name", "email", "preferred_username", "fiscal_number", "groups"},
	}
	if !p.noEndSession {
		doc["end_session_endpoint"] = iss + "/end_session"
	}
	if !p.noIss {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	doc["backchannel_logout_supported"] = true
	doc["backchannel_logout_session_supported"] = true
	writeJSON(w, doc)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}})
}

// authorize handles the authorization request. Problems with the client
// or the redirect URI are shown to the user (never redirected); others go
// back to the client as error responses.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := authRequest{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), scope: q.Get("scope")}
	p.mu.Lock()
	c, ok := p.clients[req.clientID]
	p.mu.Unlock()
	if !ok || !slices.Contains(c.redirectURIs, req.redirectURI) {
		p.refuse(w, http.StatusBadRequest, "invalid_request", "unknown client or redirect_uri")
		return
	}
	fail := func(code, why string) {
		p.mu.Lock()
		p.refusals = append(p.refusals, why)
		p.mu.Unlock()
		p.redirect(w, r, req, url.Values{"error": {code}, "error_description": {why}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only the code flow is supported")
	case !slices.Contains(strings.Fields(req.scope), "openid"):
		fail("invalid_scope", "scope must contain openid")
	case req.challenge == "" || q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "PKCE with S256 is required")
	default:
		p.mu.Lock()
		sub := p.autoLogin
		p.mu.Unlock()
		if sub != "" {
			p.issueCode(w, r, req, sub)
			return
		}
		id := randomString(16)
		p.mu.Lock()
		p.requests[id] = req
		p.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		loginForm.Execute(w, id)
	}
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="it"><title>Accesso</title>
<form method="post" action="/login">
<input type="hidden" name="request" value="{{.}}">
<label>Nome utente <input name="username"></label>
<label>Password <input name="password" type="password"></label>
<button>Entra</button>
</form></html>`))

// login checks the form's credentials and answers the waiting request.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("request")
	p.mu.Lock()
	req, ok := p.requests[id]
	var sub string
	if ok {
		for _, u := range p.users {
			if u.Username == r.PostFormValue("username") && u.Password != "" &&
				subtle.ConstantTimeCompare([]byte(u.Password), []byte(r.PostFormValue("password"))) == 1 {
				sub = u.Subject
			}
		}
		if sub != "" {
			delete(p.requests, id)
		}
	}
	p.mu.Unlock()
	switch {
	case !ok:
		p.refuse(w, http.StatusBadRequest, "invalid_request", "unknown login request")
	case sub == "":
		p.refuse(w, http.StatusUnauthorized, "access_denied", "wrong username or password")
	default:
		p.issueCode(w, r, req, sub)
	}
}

func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req authRequest, sub string) {
	code := randomString(24)
	p.mu.Lock()
	p.codes[code] = &grant{req: req, subject: sub, expires: time.Now().Add(time.Minute)}
	p.mu.Unlock()
	p.redirect(w, r, req, url.Values{"code": {code}})
}

// redirect sends the authorization response to the client, with state
// and (RFC 9207) iss.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, req authRequest, v url.Values) {
	if req.state != "" {
		v.Set("state", req.state)
	}
	if !p.noIss {
		v.Set("iss", p.Issuer())
	}
	sep := "?"
	if strings.Contains(req.redirectURI, "?") {
		sep = "&"
	}
	http.Redirect(w, r, req.redirectURI+sep+v.Encode(), http.StatusFound)
}

// token exchanges an authorization code.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.refuse(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	id, secret, basic := r.BasicAuth()
	switch {
	case r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type"):
		var err error
		if id, err = p.checkAssertion(r); err != nil {
			p.refuse(w, http.StatusUnauthorized, "invalid_client", err.Error())
			return
		}
	case basic:
		// RFC 6749 2.3.1: the credentials are form-encoded inside Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		fallthrough
	default:
		if !basic {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		p.mu.Lock()
		c, ok := p.clients[id]
		p.mu.Unlock()
		// A private_key_jwt client has no secret: "" never matches.
		if !ok || c.jwks != nil || subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) != 1 {
			p.refuse(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		p.refuse(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, ok := p.codes[code]
	var used bool
	if ok {
		used = g.used
		g.used = true
	}
	p.mu.Unlock()
	switch {
	case !ok:
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case used:
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "code already used")
		return
	case time.Now().After(g.expires):
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "code expired")
		return
	case g.req.clientID != id:
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "code issued to another client")
		return
	case g.req.redirectURI != r.PostForm.Get("redirect_uri"):
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.req.challenge {
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "PKCE verifier mismatch")
		return
	}
	p.mu.Lock()
	u := p.users[g.subject]
	hook := p.hook
	access := randomString(24)
	p.tokens[access] = u.Subject
	sid := randomString(12)
	p.sids[u.Subject] = sid
	p.mu.Unlock()
	tok := p.idToken(u, g.req)
	tok.Claims["sid"] = sid
	if hook != nil {
		hook(tok)
	}
	raw, err := sign(tok)
	if err != nil {
		p.refuse(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

// idToken builds the ID token of u for req.
func (p *Provider) idToken(u User, req authRequest) *IDToken {
	now := time.Now()
	c := map[string]any{
		"iss": p.Issuer(), "sub": u.Subject, "aud": req.clientID, "azp": req.clientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "auth_time": now.Unix(),
	}
	if req.nonce != "" {
		c["nonce"] = req.nonce
	}
	for k, v := range p.userClaims(u) {
		c[k] = v
	}
	return &IDToken{Claims: c, Alg: "RS256", KeyID: p.kid, Key: p.key}
}

func (p *Provider) userClaims(u User) map[string]any {
	c := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			c[k] = v
		}
	}
	set("preferred_username", u.Username)
	set("name", u.Name)
	set("email", u.Email)
	set("fiscal_number", u.FiscalNumber)
	if u.Groups != nil {
		c["groups"] = slices.Clone(u.Groups)
	}
	for k, v := range u.Extra {
		c[k] = v
	}
	return c
}

// sign serialises tok in compact form.
func sign(tok *IDToken) (string, error) {
	payload, err := json.Marshal(tok.Claims)
	if err != nil {
		return "", err
	}
	if tok.Alg == "none" {
		head, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": tok.KeyID})
		enc := base64.RawURLEncoding
		return enc.EncodeToString(head) + "." + enc.EncodeToString(payload) + ".", nil
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(tok.Alg),
		Key: jose.JSONWebKey{Key: tok.Key, KeyID: tok.KeyID}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// OnLogoutToken sets a hook called on every back-channel logout token
// before it is signed (nil removes it).
func (p *Provider) OnLogoutToken(hook func(*IDToken)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lhook = hook
}

// BackchannelLogout sends a back-channel logout token for subject to the
// client's backchannel_logout_uri uri, naming the provider session of the
// subject's last login when withSID, and returns the response's status.
func (p *Provider) BackchannelLogout(clientID, uri, subject string, withSID bool) (int, error) {
	now := time.Now()
	c := map[string]any{
		"iss": p.Issuer(), "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomString(12), "sub": subject,
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	p.mu.Lock()
	if withSID {
		c["sid"] = p.sids[subject]
	}
	hook := p.lhook
	p.mu.Unlock()
	tok := &IDToken{Claims: c, Alg: "RS256", KeyID: p.kid, Key: p.key}
	if hook != nil {
		hook(tok)
	}
	raw, err := sign(tok)
	if err != nil {
		return 0, err
	}
	resp, err := p.Client().PostForm(uri, url.Values{"logout_token": {raw}})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	sub, known := p.tokens[tok]
	u := p.users[sub]
	p.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		p.refuse(w, http.StatusUnauthorized, "invalid_token", "unknown access token")
		return
	}
	c := p.userClaims(u)
	c["sub"] = u.Subject
	writeJSON(w, c)
}

// endSession handles RP-initiated logout: the id_token_hint must be one
// of the provider's (its signature is checked), post_logout_redirect_uri
// one of the client's registered URIs.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var sub, aud string
	if hint := q.Get("id_token_hint"); hint != "" {
		jws, err := jose.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			p.refuse(w, http.StatusBadRequest, "invalid_request", "malformed id_token_hint")
			return
		}
		payload, err := jws.Verify(&p.key.PublicKey)
		if err != nil {
			p.refuse(w, http.StatusBadRequest, "invalid_request", "id_token_hint not signed by this provider")
			return
		}
		var c struct {
			Sub string `json:"sub"`
			Aud string `json:"aud"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			p.refuse(w, http.StatusBadRequest, "invalid_request", "id_token_hint claims")
			return
		}
		sub, aud = c.Sub, c.Aud
	}
	if id := q.Get("client_id"); id != "" {
		aud = id
	}
	p.mu.Lock()
	p.logouts = append(p.logouts, sub)
	c, ok := p.clients[aud]
	p.mu.Unlock()
	if target := q.Get("post_logout_redirect_uri"); target != "" {
		if !ok || !slices.Contains(c.redirectURIs, target) {
			p.refuse(w, http.StatusBadRequest, "invalid_request", "post_logout_redirect_uri not registered")
			return
		}
		if st := q.Get("state"); st != "" {
			target += "?state=" + url.QueryEscape(st)
		}
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Disconnesso.")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
