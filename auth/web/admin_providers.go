package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// providersDone are the confirmations of the provider actions.
var providersDone = map[string]string{
	"salvato":   "Il fornitore di identità è stato salvato.",
	"eliminato": "Il fornitore di identità è stato eliminato.",
}

// providerDone are the confirmations shown on a provider's page.
var providerDone = map[string]string{
	"chiave": "È stata generata una nuova chiave: registrala presso il fornitore (o lascia che la legga dall'indirizzo JWKS). La chiave precedente resta pubblicata fino al prossimo rinnovo.",
}

// secretsProblem is shown when this node cannot seal or open the
// provider's secrets: the installation, not the form, must be fixed.
const secretsProblem = "Il fornitore non è stato salvato: questo nodo non ha la chiave con cui si cifrano i segreti (file secrets.key), o ne ha una diversa da quella degli altri nodi. Avvisa chi gestisce l'installazione."

// providersData is the data of gestione_accesso.html.
type providersData struct {
	adminPage
	Providers []auth.Provider
}

// providersPage lists the Comune's OpenID providers.
func (h *Handler) providersPage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ps, err := h.store.Providers(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := providersData{adminPage: newAdminPage(r, providersDone), Providers: ps}
	h.renderAdmin(w, r, http.StatusOK, "gestione_accesso.html", "Accesso del personale",
		[]site.Crumb{{Label: "Accesso del personale"}}, d)
}

// providerForm is the provider form as typed: every field a string, so a
// refused form shows back what was typed. The secret is never shown back.
type providerForm struct {
	ID, Name, Issuer, ClientID                           string
	ClientAuth, AssertionAudience                        string
	Scopes, ACRValues                                    string
	Username, DisplayName, Email, FiscalCode, GroupClaim string
	Roles                                                string
}

// providerData is the data of gestione_fornitore.html.
type providerData struct {
	adminPage
	// New is true for a provider being created (the ID can be typed).
	New  bool
	Form providerForm
	// HasSecret is true when the saved provider has a secret (the field
	// may be left empty to keep it).
	HasSecret bool
	// Action is the form's URL.
	Action string
	// RedirectURI is the callback to register at the provider.
	RedirectURI string
	// JWKSURI is where the provider finds the public keys of
	// private_key_jwt; Keys are those keys, current first.
	JWKSURI string
	Keys    []keyView
	// Methods are the choices of the client authentication method;
	// Audiences those of the aud of private_key_jwt assertions.
	Methods, Audiences []methodView
	// Main, Lists and Claims are the text fields of the form, in order.
	Main, Lists, Claims []fieldView
}

// keyView is one private_key_jwt key on the provider's page.
type keyView struct {
	ID, Alg, Created, JWK string
	Current               bool
}

// methodView is one choice of the client authentication method.
type methodView struct {
	Value, Label string
	Checked      bool
}

// methodLabels are the client authentication methods, as offered.
var methodLabels = []methodView{
	{Value: string(auth.ClientSecretBasic), Label: "Segreto del client nell'intestazione (client_secret_basic)"},
	{Value: string(auth.ClientSecretPost), Label: "Segreto del client nel modulo (client_secret_post)"},
	{Value: string(auth.PrivateKeyJWT), Label: "Chiave privata del Comune (private_key_jwt): nessun segreto condiviso"},
}

// audienceLabels are the choices of the aud of private_key_jwt assertions.
var audienceLabels = []methodView{
	{Value: auth.AudienceTokenEndpoint, Label: "L'indirizzo del token endpoint (OpenID Connect Core)"},
	{Value: auth.AudienceIssuer, Label: "L'emittente (issuer), come chiedono alcuni fornitori"},
}

// keyViews shows the keys of p.
func keyViews(p auth.Provider) []keyView {
	var out []keyView
	for i, k := range p.Keys {
		v := keyView{ID: k.ID, Alg: k.Alg, Created: k.Created.Local().Format("02/01/2006 15:04"), Current: i == 0}
		if j, err := k.PublicJWK(); err == nil {
			if b, err := json.MarshalIndent(j, "", "  "); err == nil {
				v.JWK = string(b)
			}
		}
		out = append(out, v)
	}
	return out
}

