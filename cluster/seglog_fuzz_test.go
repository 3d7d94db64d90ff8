package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// FuzzSegRecord feeds the segment record decoder arbitrary bytes (it must
// return an error, never panic) and checks that any entry encodes and
// decodes back to itself.
//
//	go test -run '^$' -fuzz FuzzSegRecord -fuzztime 60s ./cluster/
func FuzzSegRecord(f *testing.F) {
	f.Add([]byte{}, uint64(1), uint64(1), uint8(0), []byte(`{"a":1}`), []byte(nil), int64(0))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, uint64(1<<63), uint64(0), uint8(255), []byte(nil), []byte{1, 2, 3}, int64(1795000000123456789))
	valid, _ := appendSegRecord(nil, &raft.Log{Index: 3, Term: 2, Data: []byte("x"), Extensions: []byte("y")})
	f.Add(valid, uint64(3), uint64(2), uint8(1), []byte("x"), []byte("y"), int64(-1))
	f.Add(valid[segHeaderLen:], uint64(0), uint64(0), uint8(0), []byte{}, []byte{}, int64(1))
	f.Fuzz(func(t *testing.T, raw []byte, index, term uint64, typ uint8, data, ext []byte, at int64) {
		var l raft.Log
		if body, err := checkSegRecord(raw); err == nil {
			decodeSegBody(body, &l)
		}
		// raw as a bare body too: the checksum rarely lets random bytes
		// reach the decoder.
		decodeSegBody(raw, &l)

		want := &raft.Log{Index: index, Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext}
		if at != 0 {
			want.AppendedAt = time.Unix(0, at)
		}
		rec, err := appendSegRecord([]byte("prefix"), want)
		if err != nil {
			t.Fatal(err)
		}
		rec = rec[len("prefix"):]
		if len(rec) != segRecordSize(want) {
			t.Fatalf("record of %d bytes, segRecordSize says %d", len(rec), segRecordSize(want))
		}
		body, err := checkSegRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		var got raft.Log
		if err := decodeSegBody(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
			!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) ||
			!got.AppendedAt.Equal(want.AppendedAt) || got.AppendedAt.IsZero() != want.AppendedAt.IsZero() {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
		// Any change to the record must be caught.
		if len(rec) > 0 {
			bad := bytes.Clone(rec)
			bad[int(index%uint64(len(bad)))] ^= 1
			if _, err := checkSegRecord(bad); err == nil {
				t.Fatalf("a flipped bit at %d passed the checks", index%uint64(len(bad)))
			}
		}
	})
}
