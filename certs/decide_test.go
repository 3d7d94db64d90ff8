package certs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// mapResolver answers like tenant.Registry.Resolve from a fixed set of
// normalised hosts and counts the lookups it was asked.
type mapResolver struct {
	mu    sync.Mutex
	hosts map[string]tenant.ID
	calls map[string]int
	err   error // returned for every host when set
}

func (r *mapResolver) resolve(_ context.Context, host string) (tenant.Tenant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[host]++
	if r.err != nil {
		return tenant.Tenant{}, r.err
	}
	id, ok := r.hosts[host]
	if !ok {
		return tenant.Tenant{}, fmt.Errorf("resolve host %s: %w", host, tenant.ErrNotFound)
	}
	return tenant.Tenant{ID: id}, nil
}

func (r *mapResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func TestDecide(t *testing.T) {
	res := &mapResolver{hosts: map[string]tenant.ID{
		"bari.sportello.test":     "bari",
		"servizi.comune.bari.it":  "bari",
		"xn--forl-tpa.example.it": "forli", // forlì.example.it
	}}
	d := NewDecider(res.resolve, time.Minute)
	long := strings.Repeat("a", 63) + "."
	tests := []struct {
		name   string
		in     string
		ok     bool
		lookup string // the host the registry must be asked, when any
		why    string // part of the refusal's text
	}{
		{"known subdomain", "bari.sportello.test", true, "bari.sportello.test", ""},
		{"own domain", "servizi.comune.bari.it", true, "servizi.comune.bari.it", ""},
		{"upper case", "Servizi.COMUNE.Bari.IT", true, "servizi.comune.bari.it", ""},
		{"trailing dot", "servizi.comune.bari.it.", true, "servizi.comune.bari.it", ""},
		{"unicode name looked up by its A-label", "forlì.example.it", true, "xn--forl-tpa.example.it", ""},
		{"upper-case unicode", "FORLÌ.EXAMPLE.IT", true, "xn--forl-tpa.example.it", ""},
		{"A-label as given", "xn--forl-tpa.example.it", true, "xn--forl-tpa.example.it", ""},
		{"upper-case A-label", "XN--FORL-TPA.Example.It", true, "xn--forl-tpa.example.it", ""},
		{"unknown host", "scanner.example", false, "scanner.example", "unknown host"},
		{"unknown base-domain label", "milano.sportello.test", false, "milano.sportello.test", "unknown host"},
		{"empty", "", false, "", "empty"},
		{"blank", "  ", false, "", "empty"},
		{"IPv4", "192.0.2.1", false, "", "IP address"},
		{"IPv4 with port", "192.0.2.1:443", false, "", "IP address"},
		{"IPv4 trailing dot", "192.0.2.1.", false, "", "IP address"},
		{"IPv6", "2001:db8::1", false, "", "IP address"},
		{"IPv6 bracketed", "[2001:db8::1]", false, "", "IP address"},
		{"IPv6 bracketed with port", "[2001:db8::1]:443", false, "", "IP address"},
		{"IPv6 loopback", "::1", false, "", "IP address"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.1", false, "", "IP address"},
		{"full-width IPv4", "１９２．０．２．１", false, "", "IP address"},
		{"name with port", "servizi.comune.bari.it:443", false, "", "port"},
		{"wildcard", "*.comune.bari.it", false, "", "wildcard"},
		{"inner wildcard", "a.*.bari.it", false, "", "wildcard"},
		{"single label", "localhost", false, "", "single-label"},
		{"too long", strings.Repeat(long, 4) + "it", false, "", "too long"},
		{"label too long", strings.Repeat("a", 64) + ".bari.it", false, "", ""},
		{"empty label", "servizi..bari.it", false, "", ""},
		{"underscore", "ser_vizi.bari.it", false, "", "not a valid host name"},
		{"space inside", "servizi comune.bari.it", false, "", "not a valid host name"},
		{"bad punycode", "xn--a.bari.it", false, "", "not a valid host name"},
		{"empty punycode label", "xn--.bari.it", false, "", ""},
		{"leading hyphen", "-servizi.bari.it", false, "", "not a valid host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := 0
			if tc.lookup != "" {
				before = res.count(tc.lookup)
			}
			err := d.Decide(context.Background(), tc.in)
			if tc.ok {
				if err != nil {
					t.Fatalf("Decide(%q) = %v, want nil", tc.in, err)
				}
			} else {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("Decide(%q) = %v, want ErrRefused", tc.in, err)
				}
				if !strings.Contains(err.Error(), tc.why) {
					t.Errorf("Decide(%q) = %q, want it to say %q", tc.in, err, tc.why)
				}
			}
			if tc.lookup != "" {
				if got := res.count(tc.lookup); got != before+1 {
					t.Errorf("registry asked for %q %d times, want %d", tc.lookup, got, before+1)
				}
			}
		})
	}
	// Refused syntax never reaches the registry.
	for host := range res.calls {
		if _, err := NormalizeName(host); err != nil {
			t.Errorf("registry was asked for %q, which Decide refuses by syntax", host)
		}
	}
}

