package certs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// RFC2136 is a libdns provider (certmagic's DNSProvider) that adds and
// removes records with RFC 2136 dynamic updates signed with a TSIG key
// (RFC 8945). It is how ACME DNS-01 challenges reach a Comune's own DNS
// server — BIND, Knot DNS, PowerDNS — with no cloud account: the server's
// administrator creates a key and allows it to update the zone of the
// base domain (for BIND, `allow-update { key "name"; };` or an
// `update-policy` limited to TXT records at `_acme-challenge`). Windows
// DNS accepts secure updates only with GSS-TSIG (Kerberos), which this
// provider does not speak: delegate `_acme-challenge.<base>` (NS records,
// a zone of its own) to a server that does.
//
// The zero values of the optional fields are usable; a RFC2136 value must
// not be changed once in use. Safe for concurrent use.
type RFC2136 struct {
	// Server is the primary server that accepts updates, "host:port" (the
	// port defaults to 53).
	Server string
	// Zone is the zone to update, e.g. "comuni.example.it". Empty: the zone
	// the caller names (certmagic finds it with an SOA lookup), or else the
	// zone the Server answers an SOA query with.
	Zone string
	// TSIGName, TSIGSecret (base64, as tsig-keygen prints it) and
	// TSIGAlgorithm ("hmac-sha256" when empty; hmac-sha1, -sha224, -sha384
	// and -sha512 are also accepted) are the key the Server knows. Empty
	// TSIGName: unsigned updates, for servers that allow updates by
	// address only (discouraged: anyone on that address may change the
	// zone).
	TSIGName, TSIGSecret, TSIGAlgorithm string
	// Timeout bounds one exchange with the Server; 10 s when zero.
	Timeout time.Duration
	// Net is "udp" (the default) or "tcp". A truncated UDP answer is asked
	// again over TCP.
	Net string
}

// dnsTimeout is RFC2136.Timeout when zero.
const dnsTimeout = 10 * time.Second

// tsigFudge is the clock skew the server may tolerate for our signatures
// (RFC 8945 suggests 300 s).
const tsigFudge = 300

// ErrDNSUpdate is wrapped by every error the DNS server answered (as
// opposed to a network error): the update was refused or failed.
var ErrDNSUpdate = errors.New("DNS update failed")

// Check reports a configuration mistake (no server, a secret that is not
// base64, an unknown algorithm) without contacting the server, so that a
// node stops at start rather than at its first challenge.
func (p *RFC2136) Check() error {
	if p == nil {
		return errors.New("rfc2136: no DNS provider (a nil *RFC2136)")
	}
	if p.Server == "" {
		return errors.New("rfc2136: no DNS server")
	}
	if _, err := p.algorithm(); err != nil {
		return err
	}
	if p.TSIGName != "" {
		if _, err := base64.StdEncoding.DecodeString(p.TSIGSecret); err != nil || p.TSIGSecret == "" {
			return fmt.Errorf("rfc2136: the TSIG secret of key %q is not base64 (copy the secret \"…\" of the key file)", p.TSIGName)
		}
	} else if p.TSIGSecret != "" {
		return errors.New("rfc2136: a TSIG secret without a key name")
	}
	switch p.Net {
	case "", "udp", "tcp":
	default:
		return fmt.Errorf("rfc2136: net %q: want udp or tcp", p.Net)
	}
	return nil
}

// algorithm returns the TSIG algorithm's name in miekg/dns's form.
func (p *RFC2136) algorithm() (string, error) {
	a := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(p.TSIGAlgorithm), "."))
	switch a {
	case "", "hmac-sha256":
		return dns.HmacSHA256, nil
	case "hmac-sha1":
		return dns.HmacSHA1, nil
	case "hmac-sha224":
		return dns.HmacSHA224, nil
	case "hmac-sha384":
		return dns.HmacSHA384, nil
	case "hmac-sha512":
		return dns.HmacSHA512, nil
	}
	return "", fmt.Errorf("rfc2136: TSIG algorithm %q not supported (want hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1)", p.TSIGAlgorithm)
}

