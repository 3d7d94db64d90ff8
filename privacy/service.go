package privacy

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Node is what the service needs of the cluster node: proposing commands,
// knowing whether it leads (the retention worker acts only on the
// leader).
type Node interface {
	cluster.Proposer
	IsLeader() bool
}

// Compactor is implemented by a node that can drop the old copies of
// erased data from its own disk (cluster.Node.CompactAfterErasure).
type Compactor interface {
	CompactAfterErasure(ctx context.Context) error
}

// Service runs erasures and retention for every Comune of the cluster.
type Service struct {
	node Node
	db   *sql.DB
	log  *slog.Logger
	now  func() time.Time
	// settingsErrors counts the failed reads of a Comune's document
	// period (SettingsErrors).
	settingsErrors atomic.Int64
}

// Options configure a Service; the zero value is valid.
type Options struct {
	Logger *slog.Logger
	// Now replaces the clock in tests.
	Now func() time.Time
}

// NewService returns a service proposing through node and reading db (the
// node's read-only database).
func NewService(node Node, db *sql.DB, o Options) *Service {
	s := &Service{node: node, db: db, log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// ErrNoSubject is returned by EraseCitizen without a fiscal code or an
// email address.
var ErrNoSubject = errors.New("privacy: no codice fiscale nor email to erase")

// maxBatch bounds the records of each class one retention command erases.
const maxBatch = 200

// EraseCitizen runs one replicated erasure of everything about a citizen
// (fiscal code or email) in a Comune; used by citizen requests. Records
// under legal hold are kept. reason is recorded with the erasure (and must
// not itself name the citizen). Every node then drops the old copies from
// its disk (RunCompactor).
func (s *Service) EraseCitizen(ctx context.Context, t tenant.ID, who Subject, reason string) (Report, error) {
	if t == "" {
		return Report{}, ErrInvalid
	}
	if strings.TrimSpace(who.FiscalCode) == "" && strings.TrimSpace(who.Email) == "" {
		return Report{}, ErrNoSubject
	}
	who.FiscalCode = strings.ToUpper(strings.TrimSpace(who.FiscalCode))
	who.Email = strings.ToLower(strings.TrimSpace(who.Email))
	return s.erase(ctx, t, erasePayload{Subject: &who, Reason: reason, Limit: maxBatch})
}

// erase proposes one erasure command: version eraseBoundedVersion, or
// version 1 while a member does not know it (a rolling upgrade).
func (s *Service) erase(ctx context.Context, t tenant.ID, p erasePayload) (Report, error) {
	var (
		res cluster.Result
		err error
	)
	for _, version := range []int{eraseBoundedVersion, payloadVersion} {
		cmd, cerr := cluster.NewCommand(CmdErase, version, string(t), p)
		if cerr != nil {
			return Report{}, cerr
		}
		if res, err = s.node.Propose(ctx, cmd); !errors.Is(err, cluster.ErrNotSupportedByCluster) {
			break
		}
	}
	if err != nil {
		return Report{}, err
	}
	rep, _ := res.Value.(Report)
	rep.Index = res.Index
	return rep, nil
}

// Policy returns the retention of Comune t: its own choices over the
// defaults.
func (s *Service) Policy(ctx context.Context, t tenant.ID) (Policy, error) {
	p := DefaultPolicy()
	rows, err := s.db.QueryContext(ctx, `SELECT class, days FROM privacy_policies WHERE tenant = ?`, t)
	if err != nil {
		return p, fmt.Errorf("privacy: read policy: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var d int
		if err := rows.Scan(&c, &d); err != nil {
			return p, err
		}
		if validClass(Class(c)) {
			p.Days[Class(c)] = d
		}
	}
	return p, rows.Err()
}

// OwnDays returns only the classes Comune t has set itself (the rest
// follow the defaults).
func (s *Service) OwnDays(ctx context.Context, t tenant.ID) (map[Class]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT class, days FROM privacy_policies WHERE tenant = ?`, t)
	if err != nil {
		return nil, fmt.Errorf("privacy: read policy: %w", err)
	}
	defer rows.Close()
	out := map[Class]int{}
	for rows.Next() {
		var c string
		var d int
		if err := rows.Scan(&c, &d); err != nil {
			return nil, err
		}
		out[Class(c)] = d
	}
	return out, rows.Err()
}

// SetPolicy stores the days of p's classes for Comune t (0: back to the
// default). It is validated in apply too; a bad value is ErrInvalid.
func (s *Service) SetPolicy(ctx context.Context, t tenant.ID, p Policy) error {
	for c, d := range p.Days {
		if !validClass(c) || (d != 0 && (d < MinDays || d > MaxDays)) {
			return ErrInvalid
		}
	}
	cmd, err := cluster.NewCommand(CmdPolicy, payloadVersion, string(t), policyPayload{Days: p.Days})
	if err != nil {
		return err
	}
	_, err = s.node.Propose(ctx, cmd)
	return err
}

// Hold is the legal hold of one booking.
type Hold struct {
	BookingID string    `json:"booking_id"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason"`
	ByID      string    `json:"by_id"`
	ByName    string    `json:"by_name"`
	At        time.Time `json:"at"`
}

// SetHold puts booking id of Comune t under legal hold (hold true, reason
// required) or lifts it. by is the administrator, written with the hold
// and, through the command's actor, in the audit log.
func (s *Service) SetHold(ctx context.Context, t tenant.ID, id string, hold bool, reason string, by cluster.Actor) error {
	reason = strings.TrimSpace(reason)
	if id == "" || (hold && reason == "") {
		return ErrInvalid
	}
	cmd, err := cluster.NewCommand(CmdHold, payloadVersion, string(t), holdPayload{
		BookingID: id, Hold: hold, Reason: reason, ByID: by.ID, ByName: by.Name})
	if err != nil {
		return err
	}
	if _, ok := cluster.ActorFrom(ctx); !ok && by.ID != "" {
		ctx = cluster.WithActor(ctx, by)
	}
	_, err = s.node.Propose(ctx, cmd)
	return err
}

// BookingID returns the ID of Comune t's booking with code (ErrNotFound
// when there is none): the back office names bookings by code.
func (s *Service) BookingID(ctx context.Context, t tenant.ID, code string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM booking_bookings WHERE tenant = ? AND code = ?`,
		t, strings.ToUpper(strings.TrimSpace(code))).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

// Holds lists the legal holds of Comune t, newest first.
func (s *Service) Holds(ctx context.Context, t tenant.ID) ([]Hold, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT h.booking_id, COALESCE(b.code, ''), h.reason, h.by_id, h.by_name, h.at
		FROM privacy_holds h LEFT JOIN booking_bookings b ON b.tenant = h.tenant AND b.id = h.booking_id
		WHERE h.tenant = ? ORDER BY h.at DESC, h.booking_id`, t)
	if err != nil {
		return nil, fmt.Errorf("privacy: read holds: %w", err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		var h Hold
		var at int64
		if err := rows.Scan(&h.BookingID, &h.Code, &h.Reason, &h.ByID, &h.ByName, &at); err != nil {
			return nil, err
		}
		h.At = time.UnixMilli(at).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// Erasure is one row of a Comune's erasure history.
type Erasure struct {
	Index  uint64
	At     time.Time
	Kind   string
	Reason string
	Counts map[Class]int
	Total  int
}

// Erasures returns the last n erasures of Comune t that touched
// something, newest first.
func (s *Service) Erasures(ctx context.Context, t tenant.ID, n int) ([]Erasure, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT cmd_index, at, kind, reason, counts, total FROM privacy_erasures
		WHERE tenant = ? AND total > 0 ORDER BY id DESC LIMIT ?`, t, n)
	if err != nil {
		return nil, fmt.Errorf("privacy: read erasures: %w", err)
	}
	defer rows.Close()
	var out []Erasure
	for rows.Next() {
		var e Erasure
		var at int64
		var counts string
		if err := rows.Scan(&e.Index, &at, &e.Kind, &e.Reason, &counts, &e.Total); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at).UTC()
		_ = json.Unmarshal([]byte(counts), &e.Counts)
		out = append(out, e)
	}
	return out, rows.Err()
}
