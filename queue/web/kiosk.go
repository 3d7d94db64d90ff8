package web

import (
	"errors"
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// kioskShow is how long the kiosk shows a new number before it is ready
// for the next citizen.
const kioskShow = 10

// kioskData is the kiosk's page: the buttons, or the number just taken.
type kioskData struct {
	Office   booking.Office
	Services []choice
	Taken    *queue.Taken
	// Minutes is the taken ticket's estimated wait.
	Minutes int
	Error   string
	Show    int
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
// by group letter, and one for anything else.
func (c *citizen) kiosk(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	svcs, err := c.choices(r, t, o, "")
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	c.renderKiosk(w, r, http.StatusOK, kioskData{Office: o, Services: svcs})
}

func (c *citizen) renderKiosk(w http.ResponseWriter, r *http.Request, status int, d kioskData) {
	d.Show = kioskShow
	c.pages.Render(w, r, status, "coda_chiosco.html", site.Page{Title: "Prendi il numero - " + d.Office.Name, Data: d})
}

// kioskTake answers POST /coda/{office}/chiosco: an in-person ticket,
// shown in large type on the answer itself, which returns to the buttons
// after kioskShow seconds. Nothing is printed and no secret is shown:
// the citizen waits in the hall and watches the board.
func (c *citizen) kioskTake(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		c.pageError(w, r, err)
		return
	}
	svcs, err := c.choices(r, t, o, "")
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	d := kioskData{Office: o, Services: svcs}
	if ok, wait := c.h.limiter.Allow(c.h.clientIP(r), c.h.now()); !ok {
		c.pageError(w, r, &rateLimitError{RetryAfter: wait})
		return
	}
	k, err := c.h.q.Take(r.Context(), t, queue.TakeRequest{OfficeID: o.ID, ServiceID: r.PostForm.Get("servizio"), Channel: queue.InPerson})
	var ve *queue.ValidationError
	if errors.As(err, &ve) {
		d.Error = "Il servizio scelto non è disponibile: scegline un altro."
		c.renderKiosk(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	d.Taken, d.Minutes = &k, minutes(k.Status.EstimatedWait)
	c.renderKiosk(w, r, http.StatusOK, d)
}
