package cluster

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Command is the envelope of every write. The node that receives a request
// fills Type, Version, Tenant and Payload, and stamps into the payload every
// value that must not be computed in apply (IDs, tokens, codes). Time is
// stamped by the leader when it proposes the entry; Index is set by the FSM
// when the entry is applied. Apply functions read both and never call
// time.Now.
type Command struct {
	// Type names the apply function, "<package>.<verb>", e.g. "booking.create".
	Type string `json:"type"`
	// Version is the payload's version; an apply function refuses versions
	// newer than it knows.
	Version int `json:"v"`
	// Tenant is the Comune the command belongs to ("" for cluster-wide
	// commands such as migrations and tenant creation).
	Tenant string `json:"tenant,omitempty"`
	// Time is the leader's clock when the command was proposed, in UTC.
	Time time.Time `json:"time"`
	// Payload is the JSON-encoded, versioned payload.
	Payload json.RawMessage `json:"payload"`
	// RequestID names the logical request the command belongs to (see
	// dedup.go): a command whose RequestID the FSM has already recorded
	// (within DedupWindow) is not applied again, and its proposer gets the
	// recorded outcome. Propose fills it with a random ID when it is
	// empty (or from WithRequestID), and keeps it across its own retries.
	RequestID string `json:"rid,omitempty"`
	// Fingerprint identifies the content of the client's request (for
	// example a hash of method, path and body) under RequestID: the same
	// ID with another fingerprint is refused with ErrRequestReused.
	Fingerprint string `json:"fp,omitempty"`
	// Actor is the person the command is proposed for, written in the
	// audit log when the command is applied (audit.go). Propose fills it
	// from WithActor, and only once every member writes audit rows.
	Actor *Actor `json:"actor,omitempty"`
	// Index is the Raft log index of the entry; set by the FSM, not encoded.
	Index uint64 `json:"-"`
	// outbox numbers the outbox rows of the entry being applied
	// (Enqueue); set by the FSM, nil elsewhere, never encoded.
	outbox *outboxSeq
}

// NewCommand builds a command with a JSON-encoded payload.
func NewCommand(typ string, version int, tenant string, payload any) (Command, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Command{}, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	return Command{Type: typ, Version: version, Tenant: tenant, Payload: b}, nil
}

// Decode unmarshals the payload into v, refusing unknown fields.
func (c Command) Decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s payload: %w", c.Type, err)
	}
	return nil
}

// ApplyFunc applies one command inside the FSM's transaction. It must be
// deterministic: no time.Now, no randomness, no local configuration, no I/O
// but tx. A returned error is a domain error: the FSM rolls back this
// command's changes (and only them) and hands the error to the proposer.
// result must be JSON-encodable (it may cross the network when a follower
// forwards a write).
type ApplyFunc func(tx *sql.Tx, cmd Command) (result any, err error)

// JSONAppender is a result value that writes its own JSON, the bytes
// json.Marshal would write, without reflection.
type JSONAppender interface{ AppendJSON(dst []byte) []byte }

// marshalResult encodes an apply result, as forwarded answers and request
// records carry it: through its own AppendJSON when it has one (a
// booking's result went through json.Marshal's reflection once on the
// leader for the answer and once on every node for the record), through
// json.Marshal otherwise, and for a nil pointer (json.Marshal writes
// null, and AppendJSON need not expect one).
func marshalResult(v any) ([]byte, error) {
	if a, ok := v.(JSONAppender); ok && !nilPointer(v) {
		return a.AppendJSON(make([]byte, 0, 256)), nil
	}
	return json.Marshal(v)
}

// nilPointer reports whether v holds a nil pointer.
func nilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Migration is one schema step of a component. Migrations run inside apply
// (command "cluster.migrate"), so every node migrates at the same log index.
type Migration struct {
	// Component owns the schema ("tenant", "booking", "cluster", ...).
	Component string
	// Version is 1, 2, 3... within the component, without gaps.
	Version int
	// SQL is executed in the FSM transaction.
	SQL string
}

// Result is what a proposer gets back once its command is applied locally.
type Result struct {
	// Index is the log index of the command; WaitApplied(Index) on any node
	// gives read-your-writes there.
	Index uint64
	// Value is what the apply function returned.
	Value any
}

// Proposer is the write side of a node, as the domain packages see it.
type Proposer interface {
	// Propose stamps cmd.Time on the leader, replicates the command, waits
	// until it is applied on this node and returns the apply function's
	// result, or its domain error unchanged (errors.Is works).
	Propose(ctx context.Context, cmd Command) (Result, error)
	// WaitApplied blocks until this node has applied index (or ctx ends).
	WaitApplied(ctx context.Context, index uint64) error
}
