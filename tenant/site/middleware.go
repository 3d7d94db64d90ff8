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
// outside it. A handler that replaces the Content-Security-Policy header
// must keep this nonce in script-src and style-src.
func Nonce(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey).(string)
	return n
}

func withNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey, nonce)
}

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// Tenant resolves the request's Host to a Comune and puts it, with a fresh
// CSP nonce, into the request's context; it sets the security headers of
// every page. An unknown host gets the neutral 404 page, the same bytes
// for every unknown host, naming no Comune (a JSON error under /api/). A
// failing resolver gets a neutral 503. Paths under /static/ pass through
// without resolving: assets are the same for every Comune and the neutral
// page needs them too.
func (s *Site) Tenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		t, err := s.resolver.Resolve(r.Context(), r.Host)
		if err != nil {
			if errors.Is(err, tenant.ErrNotFound) {
				s.notFound(w, r)
				return
			}
			s.log.ErrorContext(r.Context(), "resolve tenant", "host", r.Host, "err", err)
			s.neutralError(w, r, http.StatusServiceUnavailable)
			return
		}
		nonce := newNonce()
		ctx := withNonce(WithTenant(r.Context(), t), nonce)
		setPageHeaders(w.Header(), nonce, t)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// setPageHeaders sets the security headers of a page. Images may come from
// the Comune's own logo origin besides this host; scripts and styles only
// from this host or an element carrying nonce. No cookie is ever set here.
func setPageHeaders(h http.Header, nonce string, t tenant.Tenant) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp(nonce, logoOrigin(t.Branding.LogoURL)))
}

// csp builds the policy: default-src 'self' and no framing, with the nonce
// (when there is one) for inline <style> and <script> elements.
func csp(nonce, imgOrigin string) string {
	var b strings.Builder
	b.WriteString("default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	// The app's manifest and service worker come from this host only.
	b.WriteString("; manifest-src 'self'; worker-src 'self'")
	// Bootstrap Italia's stylesheet embeds an icon font as a data: URL.
	b.WriteString("; font-src 'self' data:; img-src 'self' data:")
	if imgOrigin != "" {
		b.WriteString(" " + imgOrigin)
	}
	if nonce != "" {
		b.WriteString("; style-src 'self' 'nonce-" + nonce + "'; script-src 'self' 'nonce-" + nonce + "'")
	}
	return b.String()
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
