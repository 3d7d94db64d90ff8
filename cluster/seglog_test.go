package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// segEntry is the test entry at index i: its data names i, so a mix-up
// shows.
func segEntry(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand, Data: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", int(i%7)*10)),
		AppendedAt: time.Unix(1795000000, int64(i)*1001)}
}

func segEntries(from, to uint64) []*raft.Log {
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, segEntry(i))
	}
	return logs
}

func sameLog(got raft.Log, want *raft.Log) bool {
	return got.Index == want.Index && got.Term == want.Term && got.Type == want.Type &&
		bytes.Equal(got.Data, want.Data) && bytes.Equal(got.Extensions, want.Extensions) &&
		got.AppendedAt.Equal(want.AppendedAt) && got.AppendedAt.IsZero() == want.AppendedAt.IsZero()
}

func openSegLogT(t testing.TB, dir string, segSize int64) *segLog {
	t.Helper()
	s, err := openSegLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if segSize > 0 {
		s.segmentSize = segSize
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkSegRange checks that s holds exactly segEntry(first..last).
func checkSegRange(t *testing.T, what string, s *segLog, first, last uint64) {
	t.Helper()
	gotFirst, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	gotLast, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if gotFirst != first || gotLast != last {
		t.Fatalf("%s: indexes %d..%d, want %d..%d", what, gotFirst, gotLast, first, last)
	}
	if last == 0 {
		return
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("%s: GetLog(%d): %v", what, i, err)
		}
		if want := segEntry(i); !sameLog(got, want) {
			t.Fatalf("%s: GetLog(%d) = %+v, want %+v", what, i, got, want)
		}
	}
	for _, i := range []uint64{first - 1, last + 1} {
		if err := s.GetLog(i, new(raft.Log)); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("%s: GetLog(%d) outside the log: %v, want ErrLogNotFound", what, i, err)
		}
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestSegLogRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 0)
	logs := []*raft.Log{
		{Index: 5, Term: 1<<40 + 3, Type: raft.LogConfiguration, Data: []byte("conf"), Extensions: []byte("ext-bytes"),
			AppendedAt: time.Date(2026, 11, 27, 15, 0, 0, 123456789, time.UTC)},
		{Index: 6, Term: 2, Type: raft.LogCommand}, // no data, zero time
		{Index: 7, Term: 2, Type: raft.LogBarrier, Data: bytes.Repeat([]byte{0, 0xff}, 40000), AppendedAt: time.Unix(0, 1)},
		{Index: 8, Term: 2, Type: raft.LogType(255), Extensions: []byte{1}, AppendedAt: time.Date(1900, 1, 1, 0, 0, 0, 7, time.UTC)},
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	check := func(s *segLog) {
		t.Helper()
		for _, want := range logs {
			var got raft.Log
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatal(err)
			}
			if !sameLog(got, want) {
				t.Fatalf("GetLog(%d) = %+v, want %+v", want.Index, got, want)
			}
		}
		if f, _ := s.FirstIndex(); f != 5 {
			t.Fatalf("FirstIndex = %d, want 5", f)
		}
		if l, _ := s.LastIndex(); l != 8 {
			t.Fatalf("LastIndex = %d, want 8", l)
		}
	}
	check(s)
	// The entry read back must not share memory with another read.
	var a, b raft.Log
	s.GetLog(5, &a)
	s.GetLog(5, &b)
	a.Data[0] = 'X'
	if string(b.Data) != "conf" {
		t.Fatalf("two reads share Data: %q", b.Data)
	}
	s.Close()
	check(openSegLogT(t, dir, 0))
}

func TestSegLogSegmentsAndReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 512)
	var next uint64 = 1
	for n := 1; next <= 200; n = n%7 + 1 {
		last := min(next+uint64(n)-1, 200)
		if err := s.StoreLogs(segEntries(next, last)); err != nil {
			t.Fatal(err)
		}
		next = last + 1
	}
	checkSegRange(t, "stored", s, 1, 200)
	files := segFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("%d segment files, want several with 512-byte segments", len(files))
	}
	if filepath.Base(files[0]) != segName(1) {
		t.Fatalf("first segment %s, want %s", filepath.Base(files[0]), segName(1))
	}
	s.Close()
	if err := s.GetLog(1, new(raft.Log)); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetLog after Close: %v, want ErrClosed", err)
	}
	if err := s.StoreLogs(segEntries(201, 201)); !errors.Is(err, ErrClosed) {
		t.Fatalf("StoreLogs after Close: %v, want ErrClosed", err)
	}
	s = openSegLogT(t, dir, 512)
	if s.repaired != "" {
		t.Fatalf("clean reopen repaired: %s", s.repaired)
	}
	checkSegRange(t, "reopened", s, 1, 200)
	if err := s.StoreLogs(segEntries(201, 210)); err != nil {
		t.Fatal(err)
	}
	checkSegRange(t, "appended after reopen", s, 1, 210)
}

func TestSegLogRefusesGaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 0)
	if err := s.StoreLogs(segEntries(10, 12)); err != nil {
		t.Fatal(err)
	}
	sizeBefore := func() int64 {
		st, err := os.Stat(segFiles(t, dir)[0])
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := sizeBefore()
	for _, bad := range [][]*raft.Log{
		segEntries(14, 15),                         // a gap after the last
		segEntries(12, 13),                         // overlaps the last
		{segEntry(13), segEntry(15)},               // not consecutive inside
		{segEntry(13), segEntry(14), segEntry(14)}, // repeated
	} {
		if err := s.StoreLogs(bad); err == nil {
			t.Fatalf("StoreLogs(%d..%d) accepted", bad[0].Index, bad[len(bad)-1].Index)
		}
	}
	if after := sizeBefore(); after != before {
		t.Fatalf("refused StoreLogs wrote: file %d bytes, was %d", after, before)
	}
	checkSegRange(t, "after refusals", s, 10, 12)
}

func TestSegLogDeleteHead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 400)
	if err := s.StoreLogs(segEntries(1, 60)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(61); i <= 120; i += 6 {
		if err := s.StoreLogs(segEntries(i, i+5)); err != nil {
			t.Fatal(err)
		}
	}
	nFiles := len(segFiles(t, dir))
	if err := s.DeleteRange(1, 90); err != nil {
		t.Fatal(err)
	}
	checkSegRange(t, "head deleted", s, 91, 120)
	if n := len(segFiles(t, dir)); n >= nFiles {
		t.Fatalf("%d segment files after compaction, was %d: none removed", n, nFiles)
	}
	// Raft also passes a min below the first index.
	if err := s.DeleteRange(50, 95); err != nil {
		t.Fatal(err)
	}
	checkSegRange(t, "head deleted again", s, 96, 120)
	s.Close()
	s = openSegLogT(t, dir, 400)
	checkSegRange(t, "reopened", s, 96, 120)
	if err := s.DeleteRange(100, 110); err == nil {
		t.Fatal("DeleteRange strictly inside the log: got nil error")
	}
	checkSegRange(t, "after a refused delete", s, 96, 120)
}

func TestSegLogDeleteTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 300)
	for i := uint64(1); i <= 80; i += 4 {
		if err := s.StoreLogs(segEntries(i, i+3)); err != nil {
			t.Fatal(err)
		}
	}
	files := segFiles(t, dir)
	// One cut inside a segment, one at a segment's first entry.
	third, _ := parseSegName(filepath.Base(files[2]))
	for _, min := range []uint64{70, third} {
		if err := s.DeleteRange(min, 1000); err != nil {
			t.Fatal(err)
		}
		checkSegRange(t, fmt.Sprintf("tail from %d deleted", min), s, 1, min-1)
		// Raft stores the leader's entries from min on.
		other := &raft.Log{Index: min, Term: 99, Type: raft.LogCommand, Data: []byte("leader's")}
		if err := s.StoreLogs([]*raft.Log{other}); err != nil {
			t.Fatal(err)
		}
		var got raft.Log
		if err := s.GetLog(min, &got); err != nil || got.Term != 99 {
			t.Fatalf("GetLog(%d) after the new entry: %+v, %v", min, got, err)
		}
		if err := s.DeleteRange(min, min); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.StoreLogs(segEntries(third, third+2)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSegLogT(t, dir, 300)
	checkSegRange(t, "reopened", s, 1, third+2)
}

func TestSegLogDeleteEverything(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"head", "exact"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openSegLogT(t, dir, 300)
			if err := s.StoreLogs(segEntries(100, 140)); err != nil {
				t.Fatal(err)
			}
			min, max := uint64(1), uint64(5000) // a snapshot past the log
			if name == "exact" {
				min, max = 100, 140
			}
			if err := s.DeleteRange(min, max); err != nil {
				t.Fatal(err)
			}
			checkSegRange(t, "emptied", s, 0, 0)
			if n := len(segFiles(t, dir)); n != 0 {
				t.Fatalf("%d segment files left", n)
			}
			s.Close()
			s = openSegLogT(t, dir, 300)
			checkSegRange(t, "emptied, reopened", s, 0, 0)
			// Any index may follow, below or above what was there.
			at := uint64(20)
			if name == "exact" {
				at = 1 << 30
			}
			if err := s.StoreLogs(segEntries(at, at+9)); err != nil {
				t.Fatal(err)
			}
			checkSegRange(t, "restarted", s, at, at+9)
			s.Close()
			s = openSegLogT(t, dir, 300)
			checkSegRange(t, "restarted, reopened", s, at, at+9)
		})
	}
}

