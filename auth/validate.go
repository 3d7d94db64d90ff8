package auth

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// idPattern is the form of provider IDs: they appear in URLs.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// normalizeProvider trims the text fields of p.
func normalizeProvider(p *Provider) {
	p.ID = strings.ToLower(strings.TrimSpace(p.ID))
	p.Name = strings.TrimSpace(p.Name)
	p.Issuer = strings.TrimSpace(p.Issuer)
	p.ClientID = strings.TrimSpace(p.ClientID)
}

// validateProvider checks p, with messages in Italian.
func validateProvider(p Provider) error {
	f := map[string]string{}
	if !idPattern.MatchString(p.ID) {
		f["id"] = "Usa da 1 a 40 caratteri tra lettere minuscole, cifre e trattini."
	}
	if p.Name == "" {
		f["name"] = "Indica il nome mostrato sul pulsante di accesso."
	}
	if msg := checkIssuer(p.Issuer); msg != "" {
		f["issuer"] = msg
	}
	if p.ClientID == "" {
		f["client_id"] = "Indica l'identificativo del client registrato presso il fornitore."
	}
	switch p.ClientAuth.Method() {
	case ClientSecretBasic, ClientSecretPost:
		if p.ClientSecret == "" && p.SealedSecret == "" {
			f["client_secret"] = "Indica il segreto del client registrato presso il fornitore."
		}
	case PrivateKeyJWT:
		if len(p.Keys) == 0 {
			f["client_auth"] = "Manca la chiave per private_key_jwt: salva di nuovo il fornitore per generarla."
		}
		if len(p.Keys) > maxClientKeys {
			f["client_auth"] = "Troppe chiavi per private_key_jwt."
		}
		for i, k := range p.Keys {
			if k.ID == "" || k.Public == "" || k.SealedPrivate == "" || (k.Alg != AlgRS256 && k.Alg != AlgES256) {
				f[fmt.Sprintf("keys.%d", i)] = "Chiave per private_key_jwt incompleta."
			}
		}
	default:
		f["client_auth"] = "Scegli client_secret_basic, client_secret_post o private_key_jwt."
	}
	switch p.AssertionAudience {
	case "", AudienceTokenEndpoint, AudienceIssuer:
	default:
		f["assertion_audience"] = "Il destinatario (aud) dell'asserzione deve essere token_endpoint o issuer."
	}
	if p.KeyAlg != "" && p.KeyAlg != AlgRS256 && p.KeyAlg != AlgES256 {
		f["key_alg"] = "L'algoritmo della chiave deve essere RS256 o ES256."
	}
	for i, s := range p.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\"") {
			f[fmt.Sprintf("scopes.%d", i)] = "Uno scope non può essere vuoto né contenere spazi o virgolette."
		}
	}
	for i, s := range p.ACRValues {
		if s == "" || strings.ContainsAny(s, " \t\"") {
			f[fmt.Sprintf("acr_values.%d", i)] = "Un valore acr non può essere vuoto né contenere spazi o virgolette."
		}
	}
	for i, r := range p.Roles {
		key := fmt.Sprintf("roles.%d", i)
		if r.Group == "" {
			f[key+".group"] = "Indica il gruppo del fornitore a cui si applica la regola."
		}
		if r.Grant.Role == RoleApplianceAdmin {
			f[key+".grant.role"] = "Il ruolo di amministratore dell'installazione non può venire dal fornitore di identità."
			continue
		}
		validateGrant(r.Grant, key+".grant", f)
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// validateGrant adds the problems of g to f under key.
func validateGrant(g Grant, key string, f map[string]string) {
	if !validRole(g.Role) {
		f[key+".role"] = "Scegli un ruolo tra amministratore, supervisore e operatore."
		return
	}
	if g.Role == RoleOperator && len(g.Offices) == 0 {
		f[key+".offices"] = "Un operatore deve essere assegnato ad almeno un ufficio."
	}
	for j, o := range g.Offices {
		if o == "" {
			f[fmt.Sprintf("%s.offices.%d", key, j)] = "L'ufficio non può essere vuoto."
		}
	}
}

// checkIssuer returns "" for a usable issuer URL, or the Italian problem.
// Plain http is accepted only on loopback addresses, for a provider run on
// the developer's machine.
func checkIssuer(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "Indica l'URL dell'emittente (issuer), per esempio https://id.regione.it/realms/comuni."
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return ""
		}
	}
	return "L'emittente deve usare https."
}

// validateGrants checks assigned grants; appliance administrator is
// allowed here.
func validateGrants(gs []Grant) error {
	f := map[string]string{}
	for i, g := range gs {
		validateGrant(g, fmt.Sprintf("grants.%d", i), f)
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}
