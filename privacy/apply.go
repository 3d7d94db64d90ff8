package privacy

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Command types of the package.
const (
	CmdErase  = "privacy.erase"
	CmdPolicy = "privacy.policy"
	CmdHold   = "privacy.hold"
)

// payloadVersion is the version of every payload of the package.
const payloadVersion = 1

// eraseBoundedVersion is the version of privacy.erase whose retention
// reads only the outbox's rows older than the cut (eraser.retainOutbox).
// Its payload is version 1's; the version tells every member to apply
// the same statement.
const eraseBoundedVersion = 2

// Errors of the package, named for the forwarding codec.
var (
	// ErrInvalid is a payload apply refuses (unknown class, days out of
	// bounds, missing booking ID).
	ErrInvalid = errors.New("privacy: invalid request")
	// ErrNotFound is a hold on a booking that does not exist.
	ErrNotFound = errors.New("privacy: booking not found")
)

// Register adds the package's schema, commands, errors and audit
// summaries to r. cmd/sportello calls it with the other packages'.
func Register(r *cluster.Registry) {
	register(r, eraseBoundedVersion, len(Migrations()))
}

// register is Register with privacy.erase known up to eraseVersion and
// the package's schema up to version schema (the tests' member of an
// older release).
func register(r *cluster.Registry, eraseVersion, schema int) {
	r.Migrate(Migrations()[:schema]...)
	r.RegisterError("privacy.invalid", ErrInvalid)
	r.RegisterError("privacy.not_found", ErrNotFound)
	r.Handle(CmdErase, eraseVersion, applyErase)
	r.Handle(CmdPolicy, payloadVersion, applyPolicy)
	r.Handle(CmdHold, payloadVersion, applyHold)
	r.Handle(CmdKeyCreate, payloadVersion, applyKeyCreate)
	r.Handle(CmdKeyDestroy, payloadVersion, applyKeyDestroy)
	r.Handle(CmdForgetSent, payloadVersion, applyForgetSent)
	r.Describe(CmdForgetSent, func(cmd cluster.Command) string {
		var p forgetSentPayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		return fmt.Sprintf("emails=%d", len(p.IDs))
	})
	r.HandleResult(CmdErase, func(raw json.RawMessage) (any, error) {
		var rep Report
		err := json.Unmarshal(raw, &rep)
		return rep, err
	})
	// The summaries never name the subject of an erasure: the audit log
	// outlives it.
	r.Describe(CmdErase, func(cmd cluster.Command) string {
		var p erasePayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		if p.Subject != nil {
			return "kind=citizen"
		}
		return "kind=retention"
	})
	r.Describe(CmdPolicy, func(cmd cluster.Command) string {
		var p policyPayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		parts := make([]string, 0, len(p.Days))
		for c, d := range p.Days {
			parts = append(parts, fmt.Sprintf("%s=%d", c, d))
		}
		sort.Strings(parts)
		return strings.Join(parts, " ")
	})
	r.Describe(CmdHold, func(cmd cluster.Command) string {
		var p holdPayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		return fmt.Sprintf("booking=%s hold=%t", p.BookingID, p.Hold)
	})
}

// erasePayload is version 1 of privacy.erase. Either Subject is set (a
// citizen's erasure: everything about them, whatever its age) or Cutoffs
// is (retention: what ended before each class's cut-off). Cut-offs are
// Unix milliseconds computed by the proposer from the Comune's policy and
// its own clock, so apply erases the same rows on every node.
type erasePayload struct {
	Subject *Subject        `json:"subject,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Cutoffs map[Class]int64 `json:"cutoffs,omitempty"`
	// Limit bounds the records of each class one command touches, so a
	// first run on years of data is many short entries, not one that
	// holds the FSM for seconds.
	Limit int `json:"limit"`
}

// policyPayload is version 1 of privacy.policy: the classes it names are
// set (0 brings a class back to its default).
type policyPayload struct {
	Days map[Class]int `json:"days"`
}

// holdPayload is version 1 of privacy.hold.
type holdPayload struct {
	BookingID string `json:"booking_id"`
	Hold      bool   `json:"hold"`
	Reason    string `json:"reason"`
	ByID      string `json:"by_id"`
	ByName    string `json:"by_name"`
}

// validClass reports whether c is one of Classes.
func validClass(c Class) bool {
	for _, k := range Classes() {
		if k == c {
			return true
		}
	}
	return false
}

// applyPolicy stores the classes of the payload.
func applyPolicy(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p policyPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" {
		return nil, ErrInvalid
	}
	for c, d := range p.Days {
		if !validClass(c) || (d != 0 && (d < MinDays || d > MaxDays)) {
			return nil, ErrInvalid
		}
	}
	for c, d := range p.Days {
		var err error
		if d == 0 {
			_, err = tx.Exec(`DELETE FROM privacy_policies WHERE tenant = ? AND class = ?`, cmd.Tenant, string(c))
		} else {
			_, err = tx.Exec(`INSERT INTO privacy_policies (tenant, class, days) VALUES (?, ?, ?)
				ON CONFLICT (tenant, class) DO UPDATE SET days = excluded.days`, cmd.Tenant, string(c), d)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// applyHold sets or lifts the legal hold of a booking.
func applyHold(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p holdPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" || p.BookingID == "" || (p.Hold && strings.TrimSpace(p.Reason) == "") {
		return nil, ErrInvalid
	}
	if !p.Hold {
		if _, err := tx.Exec(`DELETE FROM privacy_holds WHERE tenant = ? AND booking_id = ?`, cmd.Tenant, p.BookingID); err != nil {
			return nil, err
		}
		// The booking and its tickets may lie behind the retention's
		// marks, passed over while held: the next pass reads the Comune
		// whole once (eraser.retainBookings).
		return nil, forgetMarks(tx, cmd.Tenant)
	}
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM booking_bookings WHERE tenant = ? AND id = ?`,
		cmd.Tenant, p.BookingID).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	_, err := tx.Exec(`INSERT INTO privacy_holds (tenant, booking_id, reason, by_id, by_name, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, booking_id) DO UPDATE SET reason = excluded.reason, by_id = excluded.by_id,
			by_name = excluded.by_name, at = excluded.at`,
		cmd.Tenant, p.BookingID, p.Reason, p.ByID, p.ByName, cmd.Time.UnixMilli())
	return nil, err
}

