package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// MaxPauseReason is the longest reason of a desk's pause, in characters.
const MaxPauseReason = 200

// registerCore adds the commands of transfers, parking and desk pauses
// (queue.park is one of transitions(), registered with them). Each is
// version 1 of a new type, so the cluster's version gate holds it back
// until every member runs a binary that knows it.
func registerCore(reg *cluster.Registry) {
	reg.Handle(CmdTransfer, payloadVersion, applyTransfer)
	reg.Handle(CmdResume, payloadVersion, applyResume)
	reg.Handle(CmdPauseDesk, payloadVersion, applyPauseDesk)
	reg.Handle(CmdResumeDesk, payloadVersion, applyResumeDesk)
	for _, typ := range []string{CmdPauseDesk, CmdResumeDesk} {
		reg.HandleResult(typ, func(raw json.RawMessage) (any, error) {
			var st DeskState
			err := json.Unmarshal(raw, &st)
			return st, err
		})
	}
}

// transferPayload is version 1 of queue.transfer. Desk is the desk that
// holds the ticket. ToOfficeID is the office of the new line (the
// ticket's own when empty), ToDesk the one desk that may call it ("" for
// any). ServiceID and DurationS, when set, change the ticket's service
// and its expected length (the proposer reads the service); when the
// office changes without a new service the ticket loses its service,
// which belongs to the old office.
type transferPayload struct {
	ID         string `json:"id"`
	Desk       string `json:"desk"`
	ToOfficeID string `json:"to_office_id,omitempty"`
	ToDesk     string `json:"to_desk,omitempty"`
	ServiceID  string `json:"service_id,omitempty"`
	DurationS  int64  `json:"duration_s,omitempty"`
	TimeZone   string `json:"time_zone"`
}

// pausePayload is version 1 of queue.desk.pause and queue.desk.resume
// (which has no reason).
type pausePayload struct {
	OfficeID string `json:"office_id"`
	Desk     string `json:"desk"`
	Reason   string `json:"reason,omitempty"`
}

