package media

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Command types of the package.
const (
	CmdOpen   = "media.room.open"
	CmdMove   = "media.room.move"
	CmdEnd    = "media.room.end"
	CmdSweep  = "media.room.sweep"
	CmdRotate = "media.turn.rotate"
)

// payloadVersion is the newest payload version of every media command.
const payloadVersion = 1

// ReasonExpired is the end reason the sweeper records.
const ReasonExpired = "expired"

// sweepLimit bounds the rooms one sweep command ends, so that one entry
// never holds the FSM for long; the next sweep ends the rest.
const sweepLimit = 500

// schemaV1 holds the rooms and the TURN secrets. Room keys start with the
// tenant. Two indexes are deliberately cluster-wide: placement counts the
// open rooms of each node across every Comune (a node's load does not
// care whose calls it carries) and the sweeper ends rooms of every Comune
// at once. The partial unique index is the guard behind "one open room per
// appointment": apply looks before inserting, and the index makes a bug
// there fail loudly instead of giving two rooms.
const schemaV1 = `
CREATE TABLE media_rooms (
	tenant     TEXT NOT NULL,
	id         TEXT NOT NULL,
	ref_kind   TEXT NOT NULL,
	ref_id     TEXT NOT NULL,
	node       TEXT NOT NULL,
	epoch      INTEGER NOT NULL,
	opens      INTEGER NOT NULL,
	closes     INTEGER NOT NULL,
	state      TEXT NOT NULL,
	created    INTEGER NOT NULL,
	ended      INTEGER NOT NULL,
	end_reason TEXT NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX media_rooms_ref_open ON media_rooms (tenant, ref_kind, ref_id) WHERE state = 'open';
CREATE INDEX media_rooms_ref ON media_rooms (tenant, ref_kind, ref_id, created);
CREATE INDEX media_rooms_node ON media_rooms (state, node);
CREATE INDEX media_rooms_closes ON media_rooms (state, closes);

CREATE TABLE media_turn_secrets (
	seq     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL,
	sealed  TEXT NOT NULL
);
`

// Migrations returns the media schema steps (component "media").
func Migrations() []cluster.Migration {
	return []cluster.Migration{{Component: "media", Version: 1, SQL: schemaV1}, {Component: "media", Version: 2, SQL: schemaV2}}
}

// Register adds the media schema, apply functions, result decoders and
// errors to reg. cmd/sportello calls it with the other packages'.
func Register(reg *cluster.Registry) {
	for code, err := range map[string]error{
		"media.not_found": ErrNotFound, "media.ended": ErrEnded, "media.too_late": ErrTooLate,
		"media.invalid": ErrInvalid, "media.no_node": ErrNoNode,
	} {
		reg.RegisterError(code, err)
	}
	reg.Migrate(Migrations()...)
	reg.Handle(CmdOpen, payloadVersion, applyOpen)
	reg.Handle(CmdMove, payloadVersion, applyMove)
	reg.Handle(CmdEnd, payloadVersion, applyEnd)
	reg.Handle(CmdSweep, payloadVersion, applySweep)
	reg.Handle(CmdRotate, payloadVersion, applyRotate)
	registerInvites(reg)
	registerNodes(reg)
	for _, typ := range []string{CmdOpen, CmdMove, CmdEnd} {
		reg.HandleResult(typ, func(raw json.RawMessage) (any, error) {
			var r Room
			err := json.Unmarshal(raw, &r)
			return r, err
		})
		reg.Describe(typ, describe)
	}
	reg.HandleResult(CmdSweep, func(raw json.RawMessage) (any, error) {
		var n int
		err := json.Unmarshal(raw, &n)
		return n, err
	})
	reg.HandleResult(CmdRotate, func(raw json.RawMessage) (any, error) {
		var ok bool
		err := json.Unmarshal(raw, &ok)
		return ok, err
	})
}

// describe names the room and where it goes for the audit log; never the
// ref (a booking code leads to a citizen) nor the end reason, which an
// operator may fill with anything.
func describe(cmd cluster.Command) string {
	var p struct {
		ID   string `json:"id"`
		Node string `json:"node"`
		To   string `json:"to"`
	}
	if json.Unmarshal(cmd.Payload, &p) != nil {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"room", p.ID}, {"node", p.Node + p.To}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}

// openPayload is version 1 of media.room.open: the proposer stamps the
// room's ID and the node it picked to hold it.
type openPayload struct {
	ID      string `json:"id"`
	RefKind string `json:"ref_kind"`
	RefID   string `json:"ref_id"`
	Node    string `json:"node"`
	Opens   int64  `json:"opens"`
	Closes  int64  `json:"closes"`
}

// movePayload is version 1 of media.room.move: move the room from From to
// To, only if it is still on From.
type movePayload struct {
	ID   string `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
}

// endPayload is version 1 of media.room.end.
type endPayload struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// sweepPayload is version 1 of media.room.sweep: end every open room whose
// closing time plus GraceS is at or before the command's time. The grace
// travels in the payload so that apply reads no configuration.
type sweepPayload struct {
	GraceS int64 `json:"grace_s"`
}

// rotatePayload is version 1 of media.turn.rotate: a new secret, sealed by
// the proposer, recorded only if the newest secret is still After (the
// one the proposer saw; "" for none), so that two proposers that found
// the secret old at the same moment add one, not two.
type rotatePayload struct {
	ID     string `json:"id"`
	After  string `json:"after"`
	Sealed string `json:"sealed"`
}

// errVersion refuses a payload newer than this node knows.
var errVersion = errors.New("media: payload version not supported by this node")

func decode(cmd cluster.Command, v any) error {
	if cmd.Version > payloadVersion {
		return errVersion
	}
	return cmd.Decode(v)
}

func applyOpen(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p openPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	if t == "" || p.ID == "" || p.Node == "" || checkRef(RoomRef{Kind: p.RefKind, ID: p.RefID}) != nil || p.Closes <= p.Opens {
		return nil, fmt.Errorf("%w: open payload", ErrInvalid)
	}
	// Concurrent opens of one appointment on several nodes reach the log
	// one after the other: the first inserts, the others find it here and
	// answer with it, so every caller gets the same room.
	r, err := roomByRef(tx, t, RoomRef{Kind: p.RefKind, ID: p.RefID}, true)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if cmd.Time.UnixMilli() > p.Closes {
		return nil, fmt.Errorf("%w: the appointment closed at %s", ErrTooLate, fromMillis(p.Closes).Format(time.RFC3339))
	}
	if _, err := tx.Exec(`INSERT INTO media_rooms (tenant, id, ref_kind, ref_id, node, epoch, opens, closes, state, created, ended, end_reason)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?, 'open', ?, 0, '')`,
		t, p.ID, p.RefKind, p.RefID, p.Node, p.Opens, p.Closes, cmd.Time.UnixMilli()); err != nil {
		return nil, fmt.Errorf("insert room: %w", err)
	}
	return loadRoom(tx, t, p.ID)
}

func applyMove(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p movePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	if p.From == "" || p.To == "" {
		return nil, fmt.Errorf("%w: move without nodes", ErrInvalid)
	}
	r, err := loadRoom(tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if r.State != StateOpen {
		return nil, fmt.Errorf("room %s: %w", p.ID, ErrEnded)
	}
	// Conditional: whoever noticed the death second finds the room moved
	// already and gets it as it is, so a room moves once per death.
	if r.Node != p.From {
		return r, nil
	}
	if _, err := tx.Exec(`UPDATE media_rooms SET node = ?, epoch = epoch + 1 WHERE tenant = ? AND id = ?`, p.To, t, p.ID); err != nil {
		return nil, fmt.Errorf("move room: %w", err)
	}
	return loadRoom(tx, t, p.ID)
}

func applyEnd(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p endPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	r, err := loadRoom(tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	// Ending an ended room keeps the first reason: two operators pressing
	// "end" at once both succeed.
	if r.State != StateOpen {
		return r, nil
	}
	if _, err := tx.Exec(`UPDATE media_rooms SET state = 'ended', ended = ?, end_reason = ? WHERE tenant = ? AND id = ?`,
		cmd.Time.UnixMilli(), p.Reason, t, p.ID); err != nil {
		return nil, fmt.Errorf("end room: %w", err)
	}
	return loadRoom(tx, t, p.ID)
}

func applySweep(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p sweepPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.GraceS < 0 {
		return nil, fmt.Errorf("%w: negative grace", ErrInvalid)
	}
	limit := cmd.Time.UnixMilli() - p.GraceS*1000
	res, err := tx.Exec(`UPDATE media_rooms SET state = 'ended', ended = ?, end_reason = ?
		WHERE (tenant, id) IN (SELECT tenant, id FROM media_rooms WHERE state = 'open' AND closes <= ?
			ORDER BY closes, tenant, id LIMIT ?)`,
		cmd.Time.UnixMilli(), ReasonExpired, limit, sweepLimit)
	if err != nil {
		return nil, fmt.Errorf("sweep rooms: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func applyRotate(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p rotatePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.ID == "" || p.Sealed == "" {
		return nil, fmt.Errorf("%w: rotate payload", ErrInvalid)
	}
	var newest string
	err := tx.QueryRow(`SELECT id FROM media_turn_secrets ORDER BY seq DESC LIMIT 1`).Scan(&newest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read turn secrets: %w", err)
	}
	if newest != p.After {
		return false, nil
	}
	if _, err := tx.Exec(`INSERT INTO media_turn_secrets (seq, id, created, sealed) VALUES (?, ?, ?, ?)`,
		int64(cmd.Index), p.ID, cmd.Time.UnixMilli(), p.Sealed); err != nil {
		return nil, fmt.Errorf("insert turn secret: %w", err)
	}
	// The current and the previous secret are enough: credentials are
	// short-lived, and the previous one covers those issued just before the
	// rotation. Older ones go, so a leaked old secret stops working.
	if _, err := tx.Exec(`DELETE FROM media_turn_secrets WHERE seq NOT IN (SELECT seq FROM media_turn_secrets ORDER BY seq DESC LIMIT 2)`); err != nil {
		return nil, fmt.Errorf("prune turn secrets: %w", err)
	}
	return true, nil
}
