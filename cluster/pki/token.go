package pki

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Token is a join token: what an operator copies from `sportello cluster
// init` (or `cluster token`) to the node that joins. ID names it in the
// replicated state and in logs; Secret proves its holder may join and is
// never stored, only its SecretHash; CAFingerprint pins the cluster CA
// before the joining node has its certificate (see PinnedConfig).
//
// Its text form is
//
//	SPT1-<id>-<secret>-<ca fingerprint>-<check>
//
// where every part after the version is lowercase RFC 4648 base32 without
// padding (a-z, 2-7: URL-safe, no character a shell, terminal or mail client
// alters): id is 10 random bytes (16 characters), secret 20 random bytes
// (32 characters, 160 bits), the fingerprint the 32-byte SHA-256 of the CA
// certificate (52 characters), and check the first 3 bytes of the SHA-256
// of everything before it (5 characters), which catches a mistyped or
// truncated token before it reaches the network. ParseToken ignores case and
// surrounding space. Expiry and single use are not in the token: the
// cluster records them with the hash and enforces them when a join is
// applied.
type Token struct {
	ID            string
	Secret        string
	CAFingerprint string
}

const (
	tokenPrefix      = "spt1"
	tokenIDBytes     = 10
	tokenSecretBytes = 20
	tokenCheckBytes  = 3
	// secretHashDomain separates the hash of a join secret from any other
	// SHA-256 of the same bytes.
	secretHashDomain = "sportello join secret v1\x00"
)

// NewToken returns a token with an ID and secret read from rnd (crypto/rand.Reader
// in production) that pins the CA whose Fingerprint is caFingerprint.
func NewToken(rnd io.Reader, caFingerprint string) (Token, error) {
	fp, err := canonicalFingerprint(caFingerprint)
	if err != nil {
		return Token{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	buf := make([]byte, tokenIDBytes+tokenSecretBytes)
	if _, err := io.ReadFull(rnd, buf); err != nil {
		return Token{}, fmt.Errorf("pki: new token: read random bytes: %w", err)
	}
	return Token{
		ID:            b32.EncodeToString(buf[:tokenIDBytes]),
		Secret:        b32.EncodeToString(buf[tokenIDBytes:]),
		CAFingerprint: fp,
	}, nil
}

// String returns the token's text form, secret included: print it for the
// operator, never log it (a Token passed to slog logs only its ID).
func (t Token) String() string {
	body := strings.ToUpper(tokenPrefix) + "-" + t.ID + "-" + t.Secret + "-" + t.CAFingerprint
	return body + "-" + tokenCheck(body)
}

// LogValue makes slog log only the token ID, never the secret.
func (t Token) LogValue() slog.Value { return slog.StringValue("token " + t.ID) }

// ParseToken parses the text form String writes. Its errors match
// ErrInvalidToken and say which part is wrong.
func ParseToken(s string) (Token, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Token{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	parts := strings.Split(s, "-")
	if parts[0] != tokenPrefix {
		if strings.HasPrefix(parts[0], "spt") {
			return Token{}, fmt.Errorf("%w: version %q is not known to this version of sportello (want SPT1)", ErrInvalidToken, strings.ToUpper(parts[0]))
		}
		return Token{}, fmt.Errorf("%w: not a Sportello join token (want SPT1-…)", ErrInvalidToken)
	}
	if len(parts) != 5 {
		return Token{}, fmt.Errorf("%w: %d parts separated by '-', want 5 (truncated or mangled?)", ErrInvalidToken, len(parts))
	}
	for _, p := range []struct {
		name  string
		value string
		bytes int
	}{
		{"ID", parts[1], tokenIDBytes},
		{"secret", parts[2], tokenSecretBytes},
		{"CA fingerprint", parts[3], sha256.Size},
		{"check", parts[4], tokenCheckBytes},
	} {
		if !canonicalBase32(p.value, p.bytes) {
			return Token{}, fmt.Errorf("%w: %s: want %d characters a-z or 2-7, got %q",
				ErrInvalidToken, p.name, b32.EncodedLen(p.bytes), p.value)
		}
	}
	t := Token{ID: parts[1], Secret: parts[2], CAFingerprint: parts[3]}
	body := strings.ToUpper(tokenPrefix) + "-" + t.ID + "-" + t.Secret + "-" + t.CAFingerprint
	if !hmac.Equal([]byte(tokenCheck(body)), []byte(parts[4])) {
		return Token{}, fmt.Errorf("%w: check characters do not match (mistyped or altered token)", ErrInvalidToken)
	}
	return t, nil
}

// SecretHash returns the SHA-256 of the token's secret (with a domain
// prefix), the only form of the secret the replicated state keeps.
func (t Token) SecretHash() []byte { return secretHash(t.Secret) }

// VerifySecret reports, in time independent of where the two differ,
// whether presented is the secret whose SecretHash is hash. Case and
// surrounding space of presented are ignored, as ParseToken ignores them.
func VerifySecret(hash []byte, presented string) bool {
	presented = strings.TrimSpace(presented)
	if presented == "" || len(hash) != sha256.Size {
		return false
	}
	return hmac.Equal(hash, secretHash(presented))
}

func secretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secretHashDomain + strings.ToLower(secret)))
	return sum[:]
}

// tokenCheck returns the check part of a token whose text before it is body.
func tokenCheck(body string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(body)))
	return b32.EncodeToString(sum[:tokenCheckBytes])
}

// canonicalBase32 reports whether s is exactly the encoding of n bytes.
func canonicalBase32(s string, n int) bool {
	if len(s) != b32.EncodedLen(n) {
		return false
	}
	raw, err := b32.DecodeString(s)
	return err == nil && len(raw) == n && b32.EncodeToString(raw) == s
}
