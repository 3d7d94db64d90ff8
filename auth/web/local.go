package web

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The break-glass login of appliance administrators: GET /_auth/locale
// shows the form, POST /_auth/locale checks username, password and TOTP
// code (auth.Store.LocalLogin) and, on success, gives the browser a
// session like an OpenID login's: same cookie, rotation, timeouts and
// CSRF token.

// msgBadCredentials is the one answer to every refused break-glass
// login: it does not say which part was wrong, nor whether the user
// exists, is locked or disabled.
const msgBadCredentials = "Credenziali non valide."

// Limits of the break-glass login on one node.
const (
	// localPerClient and localPerNode bound the attempts per minute: a
	// person types a few, a guesser many. The replicated lock of the
	// account (auth.LocalMaxFailures) is the bound across nodes.
	localPerClient = 10
	localPerNode   = 120
	// localSlotWait is how long an attempt waits for a verification slot
	// before being answered "busy".
	localSlotWait = 5 * time.Second
)

// localLogin is the per-node state of the break-glass login.
type localLogin struct {
	limiter *windowLimiter
	// slots bounds the argon2id verifications running at once (each
	// takes 64 MiB and a core for tens of milliseconds): a flood of
	// attempts queues here instead of exhausting the node's memory.
	slots chan struct{}
}

func newLocalLogin() *localLogin {
	n := max(1, runtime.GOMAXPROCS(0)/2)
	return &localLogin{
		limiter: newWindowLimiter(LoginLimit{PerClient: localPerClient, PerNode: localPerNode}),
		slots:   make(chan struct{}, n),
	}
}

// errVerifierBusy means no verification slot freed up in time.
var errVerifierBusy = errors.New("break-glass verifications busy")

// acquire takes a verification slot, waiting at most localSlotWait.
func (l *localLogin) acquire(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(localSlotWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-t.C:
		return nil, errVerifierBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// localForm is the data of locale.html.
type localForm struct {
	Username string
	Return   string
	Problem  string
}

// renderLocal shows the form with status.
func (h *Handler) renderLocal(w http.ResponseWriter, r *http.Request, status int, f localForm) {
	if h.pages == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte(f.Problem + "\n"))
		return
	}
	h.pages.Render(w, r, status, "locale.html", site.Page{
		Title: "Accesso di emergenza",
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Accesso per il personale", URL: "/_auth/login"},
			{Label: "Accesso di emergenza"}},
		Data: f,
	})
}

// localPage answers GET /_auth/locale?return=/path.
func (h *Handler) localPage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	h.renderLocal(w, r, http.StatusOK, localForm{Return: localReturn(r.URL.Query().Get("return"))})
}

// localReturn is where a break-glass login goes: a local path, by
// default the back office.
func localReturn(p string) string {
	if p == "" {
		return "/gestione"
	}
	return localPath(p)
}

// localSubmit answers POST /_auth/locale (behind the cross-origin check,
// so that another site cannot log a browser in to an account of its
// choosing).
func (h *Handler) localSubmit(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	f := localForm{Username: r.PostFormValue("username"), Return: localReturn(r.PostFormValue("return"))}
	if len(f.Username) > 100 {
		f.Username = ""
	}
	if !h.local.limiter.allow(h.clientKey(r), h.now()) {
		h.log.WarnContext(ctx, "break-glass login refused: too many attempts", "tenant", t.ID, "client", h.clientKey(r))
		w.Header().Set("Retry-After", "60")
		f.Problem = "Troppi tentativi di accesso. Riprova tra un minuto."
		h.renderLocal(w, r, http.StatusTooManyRequests, f)
		return
	}
	release, err := h.local.acquire(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "break-glass login refused", "tenant", t.ID, "err", err)
		w.Header().Set("Retry-After", "5")
		f.Problem = "Il servizio è momentaneamente occupato. Riprova tra qualche secondo."
		h.renderLocal(w, r, http.StatusServiceUnavailable, f)
		return
	}
	previous := ""
	if c, err := r.Cookie(SessionCookie); err == nil {
		previous = c.Value
	}
	// The attempt is audited in the Comune (the login, and a failure that
	// counts towards the lock) under the name typed: no session exists
	// yet to name the person.
	actx := cluster.WithActor(ctx, cluster.Actor{ID: "locale:" + strings.ToLower(strings.TrimSpace(f.Username)),
		Name: f.Username, Tenant: string(t.ID), Addr: h.clientAddr(r)})
	res, cookie, err := h.store.LocalLogin(actx, t.ID, f.Username, r.PostFormValue("password"), r.PostFormValue("code"), previous)
	release()
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		h.log.WarnContext(ctx, "break-glass login refused", "tenant", t.ID, "client", h.clientKey(r), "err", err)
		f.Problem = msgBadCredentials
		h.renderLocal(w, r, http.StatusUnauthorized, f)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(ctx, "break-glass login", "tenant", t.ID, "user", res.User.ID, "admin", res.User.Username, "client", h.clientKey(r))
	setCookie(w, SessionCookie, cookie, 0)
	http.Redirect(w, r, f.Return, http.StatusSeeOther)
}
