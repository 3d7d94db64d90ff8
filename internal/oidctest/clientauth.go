package oidctest

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionType is the client_assertion_type of RFC 7523.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLife is the longest lifetime (exp - now) accepted for a
// client assertion: a relying party makes one per token request.
const maxAssertionLife = 5 * time.Minute

// WithAuthSigningAlgs sets the provider's
// token_endpoint_auth_signing_alg_values_supported (RS256 and ES256 by
// default).
func WithAuthSigningAlgs(algs ...string) Option {
	return func(p *Provider) { p.authAlgs = slices.Clone(algs) }
}

// AddKeyClient registers a relying party that authenticates with
// private_key_jwt (OIDC Core 9): its token requests must carry a client
// assertion signed by a key of the set jwks returns. jwks is called at
// every token request, as a provider reading the client's registered
// jwks_uri without caching would; a test gives a function that fetches
// the relying party's JWKS URL, or one that returns a fixed public key.
func (p *Provider) AddKeyClient(id string, jwks func() (jose.JSONWebKeySet, error), redirectURIs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = client{jwks: jwks, redirectURIs: slices.Clone(redirectURIs)}
}

// Assertion is a client assertion the provider accepted.
type Assertion struct {
	KeyID  string
	Alg    string
	Claims jwt.Claims
}

// Assertions lists the client assertions accepted, in order.
func (p *Provider) Assertions() []Assertion {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.assertions)
}

// checkAssertion authenticates a private_key_jwt token request and
// returns the client ID, or why it is refused: an unknown client or one
// registered with a secret, a signature by no key of the client's JWKS, an
// issuer or subject that is not the client, an audience that is neither
// the token endpoint nor the issuer (OIDC Core 9 as amended: both must be
// accepted), an expired or too long-lived assertion, a missing or
// already seen jti.
func (p *Provider) checkAssertion(r *http.Request) (string, error) {
	if t := r.PostForm.Get("client_assertion_type"); t != assertionType {
		return "", fmt.Errorf("client_assertion_type %q not supported", t)
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return "", fmt.Errorf("client assertion: %v", err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return "", fmt.Errorf("client assertion claims: %v", err)
	}
	id := unverified.Issuer
	if form := r.PostForm.Get("client_id"); form != "" && form != id {
		return "", fmt.Errorf("client assertion issuer %q is not client_id %q", id, form)
	}
	p.mu.Lock()
	c, ok := p.clients[id]
	p.mu.Unlock()
	if !ok || c.jwks == nil {
		return "", fmt.Errorf("client %q does not use private_key_jwt", id)
	}
	set, err := c.jwks()
	if err != nil {
		return "", fmt.Errorf("client %q JWKS: %v", id, err)
	}
	h := tok.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return "", fmt.Errorf("client assertion kid %q not in the client's JWKS", h.KeyID)
	}
	var claims jwt.Claims
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		return "", fmt.Errorf("client assertion signature: %v", err)
	}
	now := time.Now()
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer: id, Subject: id, AnyAudience: jwt.Audience{p.Issuer() + "/token", p.Issuer()}, Time: now,
	}, 0)
	switch {
	case err != nil:
		return "", fmt.Errorf("client assertion: %v", err)
	case claims.Expiry == nil:
		return "", fmt.Errorf("client assertion without exp")
	case claims.Expiry.Time().Sub(now) > maxAssertionLife:
		return "", fmt.Errorf("client assertion lives more than %s", maxAssertionLife)
	case claims.ID == "":
		return "", fmt.Errorf("client assertion without jti")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jtis[id+" "+claims.ID] {
		return "", fmt.Errorf("client assertion jti replayed")
	}
	p.jtis[id+" "+claims.ID] = true
	p.assertions = append(p.assertions, Assertion{KeyID: h.KeyID, Alg: h.Algorithm, Claims: claims})
	return id, nil
}
