package cluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointerCopiesTheWAL: the FSM's commits leave the WAL to the
// checkpointer. With the backstop far away, the commits alone never copy
// pages into the database file; the checkpointer does, in the background,
// and the data reads the same.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	t.Parallel()
	f := newTestFSM(t)
	path := filepath.Join(f.dir, stateFile)
	var autockpt int
	if err := f.db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&autockpt); err != nil {
		t.Fatal(err)
	}
	if autockpt != checkpointBackstop {
		t.Fatalf("the FSM's connection checkpoints every %d pages, want the backstop %d", autockpt, checkpointBackstop)
	}
	before := fileSize(t, path)
	logs := testLog(t)
	f.ApplyBatch(logs)
	want := dumpFSM(t, f)
	// The commit wrote the WAL; wait for the checkpointer to copy it.
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("state.db stayed at %d bytes: nothing checkpointed the WAL", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var busy, logFrames, done int
	if err := f.ckpt.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 || done != logFrames {
		t.Errorf("after the checkpointer: busy %d, %d of %d frames copied; want every frame", busy, done, logFrames)
	}
	if got := dumpFSM(t, f); got != want {
		t.Errorf("the state changed across the checkpoint:\n%s\nwant\n%s", got, want)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
