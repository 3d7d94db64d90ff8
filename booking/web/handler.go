package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

//go:embed templates/*.html
var templateFS embed.FS

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is 0.
// The largest legitimate body, the booking form with every field at its
// maximum length, is under 4 KiB.
const DefaultMaxBodyBytes = 64 << 10

// Config configures a Handler.
type Config struct {
	// Book is the node's appointment book.
	Book *booking.Book
	// Site resolves tenants and renders pages in the Comune's layout.
	Site *site.Site
	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used to pick the months and days offered; nil means
	// time.Now. Booking rules are enforced by the Book with its own clock.
	Now func() time.Time
	// RateLimit limits booking creations per client IP, pages and API
	// together.
	RateLimit RateLimit
	// MaxBodyBytes caps request bodies (413 beyond it); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustProxyHeaders makes the handler take the client address from
	// X-Forwarded-For and the scheme from X-Forwarded-Proto. Set it only
	// behind a reverse proxy that overwrites those headers.
	TrustProxyHeaders bool
	// Freshness tells whether the node's state may lag the cluster's
	// (cluster.Node satisfies it). While it reports stale, the slot
	// listings (API and pages) answer 503 "stale" instead of showing
	// availability that may be outdated. nil means always fresh.
	Freshness Freshness
	// Guard puts the back office (/gestione, admin_*.go) behind the
	// operators' login and roles: the auth/web Handler. nil leaves the
	// back office unmounted.
	Guard Guard
	// SessionFrom returns the session and user of a request loaded by the
	// auth/web Sessions middleware (authweb.SessionFrom); the back office
	// needs it with Guard. booking/web may not import auth/web (web
	// packages do not import each other), hence the function.
	SessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	// Tenants saves a Comune's own settings for /gestione/comune
	// (admin_comune.go); the node's *tenant.Registry. nil leaves that
	// page answering 404.
	Tenants ComuneSettings
	// Documents reads the documents exchanged in video calls, which the
	// agenda lists under their booking (agenda_docs.go); the node's
	// *docs.Store. nil (calls off) shows none.
	Documents CallDocuments
	// ChallengeKey signs the proof-of-work challenges of bookings and
	// salts the network hashes of fair access (fair_web.go); the same on
	// every node (derived from the cluster's secrets). Empty: a random
	// key, so challenges open only on the node that gave them.
	ChallengeKey []byte
	// AppIOSealer seals the services' App IO API keys that
	// /gestione/servizi/{id}/app-io saves (waitlist_admin.go); its key
	// is derived from the node's secrets.key. The zero value refuses to
	// save a key.
	AppIOSealer appio.Sealer
}

// Guard admits a request to next only for a user allowed role, and only
// with the session's CSRF token on state-changing requests; the auth/web
// Handler implements it.
type Guard interface {
	RequireRole(role auth.Role, next http.Handler) http.Handler
}

// Freshness reports whether the local state may be stale and how long ago
// the node last heard from the leader.
type Freshness interface {
	Stale() (stale bool, lastContact time.Duration)
}

// Handler serves the citizen booking pages and the /api/v1 booking API of
// every Comune on the node. It is safe for concurrent use.
type Handler struct {
	book       *booking.Book
	site       *site.Site
	log        *slog.Logger
	now        func() time.Time
	limiter    *ratelimit.Limiter
	maxBody    int64
	trustProxy bool
	freshness  Freshness
	csrf       *http.CrossOriginProtection
	pages      *site.Templates
	routes     []route
	// guard and sessionFrom serve the back office; nil without it.
	guard       Guard
	sessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	tenants     ComuneSettings
	docs        CallDocuments
	// fair issues and checks proofs of work (fair_web.go).
	fair *booking.Challenges
	// nets keeps the network hashes of recent client addresses
	// (nethash.go).
	nets netHashes
	// appIO seals App IO keys (waitlist_admin.go).
	appIO appio.Sealer
}

// tenantHandler is a route's handler; t is the Comune resolved from the
// request's Host by the site middleware.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t tenant.Tenant)

// route is one entry of the handler's route table. api routes answer
// errors in JSON, the others with pages.
type route struct {
	method, path string
	api          bool
	fn           tenantHandler
}

