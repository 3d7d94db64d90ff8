package zitadeltest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// ErrNotFound is returned for an unknown client, request, code or token.
var ErrNotFound = errors.New("zitadeltest: not found")

// User is an account of the provider.
type User struct {
	Subject      string
	Username     string
	Name         string
	Email        string
	FiscalNumber string // e.g. "TINIT-RSSMRA85T10A562S"
	Groups       []string
}

// Provider is a zitadel op provider served over TLS by httptest.
type Provider struct {
	srv     *httptest.Server
	storage *storage
	hooks   hooks // tamper.go
}

// Start serves a provider until the test ends; user is the account every
// authorization request is approved for.
func Start(t *testing.T, user User) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	st := &storage{key: key, user: user, clients: map[string]*client{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]string{}}
	p := &Provider{storage: st}
	mux := http.NewServeMux()
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		t.Fatal(err)
	}
	prov, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true, AuthMethodPrivateKeyJWT: true},
		st, op.StaticIssuer(p.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	st.loginDone = op.AuthCallbackURL(prov)
	mux.HandleFunc("GET /login", st.approve)
	mux.Handle("/", p.tamper(prov))
	return p
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.srv.URL }

// Client is an HTTP client that trusts the provider's certificate.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// AddClient registers a confidential client.
func (p *Provider) AddClient(id, secret string, redirectURIs, postLogoutURIs []string) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.clients[id] = &client{id: id, secret: secret, redirects: redirectURIs, postLogout: postLogoutURIs}
}

// AddKeyClient registers a client that authenticates with
// private_key_jwt; jwks returns its public keys (a test fetches the
// relying party's JWKS URL). zitadel's op accepts only assertions whose
// aud is the issuer.
func (p *Provider) AddKeyClient(id string, jwks func() (jose.JSONWebKeySet, error), redirectURIs, postLogoutURIs []string) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.clients[id] = &client{id: id, jwks: jwks, redirects: redirectURIs, postLogout: postLogoutURIs}
}

// Logouts returns the subjects whose sessions end_session terminated.
func (p *Provider) Logouts() []string {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	return slices.Clone(p.storage.logouts)
}

// storage is the in-memory op.Storage; mu guards the maps.
type storage struct {
	key       *rsa.PrivateKey
	user      User
	loginDone func(context.Context, string) string

	mu       sync.Mutex
	clients  map[string]*client
	requests map[string]*authRequest // by id
	codes    map[string]string       // code → request id
	tokens   map[string]string       // access token id → subject
	logouts  []string                // subjects, in order of end_session
}

// approve is the login step: it marks the request done for the preset
// user and sends the browser back to the op's callback.
func (s *storage) approve(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	s.mu.Lock()
	req, ok := s.requests[id]
	if ok {
		req.subject, req.done, req.authTime = s.user.Subject, true, time.Now()
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "unknown auth request", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, s.loginDone(r.Context(), id), http.StatusFound)
}

func newID() string { return rand.Text() }

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	req := &authRequest{id: newID(), r: *r}
	if r.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[req.id] = req
	return req, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.requests[id]; ok {
		return req, nil
	}
	return nil, fmt.Errorf("auth request %s: %w", id, ErrNotFound)
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("code: %w", ErrNotFound)
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	id := newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = r.GetSubject()
	return id, time.Now().Add(5 * time.Minute), nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("zitadeltest: refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

// TerminateSession records the user of an RP-initiated logout.
func (s *storage) TerminateSession(_ context.Context, userID, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logouts = append(s.logouts, userID)
	return nil
}

func (s *storage) RevokeToken(_ context.Context, token, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// keyID names the one signing key by a hash of its public modulus.
func (s *storage) keyID() string {
	sum := sha256.Sum256(s.key.N.Bytes())
	return fmt.Sprintf("%x", sum[:8])
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{id: s.keyID(), key: s.key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{id: s.keyID(), key: &s.key.PublicKey}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("client %s: %w", id, ErrNotFound)
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A private_key_jwt client has no secret: "" never matches.
	if c, ok := s.clients[id]; ok && c.jwks == nil && c.secret == secret {
		return nil
	}
	return fmt.Errorf("client %s: bad credentials", id)
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims for the scopes asked.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, _ op.IDTokenRequest, scopes []string) error {
	s.fill(info, scopes)
	return nil
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	_, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || subject != s.user.Subject {
		return fmt.Errorf("token: %w", ErrNotFound)
	}
	s.fill(info, []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail})
	return nil
}

func (s *storage) fill(info *oidc.UserInfo, scopes []string) {
	u := s.user
	info.Subject = u.Subject
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name, info.PreferredUsername = u.Name, u.Username
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email, info.EmailVerified = u.Email, true
	}
	info.AppendClaims("fiscal_number", u.FiscalNumber)
	info.AppendClaims("groups", u.Groups)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	return errors.New("zitadeltest: introspection is not supported")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID finds key kid of a private_key_jwt client in
// the set its jwks function returns, for op's client assertion check.
func (s *storage) GetKeyByIDAndClientID(_ context.Context, kid, clientID string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	c, ok := s.clients[clientID]
	s.mu.Unlock()
	if !ok || c.jwks == nil {
		return nil, fmt.Errorf("client %s: %w", clientID, ErrNotFound)
	}
	set, err := c.jwks()
	if err != nil {
		return nil, err
	}
	keys := set.Key(kid)
	if len(keys) == 0 {
		return nil, fmt.Errorf("key %s of client %s: %w", kid, clientID, ErrNotFound)
	}
	return &keys[0], nil
}

func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is an authorization request; the storage mutex guards
// subject, done and authTime.
type authRequest struct {
	id        string
	r         oidc.AuthRequest
	challenge *oidc.CodeChallenge
	subject   string
	done      bool
	authTime  time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.r.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.r.Nonce }
func (a *authRequest) GetRedirectURI() string                { return a.r.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.r.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.r.ResponseMode }
func (a *authRequest) GetScopes() []string                   { return a.r.Scopes }
func (a *authRequest) GetState() string                      { return a.r.State }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// client is a confidential web client using client_secret_basic.
type client struct {
	id, secret            string
	redirects, postLogout []string
	// jwks, when set, makes the client a private_key_jwt one.
	jwks func() (jose.JSONWebKeySet, error)
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return c.postLogout }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.jwks != nil {
		return oidc.AuthMethodPrivateKeyJWT
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return "/login?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return 5 * time.Minute }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
