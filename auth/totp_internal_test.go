package auth

import (
	"strings"
	"testing"
	"time"
)

// TestTOTPVectors checks the SHA-1 test vectors of RFC 6238, appendix B
// (eight digits, the 20-byte ASCII key "12345678901234567890"), and the
// six-digit codes of RFC 4226, appendix D, for the same key.
func TestTOTPVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := hotp(key, TOTPStep(time.Unix(v.unix, 0)), 8); got != v.want {
			t.Errorf("TOTP at %d: got %s, want %s", v.unix, got, v.want)
		}
	}
	hotpWant := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, want := range hotpWant {
		if got := hotp(key, uint64(i), 6); got != want {
			t.Errorf("HOTP counter %d: got %s, want %s", i, got, want)
		}
	}
	// The same key in base32, as an app would be given it.
	secret := totpEncoding.EncodeToString(key)
	if got, err := TOTPCode(secret, time.Unix(59, 0)); err != nil || got != "287082" {
		t.Errorf("TOTPCode at 59: got %s, %v; want 287082", got, err)
	}
}

// TestMatchTOTP checks the window of one step each side, and that the
// step returned is the code's.
func TestMatchTOTP(t *testing.T) {
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := TOTPStep(now)
	for d, wantOK := range map[int]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		step := uint64(int64(cur) + int64(d))
		code := hotp(key, step, TOTPDigits)
		got, ok := matchTOTP(key, code, now)
		if ok != wantOK || (ok && got != step) {
			t.Errorf("code of step %+d: got step %d ok %t, want ok %t", d, int64(got)-int64(cur), ok, wantOK)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := matchTOTP(key, bad, now); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
}

func TestTOTPSecretAndURI(t *testing.T) {
	s, err := NewTOTPSecret(strings.NewReader(strings.Repeat("x", 20)))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 32 {
		t.Errorf("secret %q: got %d characters, want 32 (160 bits)", s, len(s))
	}
	if k, err := decodeTOTPSecret(strings.ToLower(s[:4]) + " " + s[4:]); err != nil || string(k) != strings.Repeat("x", 20) {
		t.Errorf("decode as typed: got %q, %v", k, err)
	}
	uri := TOTPURI("Sportello", "mario.rossi", s)
	want := "otpauth://totp/Sportello:mario.rossi?algorithm=SHA1&digits=6&issuer=Sportello&period=30&secret=" + s
	if uri != want {
		t.Errorf("URI: got %s, want %s", uri, want)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("Correct horse 1", strings.NewReader(strings.Repeat("s", 16)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=1$") {
		t.Errorf("hash %s: not argon2id with the stated parameters", h)
	}
	if !checkPassword(h, "Correct horse 1") {
		t.Error("right password refused")
	}
	if checkPassword(h, "Correct horse 2") {
		t.Error("wrong password accepted")
	}
	if _, err := parsePHC(dummyHash); err != nil {
		t.Errorf("dummy hash: %v", err)
	}
	if checkPassword("$argon2id$v=19$m=99999999,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "x") {
		t.Error("hash with huge parameters accepted")
	}
}

func TestPasswordProblem(t *testing.T) {
	for pw, bad := range map[string]bool{
		"short1A":               true,
		"abcdefghijklmnop":      true,
		"ABCDEFGHIJKLMNOP":      true,
		"1234567890123":         true,
		"xmario.rossix1":        true,
		"abcdefghijkl1":         false,
		"correct horse battery": false,
		"Sportello-Bari-2026!":  false,
	} {
		if got := PasswordProblem(pw, "mario.rossi"); (got != "") != bad {
			t.Errorf("password %q: problem %q, want bad=%t", pw, got, bad)
		}
	}
}

// BenchmarkCheckPassword measures one break-glass password check, the
// cost every login attempt pays (and the reason verifications are
// limited per node).
func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("Correct horse 1", strings.NewReader(strings.Repeat("s", 16)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		checkPassword(h, "Correct horse 1")
	}
}
