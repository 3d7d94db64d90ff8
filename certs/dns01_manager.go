package certs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// dnsChallengeTTL is the TTL of the challenge TXT records: short, since
// they live for one validation, and a resolver must not keep a previous
// challenge's value when the next one comes.
const dnsChallengeTTL = time.Minute

// WildcardHosts returns a Config.Managed function for a cluster whose
// certificate for the base domain is a wildcard: "*.<base>" covers the
// host of every Comune ("<id>.<base>"), those created later too, and
// "<base>" the base domain itself. A wildcard needs the DNS-01 challenge
// (ACME.DNS). The Comuni's own domains are not covered and stay on demand.
func WildcardHosts(base string) func(ctx context.Context) ([]string, error) {
	base = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(base), "."))
	return func(context.Context) ([]string, error) {
		if base == "" {
			return nil, fmt.Errorf("certs: a wildcard certificate needs the base domain")
		}
		return []string{"*." + base, base}, nil
	}
}

// normalizeManaged is NormalizeName for the names to manage, which may
// also be a wildcard of one label, "*.<name>" (on-demand names may not).
func normalizeManaged(n string) (string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(n), "*.")
	if !ok {
		return NormalizeName(n)
	}
	h, err := NormalizeName(rest)
	if err != nil {
		return "", err
	}
	return "*." + h, nil
}

// wildcardOf returns the wildcard that would cover name ("*.b.c" for
// "a.b.c"), or "" for a name of fewer than three labels: "*.it" is no
// certificate anyone can have.
func wildcardOf(name string) string {
	_, parent, ok := strings.Cut(name, ".")
	if !ok || !strings.Contains(parent, ".") {
		return ""
	}
	return "*." + parent
}

// dns01Solver is certmagic's DNS-01 solver over the configured provider.
func (m *Manager) dns01Solver(zl *zap.Logger) *certmagic.DNS01Solver {
	return &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
		DNSProvider: m.cfg.ACME.DNS,
		TTL:         dnsChallengeTTL,
		Resolvers:   m.cfg.ACME.DNSResolvers,
		Logger:      zl,
	}}
}
