package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Applied is the node's log position; *cluster.Node implements it.
type Applied interface {
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
}

// Guard is the operators' login, auth/web's Handler: it admits a
// request only for a user allowed role, with the session's CSRF token on
// state-changing requests, and answers the page's failures and saves as
// every back-office page does.
type Guard interface {
	BackOffice(role auth.Role, maxBody int64,
		fn func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User)) http.Handler
	BackOfficeFail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, notFound ...error)
	AfterSave(w http.ResponseWriter, r *http.Request, page, outcome string, index uint64)
	SavedFlash(r *http.Request, wait func(ctx context.Context, index uint64) error, flashes map[string]string) string
}

// Config configures a Handler; every field but Logger is required.
type Config struct {
	Site    *site.Site
	Privacy *privacy.Service
	Applied Applied
	Guard   Guard
	Logger  *slog.Logger
}

// Handler serves /gestione/comune/privacy-dati.
type Handler struct {
	pages   *site.Templates
	priv    *privacy.Service
	applied Applied
	guard   Guard
	log     *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

// New returns a Handler, or an error when cfg lacks a part or the
// templates do not parse.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Site == nil || cfg.Privacy == nil || cfg.Applied == nil:
		return nil, errors.New("privacy/web: Config.Site, Privacy and Applied are required")
	case cfg.Guard == nil:
		return nil, errors.New("privacy/web: Config.Guard is required")
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("privacy/web: %w", err)
	}
	pages, err := cfg.Site.Templates(sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("privacy/web: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{pages: pages, priv: cfg.Privacy, applied: cfg.Applied, guard: cfg.Guard,
		log: logger.With("component", "privacy/web")}, nil
}

// Page is the path of the page.
const Page = "/gestione/comune/privacy-dati"

// Routes mounts the page and its forms, every one for the Comune
// administrator only. The mux must sit behind the site's Tenant
// middleware and auth/web's Sessions.
//
//	GET  /gestione/comune/privacy-dati                        retention, holds, erasures
//	POST /gestione/comune/privacy-dati                        save the retention
//	POST /gestione/comune/privacy-dati/blocchi                put a booking under legal hold
//	POST /gestione/comune/privacy-dati/blocchi/{id}/rimuovi   lift a hold
func (h *Handler) Routes(mux *http.ServeMux) {
	for rt, fn := range h.handlers() {
		mux.Handle(rt, h.wrap(fn))
	}
}

// RouteTable lists the routes Routes mounts, sorted.
func RouteTable() []string {
	return slices.Sorted(maps.Keys((*Handler)(nil).handlers()))
}

func (h *Handler) handlers() map[string]handlerFunc {
	// Whole literals, not Page + suffix: cmd/sportello's access matrix
	// finds the back office's routes by reading them in the source.
	return map[string]handlerFunc{
		"GET /gestione/comune/privacy-dati":                       h.show,
		"POST /gestione/comune/privacy-dati":                      h.saveRetention,
		"POST /gestione/comune/privacy-dati/blocchi":              h.addHold,
		"POST /gestione/comune/privacy-dati/blocchi/{id}/rimuovi": h.removeHold,
	}
}

// maxBody caps a form.
const maxBody = 16 << 10

// request is who asks: the Comune of the Host, its administrator and the
// session's CSRF token.
type request struct {
	t    tenant.Tenant
	user auth.User
	csrf string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, q request)

// wrap serves fn behind the guard's back-office checks (body cap, role,
// CSRF token, form), with the request's Comune and administrator.
func (h *Handler) wrap(fn handlerFunc) http.Handler {
	return h.guard.BackOffice(auth.RoleComuneAdmin, maxBody,
		func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
			fn(w, r, request{t: t, user: u, csrf: s.CSRF})
		})
}

// fail answers an error no form can show.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.guard.BackOfficeFail(w, r, h.log, err)
}

