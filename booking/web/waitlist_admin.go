package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The back office of the waiting list and of App IO, per service, on
// pages of their own beside the service form: /gestione/servizi/{id}/
// lista-attesa (how long an offer holds a seat, how many wait) and
// /gestione/servizi/{id}/app-io (the service's App IO API key and
// whether the channel is on). The key is a password field that is never
// filled back: the page says only whether one is stored, so that a
// screenshot, a shoulder or the browser's cache cannot leak it; it is
// sealed in the proposer (Config.AppIOSealer) before it enters the log.

// Form fields of these pages.
const (
	faHold    = "ore"
	faKey     = "chiave"
	faEnabled = "attivo"
	faClear   = "rimuovi"
)

// waitAdminFlashes are the confirmations of these pages' saves.
var waitAdminFlashes = map[string]string{
	"attesa-salvata": "Impostazioni della lista d'attesa salvate.",
	"appio-salvato":  "Impostazioni di App IO salvate.",
}

// waitlistAdminRouteTable lists the back-office routes of the waiting
// list and App IO with their role.
func (h *Handler) waitlistAdminRouteTable() []adminRoute {
	admin := auth.RoleComuneAdmin
	return []adminRoute{
		{"GET", "/gestione/servizi/{id}/lista-attesa", admin, h.adminWaitShow},
		{"POST", "/gestione/servizi/{id}/lista-attesa", admin, h.adminWaitSave},
		{"GET", "/gestione/servizi/{id}/app-io", admin, h.adminAppIOShow},
		{"POST", "/gestione/servizi/{id}/app-io", admin, h.adminAppIOSave},
	}
}

// waitAdminView is the data of gestione_lista_attesa.html and
// gestione_app_io.html.
type waitAdminView struct {
	adminBase
	Service booking.Service
	Waiting int
	Fields  []field
	// App IO only.
	Enabled, HasKey, CanSeal bool
}

func (h *Handler) adminService(w http.ResponseWriter, r *http.Request, a adminReq) (booking.Service, bool) {
	s, err := h.book.Service(r.Context(), a.t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return booking.Service{}, false
	}
	return s, true
}

func (h *Handler) waitAdminBase(r *http.Request, a adminReq) adminBase {
	b := h.newAdminBase(r, a)
	if f, ok := waitAdminFlashes[r.URL.Query().Get(qOutcome)]; ok {
		b.Flash = f
	}
	return b
}

