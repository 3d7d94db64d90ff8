package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Transferring a ticket: the operator sends the citizen at the desk (or
// parked by it) back to a line, of any office of the Comune, optionally
// for one desk of it and for another service. It is two steps, both
// POST: the choice, checked and shown back as a summary, then the
// confirmation, checked again (the office's desks and services may have
// changed in between), which proposes the transfer. The choice is read
// only from the form, never remembered, so the confirmation carries it
// in hidden fields.

// Fields of the transfer form.
const (
	fToOffice  = "verso_ufficio"
	fToDesk    = "verso_sportello"
	fToService = "verso_servizio"
	fConfirm   = "conferma"
)

// deskTransferView is the data of desk_transfer.html.
type deskTransferView struct {
	CSRF, Error string
	// OfficeID and DeskID are the operator's office and desk.
	OfficeID, DeskID, DeskLabel string
	Ticket                      deskTicket
	Action, BackURL             string
	// The choice: the office is required, desk and service are not.
	ToOffice  deskSelect
	ToDesk    deskGroupSelect
	ToService deskGroupSelect
	// Review shows the summary and the confirmation instead of the
	// choice.
	Review                               bool
	ToOfficeID, ToDeskID, ToServiceID    string
	ToOfficeName, ToDeskName, ToServName string
}

// deskGroupSelect is a labelled select whose choices are grouped by
// office: without JavaScript the page cannot narrow a select when
// another changes, so it offers every office's choices and checks the
// pair on submit.
type deskGroupSelect struct {
	ID, Label, Prompt, Hint, Error string
	Groups                         []deskChoiceGroup
}

type deskChoiceGroup struct {
	Label   string
	Choices []deskChoice
}

// deskTarget is a transfer's destination as chosen, and the messages of
// what is wrong with it.
type deskTarget struct {
	to                          queue.TransferTo
	officeName, desk, service   string
	fields                      map[string]string
	rawOffice, rawDesk, rawServ string
}

// transferForm answers GET /gestione/coda/{id}/trasferisci?ufficio=…&
// sportello=…: the choice of the destination, the ticket's office first.
func (d *deskPages) transferForm(w http.ResponseWriter, r *http.Request, a deskReq) {
	k, p, ok := d.transferable(w, r, a)
	if !ok {
		return
	}
	d.renderTransfer(w, r, a, http.StatusOK, k, p, deskTarget{rawOffice: p.office.ID}, false, "")
}

// transfer answers POST /gestione/coda/{id}/trasferisci: without
// conferma=1 it checks the choice and shows the summary; with it, it
// checks again and transfers.
func (d *deskPages) transfer(w http.ResponseWriter, r *http.Request, a deskReq) {
	k, p, ok := d.transferable(w, r, a)
	if !ok {
		return
	}
	tg, err := d.target(r, a, r.PostForm.Get(fToOffice), r.PostForm.Get(fToDesk), r.PostForm.Get(fToService))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if len(tg.fields) > 0 {
		d.renderTransfer(w, r, a, http.StatusUnprocessableEntity, k, p, tg, false, strings.Join(sortedValues(tg.fields), " "))
		return
	}
	if r.PostForm.Get(fConfirm) != "1" {
		d.renderTransfer(w, r, a, http.StatusOK, k, p, tg, true, "")
		return
	}
	k, err = d.h.q.Transfer(r.Context(), a.t, k.ID, p.desk.ID, tg.to)
	var ve *queue.ValidationError
	if errors.As(err, &ve) {
		d.renderTransfer(w, r, a, http.StatusUnprocessableEntity, k, p, tg, false, strings.Join(sortedValues(ve.Fields), " "))
		return
	}
	d.after(w, r, a, p, "trasferito", k, err)
}

// transferable checks the ticket and the operator's place as every
// ticket step does, and that the ticket is this desk's: called, being
// served or parked by it. Anything else goes back to the desk page with
// the reason.
func (d *deskPages) transferable(w http.ResponseWriter, r *http.Request, a deskReq) (queue.Ticket, deskPlace, bool) {
	k, p, ok := d.ticketPlace(w, r, a)
	if !ok {
		return k, p, false
	}
	switch {
	case k.State != queue.Called && k.State != queue.Serving && k.State != queue.Parked:
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID,
			err: "Il biglietto " + k.Number + " non è chiamato, in servizio o messo in attesa: non si può trasferire."})
		return k, p, false
	case k.Desk != p.desk.ID:
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID,
			err: "Il biglietto " + k.Number + " è di " + deskLabelOf(p, k.Desk) + ": solo quello sportello può trasferirlo."})
		return k, p, false
	}
	return k, p, true
}