// applyErase runs one erasure and records it in privacy_erasures.
func applyErase(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p erasePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" || p.Limit <= 0 || (p.Subject == nil && len(p.Cutoffs) == 0) {
		return nil, ErrInvalid
	}
	return eraseIn(tx, cmd, p)
}

// EraseCitizenIn erases everything about who in the command's Comune
// inside the caller's apply transaction, and records the erasure (under
// cmd's log index) as privacy.erase does. privacy/requests' approving
// decision (version 2) calls it, so that the erasure, the digesting of
// the request's subject and the decision email are one log entry: the
// compactor, woken by the erasure's row, can then never snapshot the
// request with its subject still in clear (DESIGN.md, "Issue 11, point
// by point"). reason must not name the citizen.
func EraseCitizenIn(tx *sql.Tx, cmd cluster.Command, who Subject, reason string) (Report, error) {
	who.FiscalCode = strings.ToUpper(strings.TrimSpace(who.FiscalCode))
	who.Email = strings.ToLower(strings.TrimSpace(who.Email))
	if cmd.Tenant == "" {
		return Report{}, ErrInvalid
	}
	if who.FiscalCode == "" && who.Email == "" {
		return Report{}, ErrNoSubject
	}
	rep, err := eraseIn(tx, cmd, erasePayload{Subject: &who, Reason: reason, Limit: maxBatch})
	if err != nil {
		return Report{}, err
	}
	r, _ := rep.(Report)
	return r, nil
}

// eraseIn runs the erasure p in tx and records it in privacy_erasures.
func eraseIn(tx *sql.Tx, cmd cluster.Command, p erasePayload) (any, error) {
	e := &eraser{tx: tx, t: tenant.ID(cmd.Tenant), now: cmd.Time.UnixMilli(), limit: p.Limit, counts: map[Class]int{},
		boundedOutbox: cmd.Type == CmdErase && cmd.Version >= eraseBoundedVersion}
	if err := e.loadTables(); err != nil {
		return nil, err
	}
	kind := "retention"
	var err error
	if p.Subject != nil {
		kind = "citizen"
		err = e.citizen(*p.Subject)
	} else {
		err = e.retention(p.Cutoffs)
	}
	if err != nil {
		return nil, err
	}
	rep := Report{Index: cmd.Index, At: cmd.Time, Counts: e.counts}
	if kind == "retention" && rep.Total() == 0 {
		// An hourly pass with nothing due leaves no row: the history
		// and the compactor care only about erasures that did something.
		return rep, nil
	}
	counts, err := json.Marshal(e.counts)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`INSERT INTO privacy_erasures (cmd_index, at, tenant, kind, reason, counts, total)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, int64(cmd.Index), cmd.Time.UnixMilli(), cmd.Tenant, kind, p.Reason,
		string(counts), rep.Total()); err != nil {
		return nil, err
	}
	return rep, nil
}

// forgetMarks deletes the retention marks of Comune t (privacy schema 2;
// before it there are none).
func forgetMarks(tx *sql.Tx, t string) error {
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'privacy_marks'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	_, err := tx.Exec(`DELETE FROM privacy_marks WHERE tenant = ?`, t)
	return err
}