// server is Server with the DNS port when it names none.
func (p *RFC2136) server() string {
	if _, _, err := net.SplitHostPort(p.Server); err != nil {
		return net.JoinHostPort(strings.Trim(p.Server, "[]"), "53")
	}
	return p.Server
}

// exchange sends m (signed when a key is configured) and returns the
// server's answer, whatever its code. A truncated UDP answer is asked
// again over TCP.
func (p *RFC2136) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = dnsTimeout
	}
	network := p.Net
	if network == "" {
		network = "udp"
	}
	for {
		c := &dns.Client{Net: network, Timeout: timeout}
		if p.TSIGName != "" {
			alg, _ := p.algorithm()
			name := dns.CanonicalName(p.TSIGName)
			c.TsigSecret = map[string]string{name: p.TSIGSecret}
			// A fresh time per attempt: SetTsig stamps it.
			m.Extra = withoutTSIG(m.Extra)
			m.SetTsig(name, alg, tsigFudge, time.Now().Unix())
		}
		r, _, err := c.ExchangeContext(ctx, m, p.server())
		if err != nil {
			return nil, p.transportError(err)
		}
		if r.Truncated && network == "udp" {
			network = "tcp"
			continue
		}
		return r, nil
	}
}

// withoutTSIG drops a TSIG record left by a previous attempt.
func withoutTSIG(extra []dns.RR) []dns.RR {
	out := extra[:0]
	for _, rr := range extra {
		if rr.Header().Rrtype != dns.TypeTSIG {
			out = append(out, rr)
		}
	}
	return out
}

// transportError explains the errors of the exchange itself. An answer
// whose TSIG does not verify is what a server sends when it does not know
// our key or our signature is wrong: it answers unsigned (RFC 8945 §5.3),
// and the client refuses the answer.
func (p *RFC2136) transportError(err error) error {
	if errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrSecret) || errors.Is(err, dns.ErrKeyAlg) {
		return fmt.Errorf("rfc2136: %w: the DNS server %s did not accept the TSIG key %q (wrong name, secret or algorithm, or clocks more than %d s apart): %v", ErrDNSUpdate, p.Server, p.TSIGName, tsigFudge, err)
	}
	return fmt.Errorf("rfc2136: DNS server %s: %w", p.Server, err)
}

// answerError turns a non-NOERROR answer to an update into an error an
// operator can act on.
func (p *RFC2136) answerError(zone string, r *dns.Msg) error {
	why := ""
	switch r.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeRefused:
		why = "the server refused the update: check that the TSIG key is allowed to update the zone (allow-update or update-policy)"
	case dns.RcodeNotAuth:
		why = "the server is not authoritative for the zone, or did not accept the TSIG key (name, secret, algorithm, clock)"
	case dns.RcodeNotZone:
		why = "the name is not in the zone"
	case dns.RcodeServerFailure:
		why = "the server failed to apply the update (see its log: journal, permissions)"
	case dns.RcodeNotImplemented:
		why = "the server does not implement dynamic updates"
	case dns.RcodeFormatError:
		why = "the server could not parse the update"
	default:
		why = "unexpected answer"
	}
	return fmt.Errorf("rfc2136: %w: zone %s on %s: %s (%s)", ErrDNSUpdate, zone, p.Server, why, dns.RcodeToString[r.Rcode])
}

// FindZone asks the server which of its zones holds name: the owner of
// the SOA record in its answer (for the apex) or in the authority section
// (for any other name, existing or not).
func (p *RFC2136) FindZone(ctx context.Context, name string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.CanonicalName(name), dns.TypeSOA)
	m.RecursionDesired = false
	r, err := p.exchange(ctx, m)
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return "", fmt.Errorf("rfc2136: %w: SOA of %s on %s: %s", ErrDNSUpdate, name, p.Server, dns.RcodeToString[r.Rcode])
	}
	for _, rrs := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range rrs {
			if soa, ok := rr.(*dns.SOA); ok {
				return dns.CanonicalName(soa.Hdr.Name), nil
			}
		}
	}
	return "", fmt.Errorf("rfc2136: %w: the DNS server %s is not authoritative for %s (no SOA in its answer)", ErrDNSUpdate, p.Server, name)
}

// target is where one libdns record goes: its absolute name, the zone to
// update, and the caller's zone its name is relative to ("" when the
// caller gave none: names are then absolute).
type target struct {
	fqdn, zone, callerZone string
}

