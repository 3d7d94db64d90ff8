package media

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Room states.
const (
	StateOpen  = "open"
	StateEnded = "ended"
)

// Kinds of RoomRef.
const (
	RefBooking = "booking"
	RefTicket  = "ticket"
)

// Timing rules the web layer and the leader worker share.
const (
	// TokenGrace is how long after the room's Closes a token issued for it
	// should stay valid: Claims.Expires = room.Closes + TokenGrace, so an
	// appointment that runs a little late can still be rejoined.
	TokenGrace = 15 * time.Minute
	// SweepGrace is how long after its Closes an open room is ended by the
	// sweeper. It is longer than TokenGrace so that a call that overruns
	// is not cut off while its participants can still reconnect; after it
	// nobody holds a valid token any more anyway.
	SweepGrace = time.Hour
	// maxRefID and maxReason bound what callers store.
	maxRefID  = 200
	maxReason = 200
	// membersTTL is how long a view of the reachable members is reused
	// for placement; a move asks afresh.
	membersTTL = 3 * time.Second
)

// RoomRef names what a room is for: a booking or a ticket, by its ID in
// the Comune. media does not know bookings or tickets; the ref only makes
// the room unique per appointment.
type RoomRef struct {
	Kind string `json:"kind"` // "booking" | "ticket"
	ID   string `json:"id"`
}

// Room is one call's room as the replicated state holds it.
type Room struct {
	ID     string    `json:"id"`
	Tenant tenant.ID `json:"tenant"`
	Ref    RoomRef   `json:"ref"`
	// Node is the cluster node ID that holds the room (its SFU runs the
	// call); Epoch counts the placements, 1 for the first, +1 per move.
	Node  string `json:"node"`
	Epoch int    `json:"epoch"`
	// Opens and Closes bound the appointment the room is for.
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes"`
	// State is "open" or "ended".
	State     string    `json:"state"`
	Created   time.Time `json:"created"`
	Ended     time.Time `json:"ended,omitzero"`
	EndReason string    `json:"end_reason,omitempty"`
}

// Rooms reads rooms from the node's local state and writes them by
// proposing commands; it also signs room tokens and hands out TURN
// credentials. Its methods are safe for concurrent use.
type Rooms struct {
	node    *cluster.Node
	secrets *auth.Secrets
	now     func() time.Time

	tokenKey []byte

	mu        sync.Mutex
	members   []string
	membersAt time.Time

	turnMu    sync.Mutex
	turnCache turnCache
}

// NewRooms returns the rooms of node. secrets gives the keys for room
// tokens ("media.room-token") and for sealing TURN secrets ("media.turn");
// now is the proposer's clock (time.Now when nil).
//
// Without a secrets key a node signs tokens with a random key of its own:
// a one-node install works, but a token made on one node does not verify
// on another, and no TURN secret can be created. Clusters copy
// secrets.key to every node (auth/DESIGN.md).
func NewRooms(node *cluster.Node, secrets *auth.Secrets, now func() time.Time) *Rooms {
	if now == nil {
		now = time.Now
	}
	key := secrets.Derive("media.room-token")
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	}
	return &Rooms{node: node, secrets: secrets, now: now, tokenKey: key}
}

// checkRef refuses an unknown kind or an empty or oversized ID.
func checkRef(ref RoomRef) error {
	if ref.Kind != RefBooking && ref.Kind != RefTicket {
		return fmt.Errorf("%w: ref kind %q", ErrInvalid, ref.Kind)
	}
	if ref.ID == "" || len(ref.ID) > maxRefID || !utf8.ValidString(ref.ID) {
		return fmt.Errorf("%w: ref id", ErrInvalid)
	}
	return nil
}

// Open returns the open room of ref, creating it when there is none: one
// room per (Comune, ref), whichever node asks first and however many ask at
// once. A new room is placed on the reachable member with the fewest open
// rooms (ties by node ID). A ref whose rooms all ended gets a new room (an
// operator who ended a call by mistake can start again; the lobby still
// guards it). Opening after closes gives ErrTooLate. The times of an
// existing room are not changed.
func (rs *Rooms) Open(ctx context.Context, t tenant.ID, ref RoomRef, opens, closes time.Time) (Room, error) {
	if t == "" {
		return Room{}, fmt.Errorf("%w: no tenant", ErrInvalid)
	}
	if err := checkRef(ref); err != nil {
		return Room{}, err
	}
	opens, closes = opens.Truncate(time.Millisecond), closes.Truncate(time.Millisecond)
	if !closes.After(opens) || opens.IsZero() {
		return Room{}, fmt.Errorf("%w: closes must follow opens", ErrInvalid)
	}
	// Most calls find the room open already (every page load of both
	// sides asks): answer from the local state without a log round trip.
	if r, err := roomByRefCtx(ctx, rs.node.DB(), t, ref, true); err == nil {
		return r, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Room{}, err
	}
	node, err := rs.place(ctx, "", false)
	if err != nil {
		return Room{}, err
	}
	return rs.write(ctx, CmdOpen, t, openPayload{
		ID: rand.Text(), RefKind: ref.Kind, RefID: ref.ID, Node: node,
		Opens: millis(opens), Closes: millis(closes),
	})
}

