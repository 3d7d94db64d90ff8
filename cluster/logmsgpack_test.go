package cluster

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// codecMsgpack is how raft-boltdb v2 encodes an entry (its
// encodeMsgPack, with the old time format it uses by default).
func codecMsgpack(t testing.TB, l *raft.Log) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}}
	if err := codec.NewEncoder(&buf, &h).Encode(l); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func checkLogMsgpack(t testing.TB, l *raft.Log) {
	t.Helper()
	want := codecMsgpack(t, l)
	got, err := appendLogMsgpack([]byte("prefix"), l)
	if err != nil {
		t.Fatalf("appendLogMsgpack(%+v): %v", l, err)
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("appendLogMsgpack(%+v):\n got %x\nwant %x", l, got[min(len(got), len("prefix")):], want)
	}
	if n := logMsgpackSize(l); n < len(want) {
		t.Fatalf("logMsgpackSize(%+v) = %d, below the %d bytes written", l, n, len(want))
	}
	var back raft.Log
	if err := codec.NewDecoder(bytes.NewReader(want), new(codec.MsgpackHandle)).Decode(&back); err != nil {
		t.Fatal(err)
	}
	if back.Index != l.Index || back.Term != l.Term || back.Type != l.Type || !bytes.Equal(back.Data, l.Data) || !bytes.Equal(back.Extensions, l.Extensions) || !back.AppendedAt.Equal(l.AppendedAt) {
		t.Fatalf("decoded %+v, want %+v", back, l)
	}
}

func TestLogMsgpackMatchesCodec(t *testing.T) {
	t.Parallel()
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		rome = time.FixedZone("CET", 3600)
	}
	numbers := []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	sizes := []int{-1, 0, 1, 31, 32, 255, 256, 65535, 65536, 70000}
	times := []time.Time{
		{}, time.Date(2026, 11, 27, 15, 0, 0, 123456789, time.UTC), time.Now(), time.Date(2027, 7, 1, 9, 30, 0, 0, rome),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 2996)), // an offset with seconds: the second binary version
	}
	slice := func(n int) []byte {
		if n < 0 {
			return nil
		}
		return bytes.Repeat([]byte{'x'}, n)
	}
	for _, n := range numbers {
		checkLogMsgpack(t, &raft.Log{Index: n, Term: n / 3, Type: raft.LogType(n % 256), Data: []byte(`{"a":1}`)})
	}
	for _, d := range sizes {
		for _, e := range []int{-1, 0, 3, 40} {
			checkLogMsgpack(t, &raft.Log{Index: 7, Term: 2, Type: raft.LogCommand, Data: slice(d), Extensions: slice(e)})
		}
	}
	for _, at := range times {
		checkLogMsgpack(t, &raft.Log{Index: 1 << 20, Term: 9, Type: raft.LogConfiguration, Data: []byte(strings.Repeat("é", 20)), AppendedAt: at})
	}
}

// FuzzLogMsgpack compares appendLogMsgpack with go-msgpack on any entry.
//
//	go test -run '^$' -fuzz FuzzLogMsgpack -fuzztime 60s ./cluster/
func FuzzLogMsgpack(f *testing.F) {
	f.Add(uint64(1), uint64(1), uint8(0), []byte(`{"type":"x"}`), false, []byte(nil), false, int64(0), int32(0), 0)
	f.Add(uint64(300), uint64(70000), uint8(2), []byte(nil), true, []byte{1, 2}, false, int64(1795000000), int32(999), 3600)
	f.Add(uint64(math.MaxUint64), uint64(128), uint8(255), bytes.Repeat([]byte{'a'}, 300), false, []byte{}, false, int64(-62135596800), int32(0), -2996)
	f.Fuzz(func(t *testing.T, index, term uint64, typ uint8, data []byte, nilData bool, ext []byte, nilExt bool, sec int64, nsec int32, offset int) {
		if nilData {
			data = nil
		} else if data == nil {
			data = []byte{}
		}
		if nilExt {
			ext = nil
		}
		var at time.Time
		if sec != 0 || nsec != 0 {
			zone := time.UTC
			if offset != 0 {
				zone = time.FixedZone("Z", offset%(18*3600))
			}
			at = time.Unix(sec, int64(nsec)%1e9).In(zone)
		}
		l := &raft.Log{Index: index, Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext, AppendedAt: at}
		var buf bytes.Buffer
		h := codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}}
		werr := codec.NewEncoder(&buf, &h).Encode(l)
		got, err := appendLogMsgpack(nil, l)
		if (werr != nil) != (err != nil) {
			t.Fatalf("%+v: go-msgpack error %v, ours %v", l, werr, err)
		}
		if werr != nil {
			return
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("%+v:\n got %x\nwant %x", l, got, buf.Bytes())
		}
		if logMsgpackSize(l) < len(got) {
			t.Fatalf("%+v: size %d below %d", l, logMsgpackSize(l), len(got))
		}
	})
}

