package site

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// ctxKey is the type of the site's context keys.
type ctxKey int

const (
	tenantKey ctxKey = iota
	nonceKey
	langKey
)

// WithTenant returns ctx carrying t, as the Tenant middleware does; tests
// and non-HTTP callers use it to render pages for a Comune.
func WithTenant(ctx context.Context, t tenant.Tenant) context.Context {
	return context.WithValue(ctx, tenantKey, t)
}

// TenantFrom returns the Comune of the request, set by the Tenant
// middleware from the Host header. ok is false outside it.
func TenantFrom(ctx context.Context) (t tenant.Tenant, ok bool) {
	t, ok = ctx.Value(tenantKey).(tenant.Tenant)
	return t, ok
}

// Nonce returns the request's CSP nonce, set by the Tenant middleware; ""
// outside it. The policy admits it for inline <style> only (the layout's
// theme colour): no page has an inline script, so script-src is 'self'
// alone. A handler that replaces the Content-Security-Policy header must
// keep this nonce in style-src.
func Nonce(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey).(string)
	return n
}

func withNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey, nonce)
}

func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	// 22 is base64.RawURLEncoding.EncodedLen(16).
	var s [22]byte
	base64.RawURLEncoding.Encode(s[:], b[:])
	return string(s[:])
}

// Tenant resolves the request's Host to a Comune and puts it, with a fresh
// CSP nonce, into the request's context; it sets the security headers of
// every page (see securityHeaders), and Strict-Transport-Security on every
// answer over TLS. An unknown host gets the neutral 404 page, the same
// bytes for every unknown host, naming no Comune (a JSON error under
// /api/). A disabled Comune's host gets its 503 page on every path
// (disabled.go), /gestione included. A failing resolver gets a neutral 503. Paths under /static/
// pass through without resolving: assets are the same for every Comune
// and the neutral page needs them too.
func (s *Site) Tenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			// Every answer over TLS, assets and neutral pages included: a
			// browser got here only with a certificate valid for the name,
			// so the name is served over HTTPS. Browsers ignore the header
			// on plain HTTP (RFC 6797), and it is never sent there.
			w.Header().Set("Strict-Transport-Security", hsts(r.Host, s.baseDomain()))
		}
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		t, err := s.resolver.Resolve(r.Context(), r.Host)
		if err != nil {
			if errors.Is(err, tenant.ErrDisabled) && t.ID != "" {
				s.disabled(w, r, t)
				return
			}
			if errors.Is(err, tenant.ErrNotFound) {
				s.notFound(w, r)
				return
			}
			s.log.ErrorContext(r.Context(), "resolve tenant", "host", r.Host, "err", err)
			s.neutralError(w, r, http.StatusServiceUnavailable)
			return
		}
		nonce := newNonce()
		securityHeaders(w.Header(), r, nonce, t)
		ctx := withNonce(WithTenant(r.Context(), t), nonce)
		ctx = WithLang(ctx, negotiateLang(w, r, t))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// securityHeaders sets the headers of every answer for a Comune: the page
// headers (setPageHeaders) with a Permissions-Policy that lets only call
// pages use the camera, microphone and screen. Handlers that need another
// Content-Security-Policy (JSON, event streams, downloads) replace that
// header only; the others stay.
func securityHeaders(h http.Header, r *http.Request, nonce string, t tenant.Tenant) {
	writePageHeaders(h, permissionsPolicy(r.URL.Path), nonce, t)
}

// setPageHeaders sets the security headers of a page. Images may come from
// the Comune's own logo origin besides this host; scripts only from this
// host, styles from this host or an element carrying nonce. The
// Permissions-Policy is the deny-all one unless the Tenant middleware
// already chose one for the path. No cookie is ever set here.
func setPageHeaders(h http.Header, nonce string, t tenant.Tenant) {
	policy := ""
	if h.Get("Permissions-Policy") == "" {
		policy = permissionsPolicy("")
	}
	writePageHeaders(h, policy, nonce, t)
}

// writePageHeaders sets the headers of setPageHeaders, and the
// Permissions-Policy when policy is not "". It sets what h.Set would,
// with the values in one array instead of one allocation per header:
// every request for a Comune, API calls included, gets these headers.
// Each header's slice has a capacity of one, so that adding a value to
// one header (Header.Add) copies it rather than writing over the next.
func writePageHeaders(h http.Header, policy, nonce string, t tenant.Tenant) {
	v := make([]string, 6)
	v[0] = "nosniff"
	h["X-Content-Type-Options"] = v[0:1:1]
	v[1] = "same-origin"
	h["Referrer-Policy"] = v[1:2:2]
	v[2] = "DENY"
	h["X-Frame-Options"] = v[2:3:3]
	// A page opened from another site (window.open, a link with an
	// opener) gets a browsing context group of its own: the other site
	// cannot reach this window through its handle or window.opener, nor
	// this page a window it opened elsewhere (Sportello opens none).
	v[3] = "same-origin"
	h["Cross-Origin-Opener-Policy"] = v[3:4:4]
	if policy != "" {
		v[4] = policy
		h["Permissions-Policy"] = v[4:5:5]
	}
	v[5] = csp(nonce, logoOrigin(t.Branding.LogoURL))
	h["Content-Security-Policy"] = v[5:6:6]
}

