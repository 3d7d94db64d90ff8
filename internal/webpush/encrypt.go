package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// Sizes of the aes128gcm coding as Web Push uses it (RFC 8291 §4): one
// record of at most 4096 bytes, after a header of salt (16), record size
// (4), key length (1) and the server's ephemeral public key (65).
const (
	recordSize = 4096
	saltLen    = 16
	keyLen     = 65
	headerLen  = saltLen + 4 + 1 + keyLen
	tagLen     = 16
	// MaxPayload is the largest payload Encrypt accepts: the record less
	// the header, the GCM tag and the padding delimiter (3993 bytes).
	MaxPayload = recordSize - headerLen - tagLen - 1
)

// Encrypt encrypts plaintext for the subscription (RFC 8291): a fresh
// ephemeral P-256 key and a random salt give a content key only the
// subscription's browser can derive. The salt is read from rnd
// (crypto/rand.Reader if nil); since Go 1.26 the standard library draws
// the ephemeral key from its own secure source whatever rnd is. The
// result is the request body, header included: at most 4096 bytes, as
// plaintext is at most MaxPayload bytes.
func Encrypt(rnd io.Reader, sub Subscription, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPayload)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return nil, fmt.Errorf("webpush: salt: %w", err)
	}
	as, err := ecdh.P256().GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("webpush: ephemeral key: %w", err)
	}
	return encrypt(sub, plaintext, salt, as)
}

// encrypt is Encrypt with the salt and the ephemeral key given, so that
// the test can reproduce RFC 8291's Appendix A byte for byte.
func encrypt(sub Subscription, plaintext, salt []byte, as *ecdh.PrivateKey) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPayload)
	}
	ua, auth, err := sub.Keys.decode()
	if err != nil {
		return nil, err
	}
	cek, nonce, err := contentKeys(as, ua, auth, salt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	asPub := as.PublicKey().Bytes()
	out := make([]byte, headerLen, headerLen+len(plaintext)+1+tagLen)
	copy(out, salt)
	binary.BigEndian.PutUint32(out[saltLen:], recordSize)
	out[saltLen+4] = keyLen
	copy(out[saltLen+5:], asPub)
	// One record, the last: the plaintext, then the delimiter 0x02 and
	// no padding (RFC 8188 §2). Its sequence number is 0, so the nonce
	// is used as derived.
	record := make([]byte, 0, len(plaintext)+1)
	record = append(append(record, plaintext...), 0x02)
	return gcm.Seal(out, nonce, record, nil), nil
}

// contentKeys derives the content encryption key and nonce (RFC 8291
// §3.3 and §3.4, RFC 8188 §2.2): the ECDH secret mixed with the
// authentication secret and both public keys gives the input key
// material, which the salt turns into the key and nonce of the record.
func contentKeys(as *ecdh.PrivateKey, ua *ecdh.PublicKey, auth, salt []byte) (cek, nonce []byte, err error) {
	shared, err := as.ECDH(ua)
	if err != nil {
		return nil, nil, fmt.Errorf("webpush: ecdh: %w", err)
	}
	info := "WebPush: info\x00" + string(ua.Bytes()) + string(as.PublicKey().Bytes())
	prkKey, err := hkdf.Extract(sha256.New, shared, auth)
	if err != nil {
		return nil, nil, err
	}
	ikm, err := hkdf.Expand(sha256.New, prkKey, info, 32)
	if err != nil {
		return nil, nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, err
	}
	if cek, err = hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16); err != nil {
		return nil, nil, err
	}
	if nonce, err = hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12); err != nil {
		return nil, nil, err
	}
	return cek, nonce, nil
}
