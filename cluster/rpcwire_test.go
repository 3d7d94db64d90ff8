package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// wireStrings are strings that the hand-written encoders copy and strings
// they must hand to encoding/json: quotes, backslashes, HTML characters,
// control characters, non-ASCII and invalid UTF-8, line separators.
var wireStrings = []string{
	"", "booking.create", "bari", "0192abcd-ef", "node-2", "127.0.0.1:7001",
	`a"b`, `back\slash`, "<script>&", "tab\there", "nl\n", "\x00\x1f", "Forlì–Cesena",
	"bad \xff utf8", "sep \u2028 \u2029", "\x7f",
}

// TestEncodeTrustedMatchesEncodeEntry requires the leader's hand-written
// envelope to be byte for byte json.Marshal's (encodeEntry's before it
// wrote by hand) for compact payloads, so that log entries do not change
// with it.
func TestEncodeTrustedMatchesEncodeEntry(t *testing.T) {
	at := time.Date(2027, 3, 11, 9, 30, 0, 123456789, time.UTC)
	payloads := []json.RawMessage{
		nil, json.RawMessage(`{}`), json.RawMessage(`null`), json.RawMessage(`[1,2.5,-3e2,true,null]`),
		json.RawMessage(`{"id":"x","citizen":{"given_name":"Maria"},"s":"a\"b\\\u003c"}`),
	}
	var cmds []Command
	for _, s := range wireStrings {
		for _, p := range payloads {
			cmds = append(cmds,
				Command{Type: s, Version: 3, Tenant: s, Time: at, Payload: p},
				Command{Type: "booking.create", Version: -1, Time: at.In(time.FixedZone("CET", 3600)), Payload: p, RequestID: s, Fingerprint: s},
				Command{Type: "booking.create", Version: 1, Tenant: "bari", Payload: p, Actor: &Actor{ID: s, Name: s, Addr: "10.0.0.1"}},
			)
		}
	}
	for _, c := range cmds {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeTrusted(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("encodeTrusted(%+v)\n got %s\nwant %s", c, got, want)
		}
	}
	if _, err := encodeTrusted(Command{Type: "x", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("encodeTrusted accepted a time encoding/json refuses")
	}
}

// TestEncodeTrustedKnowsEveryField fails when Command gains a JSON field
// that encodeTrusted does not write: the leader would drop it silently.
func TestEncodeTrustedKnowsEveryField(t *testing.T) {
	known := []string{"type", "v", "tenant", "time", "payload", "rid", "fp", "actor"}
	var fields []string
	ct := reflect.TypeFor[Command]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		fields = append(fields, name)
	}
	if !slices.Equal(fields, known) {
		t.Fatalf("Command's JSON fields are %v; encodeTrusted writes %v", fields, known)
	}
}

// TestRPCFramesMatchEncodingJSON requires writeRequest and writeResponse
// to write what writeFrame (json.Marshal) wrote, so that nodes of the
// previous version read them unchanged.
func TestRPCFramesMatchEncodingJSON(t *testing.T) {
	env, err := encodeEntry(Command{Type: "booking.create", Version: 2, Tenant: "bari", Payload: json.RawMessage(`{"a":"<b>"}`), RequestID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []rpcRequest
	for _, s := range wireStrings {
		reqs = append(reqs,
			rpcRequest{Op: opPropose, Command: env, TimeoutMS: 1500},
			rpcRequest{Op: s, ID: s, Addr: s},
			rpcRequest{Op: opStatus, TimeoutMS: -1},
		)
	}
	for _, req := range reqs {
		var got, want bytes.Buffer
		if err := writeRequest(&got, req); err != nil {
			t.Fatal(err)
		}
		if err := writeFrame(&want, req); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("writeRequest(%+v)\n got %q\nwant %q", req, got.Bytes(), want.Bytes())
		}
		var back rpcRequestIn
		if err := readFrame(&got, &back); err != nil {
			t.Fatalf("read back %+v: %v", req, err)
		}
	}
	resps := []rpcResponse{
		{},
		{Index: 42},
		{Value: json.RawMessage(`{"id":"x","n":[1,2]}`)},
		{Index: 7, Value: json.RawMessage(`"v"`), Error: &wireError{Code: "booking.slot_full", Message: "pieno <3>", Fields: map[string]string{"b": "2", "a": "1"}}},
		{Error: &wireError{Message: "no leader", LeaderAddr: "127.0.0.1:1", LeaderID: "node1"}},
	}
	for _, resp := range resps {
		var got, want bytes.Buffer
		if err := writeResponse(&got, resp); err != nil {
			t.Fatal(err)
		}
		if err := writeFrame(&want, resp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("writeResponse(%+v)\n got %q\nwant %q", resp, got.Bytes(), want.Bytes())
		}
	}
}

// TestForwardedCommandDecodesInOnePass checks the leader's reading of a
// propose request: the command comes out as decodeEntry gives it, and a
// command that is not an envelope is a decoding error, not a broken
// stream.
func TestForwardedCommandDecodesInOnePass(t *testing.T) {
	want := Command{Type: "booking.create", Version: 2, Tenant: "bari", Payload: json.RawMessage(`{"a":[1,{"b":"c"}]}`), RequestID: "r1", Fingerprint: "f", Actor: &Actor{ID: "u1"}}
	env, err := encodeEntry(want)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeRequest(&buf, rpcRequest{Op: opPropose, Command: env, TimeoutMS: 9}); err != nil {
		t.Fatal(err)
	}
	var in rpcRequestIn
	if err := readFrame(&buf, &in); err != nil {
		t.Fatal(err)
	}
	fromEntry, err := decodeEntry(env)
	if err != nil {
		t.Fatal(err)
	}
	if in.Op != opPropose || in.TimeoutMS != 9 || in.Command == nil || !reflect.DeepEqual(*in.Command, fromEntry) {
		t.Fatalf("decoded %+v, command %+v; want %+v", in, in.Command, fromEntry)
	}
	for _, bad := range []string{`{"op":"propose","command":"x"}`, `{"op":"propose","command":{"v":"one"}}`, `{"op":"propose","command":{"time":"yesterday"}}`} {
		buf.Reset()
		if err := sendFrame(&buf, append(frame(len(bad)), bad...)); err != nil {
			t.Fatal(err)
		}
		var de *frameDecodeError
		if err := readFrame(&buf, new(rpcRequestIn)); !errors.As(err, &de) {
			t.Errorf("%s: error %v, want a frameDecodeError", bad, err)
		}
	}
}
