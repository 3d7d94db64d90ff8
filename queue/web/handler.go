package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is 0.
// The only body, a ticket request, is under 200 bytes.
const DefaultMaxBodyBytes = 4 << 10

// Config configures a Handler.
type Config struct {
	// Queue is the node's virtual queue; required.
	Queue *queue.Queue
	// Site resolves tenants from the Host; required (its Tenant
	// middleware must wrap the mux the routes are on).
	Site *site.Site
	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the rate limiter's clock; nil means time.Now.
	Now func() time.Time
	// RateLimit limits ticket creations per client address.
	RateLimit RateLimit
	// MaxBodyBytes caps request bodies (413 beyond it); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustProxyHeaders takes the client address from X-Forwarded-For
	// and the scheme from X-Forwarded-Proto; only behind a proxy that
	// overwrites them.
	TrustProxyHeaders bool
	// Changes wakes the event streams when the node applies a command
	// (the node's *cluster.Node); nil leaves /events unmounted.
	Changes Changes
	// Guard and SessionFrom put the operator's desk page (/gestione/coda,
	// desk.go) behind the operators' login, as in bookingweb.Config: the
	// auth/web Handler and authweb.SessionFrom. With both nil the page is
	// not mounted; with them, Book is required too.
	Guard       Guard
	SessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	// Book gives the desk page the offices, services and desks.
	Book *booking.Book
	// ChallengeKey signs the proof-of-work challenges of remote tickets
	// (pow.go). It must be the same on every node, so that a challenge
	// one node gave passes on another; nil means a random key of this
	// process, fine for one node and for tests.
	ChallengeKey []byte
	// PushKey gives the cluster's VAPID public key (push.Keys.PublicKey)
	// for Web Push notifications of tickets (api_push.go); nil turns
	// them off: the key and subscription routes answer 404 and the
	// pages keep the "Avvisami con una notifica" button hidden.
	PushKey func(ctx context.Context) (string, error)
	// Calls shows the links to the video calls (issue 6): "Entra nella
	// videochiamata" in the waiting room once checked in, "Apri la
	// videochiamata" at the desk for a remote ticket. The binary sets it
	// when it serves the calls' routes.
	Calls bool
	// AppIOSealer seals the offices' App IO API keys that
	// /gestione/coda/appio saves (appio_web.go), with the same key as
	// booking/web's services (derived from secrets.key). Its Key also
	// turns the queue's App IO pages on: with none, the settings page is
	// not mounted, the ticket's page offers no "Ricevi gli avvisi anche
	// sull'app IO" and POST /api/v1/tickets/{id}/appio answers 404, as
	// for a binary without queue.RegisterAppIO.
	AppIOSealer appio.Sealer
}

// Handler serves the queue's /api/v1 routes of every Comune on the node.
// It is safe for concurrent use; its only goroutines are the hubs of
// the offices whose event streams are open (hub.go), which stop with
// their last stream.
type Handler struct {
	q          *queue.Queue
	site       *site.Site
	log        *slog.Logger
	now        func() time.Time
	limiter    *ratelimit.Limiter
	maxBody    int64
	trustProxy bool
	csrf       *http.CrossOriginProtection
	changes    Changes
	// hubs fans each office's changes out to its event streams (hub.go).
	hubs *hubs
	// proofs checks proof-of-work challenges and remembers the used ones.
	proofs *proofCache
	// desk serves /gestione/coda; nil when it is not mounted.
	desk *deskPages
	// pushKey gives the VAPID public key (nil: no Web Push), and
	// pushLimiter limits subscriptions per client address, apart from
	// the tickets' bucket so that subscribing never costs a ticket.
	pushKey     func(ctx context.Context) (string, error)
	pushLimiter *ratelimit.Limiter
	// videoCalls is Config.Calls.
	videoCalls bool
	// appIO is Config.AppIOSealer (appio_web.go).
	appIO appio.Sealer
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Queue == nil || cfg.Site == nil {
		return nil, errors.New("queue/web: Config.Queue and Config.Site are required")
	}
	h := &Handler{
		q: cfg.Queue, site: cfg.Site, log: cfg.Logger, now: cfg.Now, maxBody: cfg.MaxBodyBytes,
		trustProxy: cfg.TrustProxyHeaders, csrf: http.NewCrossOriginProtection(), limiter: newLimiter(cfg.RateLimit),
		changes: cfg.Changes, hubs: newHubs(cfg.Queue, cfg.Changes), proofs: newProofCache(cfg.ChallengeKey),
		pushKey: cfg.PushKey, pushLimiter: newLimiter(cfg.RateLimit), videoCalls: cfg.Calls,
		appIO: cfg.AppIOSealer,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "queue/web")
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	var err error
	if h.desk, err = newDeskPages(cfg, h); err != nil {
		return nil, err
	}
	return h, nil
}

// tenantHandler is a route's handler; t is the request's Comune.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t tenant.Tenant)

// Routes registers the API on mux with Go 1.22 method patterns. mux must
// be served behind site.Tenant. The patterns are more specific than
// booking/web's "/api/v1/" fallback, so both live on one mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/offices/{id}/tickets", h.wrap(h.apiTicketCreate))
	mux.Handle("GET /api/v1/tickets/{id}", h.wrap(h.apiTicketGet))
	mux.Handle("DELETE /api/v1/tickets/{id}", h.wrap(h.apiTicketCancel))
	if h.changes != nil {
		mux.Handle("GET /api/v1/tickets/{id}/events", h.wrap(h.apiTicketEvents))
	}
	// Web Push of tickets (api_push.go): the key, a ticket's
	// subscriptions, the waiting room's, and the pages' script.
	mux.Handle("GET /api/v1/push/key", h.wrap(h.apiPushKey))
	mux.Handle("POST /api/v1/tickets/{id}/push", h.wrap(h.apiPushSubscribe))
	mux.Handle("DELETE /api/v1/tickets/{id}/push", h.wrap(h.apiPushUnsubscribe))
	mux.Handle("POST /chiamata/{code}/notifiche", h.wrap(h.waitingPushSubscribe))
	mux.HandleFunc("GET "+pushScriptPath, servePushScript)
	// App IO of tickets (appio_web.go): the citizen's codice fiscale,
	// through the API and the ticket's page.
	h.appIORoutes(mux)
	h.deskRoutes(mux)
	h.officeRoutes(mux)
	h.citizenRoutes(mux)
}

// wrap resolves the request's Comune, refuses cross-site writes from
// browsers and caps the body before calling fn.
func (h *Handler) wrap(fn tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.apiError(w, r, errNoTenant)
			return
		}
		if err := h.csrf.Check(r); err != nil {
			h.apiError(w, r, fmt.Errorf("%w: %v", errCrossSite, err))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		fn(w, r, t)
	})
}

// baseURL is the scheme and host the request came to; status_url is
// built on it.
func (h *Handler) baseURL(r *http.Request) string { return site.Origin(r, h.trustProxy) }

// clientIP is the address the rate limit counts against: the peer, or
// with TrustProxyHeaders the last address of X-Forwarded-For.
func (h *Handler) clientIP(r *http.Request) string { return site.ClientIP(r, h.trustProxy) }
