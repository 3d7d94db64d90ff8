package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// TestLogStoreRecent checks that the entries logStore answers from memory
// are those of the file: the same fields as a fresh store reads back,
// none left after DeleteRange, a rewrite or Close.
func TestLogStoreRecent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "raft.db")
	l, err := openLogStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	entry := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	// More than recentLogs, one by one and in groups, so that the ring
	// wraps and older entries come from the file.
	var next uint64 = 1
	for next <= 2*recentLogs+5 {
		if next%3 == 0 {
			if err := l.StoreLog(entry(next)); err != nil {
				t.Fatal(err)
			}
			next++
			continue
		}
		batch := []*raft.Log{entry(next), entry(next + 1)}
		if err := l.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
		next += 2
	}
	last := next - 1
	check := func(what string, l *logStore, from, to uint64) {
		t.Helper()
		for i := from; i <= to; i++ {
			var got raft.Log
			if err := l.GetLog(i, &got); err != nil {
				t.Fatalf("%s: GetLog(%d): %v", what, i, err)
			}
			want := entry(i)
			if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("%s: GetLog(%d) = %+v, want %+v", what, i, got, want)
			}
		}
	}
	check("stored", l, 1, last)
	if !l.getRecent(last, new(raft.Log)) || l.getRecent(last-recentLogs, new(raft.Log)) {
		t.Fatalf("recent entries: want the last %d only", recentLogs)
	}

	// A follower whose suffix conflicts with the leader's deletes it and
	// stores other entries at the same indexes.
	if err := l.DeleteRange(last-3, last); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := l.GetLog(last, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog of a deleted entry: %v, want ErrLogNotFound", err)
	}
	other := &raft.Log{Index: last - 3, Term: 3, Type: raft.LogCommand, Data: []byte(`{"other":true}`)}
	if err := l.StoreLogs([]*raft.Log{other}); err != nil {
		t.Fatal(err)
	}
	if err := l.GetLog(last-3, &got); err != nil || got.Term != 3 || string(got.Data) != `{"other":true}` {
		t.Fatalf("GetLog after overwrite: %+v, %v", got, err)
	}

	if err := l.rewrite(); err != nil {
		t.Fatal(err)
	}
	if l.getRecent(last-3, new(raft.Log)) {
		t.Fatal("recent entries kept across a rewrite")
	}
	check("rewritten", l, 1, last-4)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.GetLog(last-4, &got); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetLog after Close: %v, want ErrClosed", err)
	}
	fresh, err := openLogStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	check("reopened", fresh, 1, last-4)
	if err := fresh.GetLog(last-3, &got); err != nil || got.Term != 3 {
		t.Fatalf("reopened: GetLog(%d) = %+v, %v", last-3, got, err)
	}
}

// BenchmarkLogStoreEntry measures the log store's CPU for one shared
// entry of 50 bookings (about 50 KB) as a leader of three handles it:
// stored once, read back once per follower to send it. fsync is off
// (the disk's wait is not CPU); "raft-boltdb" is the store used before.
//
//	go test ./cluster/ -run '^$' -bench LogStoreEntry -benchmem
func BenchmarkLogStoreEntry(b *testing.B) {
	data := bytes.Repeat([]byte(`{"type":"booking.create","v":3,"payload":{"x":"abcdefghij"}},`), 50*1000/60)
	run := func(b *testing.B, store raft.LogStore) {
		b.ReportAllocs()
		for i := range b.N {
			l := &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
			if err := store.StoreLogs([]*raft.Log{l}); err != nil {
				b.Fatal(err)
			}
			for range 2 {
				var got raft.Log
				if err := store.GetLog(l.Index, &got); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("store=raft-boltdb", func(b *testing.B) {
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(b.TempDir(), "raft.db"), NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("store=logStore", func(b *testing.B) {
		l, err := openLogStore(filepath.Join(b.TempDir(), "raft.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		if b, ok := l.s.(*boltLog); ok {
			b.db.NoSync = true
		}
		run(b, l)
	})
}

// TestLogStoreIsMonotonic checks that raft sees the store as monotonic:
// the segments refuse a gap, so raft must delete the log after a snapshot
// install rather than store the next entries after a gap.
func TestLogStoreIsMonotonic(t *testing.T) {
	t.Parallel()
	l, err := openLogStore(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var store raft.LogStore = l
	m, ok := store.(raft.MonotonicLogStore)
	if !ok || !m.IsMonotonic() {
		t.Fatal("logStore is not a monotonic raft.LogStore")
	}
	if err := l.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs([]*raft.Log{{Index: 5, Term: 1}}); err == nil {
		t.Fatal("a gap after entry 2 was stored")
	}
	// What raft does after installing a snapshot at 4 (removeOldLogs).
	if err := l.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs([]*raft.Log{{Index: 5, Term: 2}}); err != nil {
		t.Fatalf("entry 5 after the log was emptied: %v", err)
	}
	if first, _ := l.FirstIndex(); first != 5 {
		t.Errorf("FirstIndex %d, want 5", first)
	}
}
