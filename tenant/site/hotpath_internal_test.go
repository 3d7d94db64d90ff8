package site

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/sportello-virtuale/sportello/tenant"
)

// TestCSPBytes pins the policy csp writes in each case, as the builder
// it replaced wrote it.
func TestCSPBytes(t *testing.T) {
	const head = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; manifest-src 'self'; worker-src 'self'; font-src 'self' data:; img-src 'self' data:"
	for _, c := range []struct{ nonce, img, want string }{
		{"", "", head + "; script-src 'self'"},
		{"abc", "", head + "; script-src 'self'; style-src 'self' 'nonce-abc'"},
		{"", "https://logo.example.it", head + " https://logo.example.it; script-src 'self'"},
		{"abc", "https://logo.example.it", head + " https://logo.example.it; script-src 'self'; style-src 'self' 'nonce-abc'"},
	} {
		if got := csp(c.nonce, c.img); got != c.want {
			t.Errorf("csp(%q, %q) =\n%s\nwant\n%s", c.nonce, c.img, got, c.want)
		}
	}
}

// TestNewNonce checks the nonce's form: 16 random bytes in unpadded
// base64url, a new one each time.
func TestNewNonce(t *testing.T) {
	a, b := newNonce(), newNonce()
	if a == b {
		t.Fatalf("two nonces alike: %q", a)
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 16 || len(a) != 22 {
		t.Fatalf("nonce %q: %d bytes, %v", a, len(raw), err)
	}
}

// TestFirstOffered checks that the shortcut of negotiateLang answers
// what Negotiate answers for a request that names no language.
func TestFirstOffered(t *testing.T) {
	for _, langs := range [][]string{nil, {}, {"it"}, {"en", "it"}, {" DE ", "en"}, {"fr", "xx"}, {"fr", "En"}, {"", "de"}} {
		ten := tenant.Tenant{ID: "bari", Languages: langs}
		r := httptest.NewRequest("POST", "/api/v1/bookings", nil)
		want, _ := Negotiate(r, OfferedLanguages(ten))
		if got := firstOffered(ten); got != want {
			t.Errorf("languages %q: firstOffered %q, Negotiate %q", langs, got, want)
		}
		w := httptest.NewRecorder()
		if got := negotiateLang(w, r, ten); got != want {
			t.Errorf("languages %q: negotiateLang %q, Negotiate %q", langs, got, want)
		}
		if v := w.Header().Values("Vary"); len(v) != 1 || v[0] != "Accept-Language, Cookie" {
			t.Errorf("languages %q: Vary %q", langs, v)
		}
	}
}

// TestPageHeadersAsSet checks that securityHeaders and setPageHeaders
// leave the headers h.Set would, and that a value added to one header
// later changes no other.
func TestPageHeadersAsSet(t *testing.T) {
	ten := tenant.Tenant{ID: "bari", Branding: tenant.Branding{LogoURL: "https://logo.example.it/bari.png"}}
	want := func(policy string) http.Header {
		h := http.Header{}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", policy)
		h.Set("Content-Security-Policy", csp("n0nce", "https://logo.example.it"))
		return h
	}
	for _, path := range []string{"/api/v1/bookings", "/chiamata/abc"} {
		h := http.Header{}
		securityHeaders(h, httptest.NewRequest("GET", path, nil), "n0nce", ten)
		if w := want(permissionsPolicy(path)); !reflect.DeepEqual(h, w) {
			t.Errorf("%s: securityHeaders\n%v\nwant\n%v", path, h, w)
		}
	}
	h := http.Header{}
	setPageHeaders(h, "n0nce", ten)
	if w := want(permissionsPolicy("")); !reflect.DeepEqual(h, w) {
		t.Errorf("setPageHeaders\n%v\nwant\n%v", h, w)
	}
	h = http.Header{}
	AllowCallDevices(h)
	setPageHeaders(h, "n0nce", ten)
	if w := want(permissionsPolicy(callPathPrefixes[0])); !reflect.DeepEqual(h, w) {
		t.Errorf("setPageHeaders after AllowCallDevices\n%v\nwant\n%v", h, w)
	}
	h.Add("X-Content-Type-Options", "extra")
	h.Add("Referrer-Policy", "extra")
	if got := h.Values("Referrer-Policy"); !reflect.DeepEqual(got, []string{"same-origin", "extra"}) {
		t.Errorf("Referrer-Policy %q", got)
	}
	if got := h.Values("X-Frame-Options"); !reflect.DeepEqual(got, []string{"DENY"}) {
		t.Errorf("X-Frame-Options %q after adding to its neighbours", got)
	}
}