// New returns a Handler, parsing its templates.
func New(cfg Config) (*Handler, error) {
	if cfg.Book == nil || cfg.Site == nil {
		return nil, errors.New("booking/web: Config.Book and Config.Site are required")
	}
	h := &Handler{
		book:       cfg.Book,
		site:       cfg.Site,
		log:        cfg.Logger,
		now:        cfg.Now,
		maxBody:    cfg.MaxBodyBytes,
		trustProxy: cfg.TrustProxyHeaders,
		freshness:  cfg.Freshness,
		csrf:       http.NewCrossOriginProtection(),
	}
	if cfg.Guard != nil && cfg.SessionFrom != nil {
		h.guard, h.sessionFrom = cfg.Guard, cfg.SessionFrom
	}
	h.tenants = cfg.Tenants
	h.docs = cfg.Documents
	h.appIO = cfg.AppIOSealer
	h.fair = booking.NewChallenges(cfg.ChallengeKey)
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "booking/web")
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	h.limiter = newLimiter(cfg.RateLimit)
	// The citizen pages read the package's catalog; the back office is
	// always Italian (site.LangFrom is "it" under /gestione).
	pages, err := cfg.Site.TemplatesWith(messages, templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("booking/web: parse templates: %w", err)
	}
	h.pages = pages
	h.routes = h.routeTable()
	return h, nil
}

// routeTable lists the handler's routes.
func (h *Handler) routeTable() []route {
	return []route{
		// Citizen pages.
		{"GET", "/servizi", false, h.serviceList},
		{"GET", "/servizi/{id}", false, h.serviceShow},
		{"GET", "/uffici", false, h.officeList},
		{"GET", "/prenota", false, h.flowStart},
		{"POST", "/prenota", false, h.flowStep},
		{"POST", "/prenotazioni", false, h.bookingCreate},
		{"GET", "/prenotazioni/{code}", false, h.bookingShow},
		{"GET", "/prenotazioni/{code}/calendario.ics", false, h.bookingCalendar},
		{"GET", "/prenotazioni/{code}/annulla", false, h.cancelConfirm},
		{"POST", "/prenotazioni/{code}/annulla", false, h.bookingCancel},
		{"GET", "/prenotazioni/{code}/sposta", false, h.moveForm},
		{"POST", "/prenotazioni/{code}/sposta", false, h.bookingMove},
		// Fair access (fair_web.go): confirm-to-keep and the proof's script.
		{"GET", "/prenotazioni/{code}/conferma", false, h.confirmPage},
		{"POST", "/prenotazioni/{code}/conferma", false, h.bookingConfirm},
		{"GET", fairScriptPath, false, h.serveFairScript},
		// JSON API; every path is described in openapi.json.
		{"GET", "/api/v1/openapi.json", true, h.apiOpenAPI},
		{"GET", "/api/v1/offices", true, h.apiOfficeList},
		{"GET", "/api/v1/services/{id}/slots", true, h.apiSlotList},
		{"GET", "/api/v1/services/{id}/challenge", true, h.apiChallenge},
		{"POST", "/api/v1/bookings", true, h.apiBookingCreate},
		{"GET", "/api/v1/bookings/{code}", true, h.apiBookingGet},
		{"DELETE", "/api/v1/bookings/{code}", true, h.apiBookingCancel},
		{"POST", "/api/v1/bookings/{code}/move", true, h.apiBookingMove},
	}
}

// Routes registers the handler's pages and API on mux with Go 1.22 method
// patterns. mux must be served behind site.Tenant, which puts the Comune
// of the request's Host in its context.
func (h *Handler) Routes(mux *http.ServeMux) {
	for _, rt := range h.routes {
		mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
	}
	mux.Handle("/api/v1/", h.apiFallback())
	h.adminRoutes(mux)
	h.agendaRoutes(mux)
	h.waitlistRoutes(mux)
}

// wrap resolves the tenant of the request, rejects cross-site writes and
// caps the request body before calling the route's handler.
func (h *Handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			// Without the site middleware there is no Comune: answer as
			// for an unknown host.
			h.site.Error(w, r, http.StatusNotFound, "")
			return
		}
		if err := h.csrf.Check(r); err != nil {
			h.fail(w, r, rt.api, fmt.Errorf("%w: %v", errCrossSite, err))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		rt.fn(w, r, t)
	})
}

// fail answers err as a JSON error for API routes or an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, api bool, err error) {
	if api {
		h.apiError(w, r, err)
		return
	}
	h.pageError(w, r, err)
}

// baseURL is the scheme and host the request came to,
// "https://bari.example.it": citizens' links are built on it.
func (h *Handler) baseURL(r *http.Request) string { return site.Origin(r, h.trustProxy) }

// clientIP is the address the rate limit counts against: the peer, or with
// TrustProxyHeaders the address the proxy appended last to X-Forwarded-For.
func (h *Handler) clientIP(r *http.Request) string { return site.ClientIP(r, h.trustProxy) }

// tenantOf returns the ID of the request's Comune, for logs.
func tenantOf(r *http.Request) (tenant.ID, bool) {
	t, ok := site.TenantFrom(r.Context())
	return t.ID, ok
}