// csp builds the policy: default-src 'self' and no framing, with the nonce
// (when there is one) for inline <style> elements. Scripts come from this
// host only, as files: no template has an inline script or an event
// handler attribute, so no nonce is offered to script-src and an injected
// <script> runs nowhere. JSON data blocks (<script type="application/json">)
// are never executed and need no permission.
//
// Every request builds it, so each case is one concatenation (one
// allocation) of constant parts and the two values.
func csp(nonce, imgOrigin string) string {
	const (
		head = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'" +
			// The app's manifest and service worker come from this host only.
			"; manifest-src 'self'; worker-src 'self'" +
			// Bootstrap Italia's stylesheet embeds an icon font as a data: URL.
			"; font-src 'self' data:; img-src 'self' data:"
		script = "; script-src 'self'"
		style  = "; style-src 'self' 'nonce-"
	)
	switch {
	case imgOrigin == "" && nonce == "":
		return head + script
	case imgOrigin == "":
		return head + script + style + nonce + "'"
	case nonce == "":
		return head + " " + imgOrigin + script
	}
	return head + " " + imgOrigin + script + style + nonce + "'"
}

// callPathPrefixes are the paths of the pages that hold a video call: the
// citizen's waiting room and call (/chiamata/…) and the operator's side
// (/gestione/chiamate/…). Only they may ask for the camera, the
// microphone and the screen.
var callPathPrefixes = []string{"/chiamata/", "/gestione/chiamate/"}

// IsCallPath reports whether path is one of a call's pages, which the
// Permissions-Policy lets use the camera, microphone and screen capture.
func IsCallPath(path string) bool {
	for _, p := range callPathPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// AllowCallDevices sets the Permissions-Policy of a call page on h: the
// camera, the microphone and screen capture for this origin. The Tenant
// middleware does it for the call paths; a handler that serves a call
// page elsewhere (a test's mux, a future path) calls it before writing.
func AllowCallDevices(h http.Header) {
	h.Set("Permissions-Policy", permissionsPolicy(callPathPrefixes[0]))
}

// deniedFeatures are the powerful features no page of Sportello uses. A
// page that is tricked into running a script (or a script of a vendored
// library) still cannot reach them, and no frame could either. Autoplay
// and wake lock are left to the browser's defaults: the display board
// plays a chime.
const deniedFeatures = "accelerometer=(), browsing-topics=(), geolocation=(), gyroscope=(), hid=(), " +
	"magnetometer=(), midi=(), payment=(), serial=(), usb=(), fullscreen=(self)"

// permissionsPolicy returns the Permissions-Policy of path: camera,
// microphone and screen capture for this origin on call pages, for nobody
// elsewhere.
func permissionsPolicy(path string) string {
	if IsCallPath(path) {
		return "camera=(self), microphone=(self), display-capture=(self), " + deniedFeatures
	}
	return "camera=(), microphone=(), display-capture=(), " + deniedFeatures
}

// hstsMaxAge is one year, the value browsers' preload lists ask for; a
// Comune that moves away from Sportello has its own certificate anyway.
const hstsMaxAge = "max-age=31536000"

// hsts returns the Strict-Transport-Security value for host. Hosts under
// the base domain (<id>.<base>) also cover their subdomains: every name
// under the base domain is the service's, and all of them are served over
// HTTPS. A Comune's own domain (servizi.comune.bari.it) covers itself
// only: names below it belong to the Comune's IT, which may still serve
// something over plain HTTP there, and a header of ours must not break it.
func hsts(host, base string) string {
	h := tenant.NormalizeHost(host)
	if base != "" && strings.HasSuffix(h, "."+base) {
		return hstsMaxAge + "; includeSubDomains"
	}
	return hstsMaxAge
}

// baseDomain returns the resolver's base domain when it has one
// (*tenant.Registry does), "" otherwise.
func (s *Site) baseDomain() string {
	if b, ok := s.resolver.(interface{ BaseDomain() string }); ok {
		return tenant.NormalizeHost(b.BaseDomain())
	}
	return ""
}

// logoOrigin returns the https origin of an absolute logo URL, "" for a
// path on this host or anything else.
func logoOrigin(logo string) string {
	if !strings.HasPrefix(logo, "https://") {
		return ""
	}
	u, err := url.Parse(logo)
	if err != nil || u.Host == "" || strings.ContainsAny(u.Host, " ;'\"") {
		return ""
	}
	return "https://" + u.Host
}
