package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// kioskShow is how long the kiosk shows a new number before it is ready
// for the next citizen.
const kioskShow = 10

// kioskIdle is how long the booking-code screen waits for a citizen who
// walked away before it returns to the buttons.
const kioskIdle = 90

// kioskData is the kiosk's page: the buttons, the booking-code screen,
// or the number just taken.
type kioskData struct {
	Office   booking.Office
	Services []choice
	Taken    *queue.Taken
	// Minutes is the taken ticket's estimated wait.
	Minutes int
	Error   string
	Show    int
	// Open tells whether the queue gives walk-in numbers now (check-ins
	// are taken whenever the booking's window is open).
	Open queue.QueueOpen
	// CheckIn shows the booking-code screen; Code is what was typed.
	CheckIn bool
	Code    string
	Idle    int
	// Script is queue.js's URL: on the timed screens it warns before the
	// return to the start and lets the citizen stay (WCAG 2.2.1).
	Script string
	// Late says a check-in came after the window: the citizen keeps a
	// ticket, in the walk-in line.
	Late bool
	// Choose shows the choice of a priority category; Priority is the
	// category chosen (the service buttons then take a priority ticket)
	// and PriorityName its name.
	Choose       bool
	Priority     queue.Priority
	PriorityName string
}

// kioskPriorities are the priority categories the kiosk offers, with the
// catalog key of their name in a sentence. The citizen declares the
// category; the kiosk cannot check it, so the page says that the staff
// may ask for proof, as Italian offices' totems do.
var kioskPriorities = map[queue.Priority]string{
	queue.Disability: "priority.disability",
	queue.Pregnancy:  "priority.pregnancy",
}

// qKioskPriority is the kiosk's parameter of the priority: "1" for the
// choice of the category, or the category.
const qKioskPriority = "precedenza"

// kioskPriority reads the priority parameter: the choice screen, a
// category (named in lang), or false for a value that is neither.
func (d *kioskData) kioskPriority(lang, v string) bool {
	switch {
	case v == "":
	case v == "1":
		d.Choose = true
	case kioskPriorities[queue.Priority(v)] != "":
		d.Priority, d.PriorityName = queue.Priority(v), tr(lang, kioskPriorities[queue.Priority(v)])
	default:
		return false
	}
	return true
}

// officePage answers GET /coda/{office}/{page}: the kiosk and the board.
func (c *citizen) officePage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	switch r.PathValue("page") {
	case "chiosco":
		c.kiosk(w, r, t)
	case "tabellone":
		c.board(w, r, t)
	default:
		c.h.site.Error(w, r, http.StatusNotFound, "")
	}
}

