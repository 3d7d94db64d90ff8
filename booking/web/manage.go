package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// managed is a booking with its service and office, loaded for a holder of
// its manage token.
type managed struct {
	Booking booking.Booking
	Service booking.Service
	Office  booking.Office
	Token   string
}

// loadManaged reads the Comune's booking code for the holder of token. A
// wrong token answers booking.ErrBadToken or ErrNotFound, both shown as
// 404.
func (h *Handler) loadManaged(ctx context.Context, t tenant.Tenant, code, token string) (managed, error) {
	if token == "" {
		return managed{}, booking.ErrNotFound
	}
	b, err := h.book.Get(ctx, t.ID, code, token)
	if err != nil {
		return managed{}, err
	}
	svc, err := h.book.Service(ctx, t.ID, b.ServiceID)
	if err != nil {
		return managed{}, err
	}
	o, err := h.book.Office(ctx, t.ID, b.OfficeID)
	if err != nil {
		return managed{}, err
	}
	return managed{Booking: b, Service: svc, Office: o, Token: token}, nil
}

// details returns a booking's details as the citizen's page shows them:
// the markers of sealed details that cannot be read in the page's
// language (booking/seal.go).
func (l tr) details(s string) string {
	switch s {
	case booking.ErasedText:
		return l.T("details.erased")
	case booking.UnreadableText:
		return l.T("details.unreadable")
	}
	return s
}

// changeBy is the last instant the citizen may cancel or move m.
func (m managed) changeBy() time.Time {
	return m.Booking.Start.Add(-m.Service.CancelDeadline)
}

// manageURL is the path of a booking's page with its token and an
// optional flag ("confermato", "spostato", "annullato") set to 1.
func manageURL(code, token, flag string) string {
	u := bookingPath(code, "", token)
	if flag != "" {
		u += "&" + flag + "=1"
	}
	return u
}

// bookingPath is /prenotazioni/{code}[/sub]?token=….
func bookingPath(code, sub, token string) string {
	p := "/prenotazioni/" + url.PathEscape(code)
	if sub != "" {
		p += "/" + sub
	}
	return p + "?token=" + url.QueryEscape(token)
}

// noReferrer keeps the token in the page's URL out of Referer headers and
// caches.
func noReferrer(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

// bookingView is a booking as its page shows it.
type bookingView struct {
	Code         string
	Active       bool
	Service      serviceView
	Office       officeView
	When         string
	ChannelLabel string
	InPerson     bool
	// Phone is true for a booking by phone: its join link is a fallback.
	Phone       bool
	Details     string
	Citizen     booking.Citizen
	JoinURL     string
	ShowURL     string
	CalendarURL string
	CancelURL   string
	MoveURL     string
	CanChange   bool
	ChangeBy    string
	Token       string
}

func (h *Handler) newBookingView(r *http.Request, t tenant.Tenant, m managed) bookingView {
	loc := t.Location()
	l := trOf(r)
	b := m.Booking
	v := bookingView{
		Code: b.Code, Active: b.Status == booking.Active,
		Service: newServiceView(l, m.Service), Office: newOfficeView(l, m.Office),
		When:         l.span(b.Start.In(loc), b.End.In(loc)),
		ChannelLabel: l.channel(b.Channel), InPerson: b.Channel == booking.InPerson, Phone: b.Channel == booking.Phone,
		Details: l.details(b.Details), Citizen: b.Citizen,
		ShowURL:     manageURL(b.Code, m.Token, ""),
		CalendarURL: bookingPath(b.Code, "calendario.ics", m.Token),
		CancelURL:   bookingPath(b.Code, "annulla", m.Token),
		MoveURL:     bookingPath(b.Code, "sposta", m.Token),
		Token:       m.Token,
	}
	if u := joinURL(h.baseURL(r), b); u != nil && v.Active {
		v.JoinURL = *u
	}
	by := m.changeBy().In(loc)
	v.CanChange = v.Active && h.now().Before(by)
	v.ChangeBy = l.dateTime(by)
	return v
}
