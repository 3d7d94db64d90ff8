package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// A ticket transferred to one desk (ForDesk) is called only by that
// desk. If the desk is paused, the citizen would wait until it opens
// again, however long the line moves around them; a supervisor releases
// the ticket back to the office's line. It keeps its class (transferred,
// ordered by the time of its transfer): the citizen has already waited
// once, and the pause is not their doing.

// CmdRelease releases a ticket transferred to a paused desk.
const CmdRelease = "queue.release"

// ErrDeskNotPaused: the ticket's desk is open, so it will call the
// ticket; only a paused desk's tickets are released.
var ErrDeskNotPaused = errors.New("desk is not paused")

// releasePayload is version 1 of queue.release.
type releasePayload struct {
	ID       string `json:"id"`
	OfficeID string `json:"office_id"`
}

// registerRelease adds the release's command and error to reg.
func registerRelease(reg *cluster.Registry) {
	reg.RegisterError("queue.desk_not_paused", ErrDeskNotPaused)
	reg.Handle(CmdRelease, payloadVersion, applyRelease)
	reg.Describe(CmdRelease, describe)
	reg.HandleResult(CmdRelease, func(raw json.RawMessage) (any, error) { return ticketOf(raw) })
}

// Release puts the waiting ticket id of officeID, transferred to a desk
// that is now paused, back in the office's line for any desk, keeping its
// place among transferred citizens. ErrTransition when the ticket is not
// waiting for one desk, ErrDeskNotPaused when that desk is open,
// ErrNotFound when it is not a ticket of the office.
func (q *Queue) Release(ctx context.Context, t tenant.Tenant, officeID, id string) (Ticket, error) {
	if officeID == "" || id == "" {
		return Ticket{}, &ValidationError{Fields: map[string]string{"ticket": "Scegliere il biglietto da rimettere in coda."}}
	}
	return q.write(ctx, CmdRelease, t.ID, releasePayload{ID: id, OfficeID: officeID})
}

func applyRelease(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p releasePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	k, _, err := loadTicket(ctx, tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if k.OfficeID != p.OfficeID {
		return nil, fmt.Errorf("ticket %s in office %s: %w", p.ID, p.OfficeID, ErrNotFound)
	}
	if k.State != Waiting || k.ForDesk == "" {
		return nil, fmt.Errorf("release ticket %s, %s for desk %q: %w", k.Number, k.State, k.ForDesk, ErrTransition)
	}
	st, err := loadDeskState(ctx, tx, t, k.OfficeID, k.ForDesk)
	if err != nil {
		return nil, err
	}
	if !st.Paused {
		return nil, fmt.Errorf("release ticket %s of desk %s: %w", k.Number, k.ForDesk, ErrDeskNotPaused)
	}
	k.ForDesk = ""
	return k, notifyAfter(tx, cmd, k, saveState(tx, k))
}
