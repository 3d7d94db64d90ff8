package site

import (
	"net"
	"net/http"
	"strings"
)

// ClientIP is the address a request came from, for rate limits and the
// audit log: the peer's, or, when trustProxy (the node sits behind a proxy
// the operator named in the configuration), the last address of the last
// X-Forwarded-For header — the one that proxy appended; the earlier ones
// are the client's own claim. A last entry that is not an address is
// ignored.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Origin is the scheme and host the browser used, "https://bari.example.it":
// links sent to citizens and redirect URIs are built on it. With
// trustProxy the scheme comes from X-Forwarded-Proto.
func Origin(r *http.Request, trustProxy bool) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if trustProxy {
		switch p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p {
		case "http", "https":
			scheme = p
		}
	}
	return scheme + "://" + r.Host
}
