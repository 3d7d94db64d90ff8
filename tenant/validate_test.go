package tenant_test

import (
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

func TestNormalizeHost(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"bari.example.it":         "bari.example.it",
		"BARI.Example.IT:8080":    "bari.example.it",
		"bari.example.it.":        "bari.example.it",
		"bari.example.it.:443":    "bari.example.it",
		" bari.localhost:8080 ":   "bari.localhost",
		"[::1]:8080":              "::1",
		"[2001:db8::1]":           "2001:db8::1",
		"":                        "",
		"servizi.comune.bari.it:": "servizi.comune.bari.it",
	}
	for in, want := range tests {
		if got := tenant.NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidDomainAndEmail(t *testing.T) {
	t.Parallel()
	domains := map[string]bool{
		"servizi.comune.bari.it":  true,
		"xn--forl-1ra.example.it": true,
		"a.b":                     true,
		"localhost":               false,
		"-bad.example.it":         false,
		"bad-.example.it":         false,
		"under_score.example.it":  false,
		"example.123":             false,
		"192.168.1.1":             false,
		"UPPER.example.it":        false, // normalised before validation
		"":                        false,
		"a..b":                    false,
		"a23456789012345678901234567890123456789012345678901234567890abcd.it": false,
	}
	for d, want := range domains {
		if got := tenant.ValidDomain(d); got != want {
			t.Errorf("ValidDomain(%q) = %v, want %v", d, got, want)
		}
	}
	emails := map[string]bool{
		"urp@comune.bari.it":          true,
		"protocollo.generale@pec.it":  true,
		"urp@localhost":               false,
		"Comune <urp@comune.bari.it>": false,
		"urp@comune.bari.it\r\nBcc:x": false,
		"urp":                         false,
		"":                            false,
	}
	for e, want := range emails {
		if got := tenant.ValidEmail(e); got != want {
			t.Errorf("ValidEmail(%q) = %v, want %v", e, got, want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	bari := tenant.Tenant{ID: "bari", TimeZone: "Europe/Rome"}
	at := time.Date(2027, time.March, 11, 9, 0, 0, 0, time.UTC)
	if got, want := bari.FormatDateTime(at), "giovedì 11 marzo 2027 ore 10:00"; got != want {
		t.Errorf("FormatDateTime = %q, want %q", got, want)
	}
	summer := time.Date(2026, time.October, 24, 22, 30, 0, 0, time.UTC)
	if got, want := bari.FormatDateTime(summer), "domenica 25 ottobre 2026 ore 00:30"; got != want {
		t.Errorf("FormatDateTime = %q, want %q", got, want)
	}
	if got, want := tenant.FormatCivilDate(civilDate(2026, time.June, 2)), "martedì 2 giugno 2026"; got != want {
		t.Errorf("FormatCivilDate = %q, want %q", got, want)
	}
}