// classInfo is the Italian label and help of each class.
var classInfo = map[privacy.Class][2]string{
	privacy.ClassBookings: {"Dati personali delle prenotazioni",
		"Giorni dopo l'appuntamento. Nome, codice fiscale, email, telefono e note vengono cancellati; restano servizio, ufficio, orario ed esito per le statistiche."},
	privacy.ClassTickets: {"Biglietti della coda",
		"Giorni dopo il giorno del biglietto. Vengono cancellati il collegamento alla prenotazione, l'email e le notifiche; restano i numeri e i tempi per le statistiche."},
	privacy.ClassCalls: {"Dati delle videochiamate",
		"Giorni dopo la fine della chiamata: stanza e inviti (nomi degli ospiti)."},
	privacy.ClassDocuments: {"Documenti scambiati nelle videochiamate",
		"Giorni dopo il caricamento. Se nelle impostazioni del Comune è indicato un periodo per i documenti, vale quello."},
	privacy.ClassChat: {"Chat delle videochiamate",
		"La chat non viene mai salvata: esiste solo durante la chiamata. Il valore è indicato per completezza."},
	privacy.ClassAudit: {"Registro delle attività",
		"Giorni dopo l'operazione registrata (chi ha fatto cosa nella gestione)."},
}

// field is one day field of the retention form.
type field struct {
	Name, Label, Help, Value, Error string
	Default                         int
}

// hold is one row of the holds' table.
type hold struct {
	ID, Code, Reason, By, At string
}

// erasure is one row of the history.
type erasure struct {
	At, Kind, Summary string
}

// view is the page's data.
type view struct {
	CSRF       string
	Flash      string
	Fields     []field
	Errors     []field
	Holds      []hold
	HoldCode   string
	HoldReason string
	HoldErrors map[string]string
	Erasures   []erasure
	Action     string
	HoldAction string
}

// Form fields.
const (
	fCode   = "codice"
	fReason = "motivo"
)

// maxReason bounds the reason of a hold, in characters.
const maxReason = 300

// fieldName is the form field of class c.
func fieldName(c privacy.Class) string { return "giorni-" + string(c) }

// build fills the view from the stored policy, with typed values and
// errors when a form is shown again.
func (h *Handler) build(ctx context.Context, q request, typed url.Values, errs map[string]string) (view, error) {
	own, err := h.priv.OwnDays(ctx, q.t.ID)
	if err != nil {
		return view{}, err
	}
	v := view{CSRF: q.csrf, Action: Page, HoldAction: Page + "/blocchi", HoldErrors: map[string]string{}}
	def := privacy.DefaultPolicy()
	for _, c := range privacy.Classes() {
		f := field{Name: fieldName(c), Label: classInfo[c][0], Help: classInfo[c][1], Default: def.Days[c]}
		if d, ok := own[c]; ok {
			f.Value = strconv.Itoa(d)
		}
		if typed != nil && typed.Has(f.Name) {
			f.Value = typed.Get(f.Name)
		}
		f.Error = errs[f.Name]
		if f.Error != "" {
			v.Errors = append(v.Errors, f)
		}
		v.Fields = append(v.Fields, f)
	}
	holds, err := h.priv.Holds(ctx, q.t.ID)
	if err != nil {
		return view{}, err
	}
	loc := q.t.Location()
	for _, x := range holds {
		v.Holds = append(v.Holds, hold{ID: x.BookingID, Code: x.Code, Reason: x.Reason, By: x.ByName,
			At: site.FormatDateTime("it", x.At.In(loc))})
	}
	es, err := h.priv.Erasures(ctx, q.t.ID, 20)
	if err != nil {
		return view{}, err
	}
	for _, e := range es {
		v.Erasures = append(v.Erasures, erasure{At: site.FormatDateTime("it", e.At.In(loc)), Kind: kindLabel(e.Kind), Summary: summary(e)})
	}
	return v, nil
}

func kindLabel(k string) string {
	switch k {
	case "citizen":
		return "Richiesta di un cittadino"
	case "tenant":
		return "Chiave dei dati distrutta"
	}
	return "Conservazione automatica"
}

// summary is the counts of an erasure in words.
func summary(e privacy.Erasure) string {
	var parts []string
	for _, c := range privacy.Classes() {
		if n := e.Counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", strings.ToLower(classInfo[c][0]), n))
		}
	}
	if len(parts) == 0 {
		return "nessun dato"
	}
	return strings.Join(parts, "; ")
}

// flashes are the confirmations after a save, chosen by the redirect's
// outcome: the text never comes from the URL.
var flashes = map[string]string{
	"conservazione-salvata": "Tempi di conservazione salvati: valgono dalla prossima cancellazione automatica.",
	"blocco-aggiunto":       "Blocco per obbligo di legge aggiunto: la prenotazione non sarà cancellata.",
	"blocco-rimosso":        "Blocco rimosso: la prenotazione segue di nuovo i tempi di conservazione.",
}

