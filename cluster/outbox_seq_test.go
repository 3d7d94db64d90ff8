package cluster

import (
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// seqPayload is the payload of "s.enq": enqueue each key, then fail or
// panic if asked (after the enqueues, so the savepoint must undo them).
type seqPayload struct {
	Keys  []string `json:"keys"`
	Fail  bool     `json:"fail,omitempty"`
	Panic bool     `json:"panic,omitempty"`
}

// seqRegistry registers "s.enq"; with counted, its apply function drops
// the FSM's row counter, so Enqueue numbers rows with COUNT(*) as older
// binaries did.
func seqRegistry(counted bool) *Registry {
	r := NewRegistry()
	r.Migrate(Migration{Component: "s", Version: 1, SQL: `CREATE TABLE s (x INTEGER)`})
	r.Handle("s.enq", 1, func(tx *sql.Tx, cmd Command) (any, error) {
		var p seqPayload
		if err := cmd.Decode(&p); err != nil {
			return nil, err
		}
		if counted {
			cmd.outbox = nil
		}
		for _, k := range p.Keys {
			if err := Enqueue(tx, cmd, OutboxItem{Kind: "email", Key: k, Payload: []byte(`{}`)}); err != nil {
				return nil, err
			}
		}
		switch {
		case p.Fail:
			return nil, errors.New("asked to fail")
		case p.Panic:
			panic("asked to panic")
		}
		return nil, nil
	})
	return r
}

// TestOutboxNumbersAsCountDid: the FSM's row counter gives every outbox
// row the ID that COUNT(*) gave it, through shared entries, duplicate
// keys, failing and panicking commands, so nodes of both kinds agree.
func TestOutboxNumbersAsCountDid(t *testing.T) {
	t.Parallel()
	at := time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)
	entry := func(idx uint64, cmd Command) *raft.Log {
		cmd.Time = at
		data, err := encodeEntry(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}
	}
	mig, _ := NewCommand(migrateType, 1, "", migratePayload{Targets: []migrateTarget{{"cluster", 1}, {"s", 1}}})
	var envs [][]byte
	for _, p := range []seqPayload{
		{Keys: []string{"a1", "a2"}},
		{Keys: []string{"b1"}, Fail: true},
		{Keys: []string{"a1", "c1"}}, // a1 is a no-op
		{Keys: []string{"d1", "d2"}, Panic: true},
		{Keys: []string{"e1"}},
	} {
		c, _ := NewCommand("s.enq", 1, "bari", p)
		c.Time = at
		env, err := encodeEntry(c)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	raw := make([]any, len(envs))
	for i, e := range envs {
		raw[i] = rawJSON(e)
	}
	batch, _ := NewCommand(batchType, 1, "", raw)
	lone, _ := NewCommand("s.enq", 1, "bari", seqPayload{Keys: []string{"f1", "f2"}})
	logs := []*raft.Log{entry(1, mig), entry(2, batch), entry(3, lone)}

	var dumps []string
	for _, counted := range []bool{false, true} {
		f, err := newFSM(t.TempDir(), seqRegistry(counted), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.close() })
		f.ApplyBatch(logs)
		rows, err := f.db.Query(`SELECT id, key FROM cluster_outbox ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var id, key string
			if err := rows.Scan(&id, &key); err != nil {
				t.Fatal(err)
			}
			got = append(got, id+" "+key)
		}
		rows.Close()
		want := []string{"2-1 a1", "2-2 a2", "2-3 c1", "2-4 e1", "3-1 f1", "3-2 f2"}
		if !slices.Equal(got, want) {
			t.Errorf("counted=%v: outbox rows %q, want %q", counted, got, want)
		}
		dumps = append(dumps, dumpFSM(t, f))
	}
	if d := dumps[0]; d != dumps[1] {
		t.Errorf("the counter and COUNT(*) give different states:\n%s\n---\n%s", dumps[0], dumps[1])
	}
}

// rawJSON marshals as itself.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }
