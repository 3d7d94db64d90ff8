package site

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// acmeChallengePrefix is where an ACME CA asks for HTTP-01 answers.
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// maxHostLen bounds a Host header the redirect looks at: a DNS name is at
// most 253 characters, plus a port.
const maxHostLen = 253 + len(":65535")

// RedirectHTTPS returns the handler of the plain-HTTP listener (port 80):
// ACME HTTP-01 challenges (paths under /.well-known/acme-challenge/) go
// to next, the certificate manager's handler, whatever the Host; every
// other request for a host some Comune answers on (its <id>.<base>
// subdomain or one of its own domains) gets 308 Permanent Redirect to the
// same path and query over https, on httpsPort (443 or 0 leave the port
// out of the URL). Any other host gets the neutral 404: the redirect only
// ever names a host the registry knows, so it cannot be used to send
// browsers elsewhere. A Host with a port other than 80 or the listener's
// own, or with characters no DNS name has, is refused the same way. A
// failing resolver gives the neutral 503. next may be nil (no ACME
// HTTP-01): challenges then get the neutral 404 too.
func (s *Site) RedirectHTTPS(httpsPort int, next http.Handler) http.Handler {
	portSuffix := ""
	if httpsPort != 0 && httpsPort != 443 {
		portSuffix = ":" + strconv.Itoa(httpsPort)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, acmeChallengePrefix) {
			if next == nil {
				s.neutralError(w, r, http.StatusNotFound)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		host, ok := redirectHost(r)
		if !ok {
			s.neutralError(w, r, http.StatusNotFound)
			return
		}
		// A disabled Comune is redirected like any other: its HTTPS host
		// then says the service is not available, in its own layout.
		if _, err := s.resolver.Resolve(r.Context(), host); err != nil && !errors.Is(err, tenant.ErrDisabled) {
			if errors.Is(err, tenant.ErrNotFound) {
				s.neutralError(w, r, http.StatusNotFound)
				return
			}
			s.log.ErrorContext(r.Context(), "resolve tenant for redirect", "host", host, "err", err)
			s.neutralError(w, r, http.StatusServiceUnavailable)
			return
		}
		// The path is the request's own, escaped as it came: a path like
		// "//other.example" stays a path under host, since the URL starts
		// with the scheme and the host chosen here.
		target := "https://" + host + portSuffix + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Location", target)
		// 308 keeps the method and body, so a form posted to http:// is
		// posted again to https:// rather than turned into a GET. The
		// answer has no body: the Location says everything.
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// redirectHost returns the normalised host name of r's Host header
// (lower case, no trailing dot, no port) when it is a plain DNS name with
// no port, port 80 or the port the request arrived on; ok is false for
// anything else, including IP literals, which no Comune answers on.
func redirectHost(r *http.Request) (host string, ok bool) {
	h := r.Host
	if h == "" || len(h) > maxHostLen || strings.HasPrefix(h, "[") {
		return "", false
	}
	if name, port, found := strings.Cut(h, ":"); found {
		if !allowedHTTPPort(r, port) {
			return "", false
		}
		h = name
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" || strings.HasPrefix(h, ".") || strings.Contains(h, "..") || net.ParseIP(h) != nil {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "", false
		}
	}
	return h, true
}

// allowedHTTPPort reports whether a Host header's port is 80 or the port
// of the listener that accepted r (a test or an unprivileged setup may
// listen elsewhere).
func allowedHTTPPort(r *http.Request, port string) bool {
	if port == "80" {
		return true
	}
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	_, local, err := net.SplitHostPort(addr.String())
	return err == nil && port != "" && port == local
}
