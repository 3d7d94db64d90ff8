package pushtest

import (
	"crypto/ecdh"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestDecryptRFC8291AppendixA checks the receiver's own decryption
// against the RFC's worked example, independently of webpush.
func TestDecryptRFC8291AppendixA(t *testing.T) {
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key, err := ecdh.P256().NewPrivateKey(dec("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	body := dec("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	auth := dec("BTBZMqHH6r4Tts7J_aSIgg")
	got, err := decrypt(body, key, auth)
	if err != nil {
		t.Fatal(err)
	}
	if want := "When I grow up, I want to be a watermelon"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The record size is not authenticated (a larger one reads the same
	// single record), so the flips avoid it.
	for _, i := range []int{0, 15, 20, 25, 90, len(body) - 1} {
		bad := append([]byte(nil), body...)
		bad[i] ^= 1
		if _, err := decrypt(bad, key, auth); err == nil {
			t.Errorf("byte %d flipped: decrypted anyway", i)
		}
	}
	if _, err := decrypt(body[:86], key, auth); err == nil {
		t.Error("header alone: decrypted anyway")
	}
}

func TestVerifyVAPIDRefusesMalformedHeaders(t *testing.T) {
	now := time.Now()
	for name, h := range map[string]string{
		"empty":     "",
		"bearer":    "Bearer abc",
		"no key":    "vapid t=a.b.c",
		"bad key":   "vapid t=a.b.c, k=AAAA",
		"not a JWT": "vapid t=abc, k=BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		"unsigned":  "vapid t=eyJhbGciOiJub25lIn0.e30., k=BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		"wrong sig": "vapid t=eyJhbGciOiJFUzI1NiJ9.e30." + strings.Repeat("A", 86) + ", k=BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := verifyVAPID(h, now); err == nil {
				t.Errorf("%q accepted", h)
			}
		})
	}
}
