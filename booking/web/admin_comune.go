package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// ComuneSettings reads and saves a Comune's own settings (name, region
// label, branding, email sender); *tenant.Registry implements it. The
// Comune's ID and host names are not among them: the page cannot change
// where the Comune answers.
type ComuneSettings interface {
	Get(ctx context.Context, id tenant.ID) (tenant.Tenant, error)
	Settings(ctx context.Context, id tenant.ID) (tenant.Settings, error)
	SaveSettings(ctx context.Context, id tenant.ID, s tenant.Settings) (uint64, error)
}

// Form fields of /gestione/comune.
const (
	fcmName       = "comune-nome"
	fcmRegion     = "comune-regione"
	fcmColor      = "comune-colore"
	fcmLogo       = "comune-logo"
	fcmSenderName = "mittente-nome"
	fcmSenderAddr = "mittente-indirizzo"
	fcmReplyTo    = "risposte-indirizzo"
	fcmRetention  = "documenti-giorni"
	fcmReminders  = "promemoria"
	fcmLanguages  = "lingue"
)

var comuneSpec = formSpec{
	order: []string{fcmName, fcmRegion, fcmColor, fcmLogo, fcmLanguages, fcmSenderName, fcmSenderAddr, fcmReplyTo, fcmReminders, fcmRetention},
	labels: map[string]string{
		fcmName: "Nome del Comune", fcmRegion: "Ente di appartenenza", fcmColor: "Colore principale",
		fcmLogo: "Stemma", fcmSenderName: "Nome del mittente", fcmSenderAddr: "Indirizzo del mittente",
		fcmReplyTo: "Indirizzo per le risposte", fcmRetention: "Conservazione dei documenti (giorni)",
		fcmReminders: "Promemoria prima dell'appuntamento", fcmLanguages: "Lingue del sito",
	},
}

// comuneDomainFields maps package tenant's field keys to the form's.
var comuneDomainFields = map[string]string{
	"name": fcmName, "region": fcmRegion, "branding.primary_color": fcmColor,
	"branding.logo_url": fcmLogo, "sender.name": fcmSenderName, "sender.address": fcmSenderAddr,
	"reply_to": fcmReplyTo, "document_retention_days": fcmRetention,
}

// comuneView is the data of /gestione/comune.
type comuneView struct {
	adminBase
	Branding, Sender []field
	// Calls holds the settings of the video calls.
	Calls []field
	// Reminders holds the reminders' offsets (admin_comune_reminders.go).
	Reminders []field
	// Hosts are the names the Comune answers on, shown read-only.
	Hosts []string
	// SenderDomain is the domain of the saved From address, for the
	// warning about the relay's authorisation; "" without one.
	SenderDomain string
}

// comuneForm is the form's values as typed.
type comuneForm struct {
	Name, Region, Color, Logo, SenderName, SenderAddr, ReplyTo string
	// Retention is the days as typed; "" is the default (0).
	Retention string
	// Reminders is the reminders' offsets as typed ("24 h, 2 h"; ""
	// is none).
	Reminders string
	// Languages are the site's languages as typed, "it, en, de".
	Languages string
}

func comuneFormOf(s tenant.Settings) comuneForm {
	return comuneForm{Name: s.Name, Region: s.Region, Color: s.Branding.PrimaryColor, Logo: s.Branding.LogoURL,
		SenderName: s.Sender.Name, SenderAddr: s.Sender.Address, ReplyTo: s.ReplyTo,
		Retention: retentionText(s.DocumentRetentionDays), Languages: strings.Join(s.Languages, ", ")}
}

// parseLanguages reads the languages typed, separated by commas or
// spaces; none is an error (a site needs a language). Package tenant
// checks each code.
func parseLanguages(fe formErrors, s string) []string {
	langs := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
	if len(langs) == 0 {
		fe[fcmLanguages] = "Indica almeno una lingua, per esempio «it, en, de»."
	}
	return langs
}

func retentionText(days int) string {
	if days == 0 {
		return ""
	}
	return strconv.Itoa(days)
}

// parseRetention reads the days typed: "" is 0 (the default); anything
// but a whole number is an error in fe. The bounds are package tenant's.
func parseRetention(fe formErrors, s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 {
		fe[fcmRetention] = fmt.Sprintf("Indica un numero intero di giorni tra %d e %d, oppure lascia vuoto per il periodo predefinito.",
			tenant.MinDocumentRetentionDays, tenant.MaxDocumentRetentionDays)
		return 0
	}
	return n
}

