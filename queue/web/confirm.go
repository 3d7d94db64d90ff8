package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The confirmation of a remote ticket by email (queue/confirm.go). The
// email's link opens a page with one button; the button's POST confirms.
// A GET does not, because mail scanners and link previews open the
// links of an email by themselves, and would put every ticket in the
// line whether or not the citizen asked for it; none of them submits a
// form. The page needs no script, and carries the token in the form's
// body, not in a second URL.

// confirmPathPrefix is the link's base, to which the email adds the
// ticket's ID and "?c=" with the token.
const confirmPathPrefix = "/coda/conferma/"

// qConfirmToken is the link's parameter and the form's field of the
// token.
const qConfirmToken = "c"

// confirmData is coda_conferma.html.
type confirmData struct {
	ID, Token string
	// Taken is the ticket once confirmed.
	Taken *queue.Taken
	// Minutes is the confirmed ticket's estimated wait.
	Minutes int
	// Office is the office's name, once confirmed.
	Office string
	// Error is why the confirmation failed, in the page's language;
	// Retake is the office's page to take a new number (when the link
	// expired).
	Error, Retake string
}

// confirmLink is TakeRequest.ConfirmLink for r.
func (h *Handler) confirmLink(r *http.Request) string { return h.baseURL(r) + confirmPathPrefix }

// confirmForm answers GET /coda/conferma/{id}?c=…: the button.
func (c *citizen) confirmForm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	token := r.URL.Query().Get(qConfirmToken)
	if token == "" {
		c.pageError(w, r, queue.ErrNotFound)
		return
	}
	c.renderConfirm(w, r, http.StatusOK, confirmData{ID: r.PathValue("id"), Token: token})
}

// confirm answers POST /coda/conferma/{id}: the ticket joins the line,
// and the page says its number and wait; or says why it cannot.
func (c *citizen) confirm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := r.ParseForm(); err != nil {
		c.pageError(w, r, err)
		return
	}
	if ok, wait := c.h.limiter.Allow(c.h.clientIP(r), c.h.now()); !ok {
		c.pageError(w, r, &rateLimitError{RetryAfter: wait})
		return
	}
	ctx := r.Context()
	lang := site.LangFrom(ctx)
	d := confirmData{ID: r.PathValue("id"), Token: r.PostForm.Get(qConfirmToken)}
	k, err := c.h.q.Confirm(ctx, t, d.ID, d.Token)
	switch {
	case err == nil:
		k.Ticket = c.h.labelTicket(ctx, t.ID, k.Ticket)
		d.Taken, d.Minutes = &k, minutes(k.Status.EstimatedWait)
		if o, err := c.h.q.PublicOffice(ctx, t.ID, k.Ticket.OfficeID); err == nil {
			d.Office = o.Name
		}
		c.h.log.Info("ticket confirmed", "tenant", t.ID, "office", k.Ticket.OfficeID, "ticket", k.Ticket.Number)
		c.renderConfirm(w, r, http.StatusOK, d)
	case errors.Is(err, queue.ErrConfirmExpired):
		d.Error = tr(lang, "confirm.expired")
		if pk, perr := c.h.q.PendingOffice(ctx, t.ID, d.ID); perr == nil {
			d.Retake = "/coda/" + url.PathEscape(pk)
		}
		c.renderConfirm(w, r, http.StatusGone, d)
	case errors.Is(err, queue.ErrAlreadyConfirmed):
		d.Error = tr(lang, "confirm.already")
		c.renderConfirm(w, r, http.StatusConflict, d)
	default:
		p := classify(err)
		if p.Status >= 500 || p.Status == http.StatusNotFound {
			c.pageError(w, r, err)
			return
		}
		d.Error = problemText(lang, p)
		c.renderConfirm(w, r, p.Status, d)
	}
}

func (c *citizen) renderConfirm(w http.ResponseWriter, r *http.Request, status int, d confirmData) {
	lang := site.LangFrom(r.Context())
	c.pages.Render(w, r, status, "coda_conferma.html", site.Page{
		Title:       tr(lang, "confirm.title"),
		Breadcrumbs: []site.Crumb{{Label: tr(lang, "home"), URL: "/"}, {Label: tr(lang, "confirm.title")}},
		Data:        d,
	})
}
