package tenant

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// The patterns below are compiled once and only read afterwards.
var (
	idPattern     = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)
	istatPattern  = regexp.MustCompile(`^[0-9]{6}$`)
	prefixPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,3}$`)
	colorPattern  = regexp.MustCompile(`^#[0-9a-f]{6}$`)
	langPattern   = regexp.MustCompile(`^[a-z]{2}$`)
	labelPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// reservedIDs are sub-domains of the base domain kept for the service
// itself, never given to a Comune.
var reservedIDs = []string{"www", "api", "admin", "static", "mail"}

// DefaultLanguages returns the page languages of a new Comune, Italian
// first. It is a function so that no caller can change the defaults.
func DefaultLanguages() []string { return []string{"it", "en", "de"} }

// Limits of the registry. They keep one command small and one page sane.
const (
	maxNameLen    = 100
	maxDomains    = 20
	maxPatronDays = 20
	maxLanguages  = 10
	maxLogoURLLen = 2048
	maxDomainLen  = 253
	maxAddressLen = 254
)

// ValidID reports whether s is a well-formed tenant ID: a lowercase slug of
// 2 to 40 letters, digits and hyphens that starts with a letter and does
// not end with a hyphen.
func ValidID(s string) bool {
	return idPattern.MatchString(s) && !strings.HasSuffix(s, "-")
}

// normalize puts the fields of t in their canonical form: trimmed, domains
// and colour lower-cased, domains without a trailing dot, the code prefix
// upper-cased. It is a pure function, run by the proposer and again in
// apply.
func normalize(t *Tenant) {
	t.ID = ID(strings.TrimSpace(string(t.ID)))
	t.Name = strings.TrimSpace(t.Name)
	t.Region = strings.TrimSpace(t.Region)
	t.ISTAT = strings.TrimSpace(t.ISTAT)
	t.CodePrefix = strings.ToUpper(strings.TrimSpace(t.CodePrefix))
	domains := make([]string, 0, len(t.Domains))
	for _, d := range t.Domains {
		domains = append(domains, NormalizeHost(d))
	}
	t.Domains = domains
	t.Branding.LogoURL = strings.TrimSpace(t.Branding.LogoURL)
	t.Branding.PrimaryColor = strings.ToLower(strings.TrimSpace(t.Branding.PrimaryColor))
	t.TimeZone = strings.TrimSpace(t.TimeZone)
	langs := make([]string, 0, len(t.Languages))
	for _, l := range t.Languages {
		langs = append(langs, strings.ToLower(strings.TrimSpace(l)))
	}
	t.Languages = langs
	patrons := make([]PatronDay, 0, len(t.PatronDays))
	for _, p := range t.PatronDays {
		p.Name = strings.TrimSpace(p.Name)
		patrons = append(patrons, p)
	}
	t.PatronDays = patrons
	t.Sender.Name = strings.TrimSpace(t.Sender.Name)
	t.Sender.Address = strings.TrimSpace(t.Sender.Address)
}

// applyDefaults fills what a new Comune may leave out: the time zone, the
// languages and the booking code prefix (the first two letters of the ID).
func applyDefaults(t *Tenant) {
	if t.TimeZone == "" {
		t.TimeZone = DefaultTimeZone
	}
	if len(t.Languages) == 0 {
		t.Languages = DefaultLanguages()
	}
	if t.CodePrefix == "" && ValidID(string(t.ID)) {
		t.CodePrefix = defaultPrefix(t.ID)
	}
}

// defaultPrefix returns the first two letters of id upper-cased, or its
// first two letters and digits when it has fewer than two letters.
func defaultPrefix(id ID) string {
	var letters, alnum []rune
	for _, r := range string(id) {
		if r >= 'a' && r <= 'z' {
			letters = append(letters, r)
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			alnum = append(alnum, r)
		}
	}
	switch {
	case len(letters) >= 2:
		return strings.ToUpper(string(letters[:2]))
	case len(alnum) >= 2:
		return strings.ToUpper(string(alnum[:2]))
	}
	return strings.ToUpper(string(id))
}

