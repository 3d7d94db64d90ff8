package web

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The virtual waiting room of a video or phone appointment: the page the
// booking's join link (booking.JoinPath, /chiamata/{code}?t=<join token>)
// opens. The join token is its only credential: the page never needs the
// ticket's secret. It checks the citizen in when the check-in window is
// open, and from then on finds the same ticket by the booking's code, so
// a reload, a second tab or another node shows the same ticket. Issue 6
// adds the call itself to this page.

// waitingRefreshMax bounds how long the closed room's page waits before
// it reloads itself to see whether the room opened.
const waitingRefreshMax = 60 * time.Second

// waitingData is the waiting room's page.
type waitingData struct {
	Booking booking.Booking
	Office  booking.Office
	// Ticket is the citizen's ticket once checked in (nil before).
	Ticket *queue.Ticket
	Label  string
	// Position and Minutes are where a waiting ticket stands.
	Position, Minutes int
	Active            bool
	// Opens is when the room opens (the start of the check-in window);
	// Refresh, in seconds, how soon the page reloads itself while it is
	// closed today (0 on another day).
	Opens   time.Time
	Refresh int
	// Past says the appointment's day is over.
	Past bool
	// Events is the room's event stream, for the script.
	Events string
	Script string
	// Strings are the texts the scripts show, in the page's language.
	Strings map[string]string
	// Call is the link to the video call, once checked in ("" when the
	// calls are off).
	Call string
}

// waitingView is what the room's event stream sends: the ticket page's
// fields (queue.js shows both), without ID or link.
type waitingView struct {
	Number               string `json:"number"`
	State                string `json:"state"`
	Desk                 string `json:"desk,omitempty"`
	Position             int    `json:"position"`
	EstimatedWaitMinutes int    `json:"estimated_wait_minutes"`
}

// waitingLabel says in lang where the citizen of a remote appointment
// is; queue.js says the same (roomLabel) with the same keys.
func waitingLabel(lang string, k queue.Ticket) string {
	switch k.State {
	case queue.Waiting, queue.Called, queue.Serving, queue.Served, queue.NoShow, queue.Cancelled, queue.Parked:
		return tr(lang, "room."+string(k.State))
	}
	return string(k.State)
}

// waitingPath is the room's page for a booking, the join link's path.
func waitingPath(code, token string) string {
	return "/chiamata/" + url.PathEscape(code) + "?t=" + url.QueryEscape(token)
}

// waitingRoom answers GET /chiamata/{code}?t=<join token>.
func (c *citizen) waitingRoom(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	// The URL holds the join token: no link or resource may carry it to
	// anyone in a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	ctx := r.Context()
	token := r.URL.Query().Get("t")
	bk, err := c.h.q.JoinBooking(ctx, t.ID, r.PathValue("code"), token)
	if errors.Is(err, queue.ErrNotFound) {
		c.h.site.Error(w, r, http.StatusNotFound, tr(site.LangFrom(ctx), "waiting.not_found"))
		return
	}
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	o, err := c.h.q.PublicOffice(ctx, t.ID, bk.OfficeID)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	lang := site.LangFrom(ctx)
	d := waitingData{Booking: bk, Office: o, Script: c.scriptURL(), Strings: scriptStrings(lang)}
	k, err := c.h.q.BookingTicket(ctx, t.ID, bk.Code)
	if errors.Is(err, queue.ErrNotFound) {
		k, err = c.checkInRoom(w, r, t, bk, &d)
		if err == nil && d.Ticket == nil {
			// The room is not open: the page says when it opens.
			c.renderWaiting(w, r, d)
			return
		}
	}
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	st, err := c.h.q.Status(ctx, t.ID, k.ID)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	k = c.h.labelTicket(ctx, t.ID, k)
	d.Ticket, d.Label, d.Position, d.Minutes, d.Active = &k, waitingLabel(lang, k), st.Position, minutes(st.EstimatedWait), !closedState(k.State)
	if c.h.changes != nil && d.Active {
		d.Events = "/chiamata/" + url.PathEscape(bk.Code) + "/eventi?t=" + url.QueryEscape(token)
	}
	if c.h.videoCalls && d.Active {
		d.Call = "/chiamata/" + url.PathEscape(bk.Code) + "/video?t=" + url.QueryEscape(token)
	}
	c.renderWaiting(w, r, d)
}

