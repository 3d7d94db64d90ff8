package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	Email     string
	Errors    map[string]string
	// Alert is an error of the whole request (the queue is closed, the
	// day's numbers are finished), shown above the form.
	Alert string
	// Open tells whether the queue takes tickets now; when it does not,
	// the page says when it opens instead of showing the form.
	Open queue.QueueOpen
	// Proof is the challenge of an office that asks for a proof of work
	// (nil otherwise); the script solves it, and ChallengeURL gives a
	// fresh one when it expired on an open page.
	Proof        *challengeView
	ChallengeURL string
	Script       string
	// Strings are the texts the script shows, in the page's language.
	Strings map[string]string
}

// channelChoice is a channel offered on the form: its value and the key
// of its label in the catalog.
type channelChoice struct{ Value, Key string }

// channelChoices are the channels offered on the form, in order.
var channelChoices = []channelChoice{
	{string(queue.InPerson), "channel.in_person"},
	{string(queue.Video), "channel.video"},
	{string(queue.Phone), "channel.phone"},
}

// Channels lists the form's channels (a method, so the list stays a
// constant of the package rather than data of each request).
func (takeData) Channels() []channelChoice { return channelChoices }

// takeForm answers GET /coda/{office}: the page a QR code at the office
// door points to. It gives the browser its device cookie, so that the
// post that follows carries it.
func (c *citizen) takeForm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	device(w, r)
	d := takeData{Office: o, NoService: true, Channel: string(queue.InPerson)}
	if err := c.fillTake(r, t, &d, ""); err != nil {
		c.pageError(w, r, err)
		return
	}
	c.renderTake(w, r, http.StatusOK, d)
}

// fillTake adds to d what every showing of the form needs: the services,
// whether the queue is open, and a new challenge when the office asks
// for a proof of work.
func (c *citizen) fillTake(r *http.Request, t tenant.Tenant, d *takeData, checked string) error {
	var err error
	if d.Services, err = c.choices(r, t, d.Office, checked); err != nil {
		return err
	}
	if d.Open, err = c.h.q.OpenState(r.Context(), t, d.Office.ID); err != nil {
		return err
	}
	cfg, err := c.h.q.Config(r.Context(), t.ID, d.Office.ID)
	if err != nil {
		return err
	}
	if needsProof(cfg, queue.SourceWeb, "") {
		ch := c.h.proofs.issue(t.ID, d.Office.ID, cfg.ProofOfWork, c.h.now())
		d.Proof, d.ChallengeURL, d.Script = &ch, "/api/v1/offices/"+url.PathEscape(d.Office.ID)+"/challenge", c.scriptURL()
		d.Strings = scriptStrings(site.LangFrom(r.Context()))
	}
	return nil
}

func (c *citizen) renderTake(w http.ResponseWriter, r *http.Request, status int, d takeData) {
	lang := site.LangFrom(r.Context())
	c.pages.Render(w, r, status, "coda_prendi.html", site.Page{
		Title:       tr(lang, "take.title"),
		Breadcrumbs: []site.Crumb{{Label: tr(lang, "home"), URL: "/"}, {Label: tr(lang, "take.title")}},
		Data:        d,
	})
}

