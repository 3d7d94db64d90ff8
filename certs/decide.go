package certs

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"

	"github.com/sportello-virtuale/sportello/tenant"
)

// ErrRefused is the error of every name Decide refuses; the wrapped text
// says why ("IP address", "unknown host", …).
var ErrRefused = errors.New("certificate refused")

// maxNameLen is the longest DNS name in presentation form without the
// trailing dot (RFC 1035: 255 octets on the wire).
const maxNameLen = 253

// maxNegative bounds the negative cache. A scanner that sends a fresh
// random SNI in every handshake fills it; the oldest entries then go first,
// so memory stays bounded (about a megabyte) while the names a scanner
// repeats within the TTL still cost nothing.
const maxNegative = 10000

// Decider decides whether a certificate may be obtained on demand for a
// TLS server name: only for host names the tenant registry resolves to a
// Comune. It is safe for concurrent use.
//
// Refusals of known-bad syntax cost nothing; refusals of well-formed names
// the registry does not know are remembered for negativeTTL, so a scanner
// that repeats random names costs at most one registry lookup per name and
// TTL. Positive answers are never cached: a domain a Comune removes stops
// getting certificates at once, and so do the names of a deleted Comune:
// they are unknown names like any other (a deleted Comune's ID is never
// reused, but a custom domain it freed may go to another Comune, which
// then waits at most negativeTTL). A disabled Comune's names are accepted:
// they serve its "service unavailable" page.
type Decider struct {
	res         func(ctx context.Context, host string) (tenant.Tenant, error)
	negativeTTL time.Duration
	max         int
	now         func() time.Time

	mu     sync.Mutex
	order  *list.List               // of *negEntry, oldest first
	byName map[string]*list.Element // name → element of order
}

type negEntry struct {
	name    string
	expires time.Time
	reason  error
}

// NewDecider returns a Decider that asks res (tenant.Registry.Resolve) and
// remembers the names res does not know for negativeTTL (0 disables the
// cache).
func NewDecider(res func(ctx context.Context, host string) (tenant.Tenant, error), negativeTTL time.Duration) *Decider {
	return &Decider{
		res:         res,
		negativeTTL: negativeTTL,
		max:         maxNegative,
		now:         time.Now,
		order:       list.New(),
		byName:      map[string]*list.Element{},
	}
}

// Decide returns nil when a certificate may be obtained for name, and an
// error wrapping ErrRefused otherwise. certmagic calls it as the on-demand
// DecisionFunc, before any storage or ACME work.
func (d *Decider) Decide(ctx context.Context, name string) error {
	host, err := NormalizeName(name)
	if err != nil {
		return err
	}
	if reason, ok := d.cached(host); ok {
		return reason
	}
	_, err = d.res(ctx, host)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tenant.ErrDisabled):
		// A disabled Comune still exists: its names keep their
		// certificates (issued, loaded and renewed), so citizens who open
		// them get the page saying the service is unavailable over a
		// valid connection, not a failed handshake, and nothing has to be
		// issued again when it is enabled.
		return nil
	case errors.Is(err, tenant.ErrNotFound):
		reason := fmt.Errorf("%w: %s: unknown host", ErrRefused, host)
		d.remember(host, reason)
		return reason
	default:
		// A failing registry (a closing node, a timeout) says nothing about
		// the name: refuse this time without remembering it.
		return fmt.Errorf("%w: %s: resolve: %w", ErrRefused, host, err)
	}
}

// NormalizeName returns the name a certificate would be requested for, in
// the form the registry stores (lower case, ASCII, no trailing dot), or an
// error wrapping ErrRefused when no certificate can ever be issued for it:
// empty or too long, an IP address, a name with a port, a wildcard, a
// single label, or a name that fails IDNA (UTS #46, lookup profile).
func NormalizeName(name string) (string, error) {
	refuse := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrRefused, name, why)
	}
	h := strings.TrimSpace(name)
	if h == "" {
		return "", refuse("empty name")
	}
	if len(h) > 4*maxNameLen {
		// Long enough that IDNA processing is not worth its cost.
		return "", refuse("name too long")
	}
	if strings.HasPrefix(h, "[") {
		// "[2001:db8::1]" or "[2001:db8::1]:443": a bracketed IPv6 literal.
		return "", refuse("IP address")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return "", refuse("IP address")
	}
	if ap, err := netip.ParseAddrPort(h); err == nil && ap.Addr().IsValid() {
		return "", refuse("IP address")
	}
	if strings.Contains(h, ":") {
		return "", refuse("name with a port")
	}
	if strings.Contains(h, "*") {
		return "", refuse("wildcard")
	}
	h = strings.TrimSuffix(h, ".")
	ascii, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", refuse("not a valid host name: " + err.Error())
	}
	ascii = strings.ToLower(ascii)
	if _, err := netip.ParseAddr(ascii); err == nil {
		// Full-width digits map to an address under IDNA.
		return "", refuse("IP address")
	}
	if len(ascii) > maxNameLen {
		return "", refuse("name too long")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", refuse("single-label name")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", refuse("empty or too long label")
		}
	}
	return ascii, nil
}

// cached returns the remembered refusal of host, if it has not expired.
func (d *Decider) cached(host string) (error, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.byName[host]
	if !ok {
		return nil, false
	}
	e := el.Value.(*negEntry)
	if !d.now().Before(e.expires) {
		d.order.Remove(el)
		delete(d.byName, host)
		return nil, false
	}
	return e.reason, true
}

// remember keeps the refusal of host for negativeTTL, evicting the oldest
// entries beyond the bound.
func (d *Decider) remember(host string, reason error) {
	if d.negativeTTL <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	exp := d.now().Add(d.negativeTTL)
	if el, ok := d.byName[host]; ok {
		e := el.Value.(*negEntry)
		e.expires, e.reason = exp, reason
		d.order.MoveToBack(el)
		return
	}
	d.byName[host] = d.order.PushBack(&negEntry{name: host, expires: exp, reason: reason})
	for d.order.Len() > d.max {
		oldest := d.order.Front()
		d.order.Remove(oldest)
		delete(d.byName, oldest.Value.(*negEntry).name)
	}
}
