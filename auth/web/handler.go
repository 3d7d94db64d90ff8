package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

//go:embed templates/*.html
var templateFS embed.FS

// Cookie names. The __Host- prefix makes browsers refuse them unless
// Secure, on Path=/ and without Domain: no sibling host can set or read
// them.
const (
	SessionCookie = "__Host-sportello_session"
	FlowCookie    = "__Host-sportello_login"
)

// CSRFField is the form field (and CSRFHeader the header) that carries
// the session's CSRF token.
const (
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
)

// Config configures a Handler.
type Config struct {
	// Store is the node's auth state; required.
	Store *auth.Store
	// Site renders error pages in the Comune's layout; nil gives plain
	// text pages.
	Site *site.Site
	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient talks to the providers (discovery, JWKS, token
	// endpoint); nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock ID tokens are checked against; nil means time.Now.
	Now func() time.Time
	// TrustProxyHeaders takes the scheme from X-Forwarded-Proto (behind a
	// reverse proxy that overwrites it).
	TrustProxyHeaders bool
	// LoginLimit bounds the logins begun per minute on this node.
	LoginLimit LoginLimit
	// Offices lists a Comune's offices for the grant forms of
	// /gestione/utenti (cmd/sportello adapts booking's); nil offers none,
	// so that no operator grant can be given.
	Offices func(ctx context.Context, t tenant.ID) ([]OfficeRef, error)
	// Audit reads the audit log shown at /gestione/registro (a
	// *cluster.Node); nil shows it empty.
	Audit AuditReader
}

// Handler serves the login routes and loads sessions. It is safe for
// concurrent use and has no goroutines.
type Handler struct {
	store      *auth.Store
	site       *site.Site
	log        *slog.Logger
	client     *http.Client
	now        func() time.Time
	trustProxy bool
	csrf       *http.CrossOriginProtection
	providers  *discoveryCache
	limiter    *windowLimiter
	// pages are the package's pages (the provider chooser, the back
	// office); nil without a Site.
	pages *site.Templates
	// offices and audit serve the back-office pages (admin_*.go).
	offices func(ctx context.Context, t tenant.ID) ([]OfficeRef, error)
	audit   AuditReader
	// local is the state of the break-glass login (local.go).
	local *localLogin
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("auth/web: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{
		store: cfg.Store, site: cfg.Site, log: cfg.Logger.With("component", "auth"), client: cfg.HTTPClient,
		now: cfg.Now, trustProxy: cfg.TrustProxyHeaders, csrf: http.NewCrossOriginProtection(),
		providers: newDiscoveryCache(), limiter: newWindowLimiter(cfg.LoginLimit),
		offices: cfg.Offices, audit: cfg.Audit, local: newLocalLogin(),
	}
	if cfg.Site != nil {
		pages, err := cfg.Site.Templates(templateFS, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("auth/web: %w", err)
		}
		h.pages = pages
	}
	return h, nil
}

// Routes mounts the login routes on mux, which must sit behind the site's
// Tenant middleware and the handler's Sessions middleware.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_auth/login", h.withTenant(h.login))
	mux.HandleFunc("GET /_auth/callback", h.withTenant(h.callback))
	mux.HandleFunc("GET /_auth/jwks", h.withTenant(h.jwks))
	mux.Handle("POST /_auth/logout", h.csrf.Handler(http.HandlerFunc(h.withTenant(h.logout))))
	mux.HandleFunc("POST /_auth/backchannel-logout", h.withTenant(h.backchannel))
	mux.HandleFunc("GET /_auth/locale", h.withTenant(h.localPage))
	mux.Handle("POST /_auth/locale", h.csrf.Handler(http.HandlerFunc(h.withTenant(h.localSubmit))))
	h.adminRoutes(mux)
}

// tenantHandler is a route's handler with the request's Comune.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t tenant.Tenant)

func (h *Handler) withTenant(fn tenantHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.fail(w, r, errNoTenant)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r, t)
	}
}

// current is what Sessions puts in a request's context.
type current struct {
	session auth.Session
	user    auth.User
}

type ctxKey struct{}

// SessionFrom returns the session and user of the request, loaded by
// Sessions; ok is false for an anonymous request.
func SessionFrom(ctx context.Context) (s auth.Session, u auth.User, ok bool) {
	c, ok := ctx.Value(ctxKey{}).(current)
	return c.session, c.user, ok
}

// Sessions loads the session of the request's cookie in the request's
// Comune (set by the site's Tenant middleware before it) and records
// activity at most once per auth.DefaultTouchInterval (see auth.Store.Touch):
// a session costs one replicated write a minute, not one per request. A
// cookie of an ended or expired session is cleared.
func (h *Handler) Sessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		c, err := r.Cookie(SessionCookie)
		if !ok || err != nil || c.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		s, u, err := h.store.Session(r.Context(), t.ID, c.Value)
		if err != nil {
			if !errors.Is(err, auth.ErrNoSession) {
				h.log.ErrorContext(r.Context(), "load session", "tenant", t.ID, "err", err)
			}
			clearCookie(w, SessionCookie)
			next.ServeHTTP(w, r)
			return
		}
		if err := h.store.Touch(r.Context(), t.ID, s); err != nil {
			if errors.Is(err, auth.ErrNoSession) {
				clearCookie(w, SessionCookie)
				next.ServeHTTP(w, r)
				return
			}
			// A failed touch (no leader for a moment) costs at most the
			// idle timeout's precision; the request goes on.
			h.log.WarnContext(r.Context(), "touch session", "tenant", t.ID, "err", err)
		}
		// The actor makes every command proposed for this request audited
		// (cluster.WithActor), without each handler remembering it; the
		// touch above is not, being the session's own bookkeeping.
		ctx := cluster.WithActor(context.WithValue(r.Context(), ctxKey{}, current{s, u}),
			cluster.Actor{ID: u.ID, Name: u.DisplayName, Tenant: string(t.ID), Addr: h.clientAddr(r)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RequireRole serves next only to users allowed role (auth.User.Allowed
// with no office; handlers check offices themselves). An anonymous GET of
// a page is sent to the login with a return to the page; other anonymous
// requests get 401 and users without the role 403. State-changing
// requests must also pass the cross-origin check and carry the session's
// CSRF token.
func (h *Handler) RequireRole(role auth.Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, u, ok := SessionFrom(r.Context())
		switch {
		case !ok && r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/"):
			http.Redirect(w, r, "/_auth/login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case !ok:
			h.fail(w, r, errLoginRequired)
			return
		case !u.Allowed(role, ""):
			h.fail(w, r, errForbidden)
			return
		}
		if !safeMethod(r.Method) {
			if err := h.csrf.Check(r); err != nil {
				h.fail(w, r, errCrossSite)
				return
			}
			if !validCSRF(r, s) {
				h.fail(w, r, errCSRF)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// CSRFToken returns the CSRF token to put in the forms of the request's
// session (hidden field CSRFField), or "" for an anonymous request.
func CSRFToken(r *http.Request) string {
	s, _, ok := SessionFrom(r.Context())
	if !ok {
		return ""
	}
	return s.CSRF
}

// validCSRF reports whether r carries s's CSRF token in the CSRFHeader
// header or the CSRFField form field.
func validCSRF(r *http.Request, s auth.Session) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// setCookie sets a __Host- cookie; maxAge 0 makes a session cookie.
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
}

// origin returns the scheme and host the browser used.
func (h *Handler) origin(r *http.Request) string { return site.Origin(r, h.trustProxy) }

// localPath returns p when it is a path on this host ("/x", not "//x" or
// "/\x"), else "/".
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}
