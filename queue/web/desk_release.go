package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/queue"
)

// A supervisor's release of a ticket transferred to one desk that is
// now paused (queue/release.go): the line's row shows "Rimetti in coda
// per tutti" to the office's supervisors, and the ticket goes back to
// the office's line for any desk, in its place among the transferred.

// outcomeReleased confirms a release.
const outcomeReleased = "rilasciato"

// releasable reports whether a waiting ticket is reserved for a desk
// that is paused now.
func releasable(k queue.Ticket, states map[string]queue.DeskState) bool {
	return k.State == queue.Waiting && k.ForDesk != "" && states[k.ForDesk].Paused
}

// release answers POST /gestione/coda/{id}/rilascia: only a supervisor
// of the ticket's office (or the Comune's administrator) releases, since
// it overrides the choice of the operator who transferred the ticket.
// The form posts the office and the supervisor's desk, if any, to come
// back to the same page.
func (d *deskPages) release(w http.ResponseWriter, r *http.Request, a deskReq) {
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, err)
		return
	}
	k, err := d.h.q.Ticket(r.Context(), a.t.ID, r.PathValue("id"))
	if errors.Is(err, queue.ErrNotFound) {
		d.h.site.Error(w, r, http.StatusNotFound, "Biglietto inesistente.")
		return
	}
	if err != nil {
		d.fail(w, r, err)
		return
	}
	officeID := strings.TrimSpace(r.PostForm.Get(qDeskOffice))
	deskID := strings.TrimSpace(r.PostForm.Get(qDesk))
	if !a.user.Allowed(auth.RoleSupervisor, k.OfficeID) || officeID != k.OfficeID {
		d.forbidden(w, r, a, k.OfficeID)
		return
	}
	k, err = d.h.q.Release(r.Context(), a.t, officeID, k.ID)
	if err != nil {
		msg, ok := stepMessage(err)
		if errors.Is(err, queue.ErrDeskNotPaused) {
			msg, ok = "Lo sportello a cui il biglietto è riservato non è più in pausa: lo chiamerà lui.", true
		}
		if !ok {
			d.fail(w, r, err)
			return
		}
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: officeID, deskID: deskID, err: msg})
		return
	}
	d.h.log.Info("desk step", "tenant", a.t.ID, "office", officeID, "ticket", k.ID, "step", outcomeReleased, "user", a.user.ID)
	http.Redirect(w, r, deskURL(officeID, deskID)+"&"+qDeskOutcome+"="+outcomeReleased, http.StatusSeeOther)
}