// officePost answers POST /coda/{office}/{page}: only the kiosk takes
// posts.
func (c *citizen) officePost(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if r.PathValue("page") != "chiosco" {
		c.h.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	c.kioskTake(w, r, t)
}

// kiosk answers GET /coda/{office}/chiosco: one big button per service,
// by group letter, one for anything else, one for citizens with a
// booking and, apart, one for a priority; with ?prenotazione=1, the
// screen to type the booking code; with ?precedenza=1 the choice of the
// priority category, and with ?precedenza=<category> the service buttons
// again, taking a priority ticket.
func (c *citizen) kiosk(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	if key := r.URL.Query().Get(qKioskKey); key != "" {
		c.kioskEnrolLink(w, r, t, o, key)
		return
	}
	if _, ok := c.kioskAdmitted(w, r, t, o); !ok {
		return
	}
	d := kioskData{Office: o, CheckIn: r.URL.Query().Get("prenotazione") != ""}
	if err := c.fillKiosk(r, t, &d); err != nil {
		c.pageError(w, r, err)
		return
	}
	lang := site.LangFrom(r.Context())
	if !d.CheckIn && !d.kioskPriority(lang, r.URL.Query().Get(qKioskPriority)) {
		d.Choose, d.Error = true, tr(lang, "kiosk.error.category")
		c.renderKiosk(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	c.renderKiosk(w, r, http.StatusOK, d)
}

// fillKiosk adds the services and whether the queue is open.
func (c *citizen) fillKiosk(r *http.Request, t tenant.Tenant, d *kioskData) error {
	var err error
	if d.Services, err = c.choices(r, t, d.Office, ""); err != nil {
		return err
	}
	d.Open, err = c.h.q.OpenState(r.Context(), t, d.Office.ID)
	return err
}

func (c *citizen) renderKiosk(w http.ResponseWriter, r *http.Request, status int, d kioskData) {
	d.Show, d.Idle, d.Script = kioskShow, kioskIdle, c.scriptURL()
	title := tr(site.LangFrom(r.Context()), "kiosk.title", d.Office.Name)
	c.pages.Render(w, r, status, "coda_chiosco.html", site.Page{Title: title, Data: d})
}

// kioskTake answers POST /coda/{office}/chiosco: an in-person ticket
// (or, with azione=arrivo, the check-in of a booking by its code), shown
// in large type on the answer itself, which returns to the buttons after
// kioskShow seconds. Nothing is printed and no secret is shown: the
// citizen waits in the hall and watches the board.
//
// The kiosk is a shared device in the office: its takes carry the
// address but no device, and no proof of work. An enrolled kiosk
// (kiosk_enrol.go) sends its token too and is exempt from the office's
// per-address limit; an unenrolled one is held to it.
func (c *citizen) kioskTake(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		c.pageError(w, r, err)
		return
	}
	token, ok := c.kioskAdmitted(w, r, t, o)
	if !ok {
		return
	}
	d := kioskData{Office: o}
	if err := c.fillKiosk(r, t, &d); err != nil {
		c.pageError(w, r, err)
		return
	}
	// An enrolled kiosk gives numbers to a whole office from one
	// address, so the per-address rate limit is not for it.
	if _, err := c.h.q.KioskByToken(r.Context(), t.ID, o.ID, token); err != nil {
		if ok, wait := c.h.limiter.Allow(c.h.clientIP(r), c.h.now()); !ok {
			c.pageError(w, r, &rateLimitError{RetryAfter: wait})
			return
		}
	}
	lang := site.LangFrom(r.Context())
	req := queue.TakeRequest{
		OfficeID: o.ID, ServiceID: r.PostForm.Get("servizio"), Channel: queue.InPerson,
		ClientIP: c.h.clientIP(r), Source: queue.SourceKiosk, Lang: lang, Kiosk: token,
	}
	if !d.kioskPriority(lang, r.PostForm.Get(qKioskPriority)) || d.Choose {
		d.Choose, d.Priority, d.Error = true, "", tr(lang, "kiosk.error.category")
		c.renderKiosk(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	req.Priority = d.Priority
	if r.PostForm.Get("azione") == "arrivo" {
		d.CheckIn, d.Code = true, kioskCode(r.PostForm.Get("codice"))
		req.ServiceID, req.BookingCode = "", d.Code
		req.Priority, d.Priority, d.PriorityName = queue.NoPriority, "", ""
		if d.Code == "" {
			d.Error = tr(lang, "kiosk.error.code")
			c.renderKiosk(w, r, http.StatusUnprocessableEntity, d)
			return
		}
		// The kiosk speaks the office's language, not necessarily the
		// citizen's: a check-in's emails follow the language the
		// citizen booked in.
		if bk, err := c.h.q.Booking(r.Context(), t.ID, d.Code); err == nil && bk.Lang != "" {
			req.Lang = bk.Lang
		}
	}
	k, err := c.h.q.Take(r.Context(), t, req)
	if err != nil {
		p := classify(err)
		if p.Status >= 500 || p.Status == http.StatusNotFound {
			c.pageError(w, r, err)
			return
		}
		d.Error = problemText(lang, p)
		var ve *queue.ValidationError
		switch {
		case d.CheckIn:
			d.Error = c.checkInError(r, t, o, d.Code, err)
		case errors.As(err, &ve):
			d.Error = tr(lang, "kiosk.error.service")
		}
		c.renderKiosk(w, r, p.Status, d)
		return
	}
	d.Taken, d.Minutes = &k, minutes(k.Status.EstimatedWait)
	d.Late = d.CheckIn && !k.Ticket.Booked
	d.CheckIn = false
	c.renderKiosk(w, r, http.StatusOK, d)
}

// checkInError says in the page's language why the check-in of code was
// refused, reading the booking and the office's window to say when to
// come back.
func (c *citizen) checkInError(r *http.Request, t tenant.Tenant, o booking.Office, code string, err error) string {
	ctx := r.Context()
	lang := site.LangFrom(ctx)
	switch {
	case errors.Is(err, queue.ErrAlreadyCheckedIn):
		if k, err := c.h.q.BookingTicket(ctx, t.ID, code); err == nil {
			return tr(lang, "checkin.already.number", k.Number)
		}
		return tr(lang, "checkin.already")
	case errors.Is(err, queue.ErrTooEarly):
		bk, berr := c.h.q.Booking(ctx, t.ID, code)
		cfg, cerr := c.h.q.Config(ctx, t.ID, o.ID)
		if berr == nil && cerr == nil {
			return tr(lang, "checkin.early.at", clock(bk.Start.Add(-cfg.EarlyCheckIn), t))
		}
		return tr(lang, "checkin.early")
	case errors.Is(err, queue.ErrNotToday):
		bk, berr := c.h.q.Booking(ctx, t.ID, code)
		switch {
		case berr != nil || bk.Status != booking.Active:
			return tr(lang, "checkin.unknown", code)
		case civilDay(bk.Start, t) != civilDay(c.h.now(), t):
			return tr(lang, "checkin.not_today", code)
		case bk.OfficeID != o.ID:
			return tr(lang, "checkin.other_office", code)
		}
		return tr(lang, "checkin.ask", code)
	}
	return problemText(lang, classify(err))
}

// clock is t's wall-clock time in the Comune ("10:45").
func clock(at time.Time, t tenant.Tenant) string { return at.In(t.Location()).Format("15:04") }

// civilDay is the Comune-local date of an instant.
func civilDay(at time.Time, t tenant.Tenant) string {
	return at.In(t.Location()).Format(time.DateOnly)
}

// kioskCode trims what a citizen typed on the kiosk's screen.
func kioskCode(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), "")) }