// afterSave redirects to the page with the confirmation and this node's
// applied index, which any node serving the page waits for.
func (h *Handler) afterSave(w http.ResponseWriter, r *http.Request, outcome string) {
	h.guard.AfterSave(w, r, Page, outcome, h.applied.AppliedIndex())
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request, q request) {
	flash := h.guard.SavedFlash(r, h.applied.WaitApplied, flashes)
	v, err := h.build(r.Context(), q, nil, nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Flash = flash
	h.render(w, r, http.StatusOK, v)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	h.pages.Render(w, r, status, "gestione_privacy_dati.html", site.Page{Title: "Conservazione dei dati personali",
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"},
			{Label: "Comune", URL: "/gestione/comune"}, {Label: "Conservazione dei dati"}}, Data: v})
}

// saveRetention validates every day field and saves them together.
func (h *Handler) saveRetention(w http.ResponseWriter, r *http.Request, q request) {
	errs := map[string]string{}
	p := privacy.Policy{Days: map[privacy.Class]int{}}
	for _, c := range privacy.Classes() {
		raw := strings.TrimSpace(r.PostForm.Get(fieldName(c)))
		if raw == "" {
			p.Days[c] = 0
			continue
		}
		d, err := strconv.Atoi(raw)
		if err != nil || d < privacy.MinDays || d > privacy.MaxDays {
			errs[fieldName(c)] = fmt.Sprintf("Indica un numero intero di giorni tra %d e %d, oppure lascia vuoto per il valore predefinito.",
				privacy.MinDays, privacy.MaxDays)
			continue
		}
		p.Days[c] = d
	}
	if len(errs) > 0 {
		h.refuse(w, r, q, r.PostForm, errs)
		return
	}
	if err := h.priv.SetPolicy(r.Context(), q.t.ID, p); err != nil {
		h.fail(w, r, err)
		return
	}
	h.afterSave(w, r, "conservazione-salvata")
}

// refuse shows the page again with the typed values and the errors.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, q request, typed url.Values, errs map[string]string) {
	v, err := h.build(r.Context(), q, typed, errs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if typed != nil {
		v.HoldCode, v.HoldReason = typed.Get(fCode), typed.Get(fReason)
	}
	for k, e := range errs {
		if k == fCode || k == fReason {
			v.HoldErrors[k] = e
		}
	}
	h.render(w, r, http.StatusUnprocessableEntity, v)
}

// addHold puts the booking named by its code under legal hold.
func (h *Handler) addHold(w http.ResponseWriter, r *http.Request, q request) {
	code := strings.ToUpper(strings.TrimSpace(r.PostForm.Get(fCode)))
	reason := strings.TrimSpace(r.PostForm.Get(fReason))
	errs := map[string]string{}
	switch {
	case reason == "":
		errs[fReason] = "Indica il motivo del blocco (ad esempio il procedimento o la norma che obbliga a conservare i dati)."
	case utf8.RuneCountInString(reason) > maxReason:
		errs[fReason] = fmt.Sprintf("Il motivo può avere al massimo %d caratteri.", maxReason)
	}
	var id string
	if code == "" {
		errs[fCode] = "Indica il codice della prenotazione."
	} else {
		var err error
		id, err = h.priv.BookingID(r.Context(), q.t.ID, code)
		switch {
		case errors.Is(err, privacy.ErrNotFound):
			errs[fCode] = "Nessuna prenotazione del Comune ha questo codice."
		case err != nil:
			h.fail(w, r, err)
			return
		}
	}
	if len(errs) > 0 {
		h.refuse(w, r, q, r.PostForm, errs)
		return
	}
	by := cluster.Actor{ID: q.user.ID, Name: q.user.DisplayName, Tenant: string(q.t.ID)}
	if err := h.priv.SetHold(r.Context(), q.t.ID, id, true, reason, by); err != nil {
		h.fail(w, r, err)
		return
	}
	h.afterSave(w, r, "blocco-aggiunto")
}

// removeHold lifts the hold of booking {id}.
func (h *Handler) removeHold(w http.ResponseWriter, r *http.Request, q request) {
	by := cluster.Actor{ID: q.user.ID, Name: q.user.DisplayName, Tenant: string(q.t.ID)}
	if err := h.priv.SetHold(r.Context(), q.t.ID, r.PathValue("id"), false, "", by); err != nil {
		h.fail(w, r, err)
		return
	}
	h.afterSave(w, r, "blocco-rimosso")
}