// writeSegLog fills a fresh log in dir with entries 1..n over small
// segments and closes it.
func writeSegLog(t *testing.T, dir string, n uint64) []string {
	t.Helper()
	s := openSegLogT(t, dir, 400)
	for i := uint64(1); i <= n; i += 3 {
		if err := s.StoreLogs(segEntries(i, min(i+2, n))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	files := segFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want at least 3", len(files))
	}
	return files
}

// lastRecordOffset returns where the last record of a segment file
// starts.
func lastRecordOffset(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := &segment{f: f}
	if _, bad, err := scanSegment(g, 0, nil); err != nil || bad != nil {
		t.Fatalf("scan %s: %v %v", path, bad, err)
	}
	return g.offs[len(g.offs)-1]
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSegLogTornTail(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, last string){
		"truncated body": func(t *testing.T, last string) {
			st, _ := os.Stat(last)
			if err := os.Truncate(last, st.Size()-3); err != nil {
				t.Fatal(err)
			}
		},
		"truncated header": func(t *testing.T, last string) {
			if err := os.Truncate(last, lastRecordOffset(t, last)+5); err != nil {
				t.Fatal(err)
			}
		},
		"flipped byte": func(t *testing.T, last string) {
			flipByte(t, last, lastRecordOffset(t, last)+segHeaderLen+20)
		},
		"zeroed tail": func(t *testing.T, last string) {
			f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(make([]byte, 4096))
			f.Close()
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := writeSegLog(t, dir, 50)
			damage(t, files[len(files)-1])
			s := openSegLogT(t, dir, 400)
			if s.repaired == "" {
				t.Fatal("reopen after a torn write: repaired is empty")
			}
			want := uint64(49)
			if name == "zeroed tail" {
				want = 50
			}
			checkSegRange(t, "repaired", s, 1, want)
			if err := s.StoreLogs(segEntries(want+1, want+5)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = openSegLogT(t, dir, 400)
			if s.repaired != "" {
				t.Fatalf("second reopen repaired again: %s", s.repaired)
			}
			checkSegRange(t, "continued", s, 1, want+5)
		})
	}
}

// TestSegLogTornOnlyRecord checks that a last segment whose one record is
// torn goes away whole, and the log continues from the previous segment.
func TestSegLogTornOnlyRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 1)
	for i := uint64(1); i <= 5; i++ {
		if err := s.StoreLogs(segEntries(i, i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	files := segFiles(t, dir)
	if len(files) != 5 {
		t.Fatalf("%d segments, want one per entry", len(files))
	}
	if err := os.Truncate(files[4], 10); err != nil {
		t.Fatal(err)
	}
	s = openSegLogT(t, dir, 1)
	if s.repaired == "" {
		t.Fatal("repaired is empty")
	}
	checkSegRange(t, "repaired", s, 1, 4)
	if n := len(segFiles(t, dir)); n != 4 {
		t.Fatalf("%d segments after the repair, want 4", n)
	}
	if err := s.StoreLogs(segEntries(5, 6)); err != nil {
		t.Fatal(err)
	}
	checkSegRange(t, "continued", s, 1, 6)
}

func TestSegLogCorruption(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, dir string, files []string){
		"earlier segment": func(t *testing.T, dir string, files []string) {
			flipByte(t, files[1], segHeaderLen+20)
		},
		"earlier segment truncated": func(t *testing.T, dir string, files []string) {
			st, _ := os.Stat(files[0])
			os.Truncate(files[0], st.Size()-2)
		},
		"middle of the last segment": func(t *testing.T, dir string, files []string) {
			flipByte(t, files[len(files)-1], segHeaderLen+20)
		},
		"segment missing": func(t *testing.T, dir string, files []string) {
			os.Remove(files[1])
		},
		"meta": func(t *testing.T, dir string, files []string) {
			flipByte(t, filepath.Join(dir, segMetaName), 10)
		},
		"meta missing": func(t *testing.T, dir string, files []string) {
			os.Remove(filepath.Join(dir, segMetaName))
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := writeSegLog(t, dir, 50)
			damage(t, dir, files)
			s, err := openSegLog(dir)
			if err == nil {
				s.Close()
				t.Fatal("open over a corrupt log: got nil error")
			}
		})
	}
}

