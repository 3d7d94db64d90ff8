package web

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/chat"
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/widget.js static/widget.css
var staticFS embed.FS

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is 0:
// a message of 500 characters (at most 2 KB in UTF-8, 3 KB escaped) and
// a conversation token of a few KB (the page's carries the last lines of
// the exchange).
const DefaultMaxBodyBytes = 32 << 10

// RateLimit limits the messages one client address may send, API and page
// together: a token bucket refilled at PerMinute a minute holding at most
// Burst. The zero value means 30 a minute with a burst of 20 (a booking
// takes about ten messages, and a family or an office behind one address
// may book twice in a row); a negative PerMinute disables the limit.
type RateLimit struct {
	PerMinute float64
	Burst     int
	// MaxClients bounds the addresses remembered; 0 means 10,000.
	MaxClients int
}

func newLimiter(c RateLimit) *ratelimit.Limiter {
	if c.PerMinute < 0 {
		return ratelimit.New(0, 0, 0)
	}
	if c.PerMinute == 0 {
		c.PerMinute = 30
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 10000
	}
	return ratelimit.New(c.PerMinute, c.Burst, c.MaxClients)
}

// Config configures a Handler.
type Config struct {
	// Engine answers the messages; required.
	Engine *chat.Engine
	// Site resolves the Comune and renders the page; required.
	Site *site.Site
	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the rate limiter's clock; nil means time.Now.
	Now       func() time.Time
	RateLimit RateLimit
	// MaxBodyBytes caps request bodies (413 beyond); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustProxyHeaders takes the client address and scheme from
	// X-Forwarded-For and X-Forwarded-Proto (behind a reverse proxy that
	// overwrites them only).
	TrustProxyHeaders bool
}

// Handler serves the assistant's API, page and widget for every Comune on
// the node. It is safe for concurrent use.
type Handler struct {
	engine     *chat.Engine
	site       *site.Site
	log        *slog.Logger
	now        func() time.Time
	limiter    *ratelimit.Limiter
	maxBody    int64
	trustProxy bool
	csrf       *http.CrossOriginProtection
	pages      *site.Templates
	widget     widgetFiles
}

// New returns a Handler, parsing its templates and building the widget.
func New(cfg Config) (*Handler, error) {
	if cfg.Engine == nil || cfg.Site == nil {
		return nil, errors.New("assistant/web: Config.Engine and Config.Site are required")
	}
	h := &Handler{
		engine: cfg.Engine, site: cfg.Site, log: cfg.Logger, now: cfg.Now,
		limiter: newLimiter(cfg.RateLimit), maxBody: cfg.MaxBodyBytes, trustProxy: cfg.TrustProxyHeaders,
		csrf: http.NewCrossOriginProtection(),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "assistant/web")
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	pages, err := cfg.Site.TemplatesWith(messages, templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("assistant/web: parse templates: %w", err)
	}
	h.pages = pages
	if h.widget, err = buildWidget(); err != nil {
		return nil, err
	}
	return h, nil
}

// Paths of the handler's routes.
const (
	APIPath    = "/api/v1/assistant"
	PagePath   = "/assistente"
	WidgetPath = "/assistente/widget.js"
	StylePath  = "/assistente/widget.css"
)

// Routes registers the API, the page and the widget on mux, which must be
// served behind site.Tenant (the Comune of the request's Host).
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("POST "+APIPath, h.wrap(true, h.apiMessage))
	mux.Handle("GET "+PagePath, h.wrap(false, h.page))
	mux.Handle("POST "+PagePath, h.wrap(false, h.pagePost))
	mux.HandleFunc("GET "+WidgetPath, h.widget.serveScript)
	mux.HandleFunc("GET "+StylePath, h.widget.serveStyle)
}

// tenantHandler is a route's handler for the Comune of the request.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t tenant.Tenant)

// wrap resolves the Comune, refuses cross-site writes and caps the body.
func (h *Handler) wrap(api bool, fn tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.site.Error(w, r, http.StatusNotFound, "")
			return
		}
		if err := h.csrf.Check(r); err != nil {
			if api {
				h.apiError(w, r, http.StatusForbidden, "cross_site", nil)
			} else {
				h.site.Error(w, r, http.StatusForbidden, site.Translate(messages, site.LangFrom(r.Context()), "error.cross_site"))
			}
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		fn(w, r, t)
	})
}

// allow takes a token of the client's bucket; when none is left it sets
// Retry-After and reports false.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := h.limiter.Allow(site.ClientIP(r, h.trustProxy), h.now())
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(max(int(wait.Seconds()+0.999), 1)))
	}
	return ok
}

// request is the engine's request for r.
func (h *Handler) request(r *http.Request, message, conversation, lang string, history bool) chat.Request {
	return chat.Request{
		Message: message, ConversationID: conversation, Lang: lang,
		BaseURL: site.Origin(r, h.trustProxy), ClientIP: site.ClientIP(r, h.trustProxy), History: history,
	}
}
