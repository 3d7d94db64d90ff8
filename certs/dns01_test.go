package certs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
)

// The TSIG keys of the test DNS server: "acme" may update comuni.test,
// "other" is known to the server but may update nothing.
const (
	testTSIGName   = "acme-sportello"
	testTSIGSecret = "dGhpcyBpcyB0aGUgdGVzdCBrZXkgb2Ygc3BvcnRlbGxvIQ=="
	otherTSIGName  = "other"
	otherSecret    = "b3RoZXIga2V5IG9mIHRoZSB0ZXN0IHNlcnZlciAhISE="
	testZone       = "comuni.test"
	ownZone        = "comune.bari.test"
	// policyZone lets testTSIGName update only TXT records at
	// _acme-challenge, the policy DESIGN.md recommends.
	policyZone = "policy.test"
)

// bind is a BIND 9 server started for one test, primary for comuni.test
// (updatable with the key testTSIGName) and for comune.bari.test (a
// Comune's own domain, not updatable).
type bind struct {
	addr string // "127.0.0.1:port", UDP and TCP
	out  *pebbletest.Buffer
}

// needBind skips the test when BIND is not installed, unless
// SPORTELLO_REQUIRE_BIND=1 (CI), where it fails.
func needBind(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("named")
	if err != nil {
		for _, p := range []string{"/usr/sbin/named", "/usr/local/sbin/named"} {
			if _, e := os.Stat(p); e == nil {
				path, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("SPORTELLO_REQUIRE_BIND") == "1" {
			t.Fatalf("named (BIND 9) not found and SPORTELLO_REQUIRE_BIND=1: %v", err)
		}
		t.Skipf("named (BIND 9) not installed: %v", err)
	}
	return path
}

// startBind writes a configuration, a key and two zones in a temporary
// folder and runs named in the foreground until the test ends. Every name
// of comuni.test resolves to 127.0.0.1 (a wildcard A record), so that the
// CA reaches the test's servers for any Comune.
func startBind(t *testing.T) *bind {
	t.Helper()
	named := needBind(t)
	dir := t.TempDir()
	port := pebbletest.FreePort(t)
	conf := fmt.Sprintf(`options {
	directory %[1]q;
	pid-file %[1]q "/named.pid";
	session-keyfile %[1]q "/session.key";
	managed-keys-directory %[1]q;
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
key %[3]q { algorithm hmac-sha256; secret %[4]q; };
key %[5]q { algorithm hmac-sha256; secret %[6]q; };
zone %[7]q {
	type primary;
	file %[1]q "/comuni.zone";
	journal %[1]q "/comuni.zone.jnl";
	allow-update { key %[3]q; };
};
zone %[8]q {
	type primary;
	file %[1]q "/own.zone";
};
zone %[9]q {
	type primary;
	file %[1]q "/policy.zone";
	journal %[1]q "/policy.zone.jnl";
	update-policy { grant %[3]q name _acme-challenge.%[9]s. TXT; };
};
`, dir, port, testTSIGName, testTSIGSecret, otherTSIGName, otherSecret, testZone, ownZone, policyZone)
	// named's grammar has no string concatenation: join the path pieces.
	conf = strings.ReplaceAll(conf, `" "/`, `/`)
	zone := `$TTL 60
@	IN SOA ns.comuni.test. hostmaster.comuni.test. 1 60 60 3600 60
@	IN NS ns.comuni.test.
ns	IN A 127.0.0.1
@	IN A 127.0.0.1
*	IN A 127.0.0.1
`
	own := `$TTL 60
@	IN SOA ns.comuni.test. hostmaster.comuni.test. 1 60 60 3600 60
@	IN NS ns.comuni.test.
servizi	IN A 127.0.0.1
`
	for name, body := range map[string]string{"named.conf": conf, "comuni.zone": zone, "own.zone": own, "policy.zone": own} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := &bind{addr: fmt.Sprintf("127.0.0.1:%d", port), out: &pebbletest.Buffer{}}
	// -g: foreground, log to stderr. As root named keeps running as root
	// (no -u): the test's files belong to the current user.
	pebbletest.Run(t, b.out, nil, named, "-g", "-c", filepath.Join(dir, "named.conf"), "-p", fmt.Sprint(port))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("named log:\n%s", b.out)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(testZone+".", dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, b.addr)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("named did not answer the SOA of %s: %v %v\n%s", testZone, r, err, b.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// txt returns the TXT strings of name on the server, sorted, each record's
// strings joined.
func (b *bind) txt(t *testing.T, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(m, b.addr)
	if err != nil {
		t.Fatalf("query TXT %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	slices.Sort(out)
	return out
}

func (b *bind) provider() *RFC2136 {
	return &RFC2136{Server: b.addr, TSIGName: testTSIGName, TSIGSecret: testTSIGSecret, Timeout: 5 * time.Second}
}

// TestRFC2136BIND adds and removes TXT records on a real BIND through
// RFC 2136 updates signed with TSIG, as certmagic's DNS-01 solver does.
func TestRFC2136BIND(t *testing.T) {
	b := startBind(t)
	ctx := context.Background()
	p := b.provider()
	const name = "_acme-challenge.comuni.test"

	t.Run("append, see, delete", func(t *testing.T) {
		// Two values under one name, as for "comuni.test" and
		// "*.comuni.test" in one order.
		added, err := p.AppendRecords(ctx, testZone+".", []libdns.Record{
			libdns.TXT{Name: "_acme-challenge", TTL: time.Minute, Text: "token-one"},
			libdns.TXT{Name: "_acme-challenge", TTL: time.Minute, Text: "token-two"},
		})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if len(added) != 2 {
			t.Fatalf("append returned %d records, want 2: %v", len(added), added)
		}
		if got, ok := added[0].(libdns.TXT); !ok || got.Name != "_acme-challenge" || got.Text != "token-one" || got.TTL != time.Minute {
			t.Errorf("append returned %#v, want the TXT record relative to the zone", added[0])
		}
		if got := b.txt(t, name); !slices.Equal(got, []string{"token-one", "token-two"}) {
			t.Fatalf("TXT %s after append: %q, want both tokens", name, got)
		}
		// Exactly the record given, the other stays; the TTL is not
		// compared.
		del, err := p.DeleteRecords(ctx, testZone+".", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "token-one"}})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		if len(del) != 1 || del[0].RR().Data != "token-one" {
			t.Errorf("delete returned %v, want token-one", del)
		}
		if got := b.txt(t, name); !slices.Equal(got, []string{"token-two"}) {
			t.Errorf("TXT %s after deleting one: %q, want token-two", name, got)
		}
		// A record that is not there: nothing deleted, no error.
		del, err = p.DeleteRecords(ctx, testZone+".", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "token-one"}})
		if err != nil || len(del) != 0 {
			t.Errorf("deleting a missing record: %v, %v; want nothing, no error", del, err)
		}
		// The record returned by append deletes what it added (certmagic's
		// clean-up).
		if _, err := p.DeleteRecords(ctx, testZone+".", added[1:]); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if got := b.txt(t, name); len(got) != 0 {
			t.Errorf("TXT %s after deleting both: %q, want none", name, got)
		}
	})

	t.Run("long text and tcp", func(t *testing.T) {
		tp := b.provider()
		tp.Net = "tcp"
		long := strings.Repeat("x", 300) + "-end"
		if _, err := tp.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "long", TTL: time.Minute, Text: long}}); err != nil {
			t.Fatalf("append: %v", err)
		}
		if got := b.txt(t, "long.comuni.test"); !slices.Equal(got, []string{long}) {
			t.Errorf("TXT: got %q, want the 304-byte text", got)
		}
		// Type without value: every TXT of the name.
		del, err := tp.DeleteRecords(ctx, testZone, []libdns.Record{libdns.RR{Name: "long", Type: "TXT"}})
		if err != nil || len(del) != 1 || del[0].RR().Data != long {
			t.Errorf("delete by type: %v, %v; want the long record", del, err)
		}
		if got := b.txt(t, "long.comuni.test"); len(got) != 0 {
			t.Errorf("TXT after delete: %q, want none", got)
		}
	})

	t.Run("zone from the server", func(t *testing.T) {
		z, err := p.FindZone(ctx, "_acme-challenge.bari.comuni.test")
		if err != nil || z != "comuni.test." {
			t.Fatalf("FindZone: %q, %v; want comuni.test.", z, err)
		}
		// No zone from the caller nor the configuration: names are
		// absolute and the server says the zone.
		added, err := p.AppendRecords(ctx, "", []libdns.Record{libdns.TXT{Name: "_acme-challenge.bari.comuni.test.", Text: "abs"}})
		if err != nil {
			t.Fatalf("append without zone: %v", err)
		}
		if got := b.txt(t, "_acme-challenge.bari.comuni.test"); !slices.Equal(got, []string{"abs"}) {
			t.Errorf("TXT: got %q, want abs", got)
		}
		if _, err := p.DeleteRecords(ctx, "", added); err != nil {
			t.Fatal(err)
		}
		if got := b.txt(t, "_acme-challenge.bari.comuni.test"); len(got) != 0 {
			t.Errorf("TXT after delete: %q, want none", got)
		}
		if _, err := p.FindZone(ctx, "example.org"); err == nil {
			t.Errorf("FindZone of a name the server does not serve: no error")
		}
	})

	t.Run("configured zone", func(t *testing.T) {
		zp := b.provider()
		zp.Zone = "comuni.test"
		// The caller's zone may be a subdomain (as certmagic finds it
		// with its own resolvers); the update goes to the configured
		// zone, names stay relative to the caller's.
		added, err := zp.AppendRecords(ctx, "bari.comuni.test.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "cfg"}})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if added[0].RR().Name != "_acme-challenge" {
			t.Errorf("append returned name %q, want relative to the caller's zone", added[0].RR().Name)
		}
		if got := b.txt(t, "_acme-challenge.bari.comuni.test"); !slices.Equal(got, []string{"cfg"}) {
			t.Errorf("TXT: got %q, want cfg", got)
		}
		if _, err := zp.DeleteRecords(ctx, "bari.comuni.test.", added); err != nil {
			t.Fatal(err)
		}
		if _, err := zp.AppendRecords(ctx, "example.org.", []libdns.Record{libdns.TXT{Name: "x", Text: "y"}}); err == nil {
			t.Errorf("append of a name outside the configured zone: no error")
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		bad := b.provider()
		bad.TSIGSecret = otherSecret // base64, but not the key's
		_, err := bad.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "bad", Text: "forged"}})
		if err == nil {
			t.Fatal("append with a wrong secret succeeded")
		}
		if !errors.Is(err, ErrDNSUpdate) || !strings.Contains(err.Error(), "TSIG") {
			t.Errorf("error %q: want ErrDNSUpdate naming the TSIG key", err)
		}
		t.Logf("wrong secret: %v", err)
		if got := b.txt(t, "bad.comuni.test"); len(got) != 0 {
			t.Errorf("TXT after a refused update: %q, want none", got)
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		bad := b.provider()
		bad.TSIGName = "nobody"
		_, err := bad.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "bad", Text: "forged"}})
		if err == nil || !errors.Is(err, ErrDNSUpdate) {
			t.Fatalf("append with an unknown key: %v, want ErrDNSUpdate", err)
		}
		t.Logf("unknown key: %v", err)
	})

	t.Run("key not allowed", func(t *testing.T) {
		// A key the server knows, but not in allow-update: REFUSED.
		other := &RFC2136{Server: b.addr, TSIGName: otherTSIGName, TSIGSecret: otherSecret}
		_, err := other.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "bad", Text: "forged"}})
		if err == nil || !errors.Is(err, ErrDNSUpdate) || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "REFUSED") {
			t.Fatalf("append with a key not allowed to update: %v, want a refusal naming REFUSED", err)
		}
		t.Logf("key not allowed: %v", err)
		// No key at all: refused too.
		anon := &RFC2136{Server: b.addr}
		if _, err := anon.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "bad", Text: "forged"}}); err == nil || !errors.Is(err, ErrDNSUpdate) {
			t.Errorf("unsigned append: %v, want refused", err)
		}
		// A zone that allows no update at all.
		if _, err := b.provider().AppendRecords(ctx, ownZone, []libdns.Record{libdns.TXT{Name: "bad", Text: "forged"}}); err == nil || !errors.Is(err, ErrDNSUpdate) {
			t.Errorf("append to a zone without allow-update: %v, want refused", err)
		}
		if got := b.txt(t, "bad.comuni.test"); len(got) != 0 {
			t.Errorf("TXT after refused updates: %q, want none", got)
		}
	})

	t.Run("update-policy for challenges only", func(t *testing.T) {
		added, err := p.AppendRecords(ctx, policyZone, []libdns.Record{libdns.TXT{Name: "_acme-challenge", TTL: time.Minute, Text: "ok"}})
		if err != nil {
			t.Fatalf("append the challenge record: %v", err)
		}
		if got := b.txt(t, "_acme-challenge."+policyZone); !slices.Equal(got, []string{"ok"}) {
			t.Errorf("TXT: got %q, want ok", got)
		}
		if del, err := p.DeleteRecords(ctx, policyZone, added); err != nil || len(del) != 1 {
			t.Errorf("delete the challenge record: %v, %v", del, err)
		}
		for _, rec := range []libdns.Record{
			libdns.TXT{Name: "www", Text: "not a challenge"},
			libdns.RR{Name: "_acme-challenge", Type: "A", Data: "192.0.2.1"},
		} {
			if _, err := p.AppendRecords(ctx, policyZone, []libdns.Record{rec}); err == nil || !strings.Contains(err.Error(), "REFUSED") {
				t.Errorf("append %v outside the policy: %v, want REFUSED", rec, err)
			}
		}
	})

	t.Run("server down", func(t *testing.T) {
		down := b.provider()
		down.Server = fmt.Sprintf("127.0.0.1:%d", pebbletest.FreePort(t))
		down.Net = "tcp"
		down.Timeout = time.Second
		_, err := down.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "x", Text: "y"}})
		if err == nil || errors.Is(err, ErrDNSUpdate) || !strings.Contains(err.Error(), down.Server) {
			t.Errorf("append to a closed port: %v, want a network error naming the server", err)
		}
	})
}

