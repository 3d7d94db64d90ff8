package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// StatusFunc returns the state of the certificate of one host name;
// (*certs.Manager).Status is one.
type StatusFunc func(ctx context.Context, name string) (certs.CertStatus, error)

// Tenants reads and saves the Comuni; *tenant.Registry implements it.
type Tenants interface {
	Get(ctx context.Context, id tenant.ID) (tenant.Tenant, error)
	Update(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error)
	PrimaryHost(t tenant.Tenant) string
	BaseDomain() string
}

// Applied is the node's log position; *cluster.Node implements it. The
// page after a save waits until the node serving it has applied the save,
// which may have been made on another node.
type Applied interface {
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
}

// Guard admits a request to next only for a user allowed role, and only
// with the session's CSRF token (and a same-origin request) on
// state-changing requests; the auth/web Handler implements it.
type Guard interface {
	RequireRole(role auth.Role, next http.Handler) http.Handler
}

// Config configures a Handler.
type Config struct {
	// Site renders the pages in the Comune's layout; required.
	Site *site.Site
	// Tenants reads and saves the Comune's domains; required.
	Tenants Tenants
	// Applied lets the page after a save show it on any node; required.
	Applied Applied
	// Guard and SessionFrom are the operators' login (auth/web's Handler
	// and authweb.SessionFrom); required. Every route needs the Comune
	// administrator's role.
	Guard       Guard
	SessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	// Status reads a name's certificate state; nil when this node does
	// not manage certificates (no TLS), and the page says so.
	Status StatusFunc
	// Addresses are the public IPv4 and IPv6 addresses of the nodes, for
	// the A/AAAA alternative to the CNAME record; optional.
	Addresses []string
	// Logger receives the errors; nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves /gestione/domini.
type Handler struct {
	site        *site.Site
	pages       *site.Templates
	tenants     Tenants
	applied     Applied
	guard       Guard
	sessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	status      StatusFunc
	addresses   []string
	log         *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

// New returns a Handler, or an error when cfg lacks a required part or
// the templates do not parse.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Site == nil:
		return nil, errors.New("certs/web: Config.Site is required")
	case cfg.Tenants == nil:
		return nil, errors.New("certs/web: Config.Tenants is required")
	case cfg.Applied == nil:
		return nil, errors.New("certs/web: Config.Applied is required")
	case cfg.Guard == nil || cfg.SessionFrom == nil:
		return nil, errors.New("certs/web: Config.Guard and Config.SessionFrom are required")
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("certs/web: %w", err)
	}
	pages, err := cfg.Site.Templates(sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("certs/web: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{
		site: cfg.Site, pages: pages, tenants: cfg.Tenants, applied: cfg.Applied,
		guard: cfg.Guard, sessionFrom: cfg.SessionFrom, status: cfg.Status,
		addresses: append([]string(nil), cfg.Addresses...),
		log:       logger.With("component", "certs/web"),
	}, nil
}

// Routes mounts the page and its forms. The mux must sit behind the site's
// Tenant middleware and auth/web's Sessions.
//
//	GET  /gestione/domini                    the hosts, their certificates, the form to add one
//	POST /gestione/domini                    add an own domain (field "dominio")
//	GET  /gestione/domini/{dominio}/rimuovi  the confirmation before removing one
//	POST /gestione/domini/{dominio}/rimuovi  remove it
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("GET /gestione/domini", h.wrap(h.list))
	mux.Handle("POST /gestione/domini", h.wrap(h.add))
	mux.Handle("GET /gestione/domini/{dominio}/rimuovi", h.wrap(h.confirmRemove))
	mux.Handle("POST /gestione/domini/{dominio}/rimuovi", h.wrap(h.remove))
}

// maxBody caps a form: one domain name and a token.
const maxBody = 8 << 10

// request is who asks: the Comune of the request's Host (never one named
// by a form), its administrator and the session's CSRF token.
type request struct {
	t    tenant.Tenant
	user auth.User
	csrf string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, q request)

// wrap caps the body, lets the guard check the role and the CSRF token,
// then calls fn with the request's Comune and user.
func (h *Handler) wrap(fn handlerFunc) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.site.Error(w, r, http.StatusNotFound, "")
			return
		}
		s, u, ok := h.sessionFrom(r.Context())
		if !ok {
			h.site.Error(w, r, http.StatusUnauthorized, "Accedi per continuare.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r, request{t: t, user: u, csrf: s.CSRF})
	})
	guarded := h.guard.RequireRole(auth.RoleComuneAdmin, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		guarded.ServeHTTP(w, r)
	})
}

// fail answers an unexpected error: logged once here, a neutral page for
// the administrator.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.site.Error(w, r, http.StatusRequestEntityTooLarge, "")
	case errors.Is(err, tenant.ErrNotFound):
		h.site.Error(w, r, http.StatusNotFound, "")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		h.site.Error(w, r, http.StatusServiceUnavailable, "Il servizio è momentaneamente occupato: riprova tra qualche istante.")
	default:
		h.log.ErrorContext(r.Context(), "domains page", "path", r.URL.Path, "err", err)
		h.site.Error(w, r, http.StatusInternalServerError, "")
	}
}

// saveWait bounds how long the page after a save waits for this node to
// apply it (the redirect may reach another node). A healthy follower is a
// few milliseconds behind.
const saveWait = 3 * time.Second

// statusWait bounds the reading of all the certificates' states, so that
// a slow storage never holds the page.
const statusWait = 3 * time.Second
