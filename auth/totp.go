package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters of the break-glass administrators (RFC 6238 with its
// defaults, the only ones every authenticator app understands): HMAC-SHA-1,
// six digits, 30-second steps, a 160-bit secret (RFC 4226 recommends the
// length of the hash's output).
const (
	TOTPDigits     = 6
	TOTPPeriod     = 30 * time.Second
	totpSecretSize = 20
	// totpSkew is how many steps before and after the current one a code
	// may belong to: a phone's clock a little off, or a code typed as it
	// changed.
	totpSkew = 1
)

// totpEncoding is the base32 of authenticator apps: RFC 4648 alphabet,
// no padding.
var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret draws a 160-bit TOTP secret from rnd and returns it in
// base32, the form shown to the user and stored.
func NewTOTPSecret(rnd io.Reader) (string, error) {
	b := make([]byte, totpSecretSize)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", fmt.Errorf("draw TOTP secret: %w", err)
	}
	return totpEncoding.EncodeToString(b), nil
}

// decodeTOTPSecret reads a base32 secret, ignoring case, spaces and
// padding as people copy them.
func decodeTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "=", "").Replace(s))
	return totpEncoding.DecodeString(s)
}

// hotp is RFC 4226's HOTP value of key at counter, with digits digits.
func hotp(key []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	// Dynamic truncation: the low nibble of the last byte picks four
	// bytes, of which the top bit is dropped.
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// TOTPStep returns the RFC 6238 time step of t (T0 = Unix epoch).
func TOTPStep(t time.Time) uint64 {
	return uint64(t.Unix()) / uint64(TOTPPeriod/time.Second)
}

// TOTPCode returns the six-digit code of a base32 secret at t: what the
// authenticator app shows.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return "", fmt.Errorf("TOTP secret: %w", err)
	}
	return hotp(key, TOTPStep(t), TOTPDigits), nil
}

// matchTOTP returns the step, among those within totpSkew of now's, whose
// code is code, and whether there is one. Every candidate step is
// computed and compared in constant time whatever the earlier ones gave,
// so the answer's timing does not tell how many digits were right.
func matchTOTP(key []byte, code string, now time.Time) (uint64, bool) {
	code = strings.TrimSpace(code)
	cur := TOTPStep(now)
	var (
		found uint64
		ok    bool
	)
	for d := -totpSkew; d <= totpSkew; d++ {
		step := cur + uint64(int64(d))
		if subtle.ConstantTimeCompare([]byte(hotp(key, step, TOTPDigits)), []byte(code)) == 1 && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// TOTPURI returns the otpauth:// URI an authenticator app reads (usually
// from a QR code) for account on the installation issuer.
func TOTPURI(issuer, account, secret string) string {
	label := url.PathEscape(issuer + ":" + account)
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", fmt.Sprint(TOTPDigits))
	v.Set("period", fmt.Sprint(int(TOTPPeriod/time.Second)))
	return "otpauth://totp/" + label + "?" + v.Encode()
}
