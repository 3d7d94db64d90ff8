package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// ClientAuth is how the node authenticates to a provider's token
// endpoint (OIDC Core 9).
type ClientAuth string

// The client authentication methods.
const (
	// ClientSecretBasic sends the client secret in the Authorization
	// header; the default (an empty ClientAuth means it).
	ClientSecretBasic ClientAuth = "client_secret_basic"
	// ClientSecretPost sends the client secret in the form.
	ClientSecretPost ClientAuth = "client_secret_post"
	// PrivateKeyJWT sends a JWT signed by a key of the node (RFC 7523);
	// the provider verifies it with the public keys the Comune publishes
	// at /_auth/jwks.
	PrivateKeyJWT ClientAuth = "private_key_jwt"
)

// Method returns the method, ClientSecretBasic for the empty value.
func (c ClientAuth) Method() ClientAuth {
	if c == "" {
		return ClientSecretBasic
	}
	return c
}

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a client assertion is valid: the token
// request follows at once, so a short life limits a leaked assertion.
const AssertionLifetime = 2 * time.Minute

// The values of Provider.AssertionAudience.
const (
	AudienceTokenEndpoint = "token_endpoint"
	AudienceIssuer        = "issuer"
)

// AssertionAudienceFor returns the aud of p's client assertions, given
// its token endpoint.
func (p Provider) AssertionAudienceFor(tokenEndpoint string) string {
	if p.AssertionAudience == AudienceIssuer {
		return p.Issuer
	}
	return tokenEndpoint
}

// Key algorithms of private_key_jwt.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// ClientKey is a key pair of a provider for private_key_jwt. The public
// half is published; the private half is stored sealed and opened only in
// memory, by the Store that read the provider.
type ClientKey struct {
	// ID is the key's kid, a thumbprint of its public half.
	ID  string `json:"kid"`
	Alg string `json:"alg"`
	// Public is the PKIX DER of the public key, in standard base64.
	Public string `json:"public"`
	// SealedPrivate is the PKCS #8 DER of the private key, sealed.
	SealedPrivate string    `json:"sealed_private"`
	Created       time.Time `json:"created"`

	signer crypto.Signer
}

// maxClientKeys bounds a provider's keys: the current one, which signs,
// and the previous one, still published after a rotation so that a
// provider that caches the JWKS keeps accepting assertions meanwhile.
const maxClientKeys = 2

// newClientKey draws a key pair for alg from rnd.
func newClientKey(alg string, rnd io.Reader, now time.Time) (ClientKey, []byte, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case AlgRS256, "":
		alg = AlgRS256
		signer, err = rsa.GenerateKey(rnd, 2048)
	case AlgES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rnd)
	default:
		return ClientKey{}, nil, fmt.Errorf("key algorithm %q not supported", alg)
	}
	if err != nil {
		return ClientKey{}, nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return ClientKey{}, nil, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return ClientKey{}, nil, err
	}
	jwk := jose.JSONWebKey{Key: signer.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return ClientKey{}, nil, err
	}
	return ClientKey{
		ID: base64.RawURLEncoding.EncodeToString(tp), Alg: alg,
		Public: base64.StdEncoding.EncodeToString(pub), Created: now.UTC(), signer: signer,
	}, priv, nil
}

// PublicJWK returns the public key as a JWK (use "sig", with kid and alg).
func (k ClientKey) PublicJWK() (jose.JSONWebKey, error) {
	der, err := base64.StdEncoding.DecodeString(k.Public)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	return jose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"}, nil
}

// PublicJWKS returns the JWK set of the public keys of the providers that
// use private_key_jwt, the document served at /_auth/jwks.
func PublicJWKS(ps []Provider) (jose.JSONWebKeySet, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, p := range ps {
		if p.ClientAuth.Method() != PrivateKeyJWT {
			continue
		}
		for _, k := range p.Keys {
			j, err := k.PublicJWK()
			if err != nil {
				return jose.JSONWebKeySet{}, err
			}
			set.Keys = append(set.Keys, j)
		}
	}
	return set, nil
}

// ClientAssertion returns the client_assertion of p for a token request
// with aud audience (AssertionAudienceFor): a JWT signed by p's current key, with
// iss = sub = the client ID, a random jti from rnd and an expiry
// AssertionLifetime after now. p must come from Store.Provider, which
// opens the private key.
func (p Provider) ClientAssertion(audience string, now time.Time, rnd io.Reader) (string, error) {
	if len(p.Keys) == 0 || p.Keys[0].signer == nil {
		return "", fmt.Errorf("provider %s: no private key to sign the client assertion", p.ID)
	}
	k := p.Keys[0]
	alg := jose.RS256
	if k.Alg == AlgES256 {
		alg = jose.ES256
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.signer, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := io.ReadFull(rnd, jti); err != nil {
		return "", fmt.Errorf("draw jti: %w", err)
	}
	claims, err := json.Marshal(map[string]any{
		"iss": p.ClientID, "sub": p.ClientID, "aud": audience,
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"iat": now.Unix(), "exp": now.Add(AssertionLifetime).Unix(),
	})
	if err != nil {
		return "", err
	}
	jws, err := sig.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// openKey parses an opened PKCS #8 private key.
func openKey(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T", k)
	}
	return s, nil
}

// keyPurpose is the additional data purpose of key kid's private half.
func keyPurpose(kid string) string { return "private_key:" + kid }

// secretPurpose is the additional data purpose of the client secret.
const secretPurpose = "client_secret"