// target reads and checks a destination: an office of the Comune in use
// (any, not only the user's: the citizen goes where the matter is
// handled), a desk of that office in use, a service of it in use.
func (d *deskPages) target(r *http.Request, a deskReq, office, desk, service string) (deskTarget, error) {
	tg := deskTarget{fields: map[string]string{}, rawOffice: strings.TrimSpace(office), rawDesk: strings.TrimSpace(desk),
		rawServ: strings.TrimSpace(service)}
	tg.to = queue.TransferTo{OfficeID: tg.rawOffice, Desk: tg.rawDesk, ServiceID: tg.rawServ}
	cfg, err := d.book.Configuration(r.Context(), a.t.ID)
	if err != nil {
		return tg, err
	}
	var o *booking.Office
	for i := range cfg.Offices {
		if cfg.Offices[i].ID == tg.rawOffice && !cfg.ArchivedOffices[tg.rawOffice] {
			o = &cfg.Offices[i]
		}
	}
	if o == nil {
		if tg.rawOffice == "" {
			tg.fields[fToOffice] = "Scegli l'ufficio a cui trasferire il cittadino."
		} else {
			tg.fields[fToOffice] = "L'ufficio scelto non esiste o è stato archiviato: scegline un altro."
		}
		return tg, nil
	}
	tg.officeName = o.Name
	if tg.rawDesk != "" {
		desks, err := d.book.Desks(r.Context(), a.t.ID, o.ID)
		if err != nil {
			return tg, err
		}
		for _, k := range desks {
			if k.ID == tg.rawDesk && !k.Archived {
				tg.desk = k.Label
			}
		}
		if tg.desk == "" {
			tg.fields[fToDesk] = "Lo sportello scelto non è dell'ufficio " + o.Name + " o è stato archiviato: scegline uno di quell'ufficio, o nessuno."
		}
	}
	if tg.rawServ != "" {
		for _, s := range o.Services {
			if s.ID == tg.rawServ && !cfg.ArchivedServices[s.ID] {
				tg.service = s.Name
			}
		}
		if tg.service == "" {
			tg.fields[fToService] = "Il servizio scelto non è dell'ufficio " + o.Name + " o è stato archiviato: scegline uno di quell'ufficio, o lascia quello del biglietto."
		}
	}
	return tg, nil
}

// renderTransfer shows the choice (with its errors) or, with review, the
// summary and the confirmation.
func (d *deskPages) renderTransfer(w http.ResponseWriter, r *http.Request, a deskReq, status int, k queue.Ticket, p deskPlace, tg deskTarget, review bool, msg string) {
	ctx := r.Context()
	cfg, err := d.book.Configuration(ctx, a.t.ID)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	desks, err := d.book.Desks(ctx, a.t.ID, "")
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v := deskTransferView{CSRF: a.csrf, Error: msg, OfficeID: p.office.ID, DeskID: p.desk.ID, DeskLabel: p.desk.Label,
		Ticket: newDeskTicket(k, p, a.t.Location(), d.h.now()), Action: "/gestione/coda/" + k.ID + "/trasferisci",
		BackURL: deskURL(p.office.ID, p.desk.ID), Review: review,
		ToOfficeID: tg.to.OfficeID, ToDeskID: tg.to.Desk, ToServiceID: tg.to.ServiceID,
		ToOfficeName: tg.officeName, ToDeskName: tg.desk, ToServName: tg.service}
	v.ToOffice = deskSelect{ID: fToOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio", Error: tg.fields[fToOffice], Required: true}
	v.ToDesk = deskGroupSelect{ID: fToDesk, Label: "Sportello", Prompt: "Qualsiasi sportello dell'ufficio", Error: tg.fields[fToDesk],
		Hint: "Scegli uno sportello solo se il cittadino deve andare proprio lì: solo quello sportello potrà chiamarlo."}
	v.ToService = deskGroupSelect{ID: fToService, Label: "Servizio", Prompt: "Lo stesso servizio del biglietto", Error: tg.fields[fToService],
		Hint: "Cambia il servizio se il cittadino ha bisogno di un servizio diverso da quello per cui ha preso il numero."}
	for _, o := range cfg.Offices {
		if cfg.ArchivedOffices[o.ID] {
			continue
		}
		v.ToOffice.Choices = append(v.ToOffice.Choices, deskChoice{Value: o.ID, Label: o.Name, Selected: o.ID == tg.rawOffice})
		dg := deskChoiceGroup{Label: o.Name}
		for _, k := range desks {
			if k.OfficeID == o.ID && !k.Archived {
				dg.Choices = append(dg.Choices, deskChoice{Value: k.ID, Label: k.Label, Selected: k.ID == tg.rawDesk})
			}
		}
		if len(dg.Choices) > 0 {
			v.ToDesk.Groups = append(v.ToDesk.Groups, dg)
		}
		sg := deskChoiceGroup{Label: o.Name}
		for _, s := range o.Services {
			if !cfg.ArchivedServices[s.ID] {
				sg.Choices = append(sg.Choices, deskChoice{Value: s.ID, Label: s.Name, Selected: s.ID == tg.rawServ})
			}
		}
		if len(sg.Choices) > 0 {
			v.ToService.Groups = append(v.ToService.Groups, sg)
		}
	}
	d.pages.Render(w, r, status, "desk_transfer.html", d.transferPage(v))
}

// transferPage wraps the transfer view in the back office's frame.
func (d *deskPages) transferPage(v deskTransferView) site.Page {
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}, {Label: "Coda", URL: v.BackURL},
		{Label: "Trasferisci " + v.Ticket.Number}}
	return site.Page{Title: "Trasferisci il biglietto " + v.Ticket.Number, Breadcrumbs: crumbs, Data: v}
}
