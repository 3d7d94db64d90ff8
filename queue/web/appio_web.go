package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// App IO for the queue (issue 11), the web side of queue/notify_appio.go:
//
//   - /gestione/coda/appio, for the Comune's administrator: per office,
//     and optionally per service of the office, the App IO API key
//     (write-only: a password field, never shown back; empty keeps the
//     saved one), whether the channel is on, and a box to forget the key.
//     The key is sealed by queue.SaveAppIO in the proposer with
//     Config.AppIOSealer, so only its sealed form enters the log.
//   - On the citizen's ticket page, while the office has the channel on,
//     "Ricevi gli avvisi anche sull'app IO": the citizen gives a codice
//     fiscale (POST /coda/biglietto/{id}/appio), which links the ticket
//     to their IO profile; the "manca poco" and "è il tuo turno" notices
//     then reach the app too. The same is POST /api/v1/tickets/{id}/appio
//     for the apps.
//
// The codice fiscale is asked only here and only for this, never at the
// ticket form: a number at the office door must stay anonymous for
// whoever wants it so, and the page works as before without it.

// Form fields of the App IO pages.
const (
	aioOffice  = "ufficio"
	aioService = "servizio"
	aioKey     = "chiave"
	aioEnabled = "attivo"
	aioClear   = "cancella"
	// aioFiscalCode is the citizen's field on the ticket's page.
	aioFiscalCode = "codice_fiscale"
	// qAppIO = "attivo" on the ticket's page confirms a subscription.
	qAppIO = "appio"
)

// appIOTemplates is the settings page, with the back office's form
// partials.
//
//go:embed templates/appio_config.html templates/_stats_forms.html
var appIOTemplates embed.FS

// errAppIOOff answers the citizen's routes when the ticket's office has
// no App IO channel on (or the node has none at all).
var errAppIOOff = errors.New("App IO is not on for the office")

// appIOOn reports whether the node serves the queue's App IO pages.
func (h *Handler) appIOOn() bool { return len(h.appIO.Key) > 0 }

// appIORoutes mounts the App IO routes when the handler has a sealing
// key: the API's, and the administrator's page with the guard. The
// ticket page's form is citizenRoutes'.
func (h *Handler) appIORoutes(mux *http.ServeMux) {
	if !h.appIOOn() {
		return
	}
	mux.Handle("POST /api/v1/tickets/{id}/appio", h.wrap(h.apiAppIOSubscribe))
	if h.desk == nil {
		return
	}
	sub, err := fs.Sub(appIOTemplates, "templates")
	if err != nil {
		panic(err)
	}
	pages, err := h.site.Templates(sub, "appio_config.html", "_stats*.html")
	if err != nil {
		panic(fmt.Sprintf("queue/web: App IO settings template: %v", err))
	}
	p := &officePages{h: h, book: h.desk.book, guard: h.desk.guard, sessionFrom: h.desk.sessionFrom, pages: pages}
	for _, rt := range p.appIORouteTable() {
		mux.Handle(rt.method+" "+rt.path, p.wrap(rt))
	}
}

// appIORouteTable lists the administrator's App IO routes.
// cmd/sportello's access matrix reads the method and path literals from
// the source.
func (p *officePages) appIORouteTable() []officeRoute {
	return []officeRoute{
		{"GET", "/gestione/coda/appio", auth.RoleComuneAdmin, p.appIOShow},
		{"POST", "/gestione/coda/appio", auth.RoleComuneAdmin, p.appIOSave},
	}
}

// appIOView is the data of appio_config.html.
type appIOView struct {
	CSRF, Flash, General string
	HasOffices           bool
	Office               formField
	OfficeID, OfficeName string
	// CanSeal is false on a node without the sealing key: the page
	// says so instead of failing on save.
	CanSeal bool
	Scopes  []appIOScope
	Errors  []fieldError
}

