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

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Applied is the node's log position; *cluster.Node implements it. The
// page after a save waits until the node serving it has applied the save,
// which may have been made on another node.
type Applied interface {
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
}

// Guard is the operators' login, auth/web's Handler: it admits a
// request only for a user allowed role, with the session's CSRF token
// (and a same-origin request) on state-changing requests, and answers
// the pages' failures and saves as every back-office page does.
type Guard interface {
	BackOffice(role auth.Role, maxBody int64,
		fn func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User)) http.Handler
	BackOfficeFail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, notFound ...error)
	AfterSave(w http.ResponseWriter, r *http.Request, page, outcome string, index uint64)
	SavedFlash(r *http.Request, wait func(ctx context.Context, index uint64) error, flashes map[string]string) string
}

// Config configures a Handler.
type Config struct {
	// Site renders the pages in the Comune's layout; required.
	Site *site.Site
	// Store is the Comune's knowledge and catalogue; required.
	Store *knowledge.Store
	// Book lists the offices and services the forms offer; required.
	Book *booking.Book
	// Applied lets the page after a save show it on any node; required.
	Applied Applied
	// Guard is the operators' login (auth/web's Handler); required.
	// Every route needs the Comune administrator's role.
	Guard Guard
	// Logger receives the errors; nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves /gestione/assistente.
type Handler struct {
	pages   *site.Templates
	store   *knowledge.Store
	book    *booking.Book
	applied Applied
	guard   Guard
	log     *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

// New returns a Handler, or an error when cfg lacks a required part or
// the templates do not parse.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Site == nil:
		return nil, errors.New("assistant/knowledge/web: Config.Site is required")
	case cfg.Store == nil || cfg.Book == nil:
		return nil, errors.New("assistant/knowledge/web: Config.Store and Config.Book are required")
	case cfg.Applied == nil:
		return nil, errors.New("assistant/knowledge/web: Config.Applied is required")
	case cfg.Guard == nil:
		return nil, errors.New("assistant/knowledge/web: Config.Guard is required")
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("assistant/knowledge/web: %w", err)
	}
	pages, err := cfg.Site.Templates(sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("assistant/knowledge/web: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{pages: pages, store: cfg.Store, book: cfg.Book, applied: cfg.Applied, guard: cfg.Guard,
		log: logger.With("component", "assistant/knowledge/web")}, nil
}

// Routes mounts the pages and forms. The mux must sit behind the site's
// Tenant middleware and auth/web's Sessions.
//
//	GET  /gestione/assistente                         FAQ, synonyms and the test box (?prova=…)
//	GET  /gestione/assistente/faq/nuova               new FAQ entry
//	POST /gestione/assistente/faq/nuova
//	GET  /gestione/assistente/faq/{id}                edit an entry
//	POST /gestione/assistente/faq/{id}
//	GET  /gestione/assistente/faq/{id}/elimina        confirm the deletion
//	POST /gestione/assistente/faq/{id}/elimina        delete
//	GET  /gestione/assistente/sinonimi/nuovo          new synonym group
//	POST /gestione/assistente/sinonimi/nuovo
//	GET  /gestione/assistente/sinonimi/{id}           edit a group
//	POST /gestione/assistente/sinonimi/{id}
//	GET  /gestione/assistente/sinonimi/{id}/elimina   confirm the deletion
//	POST /gestione/assistente/sinonimi/{id}/elimina   delete
func (h *Handler) Routes(mux *http.ServeMux) {
	for rt, fn := range h.handlers() {
		mux.Handle(rt, h.wrap(fn))
	}
}

// RouteTable lists the routes ("METHOD /path") Routes mounts, sorted,
// every one for the Comune administrator only.
func RouteTable() []string {
	return slices.Sorted(maps.Keys((*Handler)(nil).handlers()))
}

func (h *Handler) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		"GET /gestione/assistente":                        h.overview,
		"GET /gestione/assistente/faq/nuova":              h.faqEdit,
		"POST /gestione/assistente/faq/nuova":             h.faqSave,
		"GET /gestione/assistente/faq/{id}":               h.faqEdit,
		"POST /gestione/assistente/faq/{id}":              h.faqSave,
		"GET /gestione/assistente/faq/{id}/elimina":       h.faqConfirmDelete,
		"POST /gestione/assistente/faq/{id}/elimina":      h.faqDelete,
		"GET /gestione/assistente/sinonimi/nuovo":         h.groupEdit,
		"POST /gestione/assistente/sinonimi/nuovo":        h.groupSave,
		"GET /gestione/assistente/sinonimi/{id}":          h.groupEdit,
		"POST /gestione/assistente/sinonimi/{id}":         h.groupSave,
		"GET /gestione/assistente/sinonimi/{id}/elimina":  h.groupConfirmDelete,
		"POST /gestione/assistente/sinonimi/{id}/elimina": h.groupDelete,
	}
}

// maxBody caps a form: an answer of 2000 characters (up to 4 bytes each,
// percent-encoded) and a token fit well within it.
const maxBody = 64 << 10

// request is who asks: the Comune of the request's Host (never one named
// by a form), its administrator and the session's CSRF token.
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

// fail answers an error no form can show: a neutral page for the
// administrator, logged when it is unexpected.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.guard.BackOfficeFail(w, r, h.log, err, knowledge.ErrNotFound, booking.ErrNotFound)
}

// flashes are the confirmations after a save, chosen by the redirect's
// outcome: the text never comes from the URL.
var flashes = map[string]string{
	"faq-creata":         "Domanda frequente aggiunta: l'assistente la usa da subito.",
	"faq-salvata":        "Modifiche alla domanda frequente salvate.",
	"faq-eliminata":      "Domanda frequente eliminata.",
	"sinonimi-creati":    "Gruppo di sinonimi aggiunto: l'assistente lo usa da subito.",
	"sinonimi-salvati":   "Modifiche al gruppo di sinonimi salvate.",
	"sinonimi-eliminati": "Gruppo di sinonimi eliminato.",
}

// afterSave redirects to the overview with the confirmation and this
// node's applied index, which any node serving the overview waits for.
func (h *Handler) afterSave(w http.ResponseWriter, r *http.Request, outcome string) {
	h.guard.AfterSave(w, r, "/gestione/assistente", outcome, h.applied.AppliedIndex())
}

// waitSave waits (a bounded time) for the save a redirect names, and
// returns its confirmation.
func (h *Handler) waitSave(r *http.Request) string {
	return h.guard.SavedFlash(r, h.applied.WaitApplied, flashes)
}

// crumbs are the breadcrumbs of a page: Home, Gestione, Assistente, then
// more (the last is the page).
func crumbs(more ...site.Crumb) []site.Crumb {
	out := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}}
	if len(more) == 0 {
		return append(out, site.Crumb{Label: "Assistente virtuale"})
	}
	return append(append(out, site.Crumb{Label: "Assistente virtuale", URL: "/gestione/assistente"}), more...)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, title string, cr []site.Crumb, data any) {
	h.pages.Render(w, r, status, page, site.Page{Title: title, Breadcrumbs: cr, Data: data})
}