func TestDecideNegativeCache(t *testing.T) {
	ctx := context.Background()
	res := &mapResolver{hosts: map[string]tenant.ID{"bari.sportello.test": "bari"}}
	d := NewDecider(res.resolve, time.Minute)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }

	// A scanner repeating a name costs one lookup per TTL.
	for i := range 5 {
		if err := d.Decide(ctx, "Scanner.Example."); !errors.Is(err, ErrRefused) {
			t.Fatalf("attempt %d: got %v, want ErrRefused", i, err)
		}
	}
	if got := res.count("scanner.example"); got != 1 {
		t.Errorf("lookups of a repeated unknown name: got %d, want 1", got)
	}
	// Once the name is known it is still refused until the TTL ends…
	res.mu.Lock()
	res.hosts["scanner.example"] = "scan"
	res.mu.Unlock()
	if err := d.Decide(ctx, "scanner.example"); !errors.Is(err, ErrRefused) {
		t.Errorf("within the TTL: got %v, want the cached refusal", err)
	}
	// …and accepted after it.
	now = now.Add(time.Minute)
	if err := d.Decide(ctx, "scanner.example"); err != nil {
		t.Errorf("after the TTL: got %v, want nil", err)
	}
	if got := res.count("scanner.example"); got != 2 {
		t.Errorf("lookups after the TTL: got %d, want 2", got)
	}

	// Positive answers are not cached: every call asks.
	for range 3 {
		if err := d.Decide(ctx, "bari.sportello.test"); err != nil {
			t.Fatal(err)
		}
	}
	if got := res.count("bari.sportello.test"); got != 3 {
		t.Errorf("lookups of a known name: got %d, want 3", got)
	}

	// A failing registry refuses without remembering.
	res.mu.Lock()
	res.err = errors.New("database is closed")
	res.mu.Unlock()
	if err := d.Decide(ctx, "new.example.it"); !errors.Is(err, ErrRefused) {
		t.Errorf("failing registry: got %v, want ErrRefused", err)
	}
	res.mu.Lock()
	res.err = nil
	res.hosts["new.example.it"] = "new"
	res.mu.Unlock()
	if err := d.Decide(ctx, "new.example.it"); err != nil {
		t.Errorf("after a registry failure: got %v, want nil (failures are not cached)", err)
	}
}

func TestDecideNegativeCacheBound(t *testing.T) {
	ctx := context.Background()
	res := &mapResolver{}
	d := NewDecider(res.resolve, time.Hour)
	d.max = 100
	for i := range 250 {
		_ = d.Decide(ctx, fmt.Sprintf("r%d.scanner.example", i))
	}
	d.mu.Lock()
	n, m := d.order.Len(), len(d.byName)
	d.mu.Unlock()
	if n != 100 || m != 100 {
		t.Fatalf("cache holds %d/%d entries, want 100", n, m)
	}
	// The oldest went first: the newest is still cached, the first is not.
	_ = d.Decide(ctx, "r249.scanner.example")
	if got := res.count("r249.scanner.example"); got != 1 {
		t.Errorf("newest name looked up %d times, want 1 (cached)", got)
	}
	_ = d.Decide(ctx, "r0.scanner.example")
	if got := res.count("r0.scanner.example"); got != 2 {
		t.Errorf("oldest name looked up %d times, want 2 (evicted)", got)
	}
}

