package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/powjs"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// citizenFS holds the citizen pages of the queue (ticket form, ticket,
// kiosk, board, waiting room) and the script of their live updates.
//
//go:embed templates/coda_*.html static/queue.js
var citizenFS embed.FS

// scriptPath is where the pages' script is served. It goes through the
// Tenant middleware like the pages, so it is same-origin for the CSP's
// script-src 'self'.
const scriptPath = "/coda/queue.js"

// citizen serves the public pages of the queue under /coda. It is built
// once by Routes and holds only immutable data.
type citizen struct {
	h     *Handler
	pages *site.Templates
	js    []byte
	// jsVersion is a hash of the script: pages link to
	// scriptPath?v=jsVersion, cached for a year, so a new binary's
	// script gets a new URL.
	jsVersion string
}

// queueScript is the script the pages are served: the shared
// proof-of-work solver (internal/powjs), then static/queue.js.
func queueScript() ([]byte, error) {
	js, err := citizenFS.ReadFile("static/queue.js")
	if err != nil {
		return nil, err
	}
	return []byte(powjs.With(string(js))), nil
}

// citizenRoutes mounts the citizen pages on mux. The templates are
// embedded, so a failure to parse them is a bug the package's tests
// catch; like a conflicting mux pattern, it panics.
func (h *Handler) citizenRoutes(mux *http.ServeMux) {
	sub, err := fs.Sub(citizenFS, "templates")
	if err != nil {
		panic(err)
	}
	pages, err := h.site.TemplatesWith(citizenMessages, sub, "coda_*.html")
	if err != nil {
		panic(fmt.Sprintf("queue/web: citizen templates: %v", err))
	}
	js, err := queueScript()
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(js)
	c := &citizen{h: h, pages: pages, js: js, jsVersion: hex.EncodeToString(sum[:6])}
	// "/coda/biglietto/{id}" is more specific than "/coda/{office}/{page}",
	// which carries both the kiosk and the board: two patterns
	// "/coda/{office}/chiosco" and "/coda/biglietto/{id}" would overlap
	// on "/coda/biglietto/chiosco" and the mux would refuse them.
	mux.HandleFunc("GET "+scriptPath, c.script)
	mux.Handle("GET /coda/{office}", c.wrap(c.takeForm))
	mux.Handle("POST /coda/{office}", c.wrap(c.take))
	mux.Handle("GET /coda/biglietto/{id}", c.wrap(c.ticket))
	mux.Handle("POST /coda/biglietto/{id}", c.wrap(c.leave))
	if h.appIOOn() {
		// "Ricevi gli avvisi anche sull'app IO" (appio_web.go).
		mux.Handle("POST /coda/biglietto/{id}/appio", c.wrap(c.appIO))
	}
	// "/coda/conferma/{id}" is more specific than "/coda/{office}/{page}"
	// like the ticket's page.
	mux.Handle("GET "+confirmPathPrefix+"{id}", c.wrap(c.confirmForm))
	mux.Handle("POST "+confirmPathPrefix+"{id}", c.wrap(c.confirm))
	mux.Handle("GET /coda/{office}/{page}", c.wrap(c.officePage))
	mux.Handle("POST /coda/{office}/{page}", c.wrap(c.officePost))
	mux.Handle("GET /api/v1/offices/{id}/challenge", h.wrap(h.apiChallenge))
	// The waiting room of a video or phone appointment (waiting.go), at
	// booking.JoinPath.
	mux.Handle("GET /chiamata/{code}", c.wrap(c.waitingRoom))
	if h.changes != nil {
		mux.Handle("GET /api/v1/offices/{id}/queue/events", h.wrap(h.apiOfficeEvents))
		mux.Handle("GET /chiamata/{code}/eventi", h.wrap(h.waitingEvents))
	}
}

// wrap resolves the Comune, refuses cross-site form posts (the forms are
// public and carry no CSRF token: the browser's Sec-Fetch-Site or Origin
// tells a same-origin post, as for booking/web's public forms) and caps
// the body.
func (c *citizen) wrap(fn tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			c.h.site.Error(w, r, http.StatusNotFound, "")
			return
		}
		if err := c.h.csrf.Check(r); err != nil {
			c.pageError(w, r, fmt.Errorf("%w: %v", errCrossSite, err))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, c.h.maxBody)
		}
		fn(w, r, t)
	})
}

// pageError shows err as an error page in the Comune's layout, with the
// status the API gives and its message in the page's language.
func (c *citizen) pageError(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	if p.Status >= 500 {
		c.h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var rle *rateLimitError
	if errors.As(err, &rle) {
		w.Header().Set("Retry-After", fmt.Sprint(max(int(rle.RetryAfter.Seconds()+0.999), 1)))
	}
	c.h.site.Error(w, r, p.Status, problemText(site.LangFrom(r.Context()), p))
}

// script serves the live-update script. A request carrying the current
// version is cached for a year; any other revalidates with the ETag.
func (c *citizen) script(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+c.jsVersion+`"`)
	if r.URL.Query().Get("v") == c.jsVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "queue.js", time.Time{}, strings.NewReader(string(c.js)))
}

// scriptURL is the versioned URL pages link to.
func (c *citizen) scriptURL() string { return scriptPath + "?v=" + c.jsVersion }

// office loads the office of the request's path for a page, answering
// the 404 page itself when it is unknown or another Comune's.
func (c *citizen) office(w http.ResponseWriter, r *http.Request, t tenant.Tenant, id string) (booking.Office, bool) {
	o, err := c.h.q.PublicOffice(r.Context(), t.ID, id)
	if err != nil {
		c.pageError(w, r, err)
		return booking.Office{}, false
	}
	return o, true
}

// choice is a service the citizen may pick, with its group letter.
type choice struct {
	ID, Name, Letter string
	Checked          bool
}

// choices lists the office's services by group letter, then name.
func (c *citizen) choices(r *http.Request, t tenant.Tenant, o booking.Office, checked string) ([]choice, error) {
	cfg, err := c.h.q.Config(r.Context(), t.ID, o.ID)
	if err != nil {
		return nil, err
	}
	out := make([]choice, 0, len(o.Services))
	for _, s := range o.Services {
		l := cfg.Groups[s.ID]
		if l == "" {
			l = queue.DefaultLetter
		}
		out = append(out, choice{ID: s.ID, Name: s.Name, Letter: l, Checked: s.ID == checked})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Letter < out[j].Letter })
	return out, nil
}

// ticketPath is the citizen's page of a ticket, with its secret.
func ticketPath(id, secret string) string {
	return "/coda/biglietto/" + url.PathEscape(id) + "?secret=" + url.QueryEscape(secret)
}

// stateLabel says in lang where a ticket is; the script says the same
// (queue.js, label) with the same keys.
func stateLabel(lang string, k queue.Ticket) string {
	switch k.State {
	case queue.Waiting, queue.Served, queue.NoShow, queue.Cancelled, queue.PendingConfirmation:
		return tr(lang, "state."+string(k.State))
	case queue.Called, queue.Serving, queue.Parked:
		return tr(lang, "state."+string(k.State), place(lang, k.Desk))
	}
	return string(k.State)
}
