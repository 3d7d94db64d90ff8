package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// moveView is the data of the page that moves a booking.
type moveView struct {
	bookingView
	Months     []monthLink
	Month      string // YYYY-MM of the month shown
	MonthLabel string
	Days       []dayView
	Errors     formErrors
	ErrorList  []fieldError
	General    string
}

// monthLink is one link of the move page's month selector.
type monthLink struct {
	Label, URL string
	Current    bool
}

// moveForm answers GET /prenotazioni/{code}/sposta?token=…&mese=YYYY-MM:
// the free slots of the booking's service in a month, as radio buttons.
func (h *Handler) moveForm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	q := r.URL.Query()
	m, err := h.loadManaged(r.Context(), t, r.PathValue("code"), q.Get(fToken))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.renderMove(w, r, t, http.StatusOK, m, q.Get(fMonth), "", formErrors{}, "")
}

// bookingMove answers POST /prenotazioni/{code}/sposta with the token and
// the new start ("inizio") in the form: it moves the booking and redirects
// (303) to its page; a slot taken meanwhile or a passed deadline shows the
// move page again with the error.
func (h *Handler) bookingMove(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	code, token, chosen := r.PathValue("code"), r.PostForm.Get(fToken), r.PostForm.Get(fStart)
	m, err := h.loadManaged(r.Context(), t, code, token)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	start, err := time.Parse(time.RFC3339, chosen)
	if err != nil {
		h.renderMove(w, r, t, http.StatusUnprocessableEntity, m, r.PostForm.Get(fMonth), chosen,
			formErrors{fStart: "Scegli il nuovo orario dall'elenco."}, "")
		return
	}
	b, err := h.book.Move(r.Context(), t, code, token, start, h.baseURL(r))
	if err != nil {
		p := classify(err)
		switch {
		case p.Fields["start"] != "":
			h.renderMove(w, r, t, p.Status, m, "", chosen, formErrors{fStart: p.Fields["start"]}, "")
		case errors.Is(err, booking.ErrPastDeadline), errors.Is(err, booking.ErrCancelled):
			h.renderMove(w, r, t, p.Status, m, "", chosen, formErrors{}, p.Message)
		default:
			h.pageError(w, r, err)
		}
		return
	}
	h.log.Info("booking moved", "tenant", t.ID, "booking", b.Code, "via", "page")
	http.Redirect(w, r, manageURL(b.Code, token, fMoved), http.StatusSeeOther)
}

func (h *Handler) renderMove(w http.ResponseWriter, r *http.Request, t tenant.Tenant, status int, m managed, askedMonth, chosen string, fe formErrors, general string) {
	l := trOf(r)
	fe = fe.in(l)
	v := moveView{bookingView: h.newBookingView(r, t, m), Errors: fe, ErrorList: fe.list(l), General: l.msg(general)}
	if v.CanChange {
		loc := t.Location()
		first, last := horizon(m.Service, civil.DateOf(h.now().In(loc)))
		all := months(first, last)
		chosenTime, _ := time.Parse(time.RFC3339, chosen)
		cur, slots, err := h.pickMonth(r.Context(), t, m.Service, all, askedMonth, chosenTime)
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		for _, mm := range all {
			v.Months = append(v.Months, monthLink{
				Label: mm.label(l), URL: bookingPath(m.Booking.Code, "sposta", m.Token) + "&" + fMonth + "=" + mm.String(),
				Current: mm == cur,
			})
		}
		v.Month, v.MonthLabel = cur.String(), cur.label(l)
		own := slots[:0]
		for _, s := range slots {
			if !s.Start.Equal(m.Booking.Start) {
				own = append(own, s)
			}
		}
		v.Days = groupSlots(l, own, loc, chosen)
	}
	title := l.T("move.title")
	if len(v.ErrorList) > 0 || general != "" {
		title = l.T("title.error", title)
	}
	h.pages.Render(w, r, status, "sposta.html", site.Page{
		Title: title,
		Breadcrumbs: []site.Crumb{
			{Label: l.T("home"), URL: "/"}, {Label: l.T("booking.crumb", v.Code), URL: v.ShowURL}, {Label: l.T("move.title")},
		},
		Data: v,
	})
}
