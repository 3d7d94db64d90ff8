package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// queryer is what reads need: the FSM's transaction in apply, the node's
// read pool elsewhere.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const roomColumns = `tenant, id, ref_kind, ref_id, node, epoch, opens, closes, state, created, ended, end_reason`

// fromMillis turns stored Unix milliseconds (0 for none) into a UTC time.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// millis stores a time as Unix milliseconds (0 for the zero time).
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func scanRoom(row interface{ Scan(...any) error }) (Room, error) {
	var r Room
	var opens, closes, created, ended int64
	err := row.Scan(&r.Tenant, &r.ID, &r.Ref.Kind, &r.Ref.ID, &r.Node, &r.Epoch, &opens, &closes, &r.State, &created, &ended, &r.EndReason)
	if err != nil {
		return Room{}, err
	}
	r.Opens, r.Closes, r.Created, r.Ended = fromMillis(opens), fromMillis(closes), fromMillis(created), fromMillis(ended)
	return r, nil
}

// loadRoomCtx reads one room of t.
func loadRoomCtx(ctx context.Context, q queryer, t tenant.ID, id string) (Room, error) {
	r, err := scanRoom(q.QueryRowContext(ctx, `SELECT `+roomColumns+` FROM media_rooms WHERE tenant = ? AND id = ?`, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, fmt.Errorf("room %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Room{}, fmt.Errorf("read room %s: %w", id, err)
	}
	return r, nil
}

func loadRoom(tx *sql.Tx, t tenant.ID, id string) (Room, error) {
	return loadRoomCtx(context.Background(), tx, t, id)
}

// roomByRefQuery reads the rooms of a reference through media_rooms_ref,
// named: without statistics SQLite walked the Comune's whole primary key,
// every room it ever had (TestRoomByRefUsesItsIndex); a reference has a
// few rooms at most.
const roomByRefQuery = `SELECT ` + roomColumns + ` FROM media_rooms INDEXED BY media_rooms_ref
	WHERE tenant = ? AND ref_kind = ? AND ref_id = ?`

// roomByRefCtx reads the open room of ref or, unless openOnly, the newest
// room of ref.
func roomByRefCtx(ctx context.Context, q queryer, t tenant.ID, ref RoomRef, openOnly bool) (Room, error) {
	query := roomByRefQuery
	if openOnly {
		query += ` AND state = 'open'`
	} else {
		// The open room first (there is at most one), then the newest.
		query += ` ORDER BY state = 'open' DESC, created DESC, id DESC`
	}
	r, err := scanRoom(q.QueryRowContext(ctx, query+` LIMIT 1`, t, ref.Kind, ref.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, fmt.Errorf("room of %s %s: %w", ref.Kind, ref.ID, ErrNotFound)
	}
	if err != nil {
		return Room{}, fmt.Errorf("read room of %s %s: %w", ref.Kind, ref.ID, err)
	}
	return r, nil
}

func roomByRef(tx *sql.Tx, t tenant.ID, ref RoomRef, openOnly bool) (Room, error) {
	return roomByRefCtx(context.Background(), tx, t, ref, openOnly)
}

// openCounts returns how many open rooms each node holds, across every
// Comune (placement balances nodes, not Comuni).
func openCounts(ctx context.Context, q queryer) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT node, count(*) FROM media_rooms WHERE state = 'open' GROUP BY node`)
	if err != nil {
		return nil, fmt.Errorf("count open rooms: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var node string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			return nil, fmt.Errorf("count open rooms: %w", err)
		}
		out[node] = n
	}
	return out, rows.Err()
}
