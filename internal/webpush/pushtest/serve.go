package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody is what a push service accepts at least (RFC 8030 §7.2) and
// what the receiver accepts at most.
const maxBody = 4096

// serve is the push endpoint: POST /push/<id>.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.mu.Lock()
	sub := r.subs[req.URL.Path]
	var gone bool
	if sub != nil {
		gone = sub.gone
	}
	expect := r.expectKey
	r.mu.Unlock()
	switch {
	case sub == nil:
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	case gone:
		http.Error(w, "subscription gone", http.StatusGone)
		return
	}
	claims, key, err := verifyVAPID(req.Header.Get("Authorization"), r.now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if expect != "" && key != expect {
		http.Error(w, "unexpected VAPID key", http.StatusUnauthorized)
		return
	}
	if origin := "https://" + req.Host; claims.Aud != origin {
		http.Error(w, fmt.Sprintf("aud %q is not this service's origin %q", claims.Aud, origin), http.StatusUnauthorized)
		return
	}
	ttl, err := strconv.Atoi(req.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		http.Error(w, "missing or invalid TTL header", http.StatusBadRequest)
		return
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		http.Error(w, "content encoding "+ce+" is not aes128gcm", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	payload, err := decrypt(body, sub.key, sub.auth)
	if err != nil {
		http.Error(w, "cannot decrypt: "+err.Error(), http.StatusBadRequest)
		return
	}
	msg := Received{
		Endpoint: "https://" + req.Host + req.URL.Path,
		Payload:  payload,
		TTL:      ttl,
		Urgency:  req.Header.Get("Urgency"),
		Topic:    req.Header.Get("Topic"),
		Subject:  claims.Sub,
		Audience: claims.Aud,
	}
	select {
	case r.msgs <- msg:
	case <-req.Context().Done():
		return
	}
	w.Header().Set("Location", msg.Endpoint+"/message")
	w.WriteHeader(http.StatusCreated)
}

// claims are the VAPID JWT's claims.
type claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

var raw = base64.RawURLEncoding

// verifyVAPID checks "vapid t=<jwt>, k=<key>" (RFC 8292 §3): the JWT
// is ES256-signed by k, not expired, and expires within 24 hours. It
// returns the claims and k.
func verifyVAPID(header string, now time.Time) (claims, string, error) {
	var c claims
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return c, "", errors.New("authorization is not vapid")
	}
	var token, k string
	for _, p := range strings.Split(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			token = value
		case "k":
			k = value
		}
	}
	keyBytes, err := raw.DecodeString(k)
	if err != nil {
		return c, "", errors.New("k is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), keyBytes)
	if err != nil {
		return c, "", errors.New("k is not a P-256 point")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, "", errors.New("t is not a JWT")
	}
	var head struct {
		Alg string `json:"alg"`
	}
	if b, err := raw.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &head) != nil || head.Alg != "ES256" {
		return c, "", errors.New("JWT header is not ES256")
	}
	sig, err := raw.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, "", errors.New("JWT signature is not 64 bytes")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return c, "", errors.New("JWT signature does not verify with k")
	}
	b, err := raw.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, "", errors.New("JWT claims do not decode")
	}
	exp := time.Unix(c.Exp, 0)
	switch {
	case !exp.After(now):
		return c, "", errors.New("JWT expired")
	case exp.After(now.Add(24 * time.Hour)):
		return c, "", errors.New("JWT expires more than 24 hours from now")
	case !strings.HasPrefix(c.Sub, "mailto:") && !strings.HasPrefix(c.Sub, "https://"):
		return c, "", errors.New("JWT sub is neither mailto: nor https:")
	}
	return c, k, nil
}

// hkdf is RFC 5869 with SHA-256, written out on crypto/hmac so that the
// receiver does not share webpush's key derivation. length ≤ 32.
func hkdf(salt, secret, info []byte, length int) []byte {
	ext := hmac.New(sha256.New, salt)
	ext.Write(secret)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write(info)
	exp.Write([]byte{1})
	return exp.Sum(nil)[:length]
}

// decrypt is the browser's side of RFC 8291: read the aes128gcm header,
// derive the keys from the subscription's private key and secret, open
// the records and strip their padding.
func decrypt(body []byte, key *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt := body[:16]
	rs := int(binary.BigEndian.Uint32(body[16:20]))
	idlen := int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, errors.New("key id is not a 65-byte P-256 point")
	}
	if rs < 18 {
		return nil, errors.New("record size below 18")
	}
	asBytes := body[21 : 21+idlen]
	as, err := ecdh.P256().NewPublicKey(asBytes)
	if err != nil {
		return nil, errors.New("key id is not a P-256 point")
	}
	shared, err := key.ECDH(as)
	if err != nil {
		return nil, err
	}
	info := append([]byte("WebPush: info\x00"), key.PublicKey().Bytes()...)
	info = append(info, asBytes...)
	ikm := hkdf(auth, shared, info, 32)
	cek := hkdf(salt, ikm, []byte("Content-Encoding: aes128gcm\x00"), 16)
	nonce := hkdf(salt, ikm, []byte("Content-Encoding: nonce\x00"), 12)
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	var out []byte
	rest := body[21+idlen:]
	if len(rest) == 0 {
		return nil, errors.New("no record after the header")
	}
	for seq := uint64(0); len(rest) > 0; seq++ {
		n := min(rs, len(rest))
		// The record's nonce is the derived one XOR its sequence number
		// in the last 8 bytes (RFC 8188 §2.3).
		iv := append([]byte(nil), nonce...)
		ctr := binary.BigEndian.Uint64(iv[4:]) ^ seq
		binary.BigEndian.PutUint64(iv[4:], ctr)
		plain, err := gcm.Open(nil, iv, rest[:n], nil)
		if err != nil {
			return nil, fmt.Errorf("record %d does not authenticate", seq)
		}
		rest = rest[n:]
		i := len(plain) - 1
		for i >= 0 && plain[i] == 0 {
			i--
		}
		if i < 0 {
			return nil, fmt.Errorf("record %d has no delimiter", seq)
		}
		last := len(rest) == 0
		switch {
		case plain[i] == 2 && last, plain[i] == 1 && !last:
		default:
			return nil, fmt.Errorf("record %d has the wrong delimiter", seq)
		}
		out = append(out, plain[:i]...)
	}
	return out, nil
}
