package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/queue"
)

// The desk page's "Aggiungi un cittadino alla coda": the operator enters
// a citizen who is in front of them (who cannot use the kiosk or a
// phone, or who has a right of way the operator sees) in the office's
// line. It is the only door that sets a priority category by someone
// who can judge it, and it is exempt from the admission limits
// (queue.SourceDesk): the operator, not a script, is asking. The citizen
// gets no ticket page (no secret is shown): the operator tells them the
// number and they follow the board.

// Fields of the add form and parameters of its answer.
const (
	fAddService  = "servizio"
	fAddChannel  = "canale"
	fAddPriority = "precedenza"
	// qDeskAdd = "1" opens the add form (and stops the reload).
	qDeskAdd = "aggiungi"
	// qDeskAdded names the ticket just added, for the flash.
	qDeskAdded   = "biglietto"
	outcomeAdded = "aggiunto"
)

// deskAdd is what the add form sent, and its errors.
type deskAdd struct {
	service, channel, priority string
	fields                     map[string]string
}

// deskAddForm is the add form's state on the page.
type deskAddForm struct {
	Service, Channel, Priority deskSelect
}

// deskAddChannels and deskAddPriorities are the form's choices, in its
// order; the first is the default.
var (
	deskAddChannels = []deskChoice{
		{Value: string(queue.InPerson), Label: "Allo sportello"},
		{Value: string(queue.Video), Label: "In videochiamata"},
		{Value: string(queue.Phone), Label: "Al telefono"},
	}
	deskAddPriorities = []deskChoice{
		{Value: string(queue.NoPriority), Label: "Nessuna"},
		{Value: string(queue.Disability), Label: "Disabilità"},
		{Value: string(queue.Pregnancy), Label: "Gravidanza"},
	}
)

// newAddForm is the add form for the place's office, with what f sent
// (nil: the defaults).
func newAddForm(p deskPlace, f *deskAdd) deskAddForm {
	if f == nil {
		f = &deskAdd{channel: string(queue.InPerson)}
	}
	form := deskAddForm{
		Service:  deskSelect{ID: fAddService, Label: "Servizio", Prompt: "Nessun servizio indicato", Error: f.fields[fAddService]},
		Channel:  deskSelect{ID: fAddChannel, Label: "Modalità", Error: f.fields[fAddChannel], Required: true},
		Priority: deskSelect{ID: fAddPriority, Label: "Precedenza", Error: f.fields[fAddPriority]},
	}
	for _, s := range p.office.Services {
		if !p.archived[s.ID] {
			form.Service.Choices = append(form.Service.Choices, deskChoice{Value: s.ID, Label: s.Name, Selected: s.ID == f.service})
		}
	}
	for _, c := range deskAddChannels {
		c.Selected = c.Value == f.channel
		form.Channel.Choices = append(form.Channel.Choices, c)
	}
	for _, c := range deskAddPriorities {
		c.Selected = c.Value == f.priority
		form.Priority.Choices = append(form.Priority.Choices, c)
	}
	return form
}

// check validates the form against the office: a service must be an
// active one of it, the channel and the priority one of the list.
func (f *deskAdd) check(p deskPlace) {
	f.fields = map[string]string{}
	if f.service != "" {
		ok := false
		for _, s := range p.office.Services {
			ok = ok || (s.ID == f.service && !p.archived[s.ID])
		}
		if !ok {
			f.fields[fAddService] = "Il servizio scelto non è offerto da questo ufficio: scegline uno dell'elenco."
		}
	}
	if !deskAddHas(deskAddChannels, f.channel) {
		f.fields[fAddChannel] = "Scegli come sarà servito il cittadino: allo sportello, in videochiamata o al telefono."
	}
	if !deskAddHas(deskAddPriorities, f.priority) {
		f.fields[fAddPriority] = "Scegli una precedenza dell'elenco, o «Nessuna»."
	}
}