// fieldView is one text field of a form.
type fieldView struct {
	Name, Label, Value, Help, Error string
}

func formOf(p auth.Provider) providerForm {
	f := providerForm{
		ID: p.ID, Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, ClientAuth: string(p.ClientAuth.Method()),
		AssertionAudience: p.AssertionAudience,
		Scopes:            strings.Join(p.Scopes, " "), ACRValues: strings.Join(p.ACRValues, " "),
		Username: p.Claims.Username, DisplayName: p.Claims.DisplayName, Email: p.Claims.Email,
		FiscalCode: p.Claims.FiscalCode, GroupClaim: p.Claims.Groups,
	}
	lines := make([]string, 0, len(p.Roles))
	for _, rule := range p.Roles {
		line := rule.Group + " | " + string(rule.Grant.Role)
		if len(rule.Grant.Offices) > 0 {
			line += " | " + strings.Join(rule.Grant.Offices, ", ")
		}
		lines = append(lines, line)
	}
	f.Roles = strings.Join(lines, "\n")
	return f
}

// readProviderForm reads the form of r.
func readProviderForm(r *http.Request) providerForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return providerForm{
		ID: v("id"), Name: v("name"), Issuer: v("issuer"), ClientID: v("client_id"), ClientAuth: v("client_auth"),
		AssertionAudience: v("assertion_audience"),
		Scopes:            v("scopes"), ACRValues: v("acr_values"),
		Username: v("claim_username"), DisplayName: v("claim_display_name"), Email: v("claim_email"),
		FiscalCode: v("claim_fiscal_code"), GroupClaim: v("claim_groups"), Roles: v("roles"),
	}
}

// roleWords accepts the Italian names of the roles in the rules besides
// their codes.
var roleWords = map[string]auth.Role{
	"operator": auth.RoleOperator, "operatore": auth.RoleOperator,
	"supervisor": auth.RoleSupervisor, "supervisore": auth.RoleSupervisor,
	"comune_admin": auth.RoleComuneAdmin, "amministratore": auth.RoleComuneAdmin,
}

// provider turns the form into a provider, or gives the field errors of
// what cannot even be parsed (the rules' lines).
func (f providerForm) provider() (auth.Provider, map[string]string) {
	p := auth.Provider{
		ID: strings.ToLower(f.ID), Name: f.Name, Issuer: f.Issuer, ClientID: f.ClientID, ClientAuth: auth.ClientAuth(f.ClientAuth),
		AssertionAudience: f.AssertionAudience,
		Scopes:            strings.Fields(f.Scopes), ACRValues: strings.Fields(f.ACRValues),
		Claims: auth.ClaimMapping{Username: f.Username, DisplayName: f.DisplayName, Email: f.Email,
			FiscalCode: f.FiscalCode, Groups: f.GroupClaim},
	}
	errs := map[string]string{}
	n := 0
	for line := range strings.SplitSeq(f.Roles, "\n") {
		n++
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) < 2 || len(parts) > 3 {
			errs["roles"] = fmt.Sprintf("Riga %d: scrivi «gruppo | ruolo» oppure «gruppo | ruolo | uffici separati da virgole».", n)
			break
		}
		role, ok := roleWords[strings.ToLower(strings.TrimSpace(parts[1]))]
		if !ok {
			errs["roles"] = fmt.Sprintf("Riga %d: il ruolo deve essere operatore, supervisore o amministratore.", n)
			break
		}
		rule := auth.RoleRule{Group: strings.TrimSpace(parts[0]), Grant: auth.Grant{Role: role}}
		if len(parts) == 3 {
			for o := range strings.SplitSeq(parts[2], ",") {
				if o = strings.TrimSpace(o); o != "" {
					rule.Grant.Offices = append(rule.Grant.Offices, o)
				}
			}
		}
		p.Roles = append(p.Roles, rule)
	}
	return p, errs
}

// providerFieldOf maps a field path of auth.ValidationError to the form
// field that shows it ("roles.2.grant.offices" → "roles", line 3).
func providerFieldOf(path string) (field string, line int) {
	head, rest, _ := strings.Cut(path, ".")
	switch head {
	case "roles":
		idx, _, _ := strings.Cut(rest, ".")
		n, _ := strconv.Atoi(idx)
		return "roles", n + 1
	case "claims":
		return "claim_" + rest, 0
	case "keys", "key_alg", "assertion_audience":
		return "client_auth", 0
	}
	return head, 0
}