// Get returns a room by ID from the local state (ErrNotFound).
func (rs *Rooms) Get(ctx context.Context, t tenant.ID, id string) (Room, error) {
	return loadRoomCtx(ctx, rs.node.DB(), t, id)
}

// getFresh is Get that, when the room is missing here, waits until this
// node has applied everything committed before and looks again: a room
// opened a moment ago through another node may not be applied here yet.
func (rs *Rooms) getFresh(ctx context.Context, t tenant.ID, id string) (Room, error) {
	r, err := rs.Get(ctx, t, id)
	if !errors.Is(err, ErrNotFound) {
		return r, err
	}
	if ferr := rs.node.ReadFresh(ctx); ferr != nil {
		return Room{}, err
	}
	return rs.Get(ctx, t, id)
}

// ByRef returns the open room of ref or, when none is open, the newest
// ended one (ErrNotFound when ref never had a room).
func (rs *Rooms) ByRef(ctx context.Context, t tenant.ID, ref RoomRef) (Room, error) {
	return roomByRefCtx(ctx, rs.node.DB(), t, ref, false)
}

// End ends a room for everyone, recording why (at most 200 characters;
// "ended" when empty). Ending an ended room returns it unchanged, with its
// first reason.
func (rs *Rooms) End(ctx context.Context, t tenant.ID, id, reason string) (Room, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "ended"
	}
	if utf8.RuneCountInString(reason) > maxReason || !utf8.ValidString(reason) {
		return Room{}, fmt.Errorf("%w: reason too long", ErrInvalid)
	}
	if id == "" {
		return Room{}, fmt.Errorf("room: %w", ErrNotFound)
	}
	return rs.write(ctx, CmdEnd, t, endPayload{ID: id, Reason: reason})
}

// Move places an open room on another reachable node when it is still on
// fromNode, and counts the move in Epoch. The caller says fromNode is dead
// (it could not reach the room there); Move does not check it again. When
// the room is on another node already (someone else moved it, here or at
// the same moment elsewhere: apply decides), Move returns it as it is, so
// a room moves once however many nodes notice the death. ErrEnded for an
// ended room, ErrNoNode when no other member is reachable.
func (rs *Rooms) Move(ctx context.Context, t tenant.ID, id, fromNode string) (Room, error) {
	r, err := rs.getFresh(ctx, t, id)
	if err != nil {
		return Room{}, err
	}
	if r.State != StateOpen {
		return Room{}, fmt.Errorf("room %s: %w", id, ErrEnded)
	}
	if r.Node != fromNode {
		return r, nil
	}
	to, err := rs.place(ctx, fromNode, true)
	if err != nil {
		return Room{}, err
	}
	return rs.write(ctx, CmdMove, t, movePayload{ID: id, From: fromNode, To: to})
}

// Locate returns an open room with a node that is alive: when the member
// holding it does not answer, the room is moved first (Move). Signalling
// calls it before sending a participant to the room's node; if sending
// there fails anyway, it calls Move(room.ID, room.Node) and tries the
// answer's node.
func (rs *Rooms) Locate(ctx context.Context, t tenant.ID, id string) (Room, error) {
	r, err := rs.getFresh(ctx, t, id)
	if err != nil {
		return Room{}, err
	}
	if r.State != StateOpen {
		return r, fmt.Errorf("room %s: %w", id, ErrEnded)
	}
	for _, fresh := range []bool{false, true} {
		live, err := rs.reachable(ctx, fresh)
		if err != nil {
			return Room{}, err
		}
		if slices.Contains(live, r.Node) {
			return r, nil
		}
	}
	return rs.Move(ctx, t, id, r.Node)
}

// Sweep ends the open rooms of every Comune whose Closes is more than
// SweepGrace ago, with reason "expired", and returns how many. It proposes
// only when this node's state has such rooms; apply picks them again at the
// leader's time, so a sweep proposed from a stale view ends nothing too
// early. Run it on the leader every minute or so.
func (rs *Rooms) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		var due int
		limit := millis(rs.now().Add(-SweepGrace))
		if err := rs.node.DB().QueryRowContext(ctx,
			`SELECT count(*) FROM media_rooms WHERE state = 'open' AND closes <= ?`, limit).Scan(&due); err != nil {
			return total, fmt.Errorf("read rooms to sweep: %w", err)
		}
		if due == 0 {
			return total, nil
		}
		cmd, err := cluster.NewCommand(CmdSweep, payloadVersion, "", sweepPayload{GraceS: int64(SweepGrace / time.Second)})
		if err != nil {
			return total, err
		}
		res, err := rs.node.Propose(ctx, cmd)
		if err != nil {
			return total, err
		}
		n, _ := res.Value.(int)
		total += n
		// Fewer than a full batch means apply found no more (or the
		// leader's clock is behind ours): stop instead of spinning.
		if n < sweepLimit {
			return total, nil
		}
	}
}

