package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestBatchEntryBytes checks that the batcher writes a shared entry as
// encodeTrusted and encodeEntry (json.Marshal) write the cluster.batch
// command: the same bytes in the raft log as before.
func TestBatchEntryBytes(t *testing.T) {
	t.Parallel()
	b := &batcher{}
	rome := time.FixedZone("CET", 3600)
	for _, n := range []int{2, 3, 50} {
		for _, at := range []time.Time{
			time.Date(2026, 11, 27, 15, 4, 5, 123456789, time.UTC),
			time.Date(2027, 3, 11, 9, 0, 0, 0, rome),
		} {
			var batch []proposal
			var envs []json.RawMessage
			for i := range n {
				cmd, err := NewCommand("fb.book", 1, "bari", map[string]any{"id": fmt.Sprint(i), "note": "città <&>"})
				if err != nil {
					t.Fatal(err)
				}
				cmd.Time = at.Add(time.Duration(i) * time.Millisecond)
				cmd.RequestID = fmt.Sprintf("r%03d", i)
				env, err := encodeEntry(cmd)
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, proposal{at: cmd.Time, data: env})
				envs = append(envs, env)
			}
			got, err := b.entry(batch)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := json.Marshal(envs)
			if err != nil {
				t.Fatal(err)
			}
			batchCmd := Command{Type: batchType, Version: 1, Time: at, Payload: payload}
			trusted, err := encodeTrusted(batchCmd)
			if err != nil {
				t.Fatal(err)
			}
			viaJSON, err := encodeEntry(batchCmd)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, trusted) || !bytes.Equal(got, viaJSON) {
				t.Fatalf("%d commands at %v:\n      got %s\nencodeTrusted %s\n encodeEntry %s", n, at, got, trusted, viaJSON)
			}
			if len(got) != cap(got) {
				t.Errorf("%d commands: entry of %d bytes in a buffer of %d", n, len(got), cap(got))
			}
		}
	}
	if _, err := b.entry([]proposal{{at: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), data: []byte(`{}`)}, {data: []byte(`{}`)}}); err == nil {
		t.Error("a time encoding/json refuses: got no error")
	}
}
