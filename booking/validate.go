package booking

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the citizen's free text.
const (
	// MaxDetails is the longest "Dettagli" a citizen may write, in
	// characters (runes), as in the Designers Italia booking model.
	MaxDetails = 200
	// maxName bounds given and family names; no real name is longer, and
	// the bound keeps email headers short.
	maxName = 100
	// maxEmail is the longest address SMTP allows in a path (RFC 5321).
	maxEmail = 254
)

// CheckRequest validates a citizen's booking request and returns it
// normalised (spaces trimmed, codice fiscale in upper case, email address
// without display name). A returned error is a *ValidationError whose keys
// are the JSON fields of the API ("citizen.fiscal_code") and whose messages
// are in Italian, ready to be shown next to the form fields. Whether the
// service exists, offers the channel and has the slot is checked when the
// booking is applied, not here.
func CheckRequest(r Request) (Request, error) {
	f := map[string]string{}
	r.ServiceID = strings.TrimSpace(r.ServiceID)
	r.Details = strings.TrimSpace(r.Details)
	c := &r.Citizen
	c.GivenName = collapseSpaces(c.GivenName)
	c.FamilyName = collapseSpaces(c.FamilyName)
	c.FiscalCode = NormalizeFiscalCode(c.FiscalCode)
	c.Email = strings.TrimSpace(c.Email)
	c.Phone = strings.TrimSpace(c.Phone)
	r.Lang = NormalizeLang(r.Lang)

	if r.ServiceID == "" {
		f["service_id"] = "Scegli il servizio."
	}
	if r.Start.IsZero() {
		f["start"] = "Scegli la data e l'orario dell'appuntamento."
	}
	switch r.Channel {
	case InPerson, Video, Phone:
	case "":
		f["channel"] = "Scegli come vuoi svolgere l'appuntamento."
	default:
		f["channel"] = "La modalità scelta non è valida."
	}
	checkName(f, "citizen.given_name", c.GivenName, "Inserisci il nome.", "Il nome")
	checkName(f, "citizen.family_name", c.FamilyName, "Inserisci il cognome.", "Il cognome")
	switch {
	case c.FiscalCode == "":
		f["citizen.fiscal_code"] = "Inserisci il codice fiscale."
	case !ValidFiscalCode(c.FiscalCode):
		f["citizen.fiscal_code"] = "Il codice fiscale non è valido: controlla di averlo scritto correttamente."
	}
	switch {
	case c.Email == "":
		f["citizen.email"] = "Inserisci l'indirizzo email: ti invieremo il riepilogo dell'appuntamento."
	case !validEmail(c.Email):
		f["citizen.email"] = "L'indirizzo email non è valido: usa la forma nome@esempio.it."
	}
	switch {
	case c.Phone == "" && r.Channel == Phone:
		f["citizen.phone"] = "Inserisci il numero di telefono al quale vuoi essere chiamato."
	case c.Phone != "" && !validPhone(c.Phone):
		f["citizen.phone"] = "Il numero di telefono non è valido: usa solo cifre, spazi e il prefisso internazionale (+39)."
	}
	switch {
	case utf8.RuneCountInString(r.Details) > MaxDetails:
		f["details"] = "I dettagli possono contenere al massimo 200 caratteri."
	case hasControl(r.Details, true):
		f["details"] = "I dettagli contengono caratteri non ammessi."
	}
	if !r.PrivacyAccepted {
		f["privacy_accepted"] = "Per prenotare devi dichiarare di aver letto l'informativa sul trattamento dei dati personali."
	}
	if len(f) > 0 {
		return r, &ValidationError{Fields: f}
	}
	return r, nil
}

func checkName(f map[string]string, key, v, missing, what string) {
	switch {
	case v == "":
		f[key] = missing
	case utf8.RuneCountInString(v) > maxName:
		f[key] = what + " può contenere al massimo 100 caratteri."
	case hasControl(v, false) || !utf8.ValidString(v):
		f[key] = what + " contiene caratteri non ammessi."
	}
}

// validEmail accepts a bare addr-spec with a dotted domain: what a citizen
// types, never a display name or a list.
func validEmail(s string) bool {
	if len(s) > maxEmail || strings.ContainsAny(s, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	dom := s[at+1:]
	return at > 0 && strings.Contains(dom, ".") && !strings.HasPrefix(dom, ".") && !strings.HasSuffix(dom, ".")
}

// validPhone accepts digits with spaces, dots, dashes, slashes and one
// leading "+", with 6 to 15 digits (the E.164 maximum).
func validPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ' || r == '.' || r == '-' || r == '/':
		default:
			return false
		}
	}
	return digits >= 6 && digits <= 15
}

// hasControl reports whether s holds control characters; newlines are
// allowed when multiline is set.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// collapseSpaces trims s and turns every run of white space into one space.
func collapseSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
