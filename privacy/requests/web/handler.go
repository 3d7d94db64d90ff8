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
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Guard is the operators' login, auth/web's Handler: it admits a
// back-office request only for a user allowed role, with the CSRF token
// on state-changing requests, and redirects after a save as every
// back-office page does.
type Guard interface {
	BackOffice(role auth.Role, maxBody int64,
		fn func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User)) http.Handler
	AfterSave(w http.ResponseWriter, r *http.Request, page, outcome string, index uint64)
	SavedFlash(r *http.Request, wait func(ctx context.Context, index uint64) error, flashes map[string]string) string
}

// Fresh brings this node up to date with the leader; *cluster.Node
// implements it. A citizen's access opened through another node is
// looked up again after it.
type Fresh interface {
	ReadFresh(ctx context.Context) error
}

// DocumentFiles gives the operator a citizen's documents: *docs.Store.
type DocumentFiles interface {
	Get(ctx context.Context, t tenant.ID, id string) (docs.Document, error)
	Download(w http.ResponseWriter, r *http.Request, t tenant.ID, room, id string)
}

// RateLimit bounds the citizen form's submissions per client address.
// Zero values take the defaults (3 a minute, burst 3, 10,000
// addresses); PerMinute -1 disables it.
type RateLimit struct {
	PerMinute  float64
	Burst      int
	MaxClients int
}

// Config configures a Handler.
type Config struct {
	Site     *site.Site
	Store    *requests.Store
	Exporter *requests.Exporter
	// Eraser runs approved erasures (*privacy.Service); required to
	// approve, a refusal works without it.
	Eraser requests.Eraser
	// Files serves the documents' download links (nil: calls off, no
	// links).
	Files DocumentFiles
	// Fresh is the node's freshness (optional).
	Fresh             Fresh
	Guard             Guard
	Logger            *slog.Logger
	Now               func() time.Time
	RateLimit         RateLimit
	TrustProxyHeaders bool
}

// Handler serves the pages.
type Handler struct {
	site       *site.Site
	pages      *site.Templates
	store      *requests.Store
	exporter   *requests.Exporter
	eraser     requests.Eraser
	files      DocumentFiles
	fresh      Fresh
	guard      Guard
	log        *slog.Logger
	now        func() time.Time
	limiter    *ratelimit.Limiter
	trustProxy bool
	csrf       *http.CrossOriginProtection
}

//go:embed templates/*.html
var templateFS embed.FS

// New returns a Handler, or an error when cfg lacks a required part.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Site == nil || cfg.Store == nil || cfg.Exporter == nil:
		return nil, errors.New("privacy/requests/web: Site, Store and Exporter are required")
	case cfg.Guard == nil:
		return nil, errors.New("privacy/requests/web: Guard is required")
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("privacy/requests/web: %w", err)
	}
	pages, err := cfg.Site.TemplatesWith(messages, sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("privacy/requests/web: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Handler{site: cfg.Site, pages: pages, store: cfg.Store, exporter: cfg.Exporter, eraser: cfg.Eraser,
		files: cfg.Files, fresh: cfg.Fresh, guard: cfg.Guard,
		log: logger.With("component", "privacy/requests/web"), now: now, limiter: newLimiter(cfg.RateLimit),
		trustProxy: cfg.TrustProxyHeaders, csrf: http.NewCrossOriginProtection()}, nil
}

func newLimiter(c RateLimit) *ratelimit.Limiter {
	if c.PerMinute < 0 {
		return ratelimit.New(0, 0, 0)
	}
	if c.PerMinute == 0 {
		c.PerMinute = 3
	}
	if c.Burst <= 0 {
		c.Burst = 3
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 10000
	}
	return ratelimit.New(c.PerMinute, c.Burst, c.MaxClients)
}

// Routes mounts the pages. The mux must sit behind the site's Tenant
// middleware and auth/web's Sessions.
//
//	GET  /gestione/privacy                               search a citizen (supervisor)
//	POST /gestione/privacy/esporta                       the export, HTML or JSON (supervisor)
//	GET  /gestione/privacy/documenti/{id}                a document of an export (supervisor)
//	GET  /gestione/privacy/richieste                     the requests and their state (supervisor)
//	POST /gestione/privacy/richieste                     file an erasure request (supervisor)
//	GET  /gestione/privacy/richieste/{id}                one request (supervisor)
//	POST /gestione/privacy/richieste/{id}/decisione      approve or refuse (Comune administrator)
//	GET  /privacy/richiesta                              the citizen's form
//	POST /privacy/richiesta                              send the one-time link
//	GET  /privacy/richiesta/{token}                      confirm opening the link
//	POST /privacy/richiesta/{token}                      spend the link, open the access
//	GET  /privacy/i-miei-dati                            the citizen's export (HTML)
//	GET  /privacy/i-miei-dati/dati.json                  the citizen's export (JSON)
//	POST /privacy/i-miei-dati/cancellazione              the citizen's erasure request
func (h *Handler) Routes(mux *http.ServeMux) {
	for rt, role := range routeRoles {
		mux.Handle(rt, h.staff(role, h.staffHandlers()[rt]))
	}
	mux.HandleFunc("GET /privacy/richiesta", h.citizenForm)
	mux.HandleFunc("POST /privacy/richiesta", h.citizenSend)
	mux.HandleFunc("GET /privacy/richiesta/{token}", h.citizenConfirm)
	mux.HandleFunc("POST /privacy/richiesta/{token}", h.citizenOpen)
	mux.HandleFunc("GET /privacy/i-miei-dati", h.citizenData)
	mux.HandleFunc("GET /privacy/i-miei-dati/dati.json", h.citizenJSON)
	mux.HandleFunc("POST /privacy/i-miei-dati/cancellazione", h.citizenErase)
}