// TestBoltLogCompat checks that boltLog and raft-boltdb read each other's
// files: entries and stable keys, both ways.
func TestBoltLogCompat(t *testing.T) {
	t.Parallel()
	entries := func(from uint64) []*raft.Log {
		var logs []*raft.Log
		for i := from; i < from+5; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, int(i)*1000),
				AppendedAt: time.Date(2026, 11, 27, 15, 0, int(i), 0, time.UTC)})
		}
		return logs
	}
	same := func(t *testing.T, got raft.Log, want *raft.Log) {
		t.Helper()
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) || !got.AppendedAt.Equal(want.AppendedAt) || len(got.Extensions) != 0 {
			t.Fatalf("entry %d differs: got term %d type %v %d bytes at %v", want.Index, got.Term, got.Type, len(got.Data), got.AppendedAt)
		}
	}
	t.Run("ours then raft-boltdb", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "raft.db")
		ours, err := openBoltLog(path)
		if err != nil {
			t.Fatal(err)
		}
		logs := entries(10)
		if err := ours.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		if err := ours.SetUint64([]byte("CurrentTerm"), 3); err != nil {
			t.Fatal(err)
		}
		if err := ours.Set([]byte("LastVoteCand"), []byte("node1")); err != nil {
			t.Fatal(err)
		}
		if err := ours.DeleteRange(10, 10); err != nil {
			t.Fatal(err)
		}
		ours.Close()
		theirs, err := raftboltdb.NewBoltStore(path)
		if err != nil {
			t.Fatal(err)
		}
		defer theirs.Close()
		if first, _ := theirs.FirstIndex(); first != 11 {
			t.Fatalf("FirstIndex: %d, want 11", first)
		}
		if last, _ := theirs.LastIndex(); last != 14 {
			t.Fatalf("LastIndex: %d, want 14", last)
		}
		for _, want := range logs[1:] {
			var got raft.Log
			if err := theirs.GetLog(want.Index, &got); err != nil {
				t.Fatal(err)
			}
			same(t, got, want)
		}
		if term, err := theirs.GetUint64([]byte("CurrentTerm")); err != nil || term != 3 {
			t.Fatalf("CurrentTerm: %d, %v", term, err)
		}
		if cand, err := theirs.Get([]byte("LastVoteCand")); err != nil || string(cand) != "node1" {
			t.Fatalf("LastVoteCand: %q, %v", cand, err)
		}
	})
	t.Run("raft-boltdb then ours", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "raft.db")
		theirs, err := raftboltdb.NewBoltStore(path)
		if err != nil {
			t.Fatal(err)
		}
		logs := entries(1)
		if err := theirs.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		if err := theirs.SetUint64([]byte("CurrentTerm"), 7); err != nil {
			t.Fatal(err)
		}
		theirs.Close()
		ours, err := openBoltLog(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ours.Close()
		for _, want := range logs {
			var got raft.Log
			if err := ours.GetLog(want.Index, &got); err != nil {
				t.Fatal(err)
			}
			same(t, got, want)
		}
		var got raft.Log
		if err := ours.GetLog(99, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(99): %v, want ErrLogNotFound", err)
		}
		if term, err := ours.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
			t.Fatalf("CurrentTerm: %d, %v", term, err)
		}
		if _, err := ours.Get([]byte("LastVoteTerm")); err == nil || err.Error() != "not found" {
			t.Fatalf("Get of a missing key: %v, want raft's \"not found\"", err)
		}
		// The same entries written again by us: the same bytes in the
		// file as raft-boltdb's.
		for _, l := range logs {
			var theirBytes, ourBytes []byte
			ours.db.View(func(tx *bbolt.Tx) error {
				theirBytes = bytes.Clone(tx.Bucket(boltLogsBucket).Get(boltKey(l.Index)))
				return nil
			})
			if err := ours.StoreLogs([]*raft.Log{l}); err != nil {
				t.Fatal(err)
			}
			ours.db.View(func(tx *bbolt.Tx) error {
				ourBytes = bytes.Clone(tx.Bucket(boltLogsBucket).Get(boltKey(l.Index)))
				return nil
			})
			if !bytes.Equal(theirBytes, ourBytes) {
				t.Fatalf("entry %d: stored bytes differ from raft-boltdb's", l.Index)
			}
		}
	})
}