// formFields maps the queue's field names to the form's.
var formFields = map[string]string{"channel": "canale", "service_id": "servizio", "email": "email", "proof": "verifica"}

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
	f := r.PostForm
	svc, ch := f.Get("servizio"), f.Get("canale")
	// The ticket's emails and pushes speak the language of the page the
	// form was shown in; a form without the field (an older page) takes
	// the request's.
	pageLang := site.LangFrom(r.Context())
	lg := f.Get("lingua")
	if lg == "" {
		lg = pageLang
	}
	d := takeData{Office: o, NoService: svc == "", Channel: ch, Email: strings.TrimSpace(f.Get("email"))}
	dev := device(w, r)
	if ok, wait := c.h.limiter.Allow(c.h.clientIP(r), c.h.now()); !ok {
		c.pageError(w, r, &rateLimitError{RetryAfter: wait})
		return
	}
	pr := proof{Challenge: f.Get("verifica_sfida")}
	if n, err := strconv.ParseUint(f.Get("verifica_contatore"), 10, 64); err == nil {
		pr.Counter = n
	} else if pr.Challenge != "" {
		pr.Challenge = "" // No counter: the script did not run to the end.
	}
	solved, err := c.h.checkProof(r, t.ID, o.ID, queue.SourceWeb, "", pr)
	var k queue.Taken
	if err == nil {
		k, err = c.h.q.Take(r.Context(), t, queue.TakeRequest{
			OfficeID: o.ID, ServiceID: svc, Channel: queue.Channel(ch), Email: d.Email, Lang: lang(lg),
			ClientIP: c.h.clientIP(r), Device: dev, Source: queue.SourceWeb, Proof: solved, ConfirmLink: c.h.confirmLink(r),
		})
	}
	if err == nil {
		http.Redirect(w, r, ticketPath(k.Ticket.ID, k.Secret), http.StatusSeeOther)
		return
	}
	// Refused: the form again, with a new challenge, the errors on their
	// fields or above the form.
	p := classify(err)
	if p.Status >= 500 || p.Status == http.StatusNotFound || p.Status == http.StatusTooManyRequests {
		c.pageError(w, r, err)
		return
	}
	if ferr := c.fillTake(r, t, &d, svc); ferr != nil {
		c.pageError(w, r, ferr)
		return
	}
	var ve *queue.ValidationError
	if errors.As(err, &ve) || p.Fields != nil {
		fields := p.Fields
		if ve != nil {
			fields = ve.Fields
		}
		d.Errors = map[string]string{}
		for name, m := range fields {
			// A queue's field error has its own text; the errors of
			// the web layer (the proof) say what their problem says.
			text := problemText(pageLang, p)
			if ve != nil {
				text = fieldText(pageLang, name, m)
			}
			if ff, ok := formFields[name]; ok {
				d.Errors[ff] = text
			} else {
				d.Errors["servizio"] = text
			}
		}
	} else {
		d.Alert = problemText(pageLang, p)
	}
	c.renderTake(w, r, p.Status, d)
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
	// Strings are the texts the scripts show, in the page's language.
	Strings map[string]string
	// Confirm asks whether the citizen really leaves the line.
	Confirm bool
	// Pending is a ticket waiting for its email's confirmation, until
	// ConfirmBy (the Comune's wall clock, "10:45").
	Pending   bool
	ConfirmBy string
	// AppIO shows "Ricevi gli avvisi anche sull'app IO" (appio_web.go):
	// the office has the channel on and the ticket still waits. AppIODone
	// confirms a subscription; AppIOError and FiscalCode are a refused
	// one, shown back.
	AppIO, AppIODone       bool
	AppIOError, FiscalCode string
}

// ticketExtras are what a request adds to the ticket's page: the
// confirmation of leaving the line, or a refused codice fiscale with its
// status.
type ticketExtras struct {
	confirm                bool
	status                 int
	appIOError, fiscalCode string
}

// ticket answers GET /coda/biglietto/{id}?secret=…: the number, where it
// stands and, while active, the way out of the line.
func (c *citizen) ticket(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	c.showTicket(w, r, t, r.URL.Query().Get("secret"), false)
}

func (c *citizen) showTicket(w http.ResponseWriter, r *http.Request, t tenant.Tenant, secret string, confirm bool) {
	c.showTicketWith(w, r, t, secret, ticketExtras{confirm: confirm})
}

func (c *citizen) showTicketWith(w http.ResponseWriter, r *http.Request, t tenant.Tenant, secret string, x ticketExtras) {
	confirm := x.confirm
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
	k = c.h.labelTicket(ctx, t.ID, k)
	lang := site.LangFrom(ctx)
	d := ticketData{
		Ticket: k, Office: o, Secret: secret, Label: stateLabel(lang, k), Strings: scriptStrings(lang), Position: st.Position, Minutes: minutes(st.EstimatedWait),
		Active: k.Active(), Script: c.scriptURL(), Confirm: confirm && (k.State == queue.Waiting || k.State == queue.Called || k.State == queue.PendingConfirmation),
		Pending: k.State == queue.PendingConfirmation,
	}
	if d.Pending {
		d.ConfirmBy = clock(k.ConfirmBy, t)
	}
	if k.State == queue.Waiting || k.State == queue.Parked {
		d.AppIO = c.h.ticketAppIOOn(ctx, t.ID, k)
		d.AppIODone = d.AppIO && x.appIOError == "" && r.URL.Query().Get(qAppIO) == "attivo"
		d.AppIOError, d.FiscalCode = x.appIOError, x.fiscalCode
	}
	status := http.StatusOK
	if x.status != 0 {
		status = x.status
	}
	if c.h.changes != nil && d.Active {
		d.Events = "/api/v1/tickets/" + url.PathEscape(k.ID) + "/events?secret=" + url.QueryEscape(secret)
	}
	c.pages.Render(w, r, status, "coda_biglietto.html", site.Page{
		Title:       tr(lang, "ticket.title", k.Number),
		Breadcrumbs: []site.Crumb{{Label: tr(lang, "home"), URL: "/"}, {Label: tr(lang, "ticket.heading")}},
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