// routeRoles is the role each back-office route needs: exports and
// filing for supervisors (and, by reach, the Comune administrator), the
// decision for the Comune administrator alone.
var routeRoles = map[string]auth.Role{
	"GET /gestione/privacy":                           auth.RoleSupervisor,
	"POST /gestione/privacy/esporta":                  auth.RoleSupervisor,
	"GET /gestione/privacy/documenti/{id}":            auth.RoleSupervisor,
	"GET /gestione/privacy/richieste":                 auth.RoleSupervisor,
	"POST /gestione/privacy/richieste":                auth.RoleSupervisor,
	"GET /gestione/privacy/richieste/{id}":            auth.RoleSupervisor,
	"POST /gestione/privacy/richieste/{id}/decisione": auth.RoleComuneAdmin,
}

// RouteTable lists the back-office routes ("METHOD /path") with the role
// each needs, for the access matrix.
func RouteTable() map[string]auth.Role { return maps.Clone(routeRoles) }

// PublicRoutes lists the citizen's routes, sorted.
func PublicRoutes() []string {
	return slices.Sorted(slices.Values([]string{
		"GET /privacy/richiesta", "POST /privacy/richiesta", "GET /privacy/richiesta/{token}",
		"POST /privacy/richiesta/{token}", "GET /privacy/i-miei-dati", "GET /privacy/i-miei-dati/dati.json",
		"POST /privacy/i-miei-dati/cancellazione",
	}))
}

func (h *Handler) staffHandlers() map[string]staffFunc {
	return map[string]staffFunc{
		"GET /gestione/privacy":                           h.search,
		"POST /gestione/privacy/esporta":                  h.export,
		"GET /gestione/privacy/documenti/{id}":            h.document,
		"GET /gestione/privacy/richieste":                 h.list,
		"POST /gestione/privacy/richieste":                h.file,
		"GET /gestione/privacy/richieste/{id}":            h.detail,
		"POST /gestione/privacy/richieste/{id}/decisione": h.decide,
	}
}

// maxBody caps a form.
const maxBody = 32 << 10

// staffReq is who asks in the back office: the Comune of the Host, the
// user and the session's CSRF token.
type staffReq struct {
	t    tenant.Tenant
	user auth.User
	csrf string
}

type staffFunc func(w http.ResponseWriter, r *http.Request, q staffReq)

// staff serves fn behind the guard's back-office checks (body cap, role,
// CSRF token, form), with the request's Comune and user. No answer of
// these routes, refusals included, sends a Referer: their URLs name
// citizens' requests.
func (h *Handler) staff(role auth.Role, fn staffFunc) http.Handler {
	guarded := h.guard.BackOffice(role, maxBody,
		func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
			fn(w, r, staffReq{t: t, user: u, csrf: s.CSRF})
		})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer")
		guarded.ServeHTTP(w, r)
	})
}

// fail answers an error no form can show.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.site.Error(w, r, http.StatusRequestEntityTooLarge, "")
	case errors.Is(err, requests.ErrNotFound), errors.Is(err, docs.ErrNotFound):
		h.site.Error(w, r, http.StatusNotFound, "")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		h.site.Error(w, r, http.StatusServiceUnavailable, tr(site.LangFrom(r.Context()), "err.busy"))
	default:
		h.log.ErrorContext(r.Context(), "privacy requests", "path", r.URL.Path, "err", err)
		h.site.Error(w, r, http.StatusInternalServerError, "")
	}
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, title string, cr []site.Crumb, data any) {
	h.pages.Render(w, r, status, page, site.Page{Title: title, Breadcrumbs: cr, Data: data})
}

// crumbs of a back-office page.
func crumbs(more ...site.Crumb) []site.Crumb {
	out := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}}
	if len(more) == 0 {
		return append(out, site.Crumb{Label: "Richieste sui dati personali"})
	}
	return append(append(out, site.Crumb{Label: "Richieste sui dati personali", URL: "/gestione/privacy"}), more...)
}

// formField names the form's field of each field of the domain's
// errors: the error summary links to the field by its id.
var formField = map[string]string{"fiscal_code": fCF, "email": fEmail, "note": fNote, "reason": fReason, "decision": fDecision}

// fieldErrs returns the messages of a refused form by the form's field
// names, or false when err is not about the input.
func fieldErrs(err error) (map[string]string, bool) {
	var ve *requests.ValidationError
	switch {
	case errors.As(err, &ve):
		out := map[string]string{}
		for k, m := range ve.Fields {
			if f, ok := formField[k]; ok {
				k = f
			}
			out[k] = m
		}
		return out, true
	case errors.Is(err, requests.ErrNoSubject):
		return map[string]string{fCF: "Scrivi il codice fiscale, l'indirizzo email o entrambi."}, true
	}
	return nil, false
}