func TestSegLogStable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 0)
	if _, err := s.Get([]byte("LastVoteCand")); err == nil || err.Error() != "not found" || !errors.Is(err, errKeyNotFound) {
		t.Fatalf("Get of a missing key: %v, want raft's \"not found\"", err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64 of a missing key: %v, want raft's \"not found\"", err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 1<<33+7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("any key\x00"), []byte{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node3")); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(segEntries(1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	check := func(s *segLog) {
		t.Helper()
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 1<<33+7 {
			t.Fatalf("CurrentTerm = %d, %v", v, err)
		}
		if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "node3" {
			t.Fatalf("LastVoteCand = %q, %v", v, err)
		}
		if v, err := s.Get([]byte("any key\x00")); err != nil || len(v) != 0 {
			t.Fatalf("empty value = %q, %v", v, err)
		}
		checkSegRange(t, "with keys", s, 3, 3)
	}
	check(s)
	s.Close()
	check(openSegLogT(t, dir, 0))
	// Stored the way boltLog stores it, so values move between them.
	b, err := openBoltLog(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, boltErr := b.Get([]byte("LastVoteCand"))
	_, segErr := openSegLogT(t, t.TempDir(), 0).Get([]byte("LastVoteCand"))
	if !errors.Is(segErr, boltErr) || segErr.Error() != boltErr.Error() {
		t.Fatalf("missing key: segLog %v, boltLog %v", segErr, boltErr)
	}
}

// TestSegLogConcurrent reads while one goroutine stores, deletes heads
// and tails and rewrites; under -race it checks the locking, and every
// entry read must be the one asked for.
func TestSegLogConcurrent(t *testing.T) {
	t.Parallel()
	s := openSegLogT(t, t.TempDir(), 2000)
	if err := s.StoreLogs(segEntries(1, 10)); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var reads atomic.Int64
	// enough is closed by the reader that makes the 100th good read.
	enough := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !done.Load(); n++ {
				first, err := s.FirstIndex()
				if err != nil {
					errs <- err
					return
				}
				last, err := s.LastIndex()
				if err != nil {
					errs <- err
					return
				}
				if last < first {
					continue
				}
				i := first + uint64(n*7+r)%(last-first+1)
				var got raft.Log
				switch err := s.GetLog(i, &got); {
				case errors.Is(err, raft.ErrLogNotFound):
					// Deleted since: compaction or a tail cut.
				case err != nil:
					errs <- err
					return
				case got.Index != i || !bytes.Equal(got.Data, segEntry(i).Data):
					errs <- fmt.Errorf("GetLog(%d) = entry %d %q", i, got.Index, got.Data)
					return
				default:
					if reads.Add(1) == 100 {
						close(enough)
					}
				}
			}
		}()
	}
	next := uint64(11)
	for round := range 300 {
		if err := s.StoreLogs(segEntries(next, next+4)); err != nil {
			t.Fatal(err)
		}
		next += 5
		switch round % 10 {
		case 3:
			if err := s.DeleteRange(next-3, next-1); err != nil {
				t.Fatal(err)
			}
			next -= 3
		case 7:
			first, _ := s.FirstIndex()
			if err := s.DeleteRange(first, next-20); err != nil {
				t.Fatal(err)
			}
		case 9:
			if err := s.rewrite(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The readers must have had a chance to read, unless one failed.
	select {
	case <-enough:
	case err := <-errs:
		errs <- err
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestSegLogErasure checks that after a head deletion and rewrite no byte
// of the deleted entries is left in any file of the log.
func TestSegLogErasure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSegLogT(t, dir, 4096)
	const canary = "CANARY-Mario-Rossi-RSSMRA80A01H501U"
	entry := func(i uint64) *raft.Log {
		l := segEntry(i)
		if i <= 40 {
			l.Data = fmt.Appendf(nil, `{"n":%d,"name":%q}`, i, canary)
			l.Extensions = []byte(canary)
		}
		return l
	}
	for i := uint64(1); i <= 60; i += 5 {
		var logs []*raft.Log
		for j := i; j < i+5; j++ {
			logs = append(logs, entry(j))
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 4); err != nil {
		t.Fatal(err)
	}
	scan := func() (found []string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(canary)) {
				found = append(found, e.Name())
			}
		}
		return found
	}
	if len(scan()) == 0 {
		t.Fatal("canary not found before the deletion: the scan cannot fail")
	}
	if err := s.DeleteRange(1, 40); err != nil {
		t.Fatal(err)
	}
	if len(scan()) == 0 {
		t.Fatal("canary gone before rewrite: the test no longer covers a hidden entry")
	}
	if err := s.rewrite(); err != nil {
		t.Fatal(err)
	}
	if found := scan(); len(found) > 0 {
		t.Fatalf("canary still in %v after rewrite", found)
	}
	checkSegRange(t, "rewritten", s, 41, 60)
	if err := s.StoreLogs(segEntries(61, 65)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSegLogT(t, dir, 4096)
	checkSegRange(t, "reopened", s, 41, 65)
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 4 {
		t.Fatalf("CurrentTerm = %d, %v", v, err)
	}
}

// oldBoltLog creates, in a new data folder, the raft.db a version before
// the segments wrote (raft-boltdb's own store), and returns it with the
// paths of the file and of the segments' folder.
func oldBoltLog(t *testing.T) (old *raftboltdb.BoltStore, boltPath, dir string) {
	t.Helper()
	data := t.TempDir()
	boltPath = filepath.Join(data, "raft.db")
	old, err := raftboltdb.NewBoltStore(boltPath)
	if err != nil {
		t.Fatal(err)
	}
	return old, boltPath, filepath.Join(data, "raftlog")
}

func TestSegLogMigrate(t *testing.T) {
	t.Parallel()
	old, boltPath, dir := oldBoltLog(t)
	// More than one chunk, after a compaction.
	for i := uint64(1); i <= 700; i += 100 {
		if err := old.StoreLogs(segEntries(i, i+99)); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.DeleteRange(1, 30); err != nil {
		t.Fatal(err)
	}
	old.SetUint64([]byte("CurrentTerm"), 12)
	old.SetUint64([]byte("LastVoteTerm"), 11)
	old.Set([]byte("LastVoteCand"), []byte("node2"))
	old.Close()

	// A crash during an earlier migration left a partial copy.
	if err := os.MkdirAll(dir+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir+".tmp", segName(1)), []byte("partial"), 0o600)

	if migrated, err := migrateBoltLog(boltPath, dir); err != nil || !migrated {
		t.Fatalf("migrateBoltLog = %v, %v; want true, nil", migrated, err)
	}
	if _, err := os.Stat(dir + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s.tmp left: %v", dir, err)
	}
	check := func() {
		t.Helper()
		s := openSegLogT(t, dir, 0)
		checkSegRange(t, "migrated", s, 31, 700)
		for k, want := range map[string]uint64{"CurrentTerm": 12, "LastVoteTerm": 11} {
			if v, err := s.GetUint64([]byte(k)); err != nil || v != want {
				t.Fatalf("%s = %d, %v; want %d", k, v, err, want)
			}
		}
		if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "node2" {
			t.Fatalf("LastVoteCand = %q, %v", v, err)
		}
		s.Close()
	}
	check()
	note, err := os.ReadFile(boltPath)
	if err != nil || !bytes.HasPrefix(note, []byte(migratedMarker)) {
		t.Fatalf("raft.db after migration: %q, %v", note, err)
	}
	if db, err := bbolt.Open(boltPath, 0o600, &bbolt.Options{Timeout: time.Second}); err == nil {
		db.Close()
		t.Fatal("bbolt opens raft.db after the migration: an older binary would start with an empty log")
	}
	// Again: nothing to do.
	if migrated, err := migrateBoltLog(boltPath, dir); err != nil || migrated {
		t.Fatalf("migrateBoltLog again = %v, %v; want false, nil", migrated, err)
	}
	if again, _ := os.ReadFile(boltPath); !bytes.Equal(again, note) {
		t.Fatal("second migration changed raft.db")
	}
	check()
}

// TestSegLogMigrateAfterRename covers a crash between the rename of the
// copy and the replacement of raft.db, and a missing log.
func TestSegLogMigrateAfterRename(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	boltPath := filepath.Join(data, "raft.db")
	dir := filepath.Join(data, "raftlog")
	old, err := openBoltLog(boltPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.StoreLogs(segEntries(1, 5)); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if err := copyBoltLog(boltPath, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := migrateBoltLog(boltPath, dir); err != nil {
		t.Fatal(err)
	}
	if note, _ := os.ReadFile(boltPath); !bytes.HasPrefix(note, []byte(migratedMarker)) {
		t.Fatalf("raft.db beside a migrated log not replaced: %q", note[:min(len(note), 40)])
	}
	checkSegRange(t, "migrated", openSegLogT(t, dir, 0), 1, 5)

	// A fresh data dir: nothing to migrate, but the note goes in, so
	// that an older binary refuses the dir instead of bootstrapping.
	fresh := t.TempDir()
	if migrated, err := migrateBoltLog(filepath.Join(fresh, "raft.db"), filepath.Join(fresh, "raftlog")); err != nil || migrated {
		t.Fatalf("migrateBoltLog on a fresh dir = %v, %v; want false, nil", migrated, err)
	}
	if note, _ := os.ReadFile(filepath.Join(fresh, "raft.db")); !bytes.HasPrefix(note, []byte(migratedMarker)) {
		t.Fatalf("fresh dir: raft.db = %q, want the note", note)
	}
	if db, err := bbolt.Open(filepath.Join(fresh, "raft.db"), 0o600, &bbolt.Options{Timeout: time.Second}); err == nil {
		db.Close()
		t.Fatal("bbolt opened the note of a fresh dir")
	}
	// The note without the log: refuse rather than start empty.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := migrateBoltLog(boltPath, dir); err == nil {
		t.Fatal("migration with the note but no raftlog: got nil error")
	}
}

// BenchmarkLogAppend measures one StoreLogs of 50 entries of 1 KB with
// fsync on, as raft's main loop does for a batch: bolt (two fsyncs, page
// copies) against segments (one write, one fdatasync).
//
//	go test ./cluster/ -run '^$' -bench LogAppend -benchtime 200x -count 3
func BenchmarkLogAppend(b *testing.B) {
	const batch = 50
	data := bytes.Repeat([]byte("0123456789abcdef"), 1024/16)
	run := func(b *testing.B, store interface{ StoreLogs([]*raft.Log) error }) {
		b.ReportAllocs()
		logs := make([]*raft.Log, batch)
		var next uint64 = 1
		b.ResetTimer()
		for range b.N {
			for j := range logs {
				logs[j] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
				next++
			}
			if err := store.StoreLogs(logs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
	}
	b.Run("bolt", func(b *testing.B) {
		s, err := openBoltLog(filepath.Join(b.TempDir(), "raft.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("seg", func(b *testing.B) {
		s, err := openSegLog(filepath.Join(b.TempDir(), "raftlog"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
}

// TestSegLogInterruptedHeadDelete opens a log whose meta already has the
// new first index while the compacted segments are still there (a crash
// inside deleteHead), and leftover temporary files.
func TestSegLogInterruptedHeadDelete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := writeSegLog(t, dir, 50)
	third, _ := parseSegName(filepath.Base(files[2]))
	if err := writeSegMeta(dir, third+1, map[string][]byte{"CurrentTerm": boltKey(3)}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"meta.tmp", segName(third) + ".tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left by a crash"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := openSegLogT(t, dir, 400)
	checkSegRange(t, "recovered", s, third+1, 50)
	left := segFiles(t, dir)
	if len(left) != len(files)-2 || left[0] != files[2] {
		t.Fatalf("segments after recovery: %v, want those from %s on", left, filepath.Base(files[2]))
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 3 {
		t.Fatalf("CurrentTerm = %d, %v", v, err)
	}
}

// TestSegLogMigrateGap moves a bolt log with a gap, as raft left one
// when it installed a snapshot over kept entries of a store it did not
// know to be monotonic: only the entries after the gap move, and the
// segments take entries after them.
func TestSegLogMigrateGap(t *testing.T) {
	t.Parallel()
	old, boltPath, dir := oldBoltLog(t)
	if err := old.StoreLogs(segEntries(41, 44)); err != nil {
		t.Fatal(err)
	}
	if err := old.StoreLogs(segEntries(85, 90)); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if migrated, err := migrateBoltLog(boltPath, dir); err != nil || !migrated {
		t.Fatalf("migrateBoltLog = %v, %v; want true, nil", migrated, err)
	}
	s := openSegLogT(t, dir, 0)
	checkSegRange(t, "after the gap", s, 85, 90)
	if first, _ := s.FirstIndex(); first != 85 {
		t.Errorf("FirstIndex %d, want 85", first)
	}
	var l raft.Log
	if err := s.GetLog(44, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Errorf("GetLog(44) before the gap: %v, want ErrLogNotFound", err)
	}
	if err := s.StoreLogs(segEntries(91, 92)); err != nil {
		t.Fatal(err)
	}
}