// checkInRoom checks the citizen of bk in, when its window is open:
// the ticket, or (with d.Ticket left nil) the closed room's data in d.
// Two tabs that check in at once both end with the one ticket.
func (c *citizen) checkInRoom(w http.ResponseWriter, r *http.Request, t tenant.Tenant, bk booking.Booking, d *waitingData) (queue.Ticket, error) {
	ctx := r.Context()
	cfg, err := c.h.q.Config(ctx, t.ID, bk.OfficeID)
	if err != nil {
		return queue.Ticket{}, err
	}
	now := c.h.now()
	d.Opens = bk.Start.Add(-cfg.EarlyCheckIn)
	switch today := civilDay(now, t); {
	case civilDay(bk.Start, t) < today:
		d.Past = true
		return queue.Ticket{}, nil
	case civilDay(bk.Start, t) > today:
		return queue.Ticket{}, nil
	case now.Before(d.Opens):
		d.Refresh = refreshIn(d.Opens.Sub(now))
		return queue.Ticket{}, nil
	}
	taken, err := c.h.q.Take(ctx, t, queue.TakeRequest{
		OfficeID: bk.OfficeID, Channel: queue.Channel(bk.Channel), BookingCode: bk.Code,
		ClientIP: c.h.clientIP(r), Source: queue.SourceWeb, Lang: site.LangFrom(ctx),
	})
	switch {
	case err == nil:
		c.h.log.Info("waiting room check-in", "tenant", t.ID, "office", bk.OfficeID, "ticket", taken.Ticket.Number)
		d.Ticket = &taken.Ticket
		return taken.Ticket, nil
	case errors.Is(err, queue.ErrAlreadyCheckedIn):
		// Another tab or node checked in first: show its ticket.
		k, err := c.h.q.BookingTicket(ctx, t.ID, bk.Code)
		d.Ticket = &k
		return k, err
	case errors.Is(err, queue.ErrTooEarly):
		// The leader's clock is a little behind this node's.
		d.Refresh = refreshIn(0)
		return queue.Ticket{}, nil
	}
	return queue.Ticket{}, err
}

// refreshIn is how many seconds the closed room waits before reloading
// for an opening d away: at the opening, but at least 5 s and at most
// waitingRefreshMax, so a clock set wrong cannot stall or hammer it.
func refreshIn(d time.Duration) int {
	d = min(max(d, 5*time.Second), waitingRefreshMax)
	return int((d + time.Second - 1) / time.Second)
}

func (c *citizen) renderWaiting(w http.ResponseWriter, r *http.Request, d waitingData) {
	lang := site.LangFrom(r.Context())
	c.pages.Render(w, r, http.StatusOK, "coda_attesa.html", site.Page{
		Title:       tr(lang, "waiting.title"),
		Breadcrumbs: []site.Crumb{{Label: tr(lang, "home"), URL: "/"}, {Label: tr(lang, "waiting.title")}},
		Data:        d,
	})
}

// waitingEvents answers GET /chiamata/{code}/eventi?t=<join token> with
// the Server-Sent Events of the room's ticket, as the ticket's own
// stream does but authorised by the join token and without the ticket's
// ID or secret in what it sends. The token is checked once, here.
func (h *Handler) waitingEvents(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ctx := r.Context()
	bk, err := h.q.JoinBooking(ctx, t.ID, r.PathValue("code"), r.URL.Query().Get("t"))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	k, err := h.q.BookingTicket(ctx, t.ID, bk.Code)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.follow(w, r, t, k.OfficeID, k.ID, "ticket", func(u update) (any, bool, string) {
		closed, moved := u.ends()
		return waitingView{
			Number: u.ticket.Number, State: string(u.ticket.State), Desk: u.ticket.Desk,
			Position: u.status.Position, EstimatedWaitMinutes: minutes(u.status.EstimatedWait),
		}, closed, moved
	})
}
