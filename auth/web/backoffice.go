package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The way in, the failures and the redirect after a save of the
// back-office pages that other web packages serve (the assistant's FAQ,
// data retention and legal holds, citizens' data requests). They reach
// these methods through a Guard interface of their own, which the
// Handler satisfies: the import rule of ARCHITECTURE.md keeps one web
// package from importing another, so the methods take and give only
// types of auth, tenant and the standard library.

// Query parameters of the page a back-office save redirects to.
const (
	// queryOutcome names the confirmation to show; its text is the
	// page's, never the URL's.
	queryOutcome = "esito"
	// queryIndex is the log index the save reached, to wait for.
	queryIndex = "indice"
)

// saveWait bounds how long the page after a save waits for the node
// serving it to apply the save, which the redirect may have taken to
// another node. A healthy follower is a few milliseconds behind; past
// the bound the page shows what the node has, rather than hang.
const saveWait = 3 * time.Second

// msgBusy is the page of a request that ran out of time.
const msgBusy = "Il servizio è momentaneamente occupato: riprova tra qualche istante."

// BackOffice returns the handler of a back-office route of another web
// package. It caps the body at maxBody bytes first, because RequireRole
// reads the form for the CSRF token; lets RequireRole check the role,
// the origin and the token; answers 404 outside a Comune's host; marks
// the page not to be cached or framed; reads the form of a
// state-changing request (413 over the cap, 400 when malformed); then
// calls fn with the Comune of the Host (never one a form names), the
// session and its user.
func (h *Handler) BackOffice(role auth.Role, maxBody int64,
	fn func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User)) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.errorPage(w, r, http.StatusNotFound, "")
			return
		}
		s, u, ok := SessionFrom(r.Context())
		if !ok {
			// RequireRole let no anonymous request through; this guards
			// a mux mounted without Sessions.
			h.errorPage(w, r, http.StatusUnauthorized, "Accedi per continuare.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		if !safeMethod(r.Method) {
			if err := r.ParseForm(); err != nil {
				status := http.StatusBadRequest
				if errors.As(err, new(*http.MaxBytesError)) {
					status = http.StatusRequestEntityTooLarge
				}
				h.errorPage(w, r, status, "")
				return
			}
		}
		fn(w, r, t, s, u)
	})
	guarded := h.RequireRole(role, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		guarded.ServeHTTP(w, r)
	})
}

// BackOfficeFail answers an error of a back-office page that no form can
// show: 413 for a body over the cap, 404 for an error that is (errors.Is)
// one of notFound, 503 when the request ran out of time or was
// cancelled, else 500. Only the last is unexpected, so only it is
// logged, once, here, on log (the package's own, nil for the Handler's).
func (h *Handler) BackOfficeFail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, notFound ...error) {
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		h.errorPage(w, r, http.StatusRequestEntityTooLarge, "")
	case slices.ContainsFunc(notFound, func(target error) bool { return errors.Is(err, target) }):
		h.errorPage(w, r, http.StatusNotFound, "")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		h.errorPage(w, r, http.StatusServiceUnavailable, msgBusy)
	default:
		if log == nil {
			log = h.log
		}
		log.ErrorContext(r.Context(), "back-office request failed", "path", r.URL.Path, "err", err)
		h.errorPage(w, r, http.StatusInternalServerError, "")
	}
}

// AfterSave redirects (303) after a save to page?esito=outcome&indice=index,
// index being the log index this node has applied (0 leaves indice out:
// nothing to wait for). The save is applied here, so any node that
// reaches the index shows it.
func (h *Handler) AfterSave(w http.ResponseWriter, r *http.Request, page, outcome string, index uint64) {
	v := url.Values{queryOutcome: {outcome}}
	if index > 0 {
		v.Set(queryIndex, strconv.FormatUint(index, 10))
	}
	http.Redirect(w, r, page+"?"+v.Encode(), http.StatusSeeOther)
}

// SavedFlash returns the confirmation of flashes that the request's
// outcome names ("" for none), once wait has seen this node apply the
// index the redirect carries, or saveWait has passed; a nil wait waits
// for nothing.
func (h *Handler) SavedFlash(r *http.Request, wait func(ctx context.Context, index uint64) error, flashes map[string]string) string {
	q := r.URL.Query()
	if idx, err := strconv.ParseUint(q.Get(queryIndex), 10, 64); wait != nil && err == nil && idx > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), saveWait)
		err := wait(ctx, idx)
		cancel()
		if err != nil {
			h.log.WarnContext(r.Context(), "save not applied here yet", "path", r.URL.Path, "index", idx, "err", err)
		}
	}
	return flashes[q.Get(queryOutcome)]
}

// errorPage answers status with msg in the Comune's layout, or as plain
// text for a Handler without a Site.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if h.site != nil {
		h.site.Error(w, r, status, msg)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(msg + "\n"))
}
