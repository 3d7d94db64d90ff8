package appio

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// sealPrefix marks a sealed API key.
const sealPrefix = "appio:v1:"

// ErrNoSealKey: the node has no key to seal or open API keys with (no
// secrets.key in its data directory).
var ErrNoSealKey = errors.New("appio: no sealing key on this node (secrets.key missing)")

// Sealer seals the services' API keys with AES-256-GCM under a key
// derived from the node's secrets.key (auth.Secrets.Derive), the same on
// every node: the replicated state, its snapshots and backups hold only
// the sealed form, and a key copied to another service's row does not
// open (the tenant and service are authenticated data).
type Sealer struct {
	Key []byte
}

func (s Sealer) aead() (cipher.AEAD, error) {
	if len(s.Key) != 32 {
		return nil, ErrNoSealKey
	}
	b, err := aes.NewCipher(s.Key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func aad(tenant, service string) []byte {
	return []byte("sportello appio\x00" + tenant + "\x00" + service)
}

// Seal encrypts the API key of a service with a nonce from rnd (the
// proposer's randomness: apply never seals).
func (s Sealer) Seal(rnd io.Reader, tenant, service, apiKey string) (string, error) {
	g, err := s.aead()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return "", fmt.Errorf("appio: draw nonce: %w", err)
	}
	ct := g.Seal(nonce, nonce, []byte(apiKey), aad(tenant, service))
	return sealPrefix + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a key sealed for the service.
func (s Sealer) Open(tenant, service, sealed string) (string, error) {
	g, err := s.aead()
	if err != nil {
		return "", err
	}
	body, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return "", fmt.Errorf("appio: sealed key of %s/%s: malformed", tenant, service)
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(ct) < g.NonceSize() {
		return "", fmt.Errorf("appio: sealed key of %s/%s: malformed", tenant, service)
	}
	plain, err := g.Open(nil, ct[:g.NonceSize()], ct[g.NonceSize():], aad(tenant, service))
	if err != nil {
		return "", fmt.Errorf("appio: sealed key of %s/%s does not open with this node's key", tenant, service)
	}
	return string(plain), nil
}