// validate checks every field of t, already normalised. baseDomain is the
// cluster's base domain as stamped in the command: custom domains must not
// lie under it, since <id>.<baseDomain> belongs to the Comune with that ID.
// It returns nil or a *ValidationError.
func validate(t Tenant, baseDomain string) error {
	f := map[string]string{}
	switch {
	case t.ID == "":
		f["id"] = "Il codice del Comune è obbligatorio."
	case !ValidID(string(t.ID)):
		f["id"] = "Usa da 2 a 40 caratteri tra lettere minuscole, cifre e trattini, iniziando con una lettera e senza trattino finale."
	case slices.Contains(reservedIDs, string(t.ID)):
		f["id"] = "Questo codice è riservato: scegline un altro."
	}
	checkText(f, "name", t.Name, true, "Il nome del Comune è obbligatorio.")
	checkText(f, "region", t.Region, false, "")
	switch {
	case t.ISTAT == "":
		f["istat"] = "Il codice ISTAT è obbligatorio."
	case !istatPattern.MatchString(t.ISTAT):
		f["istat"] = "Il codice ISTAT è formato da sei cifre, per esempio 072006."
	}
	_, badID := f["id"]
	switch {
	case t.CodePrefix == "" && badID:
		// A new Comune's prefix comes from its ID; the ID's message says it.
	case t.CodePrefix == "":
		f["code_prefix"] = "Il prefisso dei codici di prenotazione è obbligatorio."
	case !prefixPattern.MatchString(t.CodePrefix):
		f["code_prefix"] = "Usa da 2 a 4 lettere maiuscole o cifre, iniziando con una lettera."
	}
	checkDomains(f, t.Domains, baseDomain)
	checkBranding(f, t.Branding)
	switch {
	case t.TimeZone == "":
		f["time_zone"] = "Il fuso orario è obbligatorio."
	case !validZone(t.TimeZone):
		f["time_zone"] = fmt.Sprintf("Fuso orario sconosciuto: usa un nome IANA come %s.", DefaultTimeZone)
	}
	checkLanguages(f, t.Languages)
	checkPatronDays(f, t.PatronDays)
	checkText(f, "sender.name", t.Sender.Name, false, "")
	if t.Sender.Address != "" && !ValidEmail(t.Sender.Address) {
		f["sender.address"] = "Inserisci un indirizzo email valido, per esempio protocollo@comune.bari.it."
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// checkText checks a single-line text field: required when asked, at most
// maxNameLen characters, no control characters (which could also break an
// email header).
func checkText(f map[string]string, key, s string, required bool, missing string) {
	switch {
	case s == "" && required:
		f[key] = missing
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		f[key] = "Il testo contiene caratteri non ammessi."
	case utf8.RuneCountInString(s) > maxNameLen:
		f[key] = fmt.Sprintf("Usa al massimo %d caratteri.", maxNameLen)
	}
}

func checkDomains(f map[string]string, domains []string, baseDomain string) {
	if len(domains) > maxDomains {
		f["domains"] = fmt.Sprintf("Puoi indicare al massimo %d domini.", maxDomains)
		return
	}
	base := NormalizeHost(baseDomain)
	for i, d := range domains {
		key := fmt.Sprintf("domains.%d", i)
		switch {
		case !ValidDomain(d):
			f[key] = "Inserisci un nome di dominio valido, per esempio servizi.comune.bari.it."
		case base != "" && (d == base || strings.HasSuffix(d, "."+base)):
			f[key] = fmt.Sprintf("I nomi sotto %s sono assegnati automaticamente: indica solo domini propri del Comune.", base)
		case slices.Contains(domains[:i], d):
			f[key] = "Questo dominio è già nell'elenco."
		}
	}
}

// ValidDomain reports whether d, already normalised, is a DNS name the
// service can answer on: at least two labels of letters, digits and
// hyphens, a non-numeric top-level label, and not an IP address.
func ValidDomain(d string) bool {
	if d == "" || len(d) > maxDomainLen || net.ParseIP(d) != nil {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !labelPattern.MatchString(l) {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

// ValidEmail reports whether s is a bare email address (no display name)
// with a dotted domain.
func ValidEmail(s string) bool {
	if len(s) > maxAddressLen {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && ValidDomain(strings.ToLower(s[at+1:]))
}

func checkBranding(f map[string]string, b Branding) {
	if b.PrimaryColor != "" && !colorPattern.MatchString(b.PrimaryColor) {
		f["branding.primary_color"] = "Indica il colore nel formato #rrggbb, per esempio #0066cc."
	}
	if b.LogoURL != "" && !validLogoURL(b.LogoURL) {
		f["branding.logo_url"] = "Indica un percorso che inizia con / oppure un indirizzo https://."
	}
}

func validLogoURL(s string) bool {
	if len(s) > maxLogoURLLen || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//") && !strings.Contains(s, `\`)
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// validZone reports whether name is a zone this program knows. With
// time/tzdata embedded every node knows at least the same zones (a zone that
// only a newer system database has could still differ between nodes).
// "Local" is refused: it means each machine's own zone.
func validZone(name string) bool {
	if name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

func checkLanguages(f map[string]string, langs []string) {
	switch {
	case len(langs) == 0:
		f["languages"] = "Indica almeno una lingua."
		return
	case len(langs) > maxLanguages:
		f["languages"] = fmt.Sprintf("Puoi indicare al massimo %d lingue.", maxLanguages)
		return
	}
	for i, l := range langs {
		key := fmt.Sprintf("languages.%d", i)
		switch {
		case !langPattern.MatchString(l):
			f[key] = "Indica la lingua con il codice di due lettere, per esempio it."
		case slices.Contains(langs[:i], l):
			f[key] = "Questa lingua è già nell'elenco."
		}
	}
}

func checkPatronDays(f map[string]string, ps []PatronDay) {
	if len(ps) > maxPatronDays {
		f["patron_days"] = fmt.Sprintf("Puoi indicare al massimo %d giorni.", maxPatronDays)
		return
	}
	for i, p := range ps {
		key := fmt.Sprintf("patron_days.%d", i)
		checkText(f, key+".name", p.Name, true, "Indica il nome della ricorrenza, per esempio San Nicola.")
		switch {
		case !p.Date.IsZero():
			if p.Month != 0 || p.Day != 0 {
				f[key+".date"] = "Indica una data singola oppure un giorno e un mese che si ripetono ogni anno, non entrambi."
			} else if !validDate(p.Date) {
				f[key+".date"] = "La data non esiste."
			}
		case p.Month < time.January || p.Month > time.December:
			f[key+".month"] = "Indica un mese da 1 a 12."
		case p.Day < 1 || p.Day > daysIn(p.Month):
			f[key+".day"] = fmt.Sprintf("Indica un giorno da 1 a %d.", daysIn(p.Month))
		}
	}
}

// daysIn returns the days of month m in a leap year, so that 29 February
// is a valid yearly patron day (celebrated in leap years only).
func daysIn(m time.Month) int {
	return time.Date(2000, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func validDate(d civil.Date) bool {
	return d.Year >= 1 && d.Year <= 9999 && civil.DateOf(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)) == d
}

// NormalizeHost returns host as the registry stores and compares it:
// without a port, without a trailing dot, lower-cased and trimmed.
func NormalizeHost(host string) string {
	h := strings.TrimSpace(host)
	if strings.HasPrefix(h, "[") {
		// An IPv6 literal, with or without a port; never a Comune's host.
		if end := strings.IndexByte(h, ']'); end > 0 {
			return strings.ToLower(h[1:end])
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
