package web

import (
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"

	"github.com/sportello-virtuale/sportello/tenant"
)

// maxOwnDomains bounds the own domains of one Comune. The registry takes
// more, but every name is a certificate to obtain and renew, and a Comune
// needs one or two (servizi.comune.x.it, perhaps an old name): ten leaves
// room without letting one Comune fill the CA's rate limits.
const maxOwnDomains = 10

// minLabels is the fewest labels an own domain may have. A host such as
// servizi.comune.bari.it or servizi.comune-bari.it lives in the Comune's
// zone; a registrable domain itself (comune-bari.it) is the Comune's
// institutional site, and the apex of a zone cannot carry the CNAME record
// the page asks for.
const minLabels = 3

// idnaProfile converts what an administrator types into the name the
// registry stores: lower case, Unicode labels in punycode (xn--), with the
// lookup rules browsers apply, so the stored name is the one the browser
// sends as SNI and Host.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.ValidateLabels(true),
	idna.StrictDomainName(true), idna.Transitional(false))

// checkDomain turns typed into the ASCII name to add to t's domains, or
// returns the Italian message of the field. base is the cluster's base
// domain. It checks what the page knows; the registry checks again in
// the replicated command, which alone knows whether another Comune took
// the name meanwhile.
func checkDomain(typed string, t tenant.Tenant, base string) (string, string) {
	s := strings.TrimSpace(typed)
	switch {
	case s == "":
		return "", "Indica il nome del dominio, per esempio servizi.comune.bari.it."
	case strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@ "):
		return "", "Indica solo il nome del dominio, senza https://, percorsi o spazi: per esempio servizi.comune.bari.it."
	}
	s = strings.TrimSuffix(s, ".")
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil || strings.Contains(s, ":") {
		return "", "Un indirizzo IP o una porta non sono un dominio: indica un nome, per esempio servizi.comune.bari.it."
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil || !tenant.ValidDomain(ascii) {
		return "", "Il nome non è un dominio valido: usa lettere, cifre, trattini e punti, per esempio servizi.comune.bari.it."
	}
	if strings.Count(ascii, ".")+1 < minLabels {
		return "", "Indica un nome con almeno tre parti, per esempio servizi.comune.bari.it: il dominio principale del Comune resta al suo sito istituzionale."
	}
	if base != "" && (ascii == base || strings.HasSuffix(ascii, "."+base)) {
		return "", fmt.Sprintf("I nomi sotto %s sono assegnati automaticamente: indica un dominio proprio del Comune.", base)
	}
	for _, d := range t.Domains {
		if d == ascii {
			return "", "Questo dominio è già tra quelli del Comune."
		}
	}
	if len(t.Domains) >= maxOwnDomains {
		return "", fmt.Sprintf("Il Comune ha già %d domini propri, il massimo: rimuovine uno prima di aggiungerne un altro.", maxOwnDomains)
	}
	return ascii, ""
}

// displayName returns the Unicode form of an ASCII (punycode) name, ""
// when it is the same or cannot be decoded.
func displayName(ascii string) string {
	u, err := idna.Display.ToUnicode(ascii)
	if err != nil || u == ascii {
		return ""
	}
	return u
}