// applyTransfer puts a called, serving or parked ticket back in a line
// of the same Comune day. In another office it takes that office's next
// number and seq (both are unique per office and day) but keeps its ID
// and secret, so the citizen's page follows it; in its own office it
// keeps its number, which the citizen already knows. Its call and start
// times are cleared so that the board of its new line does not show an
// old call; Transferred orders it (class transferred).
func applyTransfer(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p transferPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.ID == "" || p.Desk == "" || p.DurationS < 0 {
		return nil, fmt.Errorf("%s: payload lacks ticket or desk", cmd.Type)
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	k, _, err := loadTicket(ctx, tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if k.State != Called && k.State != Serving && k.State != Parked {
		return nil, fmt.Errorf("transfer ticket %s, %s: %w", k.Number, k.State, ErrTransition)
	}
	if k.Desk != p.Desk {
		return nil, fmt.Errorf("transfer ticket %s from desk %s: %w", k.Number, p.Desk, ErrWrongDesk)
	}
	if day := dayOf(cmd.Time, p.TimeZone); k.Day != day {
		return nil, fmt.Errorf("transfer ticket %s of %s on %s: %w", k.Number, k.Day, day, ErrTransition)
	}
	to := p.ToOfficeID
	if to == "" {
		to = k.OfficeID
	}
	if p.ServiceID != "" {
		k.ServiceID = p.ServiceID
		if p.DurationS > 0 {
			k.Duration = time.Duration(p.DurationS) * time.Second
		}
	} else if to != k.OfficeID {
		k.ServiceID = ""
	}
	if to != k.OfficeID {
		cfg, err := loadConfig(ctx, tx, t, to)
		if err != nil {
			return nil, err
		}
		letter := cfg.letter(k.ServiceID)
		var n int
		if err := tx.QueryRowContext(ctx, `INSERT INTO queue_counters (tenant, office_id, day, letter, last)
			VALUES (?, ?, ?, ?, 1)
			ON CONFLICT (tenant, office_id, day, letter) DO UPDATE SET last = last + 1
			RETURNING last`, t, to, k.Day, letter).Scan(&n); err != nil {
			return nil, fmt.Errorf("number ticket transferred to %s: %w", to, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM queue_tickets
			WHERE tenant = ? AND office_id = ? AND day = ?`, t, to, k.Day).Scan(&k.Seq); err != nil {
			return nil, fmt.Errorf("sequence ticket transferred to %s: %w", to, err)
		}
		k.TransferredFrom, k.OfficeID, k.Number = k.OfficeID, to, fmt.Sprintf("%s%03d", letter, n)
	}
	now := cmd.Time.UTC().Truncate(time.Second)
	k.State, k.Desk, k.ForDesk, k.Recalls = Waiting, "", p.ToDesk, 0
	k.Called, k.Started, k.Transferred = time.Time{}, time.Time{}, now
	if _, err := tx.ExecContext(ctx, `UPDATE queue_tickets SET office_id = ?, seq = ?, number = ?, service_id = ?,
		duration_s = ?, state = ?, desk = ?, recalls = ?, called = 0, started = 0, transferred_from = ?, for_desk = ?,
		transferred = ? WHERE tenant = ? AND id = ?`,
		k.OfficeID, k.Seq, k.Number, k.ServiceID, int64(k.Duration/time.Second), k.State, k.Desk, k.Recalls,
		k.TransferredFrom, k.ForDesk, unixOf(k.Transferred), t, k.ID); err != nil {
		return nil, fmt.Errorf("transfer ticket %s: %w", k.ID, err)
	}
	return k, notifyAfter(tx, cmd, k, nil)
}

// applyResume calls a parked ticket again at the desk that parked it,
// if that desk is not paused and holds no other ticket.
func applyResume(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p deskPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	k, _, err := loadTicket(ctx, tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if k.State != Parked {
		return nil, fmt.Errorf("resume ticket %s, %s: %w", k.Number, k.State, ErrTransition)
	}
	if k.Desk != p.Desk {
		return nil, fmt.Errorf("resume ticket %s at desk %s: %w", k.Number, p.Desk, ErrWrongDesk)
	}
	if err := deskFree(ctx, tx, t, k.OfficeID, k.Day, k.Desk); err != nil {
		return nil, err
	}
	k.State, k.Recalls = Called, 0
	k.Called = cmd.Time.UTC().Truncate(time.Second)
	return k, notifyAfter(tx, cmd, k, saveState(tx, k))
}

// CheckPause validates a desk's pause: the office, the desk and a reason
// of at most 200 characters.
func CheckPause(officeID, desk, reason string) error {
	f := map[string]string{}
	if officeID == "" || desk == "" {
		f["desk"] = "Indicare l'ufficio e lo sportello."
	}
	switch r := strings.TrimSpace(reason); {
	case r == "":
		f["reason"] = "Indicare il motivo della pausa."
	case utf8.RuneCountInString(r) > MaxPauseReason:
		f["reason"] = fmt.Sprintf("Il motivo della pausa può avere al massimo %d caratteri.", MaxPauseReason)
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// applyPauseDesk pauses a desk. Pausing a paused desk changes the
// reason but keeps the time the pause began.
func applyPauseDesk(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pausePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if err := CheckPause(p.OfficeID, p.Desk, p.Reason); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	reason := strings.TrimSpace(p.Reason)
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_desks (tenant, office_id, desk, paused, reason, since)
		VALUES (?, ?, ?, 1, ?, ?)
		ON CONFLICT (tenant, office_id, desk) DO UPDATE SET reason = excluded.reason,
			since = CASE WHEN paused THEN since ELSE excluded.since END, paused = 1`,
		t, p.OfficeID, p.Desk, reason, cmd.Time.Unix()); err != nil {
		return nil, fmt.Errorf("pause desk %s of %s: %w", p.Desk, p.OfficeID, err)
	}
	return loadDeskState(ctx, tx, t, p.OfficeID, p.Desk)
}

// applyResumeDesk opens a desk again; Since becomes the time it opened.
// Resuming an open desk changes nothing but that time.
func applyResumeDesk(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pausePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.OfficeID == "" || p.Desk == "" {
		return nil, &ValidationError{Fields: map[string]string{"desk": "Indicare l'ufficio e lo sportello."}}
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_desks (tenant, office_id, desk, paused, reason, since)
		VALUES (?, ?, ?, 0, '', ?)
		ON CONFLICT (tenant, office_id, desk) DO UPDATE SET paused = 0, reason = '', since = excluded.since`,
		t, p.OfficeID, p.Desk, cmd.Time.Unix()); err != nil {
		return nil, fmt.Errorf("resume desk %s of %s: %w", p.Desk, p.OfficeID, err)
	}
	return loadDeskState(ctx, tx, t, p.OfficeID, p.Desk)
}

// loadDeskState returns a desk's state: open, with no reason and a zero
// Since, when it was never paused.
func loadDeskState(ctx context.Context, q querier, t tenant.ID, officeID, desk string) (DeskState, error) {
	st := DeskState{OfficeID: officeID, Desk: desk}
	var since int64
	err := q.QueryRowContext(ctx, `SELECT paused, reason, since FROM queue_desks
		WHERE tenant = ? AND office_id = ? AND desk = ?`, t, officeID, desk).Scan(&st.Paused, &st.Reason, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return DeskState{}, fmt.Errorf("state of desk %s of %s: %w", desk, officeID, err)
	}
	st.Since = unixTime(since)
	return st, nil
}

// loadDeskStates returns the states of an office's desks that were ever
// paused, by desk.
func loadDeskStates(ctx context.Context, q querier, t tenant.ID, officeID string) (map[string]DeskState, error) {
	rows, err := q.QueryContext(ctx, `SELECT desk, paused, reason, since FROM queue_desks
		WHERE tenant = ? AND office_id = ?`, t, officeID)
	if err != nil {
		return nil, fmt.Errorf("desk states of %s: %w", officeID, err)
	}
	defer rows.Close()
	out := map[string]DeskState{}
	for rows.Next() {
		st := DeskState{OfficeID: officeID}
		var since int64
		if err := rows.Scan(&st.Desk, &st.Paused, &st.Reason, &since); err != nil {
			return nil, fmt.Errorf("desk states of %s: %w", officeID, err)
		}
		st.Since = unixTime(since)
		out[st.Desk] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("desk states of %s: %w", officeID, err)
	}
	return out, nil
}
