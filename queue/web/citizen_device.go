package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"
)

// deviceCookie names the browser for the office's per-device limit
// (OfficeConfig.MaxPerDevice). The __Host- prefix makes the browser keep
// it only when set over HTTPS for this very host, with Path=/ and no
// Domain: another Comune's subdomain cannot set or read it.
const deviceCookie = "__Host-sportello_dev"

// deviceCookieAge is how long a browser keeps its device ID.
const deviceCookieAge = 365 * 24 * time.Hour

// deviceIDLen is the length of a device ID: 16 random bytes in
// unpadded base64url.
const deviceIDLen = 22

// device returns the browser's device for a take ("web:"-prefixed, so
// that an API client's device_id cannot pass for it), giving the browser
// a new random ID when it has none. A browser that refuses cookies gets a
// new ID each time, which the per-address limit still bounds: the cookie
// is a cheap brake on one phone taking many numbers, not an identity.
func device(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(deviceCookie); err == nil && validDeviceID(c.Value) {
		return "web:" + c.Value
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	id := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: id, Path: "/", MaxAge: int(deviceCookieAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return "web:" + id
}

// validDeviceID reports whether v has the form of an ID device made; a
// cookie of any other form is replaced.
func validDeviceID(v string) bool {
	if len(v) != deviceIDLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