// TestDecideRegistry runs the decision against the real tenant registry:
// a Comune's own domain is accepted while it has it and refused at once
// when the Comune removes it; unknown names and hosts of unknown Comuni
// are refused.
func TestDecideRegistry(t *testing.T) {
	ctx := context.Background()
	n := clustertest.Node(t, tenant.Register)
	reg := tenant.NewRegistry(n, n.DB(), "sportello.test")
	bari, err := reg.Create(ctx, tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006",
		Domains: []string{"servizi.comune.bari.it", "xn--forl-tpa.example.it"},
	})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	hosts, err := PrimaryHosts(reg)(ctx)
	if err != nil || len(hosts) != 1 || hosts[0] != "bari.sportello.test" {
		t.Errorf("PrimaryHosts: got %v, %v; want [bari.sportello.test]", hosts, err)
	}
	d := NewDecider(reg.Resolve, time.Minute)
	for _, name := range []string{"bari.sportello.test", "SERVIZI.comune.bari.it.", "forlì.example.it"} {
		if err := d.Decide(ctx, name); err != nil {
			t.Errorf("Decide(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"milano.sportello.test", "scanner.example", "sportello.test", "127.0.0.1"} {
		if err := d.Decide(ctx, name); !errors.Is(err, ErrRefused) {
			t.Errorf("Decide(%q) = %v, want ErrRefused", name, err)
		}
	}
	// The Comune drops its own domain: refused on the next handshake.
	bari.Domains = []string{"xn--forl-tpa.example.it"}
	if _, err := reg.Update(ctx, bari); err != nil {
		t.Fatalf("update tenant: %v", err)
	}
	if err := d.Decide(ctx, "servizi.comune.bari.it"); !errors.Is(err, ErrRefused) {
		t.Errorf("removed domain: got %v, want ErrRefused", err)
	}
}

// TestDecideDisabledDeleted: the names of a disabled Comune (its
// subdomain and its own domain) keep getting certificates, so its
// "unavailable" page is served over TLS; the names of a
// deleted Comune are unknown names, refused and remembered for the TTL,
// so a domain it freed and another Comune takes gets certificates once the
// TTL is over.
func TestDecideDisabledDeleted(t *testing.T) {
	ctx := context.Background()
	n := clustertest.Node(t, tenant.Register)
	reg := tenant.NewRegistry(n, n.DB(), "sportello.test")
	if _, err := reg.Create(ctx, tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006",
		Domains: []string{"servizi.comune.bari.it"},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	d := NewDecider(reg.Resolve, time.Minute)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	names := []string{"bari.sportello.test", "Servizi.Comune.Bari.IT."}
	want := func(stage string, ok bool, why string) {
		t.Helper()
		for _, name := range names {
			err := d.Decide(ctx, name)
			switch {
			case ok && err != nil:
				t.Errorf("%s: Decide(%q) = %v, want nil", stage, name, err)
			case !ok && !errors.Is(err, ErrRefused):
				t.Errorf("%s: Decide(%q) = %v, want ErrRefused", stage, name, err)
			case !ok && !strings.Contains(err.Error(), why):
				t.Errorf("%s: Decide(%q) = %q, want it to say %q", stage, name, err, why)
			}
		}
	}
	want("active", true, "")

	if _, err := reg.Disable(ctx, "bari", "convenzione scaduta"); err != nil {
		t.Fatal(err)
	}
	want("disabled", true, "")
	if _, err := reg.Enable(ctx, "bari"); err != nil {
		t.Fatal(err)
	}
	want("enabled again", true, "")

	if _, err := reg.Disable(ctx, "bari", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Delete(ctx, "bari", "bari"); err != nil {
		t.Fatal(err)
	}
	want("deleted", false, "unknown host")
	// Another Comune takes the freed domain: refused within the TTL of the
	// remembered refusal, accepted after it. The deleted ID stays refused.
	if _, err := reg.Create(ctx, tenant.Tenant{
		ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035",
		Domains: []string{"servizi.comune.bari.it"},
	}); err != nil {
		t.Fatalf("create tenant with the freed domain: %v", err)
	}
	if err := d.Decide(ctx, "servizi.comune.bari.it"); !errors.Is(err, ErrRefused) {
		t.Errorf("freed domain within the TTL: got %v, want the remembered refusal", err)
	}
	now = now.Add(time.Minute)
	if err := d.Decide(ctx, "servizi.comune.bari.it"); err != nil {
		t.Errorf("freed domain after the TTL: got %v, want nil", err)
	}
	if err := d.Decide(ctx, "bari.sportello.test"); !errors.Is(err, ErrRefused) {
		t.Errorf("deleted Comune's subdomain after the TTL: got %v, want ErrRefused", err)
	}
}