// adminComune answers GET /gestione/comune. It reads the Comune again
// after waiting for the save that redirected here (newAdminBase): the
// Comune the middleware resolved may predate it on this node.
func (h *Handler) adminComune(w http.ResponseWriter, r *http.Request, a adminReq) {
	if h.tenants == nil {
		h.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	base := h.newAdminBase(r, a)
	t, err := h.tenants.Get(r.Context(), a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	s, err := h.tenants.Settings(r.Context(), a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	f := comuneFormOf(s)
	if f.Reminders, err = h.remindersText(r.Context(), a.t.ID); err != nil {
		h.pageError(w, r, err)
		return
	}
	// The layout paints the page from the context's Comune: give it the
	// one just read, so the new colour shows on the page that confirms it.
	r = r.WithContext(site.WithTenant(r.Context(), t))
	h.renderComune(w, r, adminReq{t: t, user: a.user, csrf: a.csrf}, base, http.StatusOK, f, formErrors{}, "")
}

// adminComuneSave answers POST /gestione/comune: it saves the settings
// and redirects to the page, or shows the form again with the values
// typed and the errors, changing nothing. The Comune is always the one
// of the request's Host, never one named by the form.
func (h *Handler) adminComuneSave(w http.ResponseWriter, r *http.Request, a adminReq) {
	if h.tenants == nil {
		h.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	get := func(k string) string { return strings.TrimSpace(r.PostForm.Get(k)) }
	f := comuneForm{Name: get(fcmName), Region: get(fcmRegion), Color: strings.ToLower(get(fcmColor)),
		Logo: get(fcmLogo), SenderName: get(fcmSenderName), SenderAddr: get(fcmSenderAddr), ReplyTo: get(fcmReplyTo),
		Retention: get(fcmRetention), Reminders: get(fcmReminders), Languages: get(fcmLanguages)}
	fe := formErrors{}
	retention := parseRetention(fe, f.Retention)
	offsets := parseReminders(fe, f.Reminders)
	// A form without the field (a page from before it existed) keeps
	// the languages; an empty field is an error.
	var langs []string
	if _, sent := r.PostForm[fcmLanguages]; sent {
		langs = parseLanguages(fe, f.Languages)
	}
	checkComuneColor(fe, f.Color)
	if f.SenderName != "" && f.SenderAddr == "" {
		fe[fcmSenderAddr] = "Indica anche l'indirizzo: senza indirizzo il nome del mittente non si usa."
	}
	s := tenant.Settings{Name: f.Name, Region: f.Region,
		Branding: tenant.Branding{PrimaryColor: f.Color, LogoURL: f.Logo},
		Sender:   tenant.Sender{Name: f.SenderName, Address: f.SenderAddr}, ReplyTo: f.ReplyTo,
		DocumentRetentionDays: retention, Languages: langs}
	general := ""
	if len(fe) == 0 && tenant.ValidateSettings(s) == nil {
		// The reminders go first: their command is the one a cluster
		// in the middle of an upgrade may refuse, and then nothing at
		// all should have changed.
		if err := h.saveReminders(r.Context(), a.t.ID, offsets); err != nil {
			if !reminderFormError(fe, err) {
				h.pageError(w, r, err)
				return
			}
		}
	}
	if len(fe) == 0 {
		index, err := h.tenants.SaveSettings(r.Context(), a.t.ID, s)
		if err == nil {
			h.log.Info("comune settings saved", "tenant", a.t.ID, "user", a.user.ID)
			afterSave(w, r, "/gestione/comune", "comune-salvato", index)
			return
		}
		var ok bool
		if general, ok = fe.fromTenant(err); !ok {
			h.pageError(w, r, err)
			return
		}
	} else if err := tenant.ValidateSettings(s); err != nil {
		// Show the other fields' errors too, not only the colour's.
		other := formErrors{}
		other.fromTenant(err)
		for k, v := range other {
			if _, set := fe[k]; !set {
				fe[k] = v
			}
		}
	}
	h.renderComune(w, r, a, h.newAdminBase(r, a), http.StatusUnprocessableEntity, f, fe, general)
}

// checkComuneColor refuses a colour on which white text (the header, the
// buttons) would not reach WCAG AA. The layout would darken such a colour
// by itself, but the administrator would not see the colour they chose:
// better to say so and let them pick.
func checkComuneColor(fe formErrors, c string) {
	if c == "" {
		return
	}
	ratio, err := tenant.ContrastWithWhite(c)
	if err != nil {
		fe[fcmColor] = "Indica il colore nel formato #rrggbb, per esempio #0066cc."
		return
	}
	if ratio < tenant.MinContrast {
		fe[fcmColor] = fmt.Sprintf("Il colore è troppo chiaro: il testo bianco su questo colore ha un contrasto di %s:1, "+
			"le regole di accessibilità (WCAG 2.1, livello AA) chiedono almeno 4,5:1. Scegli una tonalità più scura.", italianRatio(ratio))
	}
}

// italianRatio formats a contrast ratio with one decimal and a comma,
// rounded down so that a colour just below 4.5 never reads "4,5".
func italianRatio(x float64) string {
	tenths := int(x * 10)
	return fmt.Sprintf("%d,%d", tenths/10, tenths%10)
}

// fromTenant copies the messages of a *tenant.ValidationError into fe,
// renaming its keys to the form's; a key the form does not edit becomes
// the general message. It reports whether err was one.
func (fe formErrors) fromTenant(err error) (general string, ok bool) {
	var ve *tenant.ValidationError
	if !errors.As(err, &ve) {
		return "", false
	}
	for k, msg := range ve.Fields {
		if name, ok := comuneDomainFields[k]; ok {
			fe[name] = msg
			continue
		}
		if k == "languages" || strings.HasPrefix(k, "languages.") {
			fe[fcmLanguages] = msg
			continue
		}
		general = msg
	}
	return general, true
}

// renderComune shows the form with values f and errors fe.
func (h *Handler) renderComune(w http.ResponseWriter, r *http.Request, a adminReq, base adminBase, status int, f comuneForm, fe formErrors, general string) {
	v := comuneView{adminBase: base}
	v.ErrorList, v.General = comuneSpec.errorList(fe), general
	colorHelp := "Nel formato #rrggbb, per esempio #0066cc. Colora l'intestazione e i pulsanti, con il testo bianco: " +
		"deve essere abbastanza scuro (contrasto di almeno 4,5:1). Vuoto: il blu di Designers Italia."
	if ratio, err := tenant.ContrastWithWhite(a.t.Branding.PrimaryColor); err == nil {
		colorHelp += fmt.Sprintf(" Il colore attuale ha un contrasto di %s:1.", italianRatio(ratio))
	}
	v.Branding = []field{
		{ID: fcmName, Label: "Nome del Comune", Type: "text", Value: f.Name, Error: fe[fcmName], Required: true, MaxLen: 100,
			Help: "Come appare nell'intestazione di ogni pagina, per esempio «Comune di Bari»."},
		{ID: fcmRegion, Label: "Ente di appartenenza", Type: "text", Value: f.Region, Error: fe[fcmRegion], MaxLen: 100,
			Help: "Facoltativo. Appare nella barra in alto, per esempio «Regione Puglia»."},
		{ID: fcmColor, Label: "Colore principale", Type: "text", Value: f.Color, Error: fe[fcmColor], MaxLen: 7, Help: colorHelp},
		{ID: fcmLogo, Label: "Stemma", Type: "text", Value: f.Logo, Error: fe[fcmLogo], MaxLen: 2048,
			Help: "Facoltativo. Un percorso su questo sito che inizia con / oppure un indirizzo https://: " +
				"le pagine caricano immagini solo da questo sito e dal sito https indicato."},
		{ID: fcmLanguages, Label: "Lingue del sito", Type: "text", Value: f.Languages, Error: fe[fcmLanguages], Required: true, MaxLen: 40,
			Help: "Le lingue delle pagine per i cittadini, separate da virgole: it (italiano), en (inglese), de (tedesco). " +
				"La prima è quella predefinita; il cittadino sceglie tra le altre, e il browser propone la sua se è nell'elenco."},
	}
	addrHelp := "Facoltativo. Senza indirizzo le email partono dal mittente predefinito del servizio."
	v.Sender = []field{
		{ID: fcmSenderName, Label: "Nome del mittente", Type: "text", Value: f.SenderName, Error: fe[fcmSenderName], MaxLen: 100,
			Help: "Facoltativo. Vuoto: il nome del Comune."},
		{ID: fcmSenderAddr, Label: "Indirizzo del mittente", Type: "email", Value: f.SenderAddr, Error: fe[fcmSenderAddr], MaxLen: 254,
			Help: addrHelp},
		{ID: fcmReplyTo, Label: "Indirizzo per le risposte", Type: "email", Value: f.ReplyTo, Error: fe[fcmReplyTo], MaxLen: 254,
			Help: "Facoltativo. Le risposte dei cittadini vanno all'email dell'ufficio dell'appuntamento; " +
				"se l'ufficio non ne ha una, a questo indirizzo."},
	}
	v.Calls = []field{
		{ID: fcmRetention, Label: "Conservazione dei documenti (giorni)", Type: "number", Value: f.Retention,
			Error: fe[fcmRetention], Min: strconv.Itoa(tenant.MinDocumentRetentionDays),
			Help: fmt.Sprintf("Per quanti giorni conservare i documenti scambiati nelle videochiamate, da %d a %d; "+
				"poi sono cancellati. Vuoto: il periodo predefinito del servizio. Vale per i documenti caricati da ora in poi.",
				tenant.MinDocumentRetentionDays, tenant.MaxDocumentRetentionDays)},
	}
	v.Reminders = []field{remindersField(f.Reminders, fe[fcmReminders])}
	if at := strings.LastIndexByte(a.t.Sender.Address, '@'); at >= 0 {
		v.SenderDomain = a.t.Sender.Address[at+1:]
	}
	if hs, ok := h.tenants.(interface{ Hosts(tenant.Tenant) []string }); ok {
		v.Hosts = hs.Hosts(a.t)
	}
	h.adminRender(w, r, status, "gestione_comune.html", "Comune", adminCrumbs(site.Crumb{Label: "Comune"}), v)
}