// target resolves a record's name. The zone updated is the configured
// Zone, else the caller's zone, else the one the server says holds the
// name.
func (p *RFC2136) target(ctx context.Context, zone string, rec libdns.RR) (target, error) {
	if rec.Name == "" {
		return target{}, errors.New("rfc2136: a record without a name (use \"@\" for the zone's apex)")
	}
	t := target{fqdn: dns.CanonicalName(rec.Name)}
	if zone != "" {
		t.callerZone = dns.CanonicalName(zone)
		t.fqdn = dns.CanonicalName(libdns.AbsoluteName(rec.Name, t.callerZone))
	}
	switch {
	case p.Zone != "":
		t.zone = dns.CanonicalName(p.Zone)
	case t.callerZone != "":
		t.zone = t.callerZone
	default:
		z, err := p.FindZone(ctx, t.fqdn)
		if err != nil {
			return target{}, err
		}
		t.zone = z
	}
	if !dns.IsSubDomain(t.zone, t.fqdn) {
		return target{}, fmt.Errorf("rfc2136: %s is not in the zone %s", t.fqdn, t.zone)
	}
	return t, nil
}

// origin is the origin of relative names in a record's data.
func (t target) origin() string {
	if t.callerZone != "" {
		return t.callerZone
	}
	return t.zone
}

// toDNS converts a libdns record to a miekg/dns one. TXT text is split into
// the 255-byte strings of the wire format; other types are parsed from
// their zone-file form, relative names against the zone.
func toDNS(t target, rec libdns.RR) (dns.RR, error) {
	ttl := uint32(rec.TTL / time.Second)
	typ := strings.ToUpper(rec.Type)
	if typ == "TXT" {
		var parts []string
		s := rec.Data
		for len(s) > 255 {
			parts = append(parts, s[:255])
			s = s[255:]
		}
		parts = append(parts, s)
		return &dns.TXT{Hdr: dns.RR_Header{Name: t.fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: parts}, nil
	}
	if _, ok := dns.StringToType[typ]; !ok || typ == "" {
		return nil, fmt.Errorf("rfc2136: record type %q not supported", rec.Type)
	}
	zp := dns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s %d IN %s %s\n", t.fqdn, ttl, typ, rec.Data)), t.origin(), "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("rfc2136: %s %s %q: %w", rec.Name, typ, rec.Data, err)
	}
	if !ok {
		return nil, fmt.Errorf("rfc2136: %s %s %q: no record", rec.Name, typ, rec.Data)
	}
	return rr, nil
}

// fromDNS converts a record back to libdns's types, its name relative to
// the caller's zone (absolute when the caller gave none).
func fromDNS(t target, rr dns.RR) libdns.Record {
	h := rr.Header()
	name := h.Name
	if t.callerZone != "" {
		name = libdns.RelativeName(h.Name, t.callerZone)
	}
	out := libdns.RR{
		Name: name,
		TTL:  time.Duration(h.Ttl) * time.Second,
		Type: dns.TypeToString[h.Rrtype],
	}
	if txt, ok := rr.(*dns.TXT); ok {
		out.Data = strings.Join(txt.Txt, "")
	} else {
		out.Data = strings.TrimSpace(strings.TrimPrefix(rr.String(), h.String()))
	}
	if rec, err := out.Parse(); err == nil {
		return rec
	}
	return out
}

// AppendRecords adds recs (one update per record). A record that already
// exists is left as it is: DNS ignores a duplicate addition.
func (p *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var added []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		t, err := p.target(ctx, zone, rr)
		if err != nil {
			return added, err
		}
		drr, err := toDNS(t, rr)
		if err != nil {
			return added, err
		}
		m := new(dns.Msg)
		m.SetUpdate(t.zone)
		m.Insert([]dns.RR{drr})
		r, err := p.exchange(ctx, m)
		if err != nil {
			return added, err
		}
		if err := p.answerError(t.zone, r); err != nil {
			return added, err
		}
		added = append(added, fromDNS(t, drr))
	}
	return added, nil
}

