package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/queue"
)

// The desk page's buttons beyond call-next and the ticket's life: call a
// ticket by name, resume a parked ticket, pause and reopen the desk.
// Each is a POST with the session's CSRF token (checked by the guard)
// and the office and desk, checked again here as in desk.go.

// Fields of the pause form.
const (
	fPauseReason = "motivo"
	fPauseDetail = "dettaglio"
)

// deskPauseOther is the reason whose text the operator writes.
const deskPauseOther = "Altro"

// deskPauseReasons are the pause form's reasons, in its order. They are
// shown to the office's supervisors as written, so they are sentences
// of the office, not codes.
var deskPauseReasons = []string{"Pausa", "Attività di back office", "Guasto", "Riunione", "Formazione", deskPauseOther}

// deskPauseDetailMax is the longest detail of a pause reason, in
// characters: enough for "stampante guasta, chiamata l'assistenza" and
// short enough for the supervisors' overview.
const deskPauseDetailMax = 60

// newPauseForm is the pause form with what f carries (after a refusal)
// or empty.
func newPauseForm(f deskForm) deskPauseForm {
	pf := deskPauseForm{Detail: f.detail, DetailError: f.fields[fPauseDetail], DetailMax: deskPauseDetailMax,
		Reason: deskSelect{ID: fPauseReason, Label: "Motivo", Prompt: "Scegli il motivo", Error: f.fields[fPauseReason], Required: true}}
	for _, r := range deskPauseReasons {
		pf.Reason.Choices = append(pf.Reason.Choices, deskChoice{Value: r, Label: r, Selected: r == f.reason})
	}
	return pf
}

// pauseReason checks the pause form and returns the reason to store: the
// chosen reason, with the detail after a colon when one is written, or
// the detail alone for "Altro". fields holds the messages of what is
// wrong.
func pauseReason(choice, detail string) (string, map[string]string) {
	fields := map[string]string{}
	switch {
	case choice == "":
		fields[fPauseReason] = "Scegli il motivo della pausa."
	case !slices.Contains(deskPauseReasons, choice):
		fields[fPauseReason] = "Scegli uno dei motivi dell'elenco."
	case choice == deskPauseOther && detail == "":
		fields[fPauseDetail] = "Scrivi il motivo della pausa."
	}
	switch {
	case utf8.RuneCountInString(detail) > deskPauseDetailMax:
		fields[fPauseDetail] = "Il dettaglio può avere al massimo 60 caratteri."
	case strings.ContainsFunc(detail, unicode.IsControl):
		fields[fPauseDetail] = "Il dettaglio contiene caratteri non ammessi."
	}
	if len(fields) > 0 {
		return "", fields
	}
	switch {
	case choice == deskPauseOther:
		return detail, nil
	case detail != "":
		return choice + ": " + detail, nil
	}
	return choice, nil
}

// pause answers POST /gestione/coda/pausa: the desk stops receiving
// calls, with a reason the supervisors read.
func (d *deskPages) pause(w http.ResponseWriter, r *http.Request, a deskReq) {
	p, ok := d.postedPlace(w, r, a)
	if !ok {
		return
	}
	choice := strings.TrimSpace(r.PostForm.Get(fPauseReason))
	detail := strings.TrimSpace(r.PostForm.Get(fPauseDetail))
	reason, fields := pauseReason(choice, detail)
	if len(fields) > 0 {
		d.render(w, r, a, http.StatusUnprocessableEntity, deskForm{officeID: p.office.ID, deskID: p.desk.ID,
			err: strings.Join(sortedValues(fields), " "), fields: fields, reason: choice, detail: detail})
		return
	}
	_, err := d.h.q.PauseDesk(r.Context(), a.t, p.office.ID, p.desk.ID, reason)
	if errors.Is(err, queue.ErrDeskBusy) {
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID, reason: choice, detail: detail,
			err: "Lo sportello ha un biglietto chiamato o in servizio: chiudilo, mettilo in attesa o trasferiscilo prima della pausa."})
		return
	}
	d.afterDesk(w, r, a, p, "pausa", err)
}

// reopen answers POST /gestione/coda/riapri: the paused desk receives
// calls again.
func (d *deskPages) reopen(w http.ResponseWriter, r *http.Request, a deskReq) {
	p, ok := d.postedPlace(w, r, a)
	if !ok {
		return
	}
	_, err := d.h.q.ResumeDesk(r.Context(), a.t, p.office.ID, p.desk.ID)
	d.afterDesk(w, r, a, p, "riaperto", err)
}

// afterDesk ends a step on the desk itself as after does for a ticket.
func (d *deskPages) afterDesk(w http.ResponseWriter, r *http.Request, a deskReq, p deskPlace, outcome string, err error) {
	if err != nil {
		msg, ok := stepMessage(err)
		if !ok {
			d.fail(w, r, err)
			return
		}
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID, err: msg})
		return
	}
	d.h.log.Info("desk step", "tenant", a.t.ID, "office", p.office.ID, "desk", p.desk.ID, "step", outcome, "user", a.user.ID)
	http.Redirect(w, r, deskURL(p.office.ID, p.desk.ID)+"&"+qDeskOutcome+"="+outcome, http.StatusSeeOther)
}

// callTicket answers POST /gestione/coda/{id}/chiama: the desk calls one
// ticket of the line by name, out of the rule's order (the operator
// knows why: a citizen who must leave, a colleague's request). The desk
// must be able to serve it: a ticket of a service or channel the desk
// does not take, or transferred to another desk, is refused here with
// the reason, before apply refuses what the page could not see.
func (d *deskPages) callTicket(w http.ResponseWriter, r *http.Request, a deskReq) {
	k, p, ok := d.ticketPlace(w, r, a)
	if !ok {
		return
	}
	if k.State == queue.Waiting && !deskMayCall(p.desk, k) {
		msg := "Il biglietto " + k.Number + " è di un servizio o di una modalità che questo sportello non tratta: chiamalo da uno sportello adatto."
		if k.ForDesk != "" {
			msg = "Il biglietto " + k.Number + " è stato trasferito a " + deskLabelOf(p, k.ForDesk) + ": solo quello sportello può chiamarlo."
		}
		d.render(w, r, a, http.StatusUnprocessableEntity, deskForm{officeID: p.office.ID, deskID: p.desk.ID, err: msg})
		return
	}
	k, err := d.h.q.CallTicket(r.Context(), a.t, p.office.ID, p.desk.ID, k.ID)
	d.after(w, r, a, p, "chiamato", k, err)
}

// resume answers POST /gestione/coda/{id}/riprendi: the desk that parked
// the ticket calls it back.
func (d *deskPages) resume(w http.ResponseWriter, r *http.Request, a deskReq) {
	k, p, ok := d.ticketPlace(w, r, a)
	if !ok {
		return
	}
	if k.State == queue.Parked && k.Desk != p.desk.ID {
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID,
			err: "Il biglietto " + k.Number + " è stato messo in attesa da " + deskLabelOf(p, k.Desk) + ": solo quello sportello può riprenderlo."})
		return
	}
	k, err := d.h.q.Resume(r.Context(), a.t, k.ID, p.desk.ID)
	d.after(w, r, a, p, "ripreso", k, err)
}

// sortedValues returns the messages of fields in a stable order.
func sortedValues(fields map[string]string) []string {
	var out []string
	for _, m := range fields {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}
