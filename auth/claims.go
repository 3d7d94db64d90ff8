package auth

import (
	"fmt"
	"slices"
	"strings"
)

// MapClaims turns the verified claims of an ID token into an Identity
// with the provider's mapping. issuer and subject come from the verified
// token, not from claims, so that a mapping cannot rename them. The
// fiscal code loses its "TINIT-" prefix and is upper-cased.
func (p Provider) MapClaims(issuer, subject string, claims map[string]any) Identity {
	m := p.Claims
	pick := func(name, def string) string {
		if name == "" {
			name = def
		}
		return claimString(claims[name])
	}
	id := Identity{
		Provider:    p.ID,
		Issuer:      issuer,
		Subject:     subject,
		Username:    pick(m.Username, defaultClaims.Username),
		DisplayName: pick(m.DisplayName, defaultClaims.DisplayName),
		Email:       pick(m.Email, defaultClaims.Email),
		Groups:      claimStrings(claims[cmpOr(m.Groups, defaultClaims.Groups)]),
		// "sid" is fixed by OpenID Connect Back-Channel Logout.
		ProviderSession: claimString(claims["sid"]),
	}
	names := fiscalCodeClaims
	if m.FiscalCode != "" {
		names = []string{m.FiscalCode}
	}
	for _, n := range names {
		if v := claimString(claims[n]); v != "" {
			id.FiscalCode = NormalizeFiscalCode(v)
			break
		}
	}
	return id
}

// NormalizeFiscalCode strips the "TINIT-" prefix that SPID and CIE put
// before an Italian fiscal code, and upper-cases it.
func NormalizeFiscalCode(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	return strings.TrimPrefix(s, "TINIT-")
}

// grantsFor returns the grants the rules give to groups, in rule order.
func grantsFor(rules []RoleRule, groups []string) []Grant {
	var out []Grant
	for _, r := range rules {
		if slices.Contains(groups, r.Group) {
			out = append(out, r.Grant)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// claimString returns a string claim, or the decimal form of a number.
func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	}
	return ""
}

// claimStrings returns a claim that is a list of strings or one string
// (some providers send a single group as a string).
func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return slices.Clone(x)
	}
	return nil
}
