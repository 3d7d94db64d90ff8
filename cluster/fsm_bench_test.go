package cluster

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// registerFSMBench wires "fb.book", a stand-in for booking.create as the
// FSM sees it: a payload of about 600 bytes decoded with Command.Decode,
// a point lookup, a row with four secondary indexes, and an outbox item
// of about 1 KB.
func registerFSMBench(r *Registry) {
	r.Migrate(Migration{Component: "fb", Version: 1, SQL: `
CREATE TABLE fb (
	tenant TEXT NOT NULL, id TEXT NOT NULL, code TEXT NOT NULL, service TEXT NOT NULL,
	start INTEGER NOT NULL, person TEXT NOT NULL, office TEXT NOT NULL, body TEXT NOT NULL,
	PRIMARY KEY (tenant, id), UNIQUE (tenant, code)) WITHOUT ROWID;
CREATE INDEX fb_slot ON fb (tenant, service, start);
CREATE INDEX fb_person ON fb (tenant, service, person, start);
CREATE INDEX fb_office ON fb (tenant, office, start);`})
	r.Handle("fb.book", 1, func(tx *sql.Tx, cmd Command) (any, error) {
		var p fsmBenchPayload
		if err := cmd.Decode(&p); err != nil {
			return nil, err
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM fb WHERE tenant = ? AND service = ? AND start = ?`,
			cmd.Tenant, p.Service, p.Start.Unix()).Scan(&n); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(`INSERT INTO fb (tenant, id, code, service, start, person, office, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, cmd.Tenant, p.ID, p.Code, p.Service, p.Start.Unix(), p.Person,
			"anagrafe", p.Body); err != nil {
			return nil, err
		}
		notice, _ := json.Marshal(map[string]any{"payload": p, "text": strings.Repeat("x", 400)})
		if err := Enqueue(tx, cmd, OutboxItem{Kind: "email", Key: "fb/" + cmd.Tenant + "/" + p.ID + "/0/confirm", Payload: notice}); err != nil {
			return nil, err
		}
		return map[string]string{"id": p.ID, "code": p.Code}, nil
	})
}

type fsmBenchPayload struct {
	ID      string    `json:"id"`
	Code    string    `json:"code"`
	Service string    `json:"service"`
	Start   time.Time `json:"start"`
	Person  string    `json:"person"`
	Body    string    `json:"body"`
}

// BenchmarkFSMApply measures the FSM alone, the work every node does for
// every command: shared entries of 50 "fb.book" commands, each with its
// request ID, applied with ApplyBatch as raft hands them over. It
// reports the CPU time of apply per command, the figure that three nodes
// on one machine pay three times.
//
//	go test ./cluster/ -run '^$' -bench FSMApply -benchtime 400x
func BenchmarkFSMApply(b *testing.B) {
	const perEntry = 50
	f, err := newFSM(b.TempDir(), func() *Registry { r := NewRegistry(); registerFSMBench(r); return r }(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	at := time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)
	entry := func(idx uint64, cmd Command) *raft.Log {
		cmd.Time = at
		data, err := encodeEntry(cmd)
		if err != nil {
			b.Fatal(err)
		}
		return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}
	}
	mig, _ := NewCommand(migrateType, 1, "", migratePayload{Targets: []migrateTarget{{"cluster", len(f.migrations["cluster"])}, {"fb", 1}}})
	f.ApplyBatch([]*raft.Log{entry(1, mig)})
	logs := make([]*raft.Log, b.N)
	seq := 0
	for i := range logs {
		envs := make([]json.RawMessage, perEntry)
		for j := range envs {
			seq++
			c, _ := NewCommand("fb.book", 1, "bari", fsmBenchPayload{
				ID: fmt.Sprintf("%012x%020d", at.UnixMilli(), seq), Code: fmt.Sprintf("C%09d", seq*7919%1000000007),
				Service: "cie", Start: at.Add(time.Duration(seq%4000) * 5 * time.Minute),
				Person: fmt.Sprintf("RSSMRA%010d", seq*104729%1000000007), Body: strings.Repeat("d", 200),
			})
			c.Time = at
			c.RequestID = fmt.Sprintf("%012x%020d", at.UnixMilli(), seq)
			env, err := encodeEntry(c)
			if err != nil {
				b.Fatal(err)
			}
			envs[j] = env
		}
		batch, _ := NewCommand(batchType, 1, "", envs)
		logs[i] = entry(uint64(i+2), batch)
	}
	b.ResetTimer()
	for i := range logs {
		// Raft hands the FSM a few entries at a time; one is the worst
		// case for the per-transaction costs.
		for _, r := range f.ApplyBatch(logs[i : i+1]) {
			for _, c := range r.(*batchResponse).resps {
				if c.Err != nil {
					b.Fatal(c.Err)
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*perEntry), "µs/cmd")
}