// write proposes a command that answers with a room.
func (rs *Rooms) write(ctx context.Context, typ string, t tenant.ID, payload any) (Room, error) {
	cmd, err := cluster.NewCommand(typ, payloadVersion, string(t), payload)
	if err != nil {
		return Room{}, err
	}
	res, err := rs.node.Propose(ctx, cmd)
	if err != nil {
		return Room{}, err
	}
	r, ok := res.Value.(Room)
	if !ok {
		return Room{}, fmt.Errorf("media: unexpected result %T of %s", res.Value, typ)
	}
	return r, nil
}

// reachable returns the IDs of the members that can hold a room: those
// that answer (Node.Members asks each, at most two seconds) and are not a
// non-voter still catching up. The answer is reused for membersTTL unless
// fresh is set.
func (rs *Rooms) reachable(ctx context.Context, fresh bool) ([]string, error) {
	rs.mu.Lock()
	if !fresh && rs.members != nil && time.Since(rs.membersAt) < membersTTL {
		ids := rs.members
		rs.mu.Unlock()
		return ids, nil
	}
	rs.mu.Unlock()
	var ids []string
	for _, m := range rs.node.Members(ctx) {
		if m.Reachable && !m.Staged {
			ids = append(ids, m.ID)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rs.mu.Lock()
	rs.members, rs.membersAt = ids, time.Now()
	rs.mu.Unlock()
	return ids, nil
}

// place picks the node for a room: among the reachable members other than
// exclude, the one holding the fewest open rooms in the replicated state,
// ties by node ID. Concurrent placements may pick the same node (each sees
// the counts before the other's room); rooms are long and few, so the
// spread stays close to even without coordination.
func (rs *Rooms) place(ctx context.Context, exclude string, fresh bool) (string, error) {
	live, err := rs.reachable(ctx, fresh)
	if err != nil {
		return "", err
	}
	counts, err := openCounts(ctx, rs.node.DB())
	if err != nil {
		return "", err
	}
	best, bestN := "", 0
	for _, id := range live {
		if id == exclude {
			continue
		}
		n := counts[id]
		if best == "" || n < bestN || (n == bestN && id < best) {
			best, bestN = id, n
		}
	}
	if best == "" {
		return "", ErrNoNode
	}
	return best, nil
}

// Rehome moves the open rooms of nodes that are no longer members of the
// cluster (removed, or left) and returns how many moved. Unlike a node
// that does not answer for a while (a restart, an upgrade), which keeps
// its rooms until someone fails to reach them (Locate, Move), a node that
// left the configuration is certainly gone, so its rooms move at once and
// the next participant to connect is sent to the new node straight away.
// The leader runs it with the sweep (Maintain).
func (rs *Rooms) Rehome(ctx context.Context) (int, error) {
	members := map[string]bool{}
	for _, s := range rs.node.Status().Servers {
		members[s.ID] = true
	}
	if len(members) == 0 {
		// No configuration known (not started, shutting down): moving
		// everything off "unknown" nodes would be wrong.
		return 0, nil
	}
	// Read what is committed, not a view that may miss a move made a
	// moment ago elsewhere (on the leader this costs nothing).
	if err := rs.node.ReadFresh(ctx); err != nil {
		return 0, err
	}
	rows, err := rs.node.DB().QueryContext(ctx, `SELECT tenant, id, node FROM media_rooms WHERE state = 'open' ORDER BY node, tenant, id`)
	if err != nil {
		return 0, fmt.Errorf("read rooms to rehome: %w", err)
	}
	type loc struct {
		t        tenant.ID
		id, node string
	}
	var gone []loc
	for rows.Next() {
		var l loc
		if err := rows.Scan(&l.t, &l.id, &l.node); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read rooms to rehome: %w", err)
		}
		if !members[l.node] {
			gone = append(gone, l)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read rooms to rehome: %w", err)
	}
	moved := 0
	for _, l := range gone {
		r, err := rs.Move(ctx, l.t, l.id, l.node)
		switch {
		case errors.Is(err, ErrEnded) || errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return moved, err
		}
		if r.Node != l.node {
			moved++
		}
	}
	return moved, nil
}
