package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// takeData is the "Prendi il numero" page.
type takeData struct {
	Office   booking.Office
	Services []choice
	// NoService is checked when the citizen chose no service.
	NoService bool
	Channel   string
	Errors    map[string]string
}

// channels offered on the form, in order.
var channelChoices = []struct{ Value, Label string }{
	{string(queue.InPerson), "Allo sportello, in ufficio"},
	{string(queue.Video), "In videochiamata"},
	{string(queue.Phone), "Al telefono"},
}

// Channels lists the form's channels (a method, so the list stays a
// constant of the package rather than data of each request).
func (takeData) Channels() []struct{ Value, Label string } { return channelChoices }

// takeForm answers GET /coda/{office}: the page a QR code at the office
// door points to.
func (c *citizen) takeForm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	svcs, err := c.choices(r, t, o, "")
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	c.renderTake(w, r, http.StatusOK, takeData{Office: o, Services: svcs, NoService: true, Channel: string(queue.InPerson)})
}

func (c *citizen) renderTake(w http.ResponseWriter, r *http.Request, status int, d takeData) {
	c.pages.Render(w, r, status, "coda_prendi.html", site.Page{
		Title:       "Prendi il numero",
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Prendi il numero"}},
		Data:        d,
	})
}

// take answers POST /coda/{office}: a ticket, then 303 to its page. Bad
// input shows the form again with the errors, and nothing is taken.
func (c *citizen) take(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		c.pageError(w, r, err)
		return
	}
	svc, ch := r.PostForm.Get("servizio"), r.PostForm.Get("canale")
	d := takeData{Office: o, NoService: svc == "", Channel: ch}
	var err error
	if d.Services, err = c.choices(r, t, o, svc); err != nil {
		c.pageError(w, r, err)
		return
	}
	if ok, wait := c.h.limiter.Allow(c.h.clientIP(r), c.h.now()); !ok {
		c.pageError(w, r, &rateLimitError{RetryAfter: wait})
		return
	}
	k, err := c.h.q.Take(r.Context(), t, queue.TakeRequest{OfficeID: o.ID, ServiceID: svc, Channel: queue.Channel(ch)})
	var ve *queue.ValidationError
	if errors.As(err, &ve) {
		d.Errors = map[string]string{}
		for f, m := range ve.Fields {
			switch f {
			case "channel":
				d.Errors["canale"] = m
			case "service_id":
				d.Errors["servizio"] = m
			default:
				d.Errors["servizio"] = m
			}
		}
		c.renderTake(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, ticketPath(k.Ticket.ID, k.Secret), http.StatusSeeOther)
}

// ticketData is the citizen's ticket page.
type ticketData struct {
	Ticket queue.Ticket
	Office booking.Office
	Secret string
	Label  string
	// Position and Minutes are where a waiting ticket stands.
	Position, Minutes int
	Active            bool
	// Events is the ticket's event stream, for the script.
	Events string
	Script string
	// Confirm asks whether the citizen really leaves the line.
	Confirm bool
}

// ticket answers GET /coda/biglietto/{id}?secret=…: the number, where it
// stands and, while active, the way out of the line.
func (c *citizen) ticket(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	c.showTicket(w, r, t, r.URL.Query().Get("secret"), false)
}

func (c *citizen) showTicket(w http.ResponseWriter, r *http.Request, t tenant.Tenant, secret string, confirm bool) {
	// The page's URL holds the ticket's secret: no link or resource may
	// carry it to anyone in a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if secret == "" {
		c.pageError(w, r, queue.ErrBadSecret)
		return
	}
	ctx := r.Context()
	k, err := c.h.q.TicketWithSecret(ctx, t.ID, r.PathValue("id"), secret)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	st, err := c.h.q.Status(ctx, t.ID, k.ID)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	o, err := c.h.q.PublicOffice(ctx, t.ID, k.OfficeID)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	d := ticketData{
		Ticket: k, Office: o, Secret: secret, Label: stateLabel(k), Position: st.Position, Minutes: minutes(st.EstimatedWait),
		Active: k.Active(), Script: c.scriptURL(), Confirm: confirm && (k.State == queue.Waiting || k.State == queue.Called),
	}
	if c.h.changes != nil && d.Active {
		d.Events = "/api/v1/tickets/" + url.PathEscape(k.ID) + "/events?secret=" + url.QueryEscape(secret)
	}
	c.pages.Render(w, r, http.StatusOK, "coda_biglietto.html", site.Page{
		Title:       "Il tuo numero " + k.Number,
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Il tuo numero"}},
		Data:        d,
	})
}

// leave answers POST /coda/biglietto/{id}: without "conferma" it asks
// for confirmation (a page, so that it works without script); with it,
// the ticket leaves the line and the citizen sees its page again.
func (c *citizen) leave(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := r.ParseForm(); err != nil {
		c.pageError(w, r, err)
		return
	}
	secret := r.PostForm.Get("secret")
	if r.PostForm.Get("conferma") != "si" {
		c.showTicket(w, r, t, secret, true)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	k, err := c.h.q.Cancel(r.Context(), t.ID, r.PathValue("id"), secret)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, ticketPath(k.ID, secret), http.StatusSeeOther)
}
