package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// tokenLifetime is the JWT's validity: RFC 8292 allows at most 24 hours;
// half of it leaves room for a clock ahead of the push service's.
const tokenLifetime = 12 * time.Hour

// GenerateKey makes a VAPID key pair (P-256). Since Go 1.26 the standard
// library draws the key from its own secure source whatever rand is.
func GenerateKey(rnd io.Reader) (*ecdsa.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	return ecdsa.GenerateKey(elliptic.P256(), rnd)
}

// PublicKey returns k's public key as the browsers want it for
// applicationServerKey and the push services in the "k" parameter: the
// uncompressed point, base64url without padding. It returns "" for a
// nil or non-P-256 key.
func PublicKey(k *ecdsa.PrivateKey) string {
	if k == nil || k.Curve != elliptic.P256() {
		return ""
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		return ""
	}
	return b64(pub.Bytes())
}

// checkSubject refuses a subject that is neither a mailto: nor an https
// URL: the push services use it to reach the operator and may refuse
// messages without one.
func checkSubject(sub string) error {
	if !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https://") {
		return fmt.Errorf("webpush: VAPID subject %q is neither mailto: nor https:", sub)
	}
	return nil
}

// authorization returns the Authorization header's value for a request
// to origin (RFC 8292 §3): "vapid t=<JWT>, k=<public key>".
func (v VAPID) authorization(origin string, now time.Time) (string, error) {
	if v.Key == nil || v.Key.Curve != elliptic.P256() {
		return "", errors.New("webpush: VAPID key missing or not P-256")
	}
	if err := checkSubject(v.Subject); err != nil {
		return "", err
	}
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{origin, now.Add(tokenLifetime).Unix(), v.Subject})
	if err != nil {
		return "", err
	}
	signing := b64([]byte(`{"typ":"JWT","alg":"ES256"}`)) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, v.Key, digest[:])
	if err != nil {
		return "", fmt.Errorf("webpush: sign VAPID token: %w", err)
	}
	// JWS wants r and s as two fixed 32-byte integers (RFC 7518 §3.4),
	// not the ASN.1 form ecdsa.SignASN1 gives.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signing + "." + b64(sig) + ", k=" + PublicKey(v.Key), nil
}
