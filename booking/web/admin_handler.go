package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The back office of a Comune's administrators: offices, services,
// closures and extra openings (admin_*.go, templates gestione*.html). It
// is mounted only with Config.Guard; every route names the role it needs,
// and the guard refuses the others (login redirect, 401, 403) and checks
// the CSRF token of every POST.

// csrfField is the form field of the session's CSRF token; it must equal
// authweb.CSRFField (a test holds them together: this package may not
// import auth/web).
const csrfField = "csrf"

// adminWait bounds how long a page shown after a save waits for this node
// to apply the save (the redirect may reach another node than the one
// that proposed it). A healthy follower is a few milliseconds behind.
const adminWait = 3 * time.Second

// Query parameters of the page a save redirects to.
const (
	qOutcome = "esito"  // which confirmation to show (adminFlashes)
	qIndex   = "indice" // the save's log index, to wait for
)

// adminFlashes are the confirmations shown after a save, by the esito
// parameter: the message is never taken from the URL.
var adminFlashes = map[string]string{
	"ufficio-creato":         "Ufficio creato.",
	"ufficio-salvato":        "Modifiche all'ufficio salvate.",
	"ufficio-archiviato":     "Ufficio archiviato: i cittadini non lo vedono più e i suoi servizi non si prenotano più. Le prenotazioni già fatte restano valide.",
	"ufficio-ripristinato":   "Ufficio ripristinato: è di nuovo visibile ai cittadini.",
	"servizio-creato":        "Servizio creato.",
	"servizio-salvato":       "Modifiche al servizio salvate.",
	"servizio-archiviato":    "Servizio archiviato: i cittadini non possono più prenotarlo. Le prenotazioni già fatte restano valide.",
	"servizio-ripristinato":  "Servizio ripristinato: i cittadini possono di nuovo prenotarlo.",
	"chiusura-aggiunta":      "Chiusura aggiunta.",
	"chiusura-rimossa":       "Chiusura rimossa.",
	"apertura-aggiunta":      "Apertura straordinaria aggiunta.",
	"apertura-rimossa":       "Apertura straordinaria rimossa.",
	"comune-salvato":         "Impostazioni del Comune salvate.",
	"sportello-creato":       "Sportello creato.",
	"sportello-salvato":      "Modifiche allo sportello salvate.",
	"sportello-archiviato":   "Sportello archiviato: non vi si chiama più nessuno. Resta nell'elenco con il suo nome.",
	"sportello-ripristinato": "Sportello ripristinato.",
}

// adminRoute is one route of the back office. role is what the user
// needs; "" admits any logged-in user of the Comune (the home page, which
// lists only what the user may use).
type adminRoute struct {
	method, path string
	role         auth.Role
	fn           adminHandler
}

// adminHandler is a back-office route's handler.
type adminHandler func(w http.ResponseWriter, r *http.Request, a adminReq)

// adminReq is who asks: the Comune of the request's Host, the user of its
// session (a session belongs to one Comune) and the session's CSRF token.
type adminReq struct {
	t    tenant.Tenant
	user auth.User
	csrf string
}

// adminRouteTable lists the back office's routes with the role of each.
func (h *Handler) adminRouteTable() []adminRoute {
	admin := auth.RoleComuneAdmin
	return []adminRoute{
		{"GET", "/gestione", "", h.adminHome},
		{"GET", "/gestione/uffici", admin, h.adminOfficeList},
		{"GET", "/gestione/uffici/nuovo", admin, h.adminOfficeNew},
		{"POST", "/gestione/uffici/nuovo", admin, h.adminOfficeSave},
		{"GET", "/gestione/uffici/{id}", admin, h.adminOfficeEdit},
		{"POST", "/gestione/uffici/{id}", admin, h.adminOfficeSave},
		{"POST", "/gestione/uffici/{id}/archivio", admin, h.adminOfficeArchive},
		{"GET", "/gestione/servizi", admin, h.adminServiceList},
		{"GET", "/gestione/servizi/nuovo", admin, h.adminServiceNew},
		{"POST", "/gestione/servizi/nuovo", admin, h.adminServiceSave},
		{"GET", "/gestione/servizi/{id}", admin, h.adminServiceEdit},
		{"POST", "/gestione/servizi/{id}", admin, h.adminServiceSave},
		{"POST", "/gestione/servizi/{id}/archivio", admin, h.adminServiceArchive},
		{"GET", "/gestione/chiusure", admin, h.adminClosures},
		{"POST", "/gestione/chiusure", admin, h.adminClosureAdd},
		{"POST", "/gestione/chiusure/{id}/rimuovi", admin, h.adminClosureRemove},
		{"POST", "/gestione/aperture", admin, h.adminOpeningAdd},
		{"POST", "/gestione/aperture/{id}/rimuovi", admin, h.adminOpeningRemove},
		{"GET", "/gestione/sportelli", admin, h.adminDeskList},
		{"GET", "/gestione/sportelli/nuovo", admin, h.adminDeskNew},
		{"POST", "/gestione/sportelli/nuovo", admin, h.adminDeskSave},
		{"GET", "/gestione/sportelli/{id}", admin, h.adminDeskEdit},
		{"POST", "/gestione/sportelli/{id}", admin, h.adminDeskSave},
		{"POST", "/gestione/sportelli/{id}/archivio", admin, h.adminDeskArchive},
		{"GET", "/gestione/comune", admin, h.adminComune},
		{"POST", "/gestione/comune", admin, h.adminComuneSave},
		// Fair access: the suspicious-patterns report (admin_fair_report.go).
		{"GET", "/gestione/statistiche/anomalie", admin, h.adminFairReport},
	}
}