func (h *Handler) adminWaitShow(w http.ResponseWriter, r *http.Request, a adminReq) {
	s, ok := h.adminService(w, r, a)
	if !ok {
		return
	}
	hold, err := h.book.WaitlistHold(r.Context(), a.t.ID, s.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.renderWaitAdmin(w, r, a, http.StatusOK, s, formatHours(hold), formErrors{}, "")
}

// formatHours writes a hold in hours with a decimal comma ("2", "1,5").
func formatHours(d time.Duration) string {
	return strings.Replace(strconv.FormatFloat(d.Hours(), 'f', -1, 64), ".", ",", 1)
}

func (h *Handler) adminWaitSave(w http.ResponseWriter, r *http.Request, a adminReq) {
	s, ok := h.adminService(w, r, a)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	text := strings.TrimSpace(r.PostForm.Get(faHold))
	hours, err := strconv.ParseFloat(strings.Replace(text, ",", ".", 1), 64)
	fe := formErrors{}
	if err != nil || hours <= 0 {
		fe[faHold] = "Indica le ore con un numero, per esempio 2 oppure 1,5."
		h.renderWaitAdmin(w, r, a, http.StatusUnprocessableEntity, s, text, fe, "")
		return
	}
	idx, err := h.book.SaveWaitlistHold(r.Context(), a.t.ID, s.ID, time.Duration(hours*float64(time.Hour)))
	var ve *booking.ValidationError
	switch {
	case errors.As(err, &ve):
		fe[faHold] = ve.Fields["hold"]
		h.renderWaitAdmin(w, r, a, http.StatusUnprocessableEntity, s, text, fe, "")
		return
	case errors.Is(err, cluster.ErrNotSupportedByCluster):
		h.renderWaitAdmin(w, r, a, http.StatusServiceUnavailable, s, text, fe, "Il servizio è in aggiornamento: riprova più tardi.")
		return
	case err != nil:
		h.pageError(w, r, err)
		return
	}
	afterSave(w, r, "/gestione/servizi/"+url.PathEscape(s.ID)+"/lista-attesa", "attesa-salvata", idx)
}

func (h *Handler) renderWaitAdmin(w http.ResponseWriter, r *http.Request, a adminReq, status int, s booking.Service, hold string, fe formErrors, general string) {
	v := waitAdminView{adminBase: h.waitAdminBase(r, a), Service: s}
	v.General = general
	if msg, ok := fe[faHold]; ok {
		v.ErrorList = []fieldError{{Field: faHold, Label: "Tempo per accettare", Message: msg}}
	}
	v.Waiting, _ = h.book.WaitingCount(r.Context(), a.t.ID, s.ID)
	v.Fields = []field{{ID: faHold, Label: "Tempo per accettare (ore)", Type: "text", Value: hold, Error: fe[faHold], Required: true, MaxLen: 5,
		Help: "Quando si libera un posto, per quante ore resta riservato alla prima persona in lista prima di passare alla successiva: " +
			"tra 0,25 (15 minuti) e 48. Non va mai oltre il preavviso minimo dell'appuntamento."}}
	title := "Lista d'attesa: " + s.Name
	if len(fe) > 0 || general != "" {
		title = "Errore: " + title
	}
	h.pages.Render(w, r, status, "gestione_lista_attesa.html", site.Page{
		Title: title,
		Breadcrumbs: adminCrumbs(site.Crumb{Label: "Servizi", URL: "/gestione/servizi"},
			site.Crumb{Label: s.Name, URL: "/gestione/servizi/" + url.PathEscape(s.ID)}, site.Crumb{Label: "Lista d'attesa"}),
		Data: v,
	})
}

func (h *Handler) adminAppIOShow(w http.ResponseWriter, r *http.Request, a adminReq) {
	s, ok := h.adminService(w, r, a)
	if !ok {
		return
	}
	h.renderAppIO(w, r, a, http.StatusOK, s, formErrors{}, "", nil)
}

func (h *Handler) adminAppIOSave(w http.ResponseWriter, r *http.Request, a adminReq) {
	s, ok := h.adminService(w, r, a)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	enabled, clear := r.PostForm.Get(faEnabled) == "1", r.PostForm.Get(faClear) == "1"
	key := strings.TrimSpace(r.PostForm.Get(faKey))
	idx, err := h.book.SaveAppIO(r.Context(), a.t.ID, s.ID, key, enabled && !clear, clear, h.appIO)
	var ve *booking.ValidationError
	switch {
	case errors.As(err, &ve):
		fe := formErrors{}
		for _, msg := range ve.Fields {
			fe[faKey] = msg
		}
		h.renderAppIO(w, r, a, http.StatusUnprocessableEntity, s, fe, "", &enabled)
		return
	case errors.Is(err, appio.ErrNoSealKey):
		h.renderAppIO(w, r, a, http.StatusServiceUnavailable, s, formErrors{}, "Questo nodo non ha la chiave per cifrare le credenziali (secrets.key): la chiave API non è stata salvata. Avvisa chi gestisce il servizio.", &enabled)
		return
	case errors.Is(err, cluster.ErrNotSupportedByCluster):
		h.renderAppIO(w, r, a, http.StatusServiceUnavailable, s, formErrors{}, "Il servizio è in aggiornamento: riprova più tardi.", &enabled)
		return
	case err != nil:
		h.pageError(w, r, fmt.Errorf("save App IO: %w", err))
		return
	}
	afterSave(w, r, "/gestione/servizi/"+url.PathEscape(s.ID)+"/app-io", "appio-salvato", idx)
}

// renderAppIO shows the App IO page; enabled, when not nil, is the
// checkbox as sent back with an error.
func (h *Handler) renderAppIO(w http.ResponseWriter, r *http.Request, a adminReq, status int, s booking.Service, fe formErrors, general string, enabled *bool) {
	set, err := h.book.AppIO(r.Context(), a.t.ID, s.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := waitAdminView{adminBase: h.waitAdminBase(r, a), Service: s, Enabled: set.Enabled, HasKey: set.HasKey, CanSeal: len(h.appIO.Key) == 32}
	if enabled != nil {
		v.Enabled = *enabled
	}
	v.General = general
	if msg, ok := fe[faKey]; ok {
		v.ErrorList = []fieldError{{Field: faKey, Label: "Chiave API", Message: msg}}
	}
	help := "La chiave primaria del servizio, dal portale di App IO per gli enti (area Servizi). "
	if set.HasKey {
		help += "Una chiave è già salvata e non viene mostrata: lascia vuoto per tenerla, scrivine una nuova per sostituirla."
	} else {
		help += "Nessuna chiave salvata."
	}
	v.Fields = []field{{ID: faKey, Label: "Chiave API", Type: "password", Error: fe[faKey], MaxLen: 200, Help: help}}
	title := "App IO: " + s.Name
	if len(fe) > 0 || general != "" {
		title = "Errore: " + title
	}
	h.pages.Render(w, r, status, "gestione_app_io.html", site.Page{
		Title: title,
		Breadcrumbs: adminCrumbs(site.Crumb{Label: "Servizi", URL: "/gestione/servizi"},
			site.Crumb{Label: s.Name, URL: "/gestione/servizi/" + url.PathEscape(s.ID)}, site.Crumb{Label: "App IO"}),
		Data: v,
	})
}