// DeleteRecords removes recs and returns those that existed. A record with
// a value is removed exactly (name, type and value; the TTL is not
// compared, since DNS keeps one TTL per RRset and a server may have
// clamped it); a record with a type and no value removes every record of
// that name and type. The record type is required. The server is asked
// first which records exist: an RFC 2136 prerequisite can only name a
// whole RRset, and the challenges of "<base>" and "*.<base>" are two
// values of one name.
func (p *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var deleted []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		typ, ok := dns.StringToType[strings.ToUpper(rr.Type)]
		if !ok {
			return deleted, fmt.Errorf("rfc2136: deleting %s: record type %q not supported (the type is required)", rr.Name, rr.Type)
		}
		t, err := p.target(ctx, zone, rr)
		if err != nil {
			return deleted, err
		}
		var want dns.RR
		if rr.Data != "" {
			if want, err = toDNS(t, rr); err != nil {
				return deleted, err
			}
		}
		existing, err := p.lookup(ctx, t.fqdn, typ)
		if err != nil {
			return deleted, err
		}
		var victims []dns.RR
		for _, e := range existing {
			if want == nil || sameRecord(e, want) {
				victims = append(victims, e)
			}
		}
		if len(victims) == 0 {
			continue
		}
		m := new(dns.Msg)
		m.SetUpdate(t.zone)
		// Remove rewrites the headers it is given (class, TTL).
		rm := make([]dns.RR, len(victims))
		for i, v := range victims {
			rm[i] = dns.Copy(v)
		}
		m.Remove(rm)
		r, err := p.exchange(ctx, m)
		if err != nil {
			return deleted, err
		}
		if err := p.answerError(t.zone, r); err != nil {
			return deleted, err
		}
		for _, v := range victims {
			deleted = append(deleted, fromDNS(t, v))
		}
	}
	return deleted, nil
}

// sameRecord says whether a and b are the same record but for the TTL. TXT
// records compare their joined text: how a server splits it into strings
// is not the record's value.
func sameRecord(a, b dns.RR) bool {
	if ta, ok := a.(*dns.TXT); ok {
		tb, ok := b.(*dns.TXT)
		return ok && strings.EqualFold(ta.Hdr.Name, tb.Hdr.Name) && strings.Join(ta.Txt, "") == strings.Join(tb.Txt, "")
	}
	return dns.IsDuplicate(a, b)
}

// lookup returns the records of fqdn and typ the server holds.
func (p *RFC2136) lookup(ctx context.Context, fqdn string, typ uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, typ)
	m.RecursionDesired = false
	r, err := p.exchange(ctx, m)
	if err != nil {
		return nil, err
	}
	if r.Rcode == dns.RcodeNameError {
		return nil, nil
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("rfc2136: %w: query %s on %s: %s", ErrDNSUpdate, fqdn, p.Server, dns.RcodeToString[r.Rcode])
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if h := rr.Header(); h.Rrtype == typ && strings.EqualFold(h.Name, fqdn) {
			out = append(out, rr)
		}
	}
	return out, nil
}

// tsigKeyRE matches one key clause of a BIND key file, as tsig-keygen and
// ddns-confgen write it: key "name" { algorithm hmac-sha256; secret "…"; };
var tsigKeyRE = regexp.MustCompile(`(?s)key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;`)

// ParseTSIGKeyFile reads the first key of a BIND key file (the output of
// tsig-keygen, which the DNS administrator hands over), so that the
// configuration can name the file rather than copy the secret.
func ParseTSIGKeyFile(b []byte) (name, algorithm, secret string, err error) {
	m := tsigKeyRE.FindSubmatch(b)
	if m == nil {
		return "", "", "", errors.New("rfc2136: no key \"name\" { … }; clause in the TSIG key file")
	}
	name = string(m[1])
	for _, stmt := range strings.Split(string(m[2]), ";") {
		f := strings.Fields(stmt)
		if len(f) != 2 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "algorithm":
			algorithm = strings.Trim(f[1], `"`)
		case "secret":
			secret = strings.Trim(f[1], `"`)
		}
	}
	if secret == "" {
		return "", "", "", fmt.Errorf("rfc2136: key %q in the TSIG key file has no secret", name)
	}
	return name, algorithm, secret, nil
}
