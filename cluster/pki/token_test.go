package pki_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

var tokenPattern = regexp.MustCompile(`^SPT1-[a-z2-7]{16}-[a-z2-7]{32}-[a-z2-7]{52}-[a-z2-7]{5}$`)

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !tokenPattern.MatchString(s) {
		t.Fatalf("String() = %q, want it to match %s", s, tokenPattern)
	}
	if tok.CAFingerprint != ca.Fingerprint() {
		t.Errorf("CAFingerprint %q, want %q", tok.CAFingerprint, ca.Fingerprint())
	}
	for _, in := range []string{s, strings.ToLower(s), upper(s), "  " + s + "\r\n"} {
		got, err := pki.ParseToken(in)
		if err != nil {
			t.Fatalf("ParseToken(%q): %v", in, err)
		}
		if got != tok {
			t.Errorf("ParseToken(%q) = %+v, want %+v", in, got, tok)
		}
	}
	again, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == tok.ID || again.Secret == tok.Secret {
		t.Errorf("two tokens share an ID or secret: %+v, %+v", tok, again)
	}
}

func TestNewTokenDeterministicReader(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	a, err := pki.NewToken(bytes.NewReader(bytes.Repeat([]byte{7}, 30)), ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.NewToken(bytes.NewReader(bytes.Repeat([]byte{7}, 30)), upper(ca.Fingerprint()))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("same random bytes: got %+v and %+v, want equal tokens", a, b)
	}
	if _, err := pki.NewToken(bytes.NewReader(make([]byte, 29)), ca.Fingerprint()); err == nil {
		t.Error("short random source: got no error, want one")
	}
	if _, err := pki.NewToken(iotest.ErrReader(errors.New("no entropy")), ca.Fingerprint()); err == nil {
		t.Error("failing random source: got no error, want one")
	}
	for _, fp := range []string{"", "abc", ca.Fingerprint() + "a", strings.Repeat("1", 52)} {
		if _, err := pki.NewToken(rand.Reader, fp); !errors.Is(err, pki.ErrInvalidToken) || !errors.Is(err, pki.ErrInvalidFingerprint) {
			t.Errorf("NewToken(fingerprint %q): got %v, want %v and %v", fp, err, pki.ErrInvalidToken, pki.ErrInvalidFingerprint)
		}
	}
}

func TestParseTokenRefuses(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	parts := strings.Split(s, "-")
	swap := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "-")
	}
	flip := func(part string) string { // changes one character, keeps the alphabet
		b := []byte(part)
		if b[3] == 'a' {
			b[3] = 'b'
		} else {
			b[3] = 'a'
		}
		return string(b)
	}
	other, err := pki.NewToken(rand.Reader, newCA(t, "bari").Fingerprint())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		in      string
		wantMsg string
	}{
		{"empty", "  ", "empty"},
		{"not a token", "hello-world", "not a Sportello join token"},
		{"newer version", "SPT2" + s[4:], "version \"SPT2\""},
		{"truncated", s[:len(s)-6], "parts"},
		{"extra part", s + "-abcde", "parts"},
		{"ID altered", swap(1, flip(parts[1])), "check"},
		{"secret altered", swap(2, flip(parts[2])), "check"},
		{"fingerprint altered", swap(3, flip(parts[3])), "check"},
		{"fingerprint of another token", swap(3, other.CAFingerprint), "check"},
		{"check altered", swap(4, flip(parts[4])), "check"},
		{"secret too short", swap(2, parts[2][:31]), "secret"},
		{"ID with a digit outside base32", swap(1, "0"+parts[1][1:]), "ID"},
		{"fingerprint with padding", swap(3, parts[3]+"===="), "CA fingerprint"},
		{"check not canonical", swap(4, parts[4][:4]+"7"), "check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pki.ParseToken(tt.in)
			if !errors.Is(err, pki.ErrInvalidToken) {
				t.Fatalf("ParseToken(%q) = %+v, %v; want %v", tt.in, got, err, pki.ErrInvalidToken)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestVerifySecret(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	hash := tok.SecretHash()
	if len(hash) != 32 {
		t.Fatalf("SecretHash length %d, want 32", len(hash))
	}
	if bytes.Contains(hash, []byte(tok.Secret)) || strings.Contains(string(hash), tok.Secret) {
		t.Fatal("SecretHash contains the secret")
	}
	tests := []struct {
		name      string
		hash      []byte
		presented string
		want      bool
	}{
		{"right secret", hash, tok.Secret, true},
		{"right secret in upper case", hash, upper(tok.Secret) + " ", true},
		{"another token's secret", hash, other.Secret, false},
		{"token ID instead of secret", hash, tok.ID, false},
		{"empty secret", hash, "", false},
		{"empty hash", nil, tok.Secret, false},
		{"truncated hash", hash[:16], tok.Secret, false},
		{"whole token instead of secret", hash, tok.String(), false},
	}
	for _, tt := range tests {
		if got := pki.VerifySecret(tt.hash, tt.presented); got != tt.want {
			t.Errorf("%s: VerifySecret = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTokenLogsNoSecret(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("token created", "token", tok)
	if strings.Contains(buf.String(), tok.Secret) || !strings.Contains(buf.String(), tok.ID) {
		t.Errorf("log %q: want the token ID and not the secret", buf.String())
	}
}