// validationErrors turns auth's field errors into the form's.
func validationErrors(ve *auth.ValidationError) map[string]string {
	keys := make([]string, 0, len(ve.Fields))
	for k := range ve.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]string{}
	for _, k := range keys {
		field, line := providerFieldOf(k)
		if _, seen := out[field]; seen {
			continue
		}
		msg := ve.Fields[k]
		if line > 0 {
			msg = fmt.Sprintf("Riga %d: %s", line, msg)
		}
		out[field] = msg
	}
	return out
}

// providerNew shows the empty form.
func (h *Handler) providerNew(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	h.showProvider(w, r, http.StatusOK, providerData{New: true, Form: providerForm{Scopes: "profile email", ClientAuth: string(auth.ClientSecretBasic)}})
}

// providerEdit shows the form of a saved provider.
func (h *Handler) providerEdit(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	p, err := h.store.Provider(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.showProvider(w, r, http.StatusOK, providerData{Form: formOf(p), HasSecret: p.ClientSecret != "" || p.SealedSecret != "", Keys: keyViews(p)})
}

// showProvider renders gestione_fornitore.html.
func (h *Handler) showProvider(w http.ResponseWriter, r *http.Request, status int, d providerData) {
	page := newAdminPage(r, providerDone)
	page.Errors, page.Problem = d.Errors, d.Problem
	d.adminPage = page
	d.Action = "/gestione/accesso/nuovo"
	title := "Nuovo fornitore di identità"
	if !d.New {
		d.Action = "/gestione/accesso/" + d.Form.ID
		title = "Fornitore " + d.Form.ID
	}
	d.RedirectURI = h.origin(r) + "/_auth/callback"
	d.JWKSURI = h.origin(r) + "/_auth/jwks"
	for _, m := range methodLabels {
		m.Checked = m.Value == d.Form.ClientAuth
		d.Methods = append(d.Methods, m)
	}
	for _, m := range audienceLabels {
		m.Checked = m.Value == d.Form.AssertionAudience || m.Value == auth.AudienceTokenEndpoint && d.Form.AssertionAudience == ""
		d.Audiences = append(d.Audiences, m)
	}
	field := func(name, label, value, help string) fieldView {
		return fieldView{Name: name, Label: label, Value: value, Help: help, Error: d.Errors[name]}
	}
	f := d.Form
	if d.New {
		d.Main = append(d.Main, field("id", "Identificativo", f.ID,
			"Da 1 a 40 tra lettere minuscole, cifre e trattini; compare negli indirizzi di accesso."))
	}
	d.Main = append(d.Main,
		field("name", "Nome sul pulsante di accesso", f.Name, "Per esempio «Accedi con MyID Puglia»."),
		field("issuer", "Emittente (issuer)", f.Issuer, "L'URL da cui parte la discovery, in https."),
		field("client_id", "Client ID", f.ClientID, "L'identificativo del client registrato presso il fornitore."))
	d.Lists = []fieldView{
		field("scopes", "Scope", f.Scopes, "Separati da spazi; «openid» è sempre richiesto."),
		field("acr_values", "Valori acr_values", f.ACRValues,
			"Separati da spazi, per esempio https://www.spid.gov.it/SpidL2; vuoto per non chiederne."),
	}
	d.Claims = []fieldView{
		field("claim_username", "Nome utente", f.Username, "Standard: preferred_username."),
		field("claim_display_name", "Nome visualizzato", f.DisplayName, "Standard: name."),
		field("claim_email", "Email", f.Email, "Standard: email."),
		field("claim_fiscal_code", "Codice fiscale", f.FiscalCode, "Standard: fiscal_number e varianti; il prefisso TINIT- viene tolto."),
		field("claim_groups", "Gruppi", f.GroupClaim, "Standard: groups."),
	}
	h.renderAdmin(w, r, status, "gestione_fornitore.html", title,
		[]site.Crumb{{Label: "Accesso del personale", URL: "/gestione/accesso"}, {Label: title}}, d)
}

// providerCreate saves a new provider.
func (h *Handler) providerCreate(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	f := readProviderForm(r)
	p, errs := f.provider()
	p.ClientSecret = r.PostFormValue("client_secret")
	if p.ClientAuth == auth.PrivateKeyJWT && len(errs) == 0 {
		p.KeyAlg = h.keyAlgFor(r.Context(), p.Issuer)
	}
	if p.ID == "nuovo" {
		errs["id"] = "«nuovo» è riservato: scegli un altro identificativo."
	} else if _, err := h.store.Provider(r.Context(), t.ID, p.ID); err == nil {
		errs["id"] = "Esiste già un fornitore con questo identificativo."
	}
	h.saveProvider(w, r, t, providerData{New: true, Form: f}, p, errs)
}

// providerUpdate saves a changed provider; an empty secret keeps the
// saved one, and so are the keys of private_key_jwt. The form's second
// button (azione=nuova_chiave) rolls the key instead.
func (h *Handler) providerUpdate(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	old, err := h.store.Provider(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := old.SecretsError(); err != nil {
		// An empty secret field would mean "keep the secret", which this
		// node cannot read: refuse rather than ask for it again.
		h.log.ErrorContext(r.Context(), "provider not saved", "tenant", t.ID, "err", err)
		d := providerData{Form: formOf(old), Keys: keyViews(old), HasSecret: old.SealedSecret != ""}
		d.Problem = secretsProblem
		h.showProvider(w, r, http.StatusInternalServerError, d)
		return
	}
	if r.PostFormValue("azione") == "nuova_chiave" {
		if _, err := h.store.RotateProviderKey(r.Context(), t.ID, old.ID, ""); err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/gestione/accesso/"+old.ID+"?fatto=chiave", http.StatusSeeOther)
		return
	}
	f := readProviderForm(r)
	f.ID = old.ID
	p, errs := f.provider()
	p.ClientSecret = r.PostFormValue("client_secret")
	if p.ClientSecret == "" {
		p.ClientSecret = old.ClientSecret
	}
	if p.ClientAuth == auth.PrivateKeyJWT {
		if old.ClientAuth.Method() == auth.PrivateKeyJWT {
			p.Keys, p.KeyAlg = old.Keys, old.KeyAlg
		} else if len(errs) == 0 {
			p.KeyAlg = h.keyAlgFor(r.Context(), p.Issuer)
		}
	}
	h.saveProvider(w, r, t, providerData{Form: f, HasSecret: old.ClientSecret != "", Keys: keyViews(old)}, p, errs)
}

// saveProvider saves p unless the form had errors, and shows them (with
// those of auth's validation) otherwise: nothing changes then.
func (h *Handler) saveProvider(w http.ResponseWriter, r *http.Request, t tenant.Tenant, d providerData, p auth.Provider, errs map[string]string) {
	const problem = "Il fornitore non è stato salvato: correggi i campi indicati."
	if len(errs) == 0 {
		_, err := h.store.SaveProvider(r.Context(), t.ID, p)
		var ve *auth.ValidationError
		switch {
		case errors.As(err, &ve):
			errs = validationErrors(ve)
		case errors.Is(err, auth.ErrNoSecretsKey), errors.Is(err, auth.ErrWrongSecretsKey):
			// The node, not the form, is at fault: say so, keep what was
			// typed, and log the file to fix.
			h.log.ErrorContext(r.Context(), "provider not saved", "tenant", t.ID, "err", err)
			d.Errors, d.Problem = errs, secretsProblem
			h.showProvider(w, r, http.StatusInternalServerError, d)
			return
		case err != nil:
			h.fail(w, r, err)
			return
		default:
			http.Redirect(w, r, "/gestione/accesso?fatto=salvato", http.StatusSeeOther)
			return
		}
	}
	d.Errors, d.Problem = errs, problem
	h.showProvider(w, r, http.StatusUnprocessableEntity, d)
}

// providerDelete removes a provider; sessions made with it stay until
// they end (the users page ends them).
func (h *Handler) providerDelete(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := h.store.DeleteProvider(r.Context(), t.ID, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/gestione/accesso?fatto=eliminato", http.StatusSeeOther)
}
