package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// CallOptions limits what a desk calls.
type CallOptions struct {
	// Services, when not empty, limits the call to tickets of those
	// services and tickets without a service.
	Services []string
	// Channels, when not empty, limits the call to tickets of those
	// channels (a counter takes in_person, a remote station video and
	// phone: booking.Desk.Takes).
	Channels []Channel
	// Appointments reserves the desk for appointments: it calls booked
	// citizens and fills a gap with a walk-in only when the walk-in's
	// service ends before the next checked-in appointment is due (pick in
	// order.go; DESIGN.md, "Desks reserved for appointments").
	Appointments bool
}

// TransferTo is where a ticket is transferred: an office of the same
// Comune (the ticket's own when empty), optionally the one desk of it
// that may call the ticket, and optionally another service of that
// office.
type TransferTo struct {
	OfficeID, Desk, ServiceID string
}

// DeskState is whether a desk of an office is paused, why, and since
// when (the time of the last pause or resume; zero for a desk never
// paused).
type DeskState struct {
	OfficeID string    `json:"office_id"`
	Desk     string    `json:"desk"`
	Paused   bool      `json:"paused"`
	Reason   string    `json:"reason,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

// CallNextWith gives desk the next ticket of the office by the ordering
// rule among those o allows (ErrEmpty when there is none, ErrDeskBusy
// while the desk holds a called or served ticket, ErrDeskPaused while it
// is paused).
func (q *Queue) CallNextWith(ctx context.Context, t tenant.Tenant, officeID, desk string, o CallOptions) (Ticket, error) {
	p := callPayload{OfficeID: officeID, Desk: desk, Services: o.Services, Channels: o.Channels, Appointments: o.Appointments, TimeZone: t.TimeZone}
	return q.writeV(ctx, CmdCall, p.version(), t.ID, p)
}

// CallTicket calls one waiting ticket of today's line of the office to
// desk, out of the rule's order: ErrTransition when it is not waiting,
// ErrWrongDesk when it was transferred to another desk, ErrDeskBusy or
// ErrDeskPaused as CallNext, ErrNotFound when it is not in the office's
// line of today.
func (q *Queue) CallTicket(ctx context.Context, t tenant.Tenant, officeID, desk, id string) (Ticket, error) {
	if id == "" {
		return Ticket{}, &ValidationError{Fields: map[string]string{"ticket": "Scegliere il biglietto da chiamare."}}
	}
	p := callPayload{OfficeID: officeID, Desk: desk, TicketID: id, TimeZone: t.TimeZone}
	return q.writeV(ctx, CmdCall, p.version(), t.ID, p)
}

// Transfer sends a ticket that fromDesk called, serves or parked back to
// a line: of its office or of another office of the Comune, for any desk
// or one (to.Desk), with its service or another (to.ServiceID). The
// ticket keeps its ID and secret; in another office it gets a number of
// that office. Bad targets give a *ValidationError, a wrong desk
// ErrWrongDesk, a ticket in another state ErrTransition.
func (q *Queue) Transfer(ctx context.Context, t tenant.Tenant, id, fromDesk string, to TransferTo) (Ticket, error) {
	// The ticket is read only to learn its office when none is named:
	// this node's view may not have applied the call yet (the operator's
	// previous request may have gone to another node), and apply checks
	// the ticket anyway.
	office := to.OfficeID
	if office == "" {
		k, _, err := loadTicket(ctx, q.db, t.ID, id)
		if err != nil {
			return Ticket{}, err
		}
		office = k.OfficeID
	}
	f := map[string]string{}
	if fromDesk == "" {
		f["desk"] = "Indicare lo sportello."
	}
	if _, err := q.book.Office(ctx, t.ID, office); errors.Is(err, booking.ErrNotFound) {
		f["to_office_id"] = "L'ufficio di destinazione non esiste."
	} else if err != nil {
		return Ticket{}, err
	}
	p := transferPayload{ID: id, Desk: fromDesk, ToOfficeID: to.OfficeID, ToDesk: to.Desk, ServiceID: to.ServiceID, TimeZone: t.TimeZone}
	if to.ServiceID != "" && f["to_office_id"] == "" {
		svc, err := q.book.Service(ctx, t.ID, to.ServiceID)
		if err != nil || svc.OfficeID != office {
			f["to_service_id"] = "Il servizio non è offerto dall'ufficio di destinazione."
		} else if svc.Duration > 0 {
			p.DurationS = int64(svc.Duration / time.Second)
		}
	}
	if to.Desk != "" && f["to_office_id"] == "" {
		if ok, err := q.deskOf(ctx, t.ID, office, to.Desk); err != nil {
			return Ticket{}, err
		} else if !ok {
			f["to_desk"] = "Lo sportello di destinazione non è di questo ufficio."
		}
	}
	if len(f) > 0 {
		return Ticket{}, &ValidationError{Fields: f}
	}
	return q.write(ctx, CmdTransfer, t.ID, p)
}

// deskOf reports whether desk may be named as a desk of office: one of
// its active booking desks, or any name while the office has no desks
// configured (desks were free names before booking had them).
func (q *Queue) deskOf(ctx context.Context, t tenant.ID, officeID, desk string) (bool, error) {
	desks, err := q.book.Desks(ctx, t, officeID)
	if err != nil {
		return false, err
	}
	if len(desks) == 0 {
		return true, nil
	}
	for _, d := range desks {
		if d.ID == desk && !d.Archived {
			return true, nil
		}
	}
	return false, nil
}

// Park sets aside a ticket that desk called or serves: the citizen
// leaves the desk for a while (to fetch a document, to pay). The ticket
// leaves the line and the desk, which can call others, and waits among
// ParkedAt until the desk resumes it, transfers it or closes it (served,
// no-show).
func (q *Queue) Park(ctx context.Context, t tenant.ID, id, desk string) (Ticket, error) {
	return q.write(ctx, CmdPark, t, deskPayload{ID: id, Desk: desk})
}

// Resume calls a parked ticket again at the desk that parked it
// (ErrWrongDesk from another desk, ErrDeskBusy while that desk holds
// another ticket, ErrDeskPaused while it is paused).
func (q *Queue) Resume(ctx context.Context, t tenant.Tenant, id, desk string) (Ticket, error) {
	return q.write(ctx, CmdResume, t.ID, deskPayload{ID: id, Desk: desk})
}

// ParkedAt lists the parked tickets of an office's day, by arrival.
func (q *Queue) ParkedAt(ctx context.Context, t tenant.Tenant, officeID string) ([]Ticket, error) {
	ts, err := loadTickets(ctx, q.db, t.ID, officeID, dayOf(q.now(), t.TimeZone), Parked)
	if ts == nil && err == nil {
		ts = []Ticket{}
	}
	return ts, err
}

// PauseDesk pauses a desk of an office with a reason (required, at most
// MaxPauseReason characters): it calls nobody until ResumeDesk. A ticket
// it holds stays with it, to be closed as usual. The desk must be one of
// the office's active booking desks (any name while the office has
// none); bad input gives a *ValidationError, an unknown office
// ErrNotFound.
func (q *Queue) PauseDesk(ctx context.Context, t tenant.Tenant, officeID, desk, reason string) (DeskState, error) {
	if err := CheckPause(officeID, desk, reason); err != nil {
		return DeskState{}, err
	}
	if _, err := q.book.Office(ctx, t.ID, officeID); err != nil {
		return DeskState{}, q.notFound("office", officeID, err)
	}
	if ok, err := q.deskOf(ctx, t.ID, officeID, desk); err != nil {
		return DeskState{}, err
	} else if !ok {
		return DeskState{}, &ValidationError{Fields: map[string]string{"desk": "Lo sportello non è di questo ufficio."}}
	}
	return q.writeDesk(ctx, CmdPauseDesk, t.ID, pausePayload{OfficeID: officeID, Desk: desk, Reason: strings.TrimSpace(reason)})
}

// ResumeDesk ends a desk's pause.
func (q *Queue) ResumeDesk(ctx context.Context, t tenant.Tenant, officeID, desk string) (DeskState, error) {
	if officeID == "" || desk == "" {
		return DeskState{}, &ValidationError{Fields: map[string]string{"desk": "Indicare l'ufficio e lo sportello."}}
	}
	return q.writeDesk(ctx, CmdResumeDesk, t.ID, pausePayload{OfficeID: officeID, Desk: desk})
}

// DeskStates returns the states of the office's desks that were ever
// paused, by desk; a desk missing from the map is open.
func (q *Queue) DeskStates(ctx context.Context, t tenant.Tenant, officeID string) (map[string]DeskState, error) {
	return loadDeskStates(ctx, q.db, t.ID, officeID)
}

// writeDesk proposes a command that answers with a DeskState.
func (q *Queue) writeDesk(ctx context.Context, typ string, t tenant.ID, payload any) (DeskState, error) {
	res, err := q.propose(ctx, typ, t, payload)
	if err != nil {
		return DeskState{}, err
	}
	st, ok := res.Value.(DeskState)
	if !ok {
		return DeskState{}, fmt.Errorf("unexpected result %T", res.Value)
	}
	return st, nil
}

// writeV proposes a command of payload version v that answers with a
// ticket.
func (q *Queue) writeV(ctx context.Context, typ string, v int, t tenant.ID, payload any) (Ticket, error) {
	cmd, err := cluster.NewCommand(typ, v, string(t), payload)
	if err != nil {
		return Ticket{}, err
	}
	res, err := q.p.Propose(ctx, cmd)
	if err != nil {
		return Ticket{}, err
	}
	k, err := ticketOf(res.Value)
	k.Tenant = t
	return k, err
}
