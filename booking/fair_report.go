package booking

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Thresholds of the suspicious-patterns report. They flag, they do not
// judge: a parent books for three children with one email, a school books
// from one network; the office looks and decides.
const (
	// reportSharedMin is how many codici fiscali one email or phone must
	// stand behind to be listed.
	reportSharedMin = 3
	// reportBurstMin is how many bookings from one network within one
	// hour make a burst.
	reportBurstMin = 5
	// reportWindow is how far back the report looks (bookings created).
	reportWindow = 30 * 24 * time.Hour
)

// SharedContact is an email or phone behind several codici fiscali.
type SharedContact struct {
	Kind        string // "email" or "phone"
	Value       string
	FiscalCodes int
	Bookings    int
}

// NetworkBurst is a run of bookings from one network within one hour.
type NetworkBurst struct {
	// Net is a prefix of the salted hash: enough to tell networks apart,
	// nothing to recover the address from.
	Net      string
	Hour     time.Time
	Bookings int
}

// NameMismatch is a booking whose names do not give the first six letters
// of its codice fiscale.
type NameMismatch struct {
	Code, ServiceID       string
	GivenName, FamilyName string
	FiscalCode            string
	Created               time.Time
}

// FairReport is the suspicious-patterns report of a Comune.
type FairReport struct {
	Since    time.Time
	Shared   []SharedContact
	Bursts   []NetworkBurst
	Mismatch []NameMismatch
}

// FairReport computes the report over the bookings created in the last 30
// days (as of the Book's clock), active or not.
func (b *Book) FairReport(ctx context.Context, t tenant.ID) (FairReport, error) {
	now := b.now()
	r := FairReport{Since: now.Add(-reportWindow)}
	since := r.Since.Unix()
	// The contacts come from the booking itself, normalised as the caps
	// compare them: booking.create files them in booking_fair_contacts
	// only for a service with such a cap (createLeanContactsVersion).
	rows, err := b.db.QueryContext(ctx, `SELECT b.email, b.phone, c.net, c.created_unix, b.code, b.service_id,
			b.given_name, b.family_name, b.fiscal_code
		FROM booking_fair_contacts c JOIN booking_bookings b ON b.tenant = c.tenant AND b.id = c.booking_id
		WHERE c.tenant = ? AND c.created_unix >= ?`, t, since)
	if isNoFairTable(err) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("fair report: %w", err)
	}
	defer rows.Close()
	type key struct{ kind, value string }
	codes := map[key]map[string]bool{}
	counts := map[key]int{}
	type burstKey struct {
		net  string
		hour int64
	}
	bursts := map[burstKey]int{}
	for rows.Next() {
		var email, phone, net, code, svc, given, family, fc string
		var created int64
		if err := rows.Scan(&email, &phone, &net, &created, &code, &svc, &given, &family, &fc); err != nil {
			return r, fmt.Errorf("fair report: %w", err)
		}
		email, phone = NormalizeEmail(email), NormalizePhone(phone)
		for _, k := range []key{{"email", email}, {"phone", phone}} {
			if k.value == "" {
				continue
			}
			if codes[k] == nil {
				codes[k] = map[string]bool{}
			}
			codes[k][fc] = true
			counts[k]++
		}
		if net != "" {
			bursts[burstKey{net, created / 3600}]++
		}
		if !NamesMatchFiscalCode(given, family, fc) {
			r.Mismatch = append(r.Mismatch, NameMismatch{Code: code, ServiceID: svc, GivenName: given, FamilyName: family,
				FiscalCode: fc, Created: time.Unix(created, 0).UTC()})
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("fair report: %w", err)
	}
	for k, fcs := range codes {
		if len(fcs) >= reportSharedMin {
			r.Shared = append(r.Shared, SharedContact{Kind: k.kind, Value: k.value, FiscalCodes: len(fcs), Bookings: counts[k]})
		}
	}
	for k, n := range bursts {
		if n >= reportBurstMin {
			r.Bursts = append(r.Bursts, NetworkBurst{Net: k.net[:8], Hour: time.Unix(k.hour*3600, 0).UTC(), Bookings: n})
		}
	}
	sort.Slice(r.Shared, func(i, j int) bool {
		a, c := r.Shared[i], r.Shared[j]
		if a.FiscalCodes != c.FiscalCodes {
			return a.FiscalCodes > c.FiscalCodes
		}
		return a.Kind+a.Value < c.Kind+c.Value
	})
	sort.Slice(r.Bursts, func(i, j int) bool {
		if !r.Bursts[i].Hour.Equal(r.Bursts[j].Hour) {
			return r.Bursts[i].Hour.After(r.Bursts[j].Hour)
		}
		return r.Bursts[i].Net < r.Bursts[j].Net
	})
	sort.Slice(r.Mismatch, func(i, j int) bool { return r.Mismatch[i].Created.After(r.Mismatch[j].Created) })
	return r, nil
}

// NamesMatchFiscalCode reports whether the family and given names give the
// first six letters of the codice fiscale, by the rule of DM 12/03/1974:
// the surname's consonants then vowels, padded with X, three letters; the
// name's the same, except that a name of four or more consonants gives its
// first, third and fourth. Accents are dropped, spaces and apostrophes
// ignored. A code that is not 16 characters is not judged.
func NamesMatchFiscalCode(given, family, fc string) bool {
	fc = NormalizeFiscalCode(fc)
	if len(fc) != 16 {
		return true
	}
	return fc[:3] == fiscalPart(family, false) && fc[3:6] == fiscalPart(given, true)
}

// fiscalPart is the three letters of a surname (or, with given, a name).
func fiscalPart(s string, given bool) string {
	var cons, vows []byte
	for _, r := range strings.ToUpper(s) {
		r = unaccent(r)
		if r < 'A' || r > 'Z' {
			continue
		}
		if strings.ContainsRune("AEIOU", r) {
			vows = append(vows, byte(r))
		} else {
			cons = append(cons, byte(r))
		}
	}
	if given && len(cons) >= 4 {
		return string([]byte{cons[0], cons[2], cons[3]})
	}
	out := append(append(cons, vows...), 'X', 'X', 'X')
	return string(out[:3])
}

// unaccent maps the accented capitals of Italian (and of the names of
// its neighbours) to their letter, as the codice fiscale is computed.
func unaccent(r rune) rune {
	switch {
	case strings.ContainsRune("ÀÁÂÄÃÅ", r):
		return 'A'
	case strings.ContainsRune("ÈÉÊË", r):
		return 'E'
	case strings.ContainsRune("ÌÍÎÏ", r):
		return 'I'
	case strings.ContainsRune("ÒÓÔÖÕ", r):
		return 'O'
	case strings.ContainsRune("ÙÚÛÜ", r):
		return 'U'
	case r == 'Ç':
		return 'C'
	case r == 'Ñ':
		return 'N'
	}
	return r
}