// appIOScope is one form of the page: the office's own setting
// (ServiceID "") or a service's.
type appIOScope struct {
	// N numbers the forms, for unique element IDs.
	N                 int
	ServiceID, Name   string
	Enabled, HasKey   bool
	KeyError, KeyHelp string
}

// KeyID, EnabledID and ClearID are the scope's element IDs.
func (s appIOScope) KeyID() string     { return aioKey + "-" + strconv.Itoa(s.N) }
func (s appIOScope) EnabledID() string { return aioEnabled + "-" + strconv.Itoa(s.N) }
func (s appIOScope) ClearID() string   { return aioClear + "-" + strconv.Itoa(s.N) }

// appIOPosted is a refused save, shown back: the scope it was for, the
// checkbox as sent and the errors.
type appIOPosted struct {
	serviceID string
	enabled   bool
	keyError  string
	general   string
}

// appIOShow answers GET /gestione/coda/appio?ufficio=….
func (p *officePages) appIOShow(w http.ResponseWriter, r *http.Request, a deskReq) {
	flash := ""
	if r.URL.Query().Get(qCfgOutcome) == "salvato" {
		flash = "Impostazioni di App IO salvate."
	}
	p.appIORender(w, r, a, http.StatusOK, strings.TrimSpace(r.URL.Query().Get(aioOffice)), nil, flash)
}

