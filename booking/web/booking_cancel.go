package web

import (
	"errors"
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// cancelView is the data of the cancellation page.
type cancelView struct {
	bookingView
	// ErrorList is always empty: the page has no field to correct.
	ErrorList []fieldError
	General   string
}

// cancelConfirm answers GET /prenotazioni/{code}/annulla?token=…: it asks
// the citizen to confirm the cancellation with a POST form.
func (h *Handler) cancelConfirm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	m, err := h.loadManaged(r.Context(), t, r.PathValue("code"), r.URL.Query().Get(fToken))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.renderCancel(w, r, t, http.StatusOK, m, "")
}

// bookingCancel answers POST /prenotazioni/{code}/annulla with the token
// in the form: it cancels and redirects (303) to the booking's page. The
// token is the only credential; past the deadline the page says so.
func (h *Handler) bookingCancel(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	code, token := r.PathValue("code"), r.PostForm.Get(fToken)
	m, err := h.loadManaged(r.Context(), t, code, token)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	b, err := h.book.Cancel(r.Context(), t, code, token, h.baseURL(r))
	if err != nil {
		if errors.Is(err, booking.ErrPastDeadline) || errors.Is(err, booking.ErrCancelled) {
			p := classify(err)
			h.renderCancel(w, r, t, p.Status, m, p.Message)
			return
		}
		h.pageError(w, r, err)
		return
	}
	h.log.Info("booking cancelled", "tenant", t.ID, "booking", b.Code, "via", "page")
	http.Redirect(w, r, manageURL(b.Code, token, fCanceled), http.StatusSeeOther)
}

func (h *Handler) renderCancel(w http.ResponseWriter, r *http.Request, t tenant.Tenant, status int, m managed, general string) {
	l := trOf(r)
	v := cancelView{bookingView: h.newBookingView(r, t, m), General: l.msg(general)}
	title := l.T("cancel.title")
	if general != "" {
		title = l.T("title.error", title)
	}
	h.pages.Render(w, r, status, "annulla.html", site.Page{
		Title: title,
		Breadcrumbs: []site.Crumb{
			{Label: l.T("home"), URL: "/"}, {Label: l.T("booking.crumb", v.Code), URL: v.ShowURL}, {Label: l.T("cancel.title")},
		},
		Data: v,
	})
}
