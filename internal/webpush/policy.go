package webpush

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/internal/netguard"
)

// MaxEndpoint is the longest endpoint URL accepted. The browsers' are
// about 200 to 500 bytes; the bound keeps stored rows small.
const MaxEndpoint = 1024

// requestTimeout bounds one push request, dialing included: a slow push
// service must not hold an outbox worker.
const requestTimeout = 30 * time.Second

// EndpointPolicy says which push endpoints the server may contact.
// The zero value is the production policy.
type EndpointPolicy struct {
	// Hosts lists exact host names, or ".suffix" entries matching any
	// subdomain of suffix; nil means DefaultHosts().
	Hosts []string
	// AllowHTTP accepts http:// endpoints (tests only).
	AllowHTTP bool
	// AllowPrivate accepts IP literals, ports other than 443, and
	// loopback, private and link-local addresses (tests only).
	AllowPrivate bool
}

// DefaultHosts returns the push services of the browsers in use in 2026:
// Google's FCM (Chrome, Edge on Android, Opera, Samsung Internet),
// Mozilla's autopush (Firefox), Apple's (Safari on macOS and iOS) and
// Microsoft's WNS (Edge on Windows). Apple and Microsoft ask servers
// that filter endpoints to accept any subdomain of theirs.
func DefaultHosts() []string {
	return []string{
		"fcm.googleapis.com",
		"updates.push.services.mozilla.com",
		"push.services.mozilla.com",
		"web.push.apple.com",
		".push.apple.com",
		".notify.windows.com",
	}
}

// hostAllowed reports whether host (lower case, no port) is in hosts.
func hostAllowed(hosts []string, host string) bool {
	for _, h := range hosts {
		h = strings.ToLower(h)
		if strings.HasPrefix(h, ".") {
			if strings.HasSuffix(host, h) && len(host) > len(h) {
				return true
			}
			continue
		}
		if host == h {
			return true
		}
	}
	return false
}

// Check refuses an endpoint the policy does not allow: not an absolute
// https URL (http with AllowHTTP), user information in it, a host not
// in Hosts, an IP literal or a port other than 443 (both allowed with
// AllowPrivate). The errors wrap ErrEndpoint.
func (p EndpointPolicy) Check(endpoint string) error {
	if len(endpoint) > MaxEndpoint {
		return fmt.Errorf("%w: longer than %d bytes", ErrEndpoint, MaxEndpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEndpoint, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	default:
		return fmt.Errorf("%w: scheme %q", ErrEndpoint, u.Scheme)
	}
	if u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return fmt.Errorf("%w: not a plain URL", ErrEndpoint)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return fmt.Errorf("%w: no host", ErrEndpoint)
	}
	if port := u.Port(); port != "" && !p.AllowPrivate && !(u.Scheme == "https" && port == "443") {
		return fmt.Errorf("%w: port %s", ErrEndpoint, port)
	}
	if _, err := netip.ParseAddr(host); err == nil && !p.AllowPrivate {
		return fmt.Errorf("%w: IP address %s instead of a host name", ErrEndpoint, host)
	}
	hosts := p.Hosts
	if hosts == nil {
		hosts = DefaultHosts()
	}
	if !hostAllowed(hosts, host) {
		return fmt.Errorf("%w: host %s is not a known push service", ErrEndpoint, host)
	}
	return nil
}

// Validate checks a subscription before it is stored: the endpoint
// passes the policy, p256dh decodes to a point of P-256 and auth to 16
// bytes.
func (s Subscription) Validate(p EndpointPolicy) error {
	if err := p.Check(s.Endpoint); err != nil {
		return err
	}
	_, _, err := s.Keys.decode()
	return err
}

// decode returns the user agent's public key and authentication secret.
func (k Keys) decode() (*ecdh.PublicKey, []byte, error) {
	pub, err := decodeB64(k.P256dh)
	if err != nil || len(pub) != 65 {
		return nil, nil, fmt.Errorf("%w: p256dh is not a 65-byte base64url value", ErrKeys)
	}
	ua, err := ecdh.P256().NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: p256dh is not a P-256 point", ErrKeys)
	}
	auth, err := decodeB64(k.Auth)
	if err != nil || len(auth) != 16 {
		return nil, nil, fmt.Errorf("%w: auth is not a 16-byte base64url value", ErrKeys)
	}
	return ua, auth, nil
}

// decodeB64 decodes base64url with or without padding: browsers send it
// without, some libraries add it.
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// b64 encodes base64url without padding.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// AddressAllowed reports whether a push request may connect to ip
// under the policy: with AllowPrivate always, otherwise only to a global
// unicast address outside the private and special-purpose ranges
// (IPv4-mapped IPv6 addresses are judged as the IPv4 address they map).
func (p EndpointPolicy) AddressAllowed(ip netip.Addr) bool {
	return p.AllowPrivate || !netguard.Internal(ip)
}

// control is the dialer's last word: it runs after name resolution, on
// the address about to be connected, so a host name that resolves (or
// re-resolves, DNS rebinding) to an internal address is refused.
func (p EndpointPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !p.AddressAllowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// Transport returns an HTTP transport whose dialer refuses the addresses
// the policy forbids, and that ignores proxy settings from the
// environment (a proxy would dial for us, past the check).
func (p EndpointPolicy) Transport() *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
	}
}

// Client returns the HTTP client a Sender uses when it has none: the
// policy's Transport, a timeout, and no redirects (a push service does
// not redirect, and a redirect would leave the allowed hosts).
func (p EndpointPolicy) Client() *http.Client {
	return &http.Client{
		Transport: p.Transport(),
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
