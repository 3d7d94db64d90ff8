package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// showView is the data of the booking page.
type showView struct {
	bookingView
	Confirmed, Moved, Cancelled bool
}

// bookingShow answers GET /prenotazioni/{code}?token=…: the citizen's
// booking with its actions. It doubles as the confirmation page after
// booking (?confermato=1) and tells of a move (?spostato=1) or a
// cancellation (?annullato=1). A wrong code or token answers 404.
func (h *Handler) bookingShow(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	q := r.URL.Query()
	m, err := h.loadManaged(r.Context(), t, r.PathValue("code"), q.Get(fToken))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := showView{
		bookingView: h.newBookingView(r, t, m),
		Confirmed:   q.Get(fConfirm) == "1",
		Moved:       q.Get(fMoved) == "1",
		Cancelled:   q.Get(fCanceled) == "1",
	}
	l := trOf(r)
	title := l.T("booking.crumb", v.Code)
	switch {
	case !v.Active:
		title = l.T("show.cancelled.title")
	case v.Confirmed:
		title = l.T("show.confirmed.title")
	case v.Moved:
		title = l.T("show.moved.title")
	}
	h.pages.Render(w, r, http.StatusOK, "prenotazione.html", site.Page{
		Title:       title,
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("booking.crumb", v.Code)}},
		Data:        v,
	})
}