// appIOSave answers POST /gestione/coda/appio: it saves one scope's
// setting and goes back to the page (303), or shows it again with the
// error (422, 503), having changed nothing.
func (p *officePages) appIOSave(w http.ResponseWriter, r *http.Request, a deskReq) {
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, err)
		return
	}
	ctx := r.Context()
	f := r.PostForm
	officeID, serviceID := strings.TrimSpace(f.Get(aioOffice)), strings.TrimSpace(f.Get(aioService))
	if officeID == "" {
		p.appIORender(w, r, a, http.StatusUnprocessableEntity, "", &appIOPosted{general: "Scegli l'ufficio di cui salvare le impostazioni."}, "")
		return
	}
	office, ok, err := p.activeOffice(ctx, a, officeID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if !ok || (serviceID != "" && !hasService(office, serviceID)) {
		p.h.site.Error(w, r, http.StatusNotFound, "Ufficio o servizio inesistente o archiviato.")
		return
	}
	clear := f.Get(aioClear) != ""
	enabled := f.Get(aioEnabled) != "" && !clear
	posted := &appIOPosted{serviceID: serviceID, enabled: enabled}
	_, err = p.h.q.SaveAppIO(ctx, a.t, office.ID, serviceID, f.Get(aioKey), enabled, clear, p.h.appIO)
	var ve *queue.ValidationError
	switch {
	case errors.As(err, &ve):
		posted.keyError = strings.Join(sortedValues(ve.Fields), " ")
		p.appIORender(w, r, a, http.StatusUnprocessableEntity, office.ID, posted, "")
		return
	case errors.Is(err, appio.ErrNoSealKey):
		posted.general = "Questo nodo non ha la chiave per cifrare le credenziali (secrets.key): la chiave API non è stata salvata. Avvisa chi gestisce il servizio."
		p.appIORender(w, r, a, http.StatusServiceUnavailable, office.ID, posted, "")
		return
	case errors.Is(err, cluster.ErrNotSupportedByCluster):
		posted.general = "Il servizio è in aggiornamento: riprova più tardi."
		p.appIORender(w, r, a, http.StatusServiceUnavailable, office.ID, posted, "")
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	// The log names the office and service, never the key.
	p.h.log.Info("queue App IO saved", "tenant", a.t.ID, "office", office.ID, "service", serviceID,
		"enabled", enabled, "cleared", clear, "user", a.user.ID)
	v := url.Values{aioOffice: {office.ID}, qCfgOutcome: {"salvato"}}
	http.Redirect(w, r, "/gestione/coda/appio?"+v.Encode(), http.StatusSeeOther)
}

// hasService reports whether serviceID is an active service of o.
func hasService(o booking.Office, serviceID string) bool {
	for _, s := range o.Services {
		if s.ID == serviceID {
			return true
		}
	}
	return false
}

// appIORender renders the page of officeID ("" for the first office);
// posted, when not nil, is a refused save.
func (p *officePages) appIORender(w http.ResponseWriter, r *http.Request, a deskReq, status int, officeID string, posted *appIOPosted, flash string) {
	ctx := r.Context()
	offices, err := p.configOffices(ctx, a)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := appIOView{CSRF: a.csrf, Flash: flash, HasOffices: len(offices) > 0, CanSeal: len(p.h.appIO.Key) == 32}
	if posted != nil {
		v.General = posted.general
	}
	if officeID == "" && len(offices) > 0 {
		officeID = offices[0].ID
	}
	v.Office = formField{ID: aioOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio"}
	var office booking.Office
	found := false
	for _, o := range offices {
		sel := o.ID == officeID
		if sel {
			office, found = o, true
		}
		v.Office.Choices = append(v.Office.Choices, deskChoice{Value: o.ID, Label: o.Name, Selected: sel})
	}
	if officeID != "" && !found {
		p.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente o archiviato.")
		return
	}
	if found {
		v.OfficeID, v.OfficeName = office.ID, office.Name
		scopes := []appIOScope{{ServiceID: "", Name: "Tutto l'ufficio"}}
		for _, s := range office.Services {
			scopes = append(scopes, appIOScope{ServiceID: s.ID, Name: s.Name})
		}
		for i := range scopes {
			sc := &scopes[i]
			sc.N = i
			set, err := p.h.q.AppIO(ctx, a.t.ID, office.ID, sc.ServiceID)
			if err != nil {
				p.fail(w, r, err)
				return
			}
			sc.Enabled, sc.HasKey = set.Enabled, set.HasKey
			if sc.HasKey {
				sc.KeyHelp = "Una chiave è già salvata e non viene mostrata: lascia vuoto per tenerla, scrivine una nuova per sostituirla."
			} else {
				sc.KeyHelp = "Nessuna chiave salvata."
			}
			if posted != nil && posted.serviceID == sc.ServiceID && (posted.keyError != "" || posted.general != "") {
				sc.Enabled, sc.KeyError = posted.enabled, posted.keyError
				if sc.KeyError != "" {
					v.Errors = append(v.Errors, fieldError{Field: sc.KeyID(), Label: "Chiave API di «" + sc.Name + "»", Message: sc.KeyError})
				}
			}
		}
		v.Scopes = scopes
	}
	if v.General != "" {
		v.Errors = append([]fieldError{{Field: aioOffice, Label: "Ufficio", Message: v.General}}, v.Errors...)
	}
	title := "App IO per la coda"
	if len(v.Errors) > 0 {
		title = "Errore: " + title
	}
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"},
		{Label: "Impostazioni della coda", URL: "/gestione/coda/impostazioni"}, {Label: "App IO"}}
	w.Header().Set("X-Frame-Options", "DENY")
	p.pages.Render(w, r, status, "appio_config.html", site.Page{Title: title, Breadcrumbs: crumbs, Data: v})
}

// ticketAppIOOn reports whether the notices of ticket k may reach App
// IO: its office's channel, or its service's, is on with a key. A failed
// read is logged and counts as off: the form is an extra of the page,
// which must show the ticket regardless.
func (h *Handler) ticketAppIOOn(ctx context.Context, t tenant.ID, k queue.Ticket) bool {
	if !h.appIOOn() {
		return false
	}
	scopes := []string{""}
	if k.ServiceID != "" {
		scopes = append(scopes, k.ServiceID)
	}
	for _, svc := range scopes {
		s, err := h.q.AppIO(ctx, t, k.OfficeID, svc)
		if err != nil {
			h.log.Error("read App IO setting", "tenant", t, "office", k.OfficeID, "service", svc, "err", err)
			return false
		}
		if s.Enabled && s.HasKey {
			return true
		}
	}
	return false
}

// appIOSubscribe checks the ticket's secret and office, then links the
// ticket to the codice fiscale. Its errors are queue's, errAppIOOff,
// and the rate limit's.
func (h *Handler) appIOSubscribe(r *http.Request, t tenant.ID, id, secret, fiscalCode, lg string) error {
	if ok, wait := h.pushLimiter.Allow(h.clientIP(r), h.now()); !ok {
		return &rateLimitError{RetryAfter: wait}
	}
	ctx := r.Context()
	k, err := h.q.TicketWithSecret(ctx, t, id, secret)
	if err != nil {
		return err
	}
	if !h.ticketAppIOOn(ctx, t, k) {
		return errAppIOOff
	}
	if err := h.q.SubscribeAppIO(ctx, t, id, secret, fiscalCode, lg); err != nil {
		return err
	}
	h.log.Info("ticket App IO subscribed", "tenant", t, "ticket", id)
	return nil
}

// apiAppIORequest is the body of POST /api/v1/tickets/{id}/appio.
type apiAppIORequest struct {
	FiscalCode string `json:"fiscal_code"`
	Lang       string `json:"lang"`
}

// apiAppIOSubscribe answers POST /api/v1/tickets/{id}/appio?secret=…
// (or Authorization: Bearer): 204 once linked; 404 for a wrong secret,
// another Comune's ticket or an office without App IO
// (appio_unavailable), 409 for a closed ticket, 422 for a codice
// fiscale that is not valid.
func (h *Handler) apiAppIOSubscribe(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	secret, err := ticketSecret(r)
	if err == nil {
		var in apiAppIORequest
		if err = decodeJSON(r, &in); err == nil {
			err = h.appIOSubscribe(r, t.ID, r.PathValue("id"), secret, in.FiscalCode, lang(in.Lang))
		}
	}
	switch {
	case err == nil:
		noContent(w)
	case errors.Is(err, errAppIOOff):
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Code: "appio_unavailable",
			Message: "Gli avvisi sull'app IO non sono attivi per l'ufficio di questo biglietto."}})
	case errors.Is(err, queue.ErrTransition):
		writeJSON(w, http.StatusConflict, errorBody{Error: errorDetail{Code: "ticket_closed",
			Message: "Il biglietto non è più attivo: non ci sono più avvisi da mandare."}})
	default:
		h.pushError(w, r, err)
	}
}

