package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// SecretsFile is the name of the secrets key file in a node's data
// directory.
const SecretsFile = "secrets.key"

// sealedPrefix marks a sealed value; the key ID follows, then the nonce
// and ciphertext in unpadded base64url.
const sealedPrefix = "sealed:v1:"

// Errors of the secrets key. Both are operator mistakes that a node
// reports in clear words rather than as a decryption failure.
var (
	// ErrNoSecretsKey: the node has no secrets key file, so it can
	// neither seal a new secret nor open a stored one.
	ErrNoSecretsKey = errors.New("auth: this node has no secrets key")
	// ErrWrongSecretsKey: the node's key is not the one that sealed the
	// value (or the value was altered).
	ErrWrongSecretsKey = errors.New("auth: the secrets key of this node cannot open the stored secret")
)

// Secrets seals and opens the client secrets and private keys of the
// providers with AES-256-GCM under a key kept outside the replicated
// state (the file secrets.key in the data directory, the same on every
// node). A Secrets without a key (file missing) refuses every operation
// with ErrNoSecretsKey, naming the file.
type Secrets struct {
	path string
	key  []byte
	id   string
}

// keyID is a short public fingerprint of key, stored with every sealed
// value so that a node with another key says so instead of failing to
// authenticate the ciphertext.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("sportello secrets key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

// NewSecrets returns a Secrets with the given 32-byte key (for tests and
// tools; nodes use OpenSecrets).
func NewSecrets(key []byte) (*Secrets, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("auth: secrets key of %d bytes, want 32", len(key))
	}
	return &Secrets{key: key, id: keyID(key), path: "(in memory)"}, nil
}

// OpenSecrets reads the key file at path. A missing file is not an error:
// the returned Secrets has no key and refuses to seal or open, so that a
// node whose Comuni use no provider secret still starts. A malformed file
// is an error.
func OpenSecrets(path string) (*Secrets, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Secrets{path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secrets key %s: not 32 bytes in base64", path)
	}
	return &Secrets{path: path, key: key, id: keyID(key)}, nil
}

// CreateSecrets writes a new random key at path (mode 0600) unless a file
// is already there, and opens the file. The node that initialises a
// cluster calls it; the other nodes get a copy of the file.
func CreateSecrets(path string) (*Secrets, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return OpenSecrets(path)
	case err != nil:
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	_, err = fmt.Fprintln(f, base64.StdEncoding.EncodeToString(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return OpenSecrets(path)
}

// KeyID returns the fingerprint of the key, "" without one.
func (s *Secrets) KeyID() string { return s.id }

// missing returns ErrNoSecretsKey with the file to copy.
func (s *Secrets) missing() error {
	return fmt.Errorf("%w: copy %s from the node that initialised the cluster (the same file on every node)", ErrNoSecretsKey, s.path)
}

// aad binds a sealed value to its place: a value copied into another
// Comune's or provider's row, or from a secret into a key, does not open.
func aad(tenantID, provider, purpose string) []byte {
	return []byte("sportello\x00" + tenantID + "\x00" + provider + "\x00" + purpose)
}

// seal encrypts plain for (tenant, provider, purpose) with a nonce drawn
// from rnd (the proposer's source: apply never seals).
func (s *Secrets) seal(rnd io.Reader, tenantID, provider, purpose string, plain []byte) (string, error) {
	if s.key == nil {
		return "", s.missing()
	}
	g, err := s.gcm()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return "", fmt.Errorf("draw nonce: %w", err)
	}
	ct := g.Seal(nonce, nonce, plain, aad(tenantID, provider, purpose))
	return sealedPrefix + s.id + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// open decrypts a value sealed for (tenant, provider, purpose).
func (s *Secrets) open(sealed, tenantID, provider, purpose string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	id, body, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return nil, fmt.Errorf("sealed %s of %s/%s: malformed", purpose, tenantID, provider)
	}
	if s.key == nil {
		return nil, s.missing()
	}
	if id != s.id {
		return nil, fmt.Errorf("%w: %s of %s/%s was sealed with key %s, %s holds key %s", ErrWrongSecretsKey, purpose, tenantID, provider, id, s.path, s.id)
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("sealed %s of %s/%s: %w", purpose, tenantID, provider, err)
	}
	g, err := s.gcm()
	if err != nil {
		return nil, err
	}
	if len(ct) < g.NonceSize() {
		return nil, fmt.Errorf("sealed %s of %s/%s: too short", purpose, tenantID, provider)
	}
	plain, err := g.Open(nil, ct[:g.NonceSize()], ct[g.NonceSize():], aad(tenantID, provider, purpose))
	if err != nil {
		return nil, fmt.Errorf("%w: %s of %s/%s does not authenticate", ErrWrongSecretsKey, purpose, tenantID, provider)
	}
	return plain, nil
}

func (s *Secrets) gcm() (cipher.AEAD, error) {
	b, err := aes.NewCipher(s.key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Derive returns a 32-byte key for purpose, derived from the secrets key
// with HMAC-SHA256, so that one file gives every node the same keys for
// other uses (the queue's proof-of-work challenges) without those uses
// ever holding the key that seals the providers' secrets. It returns nil
// without a key: the caller then picks a per-node random key and says so.
func (s *Secrets) Derive(purpose string) []byte {
	if s == nil || len(s.key) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("sportello derived key\x00" + purpose))
	return m.Sum(nil)
}
