package webpush

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
	"time"
)

// rfc8291 holds the worked example of RFC 8291, Appendix A.
var rfc8291 = struct {
	plaintext, asPrivate, asPublic, uaPublic, auth, salt, cek, nonce, body string
}{
	plaintext: "When I grow up, I want to be a watermelon",
	asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
	asPublic:  "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
	uaPublic:  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	auth:      "BTBZMqHH6r4Tts7J_aSIgg",
	salt:      "DGv6ra1nlYgDCS1FRnbzlw",
	cek:       "oIhVW04MRdy2XN9CiKLxTg",
	nonce:     "4h_95klXJ5E_qnoN",
	body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := decodeB64(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func TestEncryptMatchesRFC8291AppendixA(t *testing.T) {
	v := rfc8291
	as, err := ecdh.P256().NewPrivateKey(mustB64(t, v.asPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64(as.PublicKey().Bytes()); got != v.asPublic {
		t.Fatalf("as public: got %s, want %s", got, v.asPublic)
	}
	sub := Subscription{Endpoint: "https://push.example.net/x", Keys: Keys{P256dh: v.uaPublic, Auth: v.auth}}
	ua, auth, err := sub.Keys.decode()
	if err != nil {
		t.Fatal(err)
	}
	cek, nonce, err := contentKeys(as, ua, auth, mustB64(t, v.salt))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64(cek); got != v.cek {
		t.Errorf("CEK: got %s, want %s", got, v.cek)
	}
	if got := b64(nonce); got != v.nonce {
		t.Errorf("nonce: got %s, want %s", got, v.nonce)
	}
	body, err := encrypt(sub, []byte(v.plaintext), mustB64(t, v.salt), as)
	if err != nil {
		t.Fatal(err)
	}
	if got := b64(body); got != v.body {
		t.Fatalf("body:\n got %s\nwant %s", got, v.body)
	}
}

func TestEncryptRefusesOversizeAndBadKeys(t *testing.T) {
	sub := Subscription{Endpoint: "https://push.example.net/x", Keys: Keys{P256dh: rfc8291.uaPublic, Auth: rfc8291.auth}}
	body, err := Encrypt(nil, sub, bytes.Repeat([]byte("a"), MaxPayload))
	if err != nil {
		t.Fatalf("payload of MaxPayload bytes: %v", err)
	}
	if len(body) != recordSize {
		t.Errorf("body of the largest payload: got %d bytes, want %d", len(body), recordSize)
	}
	if _, err := Encrypt(nil, sub, make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("payload of MaxPayload+1 bytes: got %v, want ErrTooLarge", err)
	}
	for name, k := range map[string]Keys{
		"short auth":    {P256dh: rfc8291.uaPublic, Auth: "AAAA"},
		"not a point":   {P256dh: b64(append([]byte{4}, make([]byte, 64)...)), Auth: rfc8291.auth},
		"compressed":    {P256dh: b64(append([]byte{2}, make([]byte, 32)...)), Auth: rfc8291.auth},
		"not base64url": {P256dh: "!!", Auth: rfc8291.auth},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Encrypt(nil, Subscription{Endpoint: sub.Endpoint, Keys: k}, []byte("x")); !errors.Is(err, ErrKeys) {
				t.Errorf("got %v, want ErrKeys", err)
			}
		})
	}
	if MaxPayload != 3993 {
		t.Errorf("MaxPayload: got %d, want 3993", MaxPayload)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	sub := Subscription{Endpoint: "https://push.example.net/x", Keys: Keys{P256dh: rfc8291.uaPublic, Auth: rfc8291.auth}}
	payload := bytes.Repeat([]byte("x"), 200)
	for b.Loop() {
		if _, err := Encrypt(nil, sub, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVAPIDToken(b *testing.B) {
	k, err := GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	v := VAPID{Key: k, Subject: "mailto:a@example.it"}
	now := time.Now()
	for b.Loop() {
		if _, err := v.authorization("https://fcm.googleapis.com", now); err != nil {
			b.Fatal(err)
		}
	}
}