// TestRFC2136Check checks the configuration mistakes found before any
// exchange.
func TestRFC2136Check(t *testing.T) {
	ok := RFC2136{Server: "127.0.0.1", TSIGName: "k", TSIGSecret: testTSIGSecret}
	if err := ok.Check(); err != nil {
		t.Errorf("valid configuration: %v", err)
	}
	if got := ok.server(); got != "127.0.0.1:53" {
		t.Errorf("server without a port: %q, want port 53", got)
	}
	if got := (&RFC2136{Server: "::1"}).server(); got != "[::1]:53" {
		t.Errorf("IPv6 server without a port: %q, want [::1]:53", got)
	}
	for name, p := range map[string]RFC2136{
		"no server":         {TSIGName: "k", TSIGSecret: testTSIGSecret},
		"secret not base64": {Server: "ns", TSIGName: "k", TSIGSecret: "not base64!"},
		"no secret":         {Server: "ns", TSIGName: "k"},
		"secret no name":    {Server: "ns", TSIGSecret: testTSIGSecret},
		"md5":               {Server: "ns", TSIGName: "k", TSIGSecret: testTSIGSecret, TSIGAlgorithm: "hmac-md5"},
		"net":               {Server: "ns", Net: "quic"},
	} {
		if err := p.Check(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, alg := range []string{"", "hmac-sha256", "HMAC-SHA512.", "hmac-sha1", "hmac-sha384", "hmac-sha224"} {
		p := ok
		p.TSIGAlgorithm = alg
		if err := p.Check(); err != nil {
			t.Errorf("algorithm %q: %v", alg, err)
		}
	}
	// The manager checks the provider at construction.
	_, err := NewManager(Config{Mode: ModeACME, Storage: &Storage{}, Decide: func(context.Context, string) error { return nil },
		ACME: ACME{HTTP01: true, DNS: &RFC2136{Server: "ns", TSIGName: "k", TSIGSecret: "!!"}}})
	if err == nil || !strings.Contains(err.Error(), "dns-01") {
		t.Errorf("NewManager with a bad DNS provider: %v, want a dns-01 error", err)
	}
	// A nil *RFC2136 in the interface is a clear error, not a panic.
	var none *RFC2136
	if _, err := NewManager(Config{Mode: ModeACME, Storage: &Storage{}, Decide: func(context.Context, string) error { return nil },
		ACME: ACME{HTTP01: true, DNS: none}}); err == nil {
		t.Errorf("NewManager with a nil *RFC2136: no error")
	}
	// DNS-01 alone is a valid challenge configuration.
	m, err := NewManager(Config{Mode: ModeACME, Storage: &Storage{}, Decide: func(context.Context, string) error { return nil },
		ACME: ACME{DNS: &ok}})
	if err != nil {
		t.Errorf("NewManager with DNS-01 only: %v", err)
	} else {
		m.Close()
	}
}

// TestParseTSIGKeyFile reads the key file tsig-keygen writes.
func TestParseTSIGKeyFile(t *testing.T) {
	file := `key "acme-sportello" {
	algorithm hmac-sha256;
	secret "` + testTSIGSecret + `";
};
`
	name, alg, secret, err := ParseTSIGKeyFile([]byte(file))
	if err != nil || name != "acme-sportello" || alg != "hmac-sha256" || secret != testTSIGSecret {
		t.Errorf("got %q %q %q %v", name, alg, secret, err)
	}
	if _, _, _, err := ParseTSIGKeyFile([]byte("secret \"abc\";")); err == nil {
		t.Errorf("file without a key clause: no error")
	}
	if _, _, _, err := ParseTSIGKeyFile([]byte(`key "k" { algorithm hmac-sha256; };`)); err == nil {
		t.Errorf("key without a secret: no error")
	}
	// When tsig-keygen is installed, its own output.
	if bin, err := exec.LookPath("tsig-keygen"); err == nil {
		out, err := exec.Command(bin, "-a", "hmac-sha512", "made-by-keygen").Output()
		if err != nil {
			t.Fatal(err)
		}
		name, alg, secret, err := ParseTSIGKeyFile(out)
		if err != nil || name != "made-by-keygen" || alg != "hmac-sha512" {
			t.Errorf("tsig-keygen output %q: got %q %q %v", out, name, alg, err)
		}
		if err := (&RFC2136{Server: "ns", TSIGName: name, TSIGSecret: secret, TSIGAlgorithm: alg}).Check(); err != nil {
			t.Errorf("tsig-keygen key: %v", err)
		}
	}
}

// TestWildcardNames checks the names the wildcard configuration manages
// and covers.
func TestWildcardNames(t *testing.T) {
	got, err := WildcardHosts(" Comuni.Example.IT. ")(context.Background())
	if err != nil || !slices.Equal(got, []string{"*.comuni.example.it", "comuni.example.it"}) {
		t.Errorf("WildcardHosts: %q, %v", got, err)
	}
	if _, err := WildcardHosts("")(context.Background()); err == nil {
		t.Errorf("WildcardHosts without a base domain: no error")
	}
	for in, want := range map[string]string{
		"*.Comuni.Test":      "*.comuni.test",
		"bari.comuni.test.":  "bari.comuni.test",
		"*.forlì.comuni.it":  "*.xn--forl-tpa.comuni.it",
		"*.*.comuni.test":    "",
		"a.*.comuni.test":    "",
		"*.127.0.0.1":        "",
		"*.comuni.test:443":  "",
		"**.comuni.test":     "",
		"*comuni.test":       "",
		"*.":                 "",
		"servizi.comune.it.": "servizi.comune.it",
	} {
		h, err := normalizeManaged(in)
		if want == "" {
			if err == nil {
				t.Errorf("normalizeManaged(%q) = %q, want refused", in, h)
			}
			continue
		}
		if err != nil || h != want {
			t.Errorf("normalizeManaged(%q) = %q, %v; want %q", in, h, err, want)
		}
	}
	for in, want := range map[string]string{
		"bari.comuni.test":   "*.comuni.test",
		"a.bari.comuni.test": "*.bari.comuni.test",
		"comuni.test":        "",
		"test":               "",
	} {
		if got := wildcardOf(in); got != want {
			t.Errorf("wildcardOf(%q) = %q, want %q", in, got, want)
		}
	}
}