// adminRoutes mounts the back office on mux when the handler has a guard.
func (h *Handler) adminRoutes(mux *http.ServeMux) {
	if h.guard == nil {
		return
	}
	for _, rt := range h.adminRouteTable() {
		mux.Handle(rt.method+" "+rt.path, h.adminWrap(rt))
	}
}

// adminWrap caps the body, then lets the guard check the role and the
// CSRF token (it reads the form, so the cap must come first), then calls
// the route with the request's Comune and user.
func (h *Handler) adminWrap(rt adminRoute) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.site.Error(w, r, http.StatusNotFound, "")
			return
		}
		s, u, ok := h.sessionFrom(r.Context())
		if !ok {
			// Only the home page, which needs no role, gets here
			// without a session: send the browser to the login, as the
			// guard does for the other pages.
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/_auth/login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.site.Error(w, r, http.StatusUnauthorized, "Accedi per continuare.")
			return
		}
		rt.fn(w, r, adminReq{t: t, user: u, csrf: s.CSRF})
	})
	var guarded http.Handler = inner
	if rt.role != "" {
		guarded = h.guard.RequireRole(rt.role, inner)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		guarded.ServeHTTP(w, r)
	})
}

// adminBase is what every back-office page shows besides its own data.
type adminBase struct {
	// CSRF is the session's token, for the forms' hidden field.
	CSRF string
	// Flash confirms the save that led to the page.
	Flash string
	// ErrorList and General feed the error summary (partial
	// "error-summary").
	ErrorList []fieldError
	General   string
}

// newAdminBase returns the page's base, with the confirmation of the save
// that redirected here. It first waits (at most adminWait) until this
// node has applied that save, so the page shows it whichever node serves
// it.
func (h *Handler) newAdminBase(r *http.Request, a adminReq) adminBase {
	b := adminBase{CSRF: a.csrf}
	q := r.URL.Query()
	if idx, err := strconv.ParseUint(q.Get(qIndex), 10, 64); err == nil && idx > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), adminWait)
		err := h.book.WaitApplied(ctx, idx)
		cancel()
		if err != nil {
			h.log.Warn("back office: save not applied here yet", "tenant", a.t.ID, "index", idx, "err", err)
		}
	}
	b.Flash = adminFlashes[q.Get(qOutcome)]
	return b
}

// afterSave redirects (303) to path with the confirmation and the index
// to wait for.
func afterSave(w http.ResponseWriter, r *http.Request, path, outcome string, index uint64) {
	v := url.Values{qOutcome: {outcome}, qIndex: {strconv.FormatUint(index, 10)}}
	http.Redirect(w, r, path+"?"+v.Encode(), http.StatusSeeOther)
}

// adminCrumbs are the breadcrumbs of a back-office page: Home, Gestione,
// then the given ones (the last is the page).
func adminCrumbs(more ...site.Crumb) []site.Crumb {
	return append([]site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}}, more...)
}

// adminRender renders a back-office page. The pages carry a CSRF token
// and the user's data: they are never cached (Render's default).
func (h *Handler) adminRender(w http.ResponseWriter, r *http.Request, status int, page, title string, crumbs []site.Crumb, data any) {
	w.Header().Set("X-Frame-Options", "DENY")
	h.pages.Render(w, r, status, page, site.Page{Title: title, Breadcrumbs: crumbs, Data: data})
}