// appIO answers POST /coda/biglietto/{id}/appio from the ticket's page:
// 303 back to the page, which confirms; a codice fiscale that is not
// valid shows the page again with the error next to the field (422),
// having changed nothing.
func (c *citizen) appIO(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := r.ParseForm(); err != nil {
		c.pageError(w, r, err)
		return
	}
	secret, cf := r.PostForm.Get("secret"), r.PostForm.Get(aioFiscalCode)
	w.Header().Set("Referrer-Policy", "no-referrer")
	lg := site.LangFrom(r.Context())
	err := c.h.appIOSubscribe(r, t.ID, r.PathValue("id"), secret, cf, lg)
	var ve *queue.ValidationError
	switch {
	case err == nil:
		http.Redirect(w, r, ticketPath(r.PathValue("id"), secret)+"&"+qAppIO+"=attivo", http.StatusSeeOther)
	case errors.As(err, &ve):
		c.showTicketWith(w, r, t, secret, ticketExtras{status: http.StatusUnprocessableEntity,
			appIOError: tr(lg, "field.fiscal_code"), fiscalCode: strings.TrimSpace(cf)})
	case errors.Is(err, errAppIOOff):
		c.h.site.Error(w, r, http.StatusNotFound, tr(lg, "appio.off"))
	case errors.Is(err, queue.ErrTransition):
		c.h.site.Error(w, r, http.StatusConflict, tr(lg, "appio.closed"))
	default:
		c.pageError(w, r, err)
	}
}