func deskAddHas(list []deskChoice, v string) bool {
	for _, c := range list {
		if c.Value == v {
			return true
		}
	}
	return false
}

// add answers POST /gestione/coda/aggiungi: the office (the user's,
// checked like every post) takes a ticket for the citizen at the desk,
// and the page says its number. The desk, if one is posted, is only
// where the page returns to.
func (d *deskPages) add(w http.ResponseWriter, r *http.Request, a deskReq) {
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, err)
		return
	}
	officeID, deskID := strings.TrimSpace(r.PostForm.Get(qDeskOffice)), strings.TrimSpace(r.PostForm.Get(qDesk))
	if officeID == "" {
		d.render(w, r, a, http.StatusUnprocessableEntity, deskForm{err: "Scegli l'ufficio nella cui coda aggiungere il cittadino, poi riprova."})
		return
	}
	p, err := d.place(r.Context(), a, officeID, deskID)
	if errors.Is(err, errDeskNotHere) {
		// The desk only says where to return: without it, the office's page.
		deskID = ""
		p, err = d.place(r.Context(), a, officeID, "")
	}
	switch {
	case errors.Is(err, errDeskForbidden):
		d.forbidden(w, r, a, officeID)
		return
	case errors.Is(err, errDeskUnknown):
		d.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente.")
		return
	case err != nil:
		d.fail(w, r, err)
		return
	}
	f := &deskAdd{
		service:  strings.TrimSpace(r.PostForm.Get(fAddService)),
		channel:  strings.TrimSpace(r.PostForm.Get(fAddChannel)),
		priority: strings.TrimSpace(r.PostForm.Get(fAddPriority)),
	}
	f.check(p)
	refuse := func(status int, msg string) {
		d.render(w, r, a, status, deskForm{officeID: p.office.ID, deskID: deskID, err: msg, add: f})
	}
	if len(f.fields) > 0 {
		refuse(http.StatusUnprocessableEntity, strings.Join(sortedValues(f.fields), " "))
		return
	}
	k, err := d.h.q.Take(r.Context(), a.t, queue.TakeRequest{
		OfficeID: p.office.ID, ServiceID: f.service, Channel: queue.Channel(f.channel), Priority: queue.Priority(f.priority),
		Source: queue.SourceDesk,
	})
	var ve *queue.ValidationError
	switch {
	case errors.As(err, &ve):
		// The queue checks again what the page checked; its keys are
		// the API's.
		for key, msg := range ve.Fields {
			switch key {
			case "service_id":
				f.fields[fAddService] = msg
			case "channel":
				f.fields[fAddChannel] = msg
			case "priority":
				f.fields[fAddPriority] = msg
			}
		}
		refuse(http.StatusUnprocessableEntity, strings.Join(sortedValues(ve.Fields), " "))
		return
	case errors.Is(err, queue.ErrNotFound):
		d.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente.")
		return
	case err != nil:
		d.fail(w, r, err)
		return
	}
	d.h.log.Info("desk step", "tenant", a.t.ID, "office", p.office.ID, "ticket", k.Ticket.ID, "step", outcomeAdded,
		"priority", string(k.Ticket.Priority), "user", a.user.ID)
	http.Redirect(w, r, deskURL(p.office.ID, deskID)+"&"+url.Values{qDeskOutcome: {outcomeAdded}, qDeskAdded: {k.Ticket.ID}}.Encode(),
		http.StatusSeeOther)
}

// addedFlash is the flash after a citizen was added: the number, read
// from the ticket the URL names (never the URL's text), if it is of the
// page's office.
func (d *deskPages) addedFlash(ctx context.Context, a deskReq, p deskPlace, id string) string {
	const plain = "Cittadino aggiunto alla coda."
	if id == "" {
		return plain
	}
	k, err := d.h.q.Ticket(ctx, a.t.ID, id)
	if err != nil || k.OfficeID != p.office.ID {
		return plain
	}
	return "Aggiunto il numero " + k.Number + ": comunicalo al cittadino."
}