// section is one entry of the back office's home.
type section struct {
	Path, Title, Description string
}

// adminSections are the back office's sections, each with the role it
// needs. Some are served by other packages (auth/web: utenti, accesso,
// registro) or files (agenda, statistiche).
var adminSections = []struct {
	section
	// roles are those that open the section (any one of them).
	roles []auth.Role
}{
	{section{"/gestione/agenda", "Agenda", "Gli appuntamenti di oggi e dei prossimi giorni dei tuoi uffici."}, []auth.Role{auth.RoleOperator, auth.RoleSupervisor}},
	{section{"/gestione/coda", "Coda", "Chiama il prossimo cittadino e segui la coda dell'ufficio."}, []auth.Role{auth.RoleOperator, auth.RoleSupervisor}},
	{section{"/gestione/uffici", "Uffici", "Indirizzi, contatti e orari di apertura degli uffici."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/servizi", "Servizi", "I servizi prenotabili, la durata, gli sportelli e le regole di prenotazione."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/sportelli", "Sportelli", "Le postazioni di ogni ufficio e i servizi che vi si svolgono"}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/chiusure", "Chiusure e aperture straordinarie", "I giorni di chiusura degli uffici e le aperture fuori orario."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/comune", "Comune", "Nome, colori, logo e mittente delle email."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/privacy", "Dati personali", "Esporta i dati di un cittadino e decidi le richieste di cancellazione."}, []auth.Role{auth.RoleSupervisor, auth.RoleComuneAdmin}},
	{section{"/gestione/comune/privacy-dati", "Conservazione dei dati", "Per quanto tempo si conservano prenotazioni, biglietti, documenti e registro, e i blocchi per motivi legali."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/comune/privacy", "Informativa privacy", "Il testo dell'informativa sul trattamento dei dati personali, pubblicato su /privacy."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/comune/accessibilita", "Dichiarazione di accessibilità", "La dichiarazione di accessibilità del sito, pubblicata su /accessibilita."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/assistente", "Assistente virtuale", "Le domande frequenti e i sinonimi con cui l'assistente risponde ai cittadini, e una prova di ciò che capisce."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/domini", "Domini e certificati", "Gli indirizzi del Comune, i domini propri e i loro certificati HTTPS."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/utenti", "Utenti", "Gli operatori e gli amministratori, i loro ruoli e uffici."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/accesso", "Accesso", "I sistemi di accesso (OpenID Connect) degli operatori."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/registro", "Registro delle attività", "Chi ha fatto cosa, quando e da dove."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/statistiche", "Statistiche", "Prenotazioni, disdette e assenze per ufficio e servizio."}, []auth.Role{auth.RoleSupervisor}},
	{section{"/gestione/statistiche/anomalie", "Prenotazioni sospette", "Contatti dietro molti codici fiscali, raffiche da una stessa rete, nomi che non tornano con il codice fiscale."}, []auth.Role{auth.RoleComuneAdmin}},
	{section{"/gestione/coda/statistiche", "Statistiche della coda", "Biglietti, attese e tempi di servizio per ora, servizio e sportello."}, []auth.Role{auth.RoleSupervisor}},
	{section{"/gestione/coda/chioschi", "Chioschi della coda", "Registra e revoca i chioschi che danno i numeri in ufficio."}, []auth.Role{auth.RoleSupervisor}},
	{section{"/gestione/coda/impostazioni", "Impostazioni della coda", "Lettere dei biglietti, arrivi dei prenotati, limiti e orari della coda di ogni ufficio."}, []auth.Role{auth.RoleComuneAdmin}},
}

// homeView is the data of the back office's home.
type homeView struct {
	adminBase
	Name     string
	Sections []section
}

// adminHome answers GET /gestione: the greeting, the sections the user may
// use and the logout button.
func (h *Handler) adminHome(w http.ResponseWriter, r *http.Request, a adminReq) {
	v := homeView{adminBase: h.newAdminBase(r, a), Name: displayName(a.user)}
	for _, s := range adminSections {
		for _, role := range s.roles {
			if a.user.Allowed(role, "") {
				v.Sections = append(v.Sections, s.section)
				break
			}
		}
	}
	h.adminRender(w, r, http.StatusOK, "gestione.html", "Gestione", []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione"}}, v)
}

// displayName is how the back office names the user.
func displayName(u auth.User) string {
	switch {
	case u.DisplayName != "":
		return u.DisplayName
	case u.Username != "":
		return u.Username
	}
	return u.Email
}
