package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// entryCorpus is envelopeCorpus with cluster.batch entries (as the
// batcher writes them, and spaced out), RPC frames and JSON values of
// every kind around a payload.
func entryCorpus(t testing.TB) [][]byte {
	t.Helper()
	envs := envelopeCorpus(t)
	out := append([][]byte(nil), envs...)
	out = append(out, batchEntry(t, envs[:4]))
	for _, s := range []string{
		`{"type":"cluster.batch","v":1,"time":"2027-03-11T09:30:00Z","payload":[ {"type":"a","v":1,"payload":{}} , {"type":"b","v":2,"payload":[]} ]}`,
		`{"type":"cluster.batch","v":1,"payload":[]}`,
		`{"type":"a","v":1,"payload":{"s":"\u00e8\"\\\/\b\f\n\r\t","n":[0,-0,1e5,1E-5,0.5,-12.5e+3],"t":true,"f":false,"z":null,"o":{"":{}}}}`,
		`{"type":"a","v":1,"payload":{"a":1}}` + " \t\r\n",
		`{"type":"a","v":-0,"payload":{}}`,
		`{"type":"a","v":007,"payload":{}}`,
		`{"type":"a","v":1e2,"payload":{}}`,
		`{"type":"a","v":123456789012345678,"payload":{}}`,
		`{"type":"a","v":1234567890123456789,"payload":{}}`,
		`{"type":"a","time":"2027-03-11T09:30:00+01:00","payload":{}}`,
		`{"type":"a","time":"2027-03-11T09:30:00.123456789-07:30","payload":{}}`,
		`{"type":"a","time":"2027-03-11 09:30:00Z","payload":{}}`,
		`{"type":"a","time":"\u0032027-03-11T09:30:00Z","payload":{}}`,
		`{"type":"a","payload":{"a":"<&>\u2028"}}`,
		"{\"type\":\"a\",\"payload\":{\"a\":\"\xe2\x80\xa8\xff\"}}",
		`{"type":"a","payload":{"a":1,}}`,
		`{"type":"a","payload":{"a" 1}}`,
		`{"type":"a","payload":[1 2]}`,
		`{"type":"a","payload":{"a":"\x"}}`,
		`{"type":"a","payload":{"a":"\u12g4"}}`,
		`{"type":"a","payload":{"a":tru}}`,
		`{"type":"a","payload":{"a":-}}`,
		`{"type":"a","payload":{"a":1.}}`,
		`{"type":"a","payload":{"a":1e}}`,
		`{"type":"a","payload":{"a":01}}`,
		`{"type":"a","payload":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
		`{"type":"a","payload":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
		`{"type":"a","payload":{}}x`,
		`{"type":"a","payload":{}}{}`,
		`{"type":"a","payload":{}`,
		`{"type":"a","payload":{},}`,
		`{"type":"a",,"payload":{}}`,
		`{"type":"a" "payload":{}}`,
		`{"type" "a"}`,
		`{"type":"a","type":"b"}`,
		`{"v":1,"v":2}`,
		`{"tenant":"x","TENANT":"y"}`,
		`{"type":"a","actor":{"id":"u"},"actor":{"name":"n"}}`,
		`{"type":"a","rid":"` + "\x01" + `"}`,
		`{"type":"a","fp":""}`,
		`{ }`,
		`{"op":"propose","command":{"type":"a","v":1,"payload":{}},"timeout_ms":1500}`,
		`{"op":"propose","command":{"type":"a","v":1,"payload":{}},"timeout_ms":-3,"id":"n","addr":"h:1"}`,
		`{"op":"propose","command":null}`,
		`{"op":"propose","command":"x"}`,
		`{"op":"propose","command":{"v":"one"}}`,
		`{"op":"propose","command":{"type":"a"},"command":{"v":2}}`,
		`{"op":"propose","timeout_ms":1.5}`,
		`{"op":"propose","timeout_ms":99999999999999999999}`,
		`{"index":42,"value":{"id":"x","n":[1,2]}}`,
		`{"index":7,"value":"v","error":{"code":"booking.slot_full","message":"pieno","fields":{"b":"2","a":"1","a":"3"}}}`,
		`{"error":{"message":"no leader","leader_addr":"127.0.0.1:1","leader_id":"node1"}}`,
		`{"error":{"message":"x","fields":{}}}`,
		`{"error":{"message":"x","fields":null}}`,
		`{"error":null}`,
		`{"value":null}`,
		`{"value":true}`,
		`{"value":-1.5e3}`,
		`{"index":-1}`,
		`{"index":18446744073709551615}`,
		`{"index":1,"value":[],"index":2}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// batchEntry is the cluster.batch entry of envs, as the batcher writes
// it.
func batchEntry(t testing.TB, envs [][]byte) []byte {
	t.Helper()
	payload := append([]byte{'['}, bytes.Join(envs, []byte(","))...)
	payload = append(payload, ']')
	at := time.Date(2027, 3, 11, 9, 30, 0, 5, time.UTC)
	data, err := encodeTrusted(Command{Type: batchType, Version: 1, Time: at, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mutations returns data with each prefix, and with each byte replaced
// by a few that change JSON's structure: what a torn or corrupt log
// entry could hold.
func mutations(data []byte) [][]byte {
	var out [][]byte
	for i := range len(data) {
		out = append(out, data[:i])
		for _, c := range []byte{'"', '\\', '{', '}', '[', ',', ':', ' ', 'x', '0', 'e', '-', 0x00, 0xff} {
			if data[i] == c {
				continue
			}
			m := bytes.Clone(data)
			m[i] = c
			out = append(out, m)
		}
	}
	return out
}

// checkDecodeEntry fails unless decodeEntry gives what json.Unmarshal
// gives for data: the same command, or the same error.
func checkDecodeEntry(t testing.TB, data []byte) {
	t.Helper()
	if len(data) == 0 || data[0] != '{' {
		return // refused before either decoder runs
	}
	var want Command
	wantErr := json.Unmarshal(data, &want)
	got, err := decodeEntry(data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, encoding/json %v", data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

// TestDecodeEntryMatchesEncodingJSON: on envelopes, batch entries and
// every truncation and one-byte corruption of them, decodeEntry gives
// json.Unmarshal's command or its error, never another command.
func TestDecodeEntryMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, data := range entryCorpus(t) {
		checkDecodeEntry(t, data)
		if len(data) < 2000 {
			for _, m := range mutations(data) {
				checkDecodeEntry(t, m)
			}
		}
	}
}

// TestDecodeEntryDecodesByHand makes sure the entries encodeEntry writes
// take the hand decoder (the point of it), and that a command's payload
// does not share the entry's bytes, while a batch entry's may.
func TestDecodeEntryDecodesByHand(t *testing.T) {
	t.Parallel()
	at := time.Date(2027, 3, 11, 9, 30, 0, 1, time.UTC)
	for _, c := range []Command{
		{Type: "booking.create", Version: 3, Tenant: "bari", Time: at, Payload: json.RawMessage(`{"a":[1,{"b":"c"}],"s":"Forlì"}`), RequestID: "0192", Fingerprint: "ff"},
		{Type: batchType, Version: 1, Time: at, Payload: json.RawMessage(`[{"type":"a","v":1,"payload":{}}]`)},
		{Type: "t.x", Time: at},
	} {
		data, err := encodeEntry(c)
		if err != nil {
			t.Fatal(err)
		}
		got, end, ok := decodeEnvelope(data, 0)
		if !ok || end != len(data) {
			t.Fatalf("%s: not decoded by hand", data)
		}
		checkDecodeEntry(t, data)
		got, _ = decodeEntry(data)
		if len(got.Payload) == 0 {
			continue
		}
		shared := &got.Payload[0] == &data[bytes.Index(data, got.Payload)]
		if shared != (c.Type == batchType) {
			t.Errorf("%s: payload shares the entry's bytes: %v", c.Type, shared)
		}
	}
}

// encodeCases are commands for encodeEntry: every wireString in every
// field, with payloads json.Marshal copies and payloads it rewrites or
// refuses.
func encodeCases() []Command {
	at := time.Date(2027, 3, 11, 9, 30, 0, 123456789, time.UTC)
	payloads := []json.RawMessage{
		nil, json.RawMessage(`{}`), json.RawMessage(`null`), json.RawMessage(`[1,2.5,-3e2,true,null]`),
		json.RawMessage(`{"id":"x","citizen":{"given_name":"Maria"},"s":"a\"b\\\u003c"}`),
		json.RawMessage(`{ "a" : 1 }`), json.RawMessage("[1,\n2]"), json.RawMessage(`{"a":"<b>&"}`),
		json.RawMessage("{\"a\":\"\u2028\u2029\"}"), json.RawMessage("\"\xff\""), json.RawMessage(`7`),
		json.RawMessage(``), json.RawMessage(`{`), json.RawMessage(`{"a":01}`), json.RawMessage(` {}`), json.RawMessage(`{} `),
	}
	var cmds []Command
	for _, s := range wireStrings {
		for _, p := range payloads {
			cmds = append(cmds,
				Command{Type: s, Version: 3, Tenant: s, Time: at, Payload: p},
				Command{Type: "booking.create", Version: -1, Time: at.In(time.FixedZone("CET", 3600)), Payload: p, RequestID: s, Fingerprint: s, Index: 9},
				Command{Type: "booking.create", Version: 1, Tenant: "bari", Payload: p, Actor: &Actor{ID: s, Name: s, Addr: "10.0.0.1"}},
			)
		}
	}
	return append(cmds,
		Command{Type: "x", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		Command{Type: "x", Time: time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("", 30))},
	)
}

// TestEncodeEntryMatchesJSONMarshal: encodeEntry writes json.Marshal's
// bytes, or fails where it fails.
func TestEncodeEntryMatchesJSONMarshal(t *testing.T) {
	t.Parallel()
	for _, c := range encodeCases() {
		checkEncodeEntry(t, c)
	}
}

func checkEncodeEntry(t testing.TB, c Command) {
	t.Helper()
	got, err := encodeEntry(c)
	c.Index = 0
	want, wantErr := json.Marshal(c)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("encodeEntry(%#v)\n got %q, %v\nwant %q, %v", c, got, err, want, wantErr)
	}
}

// checkFrame fails unless unmarshalFrame gives what json.Unmarshal gives
// for body, as a request and as an answer.
func checkFrame(t testing.TB, body []byte) {
	t.Helper()
	var req, wantReq rpcRequestIn
	err := unmarshalFrame(body, &req)
	wantErr := json.Unmarshal(body, &wantReq)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || (err == nil && !reflect.DeepEqual(req, wantReq)) {
		t.Fatalf("request %q:\n got %#v, %v\nwant %#v, %v", body, req, err, wantReq, wantErr)
	}
	var resp, wantResp rpcResponse
	err = unmarshalFrame(body, &resp)
	wantErr = json.Unmarshal(body, &wantResp)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || (err == nil && !reflect.DeepEqual(resp, wantResp)) {
		t.Fatalf("answer %q:\n got %#v, %v\nwant %#v, %v", body, resp, err, wantResp, wantErr)
	}
}

// frameCorpus is the frames the hand writers produce, and entryCorpus.
func frameCorpus(t testing.TB) [][]byte {
	out := entryCorpus(t)
	env, _ := encodeEntry(Command{Type: "booking.create", Version: 2, Tenant: "bari", Payload: json.RawMessage(`{"a":"b"}`), RequestID: "r1"})
	for _, req := range []rpcRequest{
		{Op: opPropose, Command: env, TimeoutMS: 1500},
		{Op: opAddVoter, ID: "node-2", Addr: "127.0.0.1:7001"},
		{Op: opMux},
	} {
		out = append(out, appendRequest(nil, req))
	}
	for _, resp := range []rpcResponse{
		{},
		{Index: 42, Value: json.RawMessage(`{"id":"x","n":[1,2]}`)},
		{Error: &wireError{Code: "booking.slot_full", Message: "pieno", Fields: map[string]string{"b": "2", "a": "1"}}},
		{Error: &wireError{Message: "no leader", LeaderAddr: "127.0.0.1:1", LeaderID: "node1"}},
	} {
		b, err := appendResponse(nil, resp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestFramesDecodeAsEncodingJSON: requests and answers, and every
// truncation and corruption of them, decode as json.Unmarshal decodes
// them; and the frames the writers produce take the hand decoders.
func TestFramesDecodeAsEncodingJSON(t *testing.T) {
	t.Parallel()
	corpus := frameCorpus(t)
	for _, body := range corpus {
		checkFrame(t, body)
		if len(body) < 2000 {
			for _, m := range mutations(body) {
				checkFrame(t, m)
			}
		}
	}
	n := len(corpus)
	for _, body := range corpus[n-7 : n-4] {
		if _, ok := decodeRequest(body); !ok {
			t.Errorf("%s: request not decoded by hand", body)
		}
	}
	for _, body := range corpus[n-4:] {
		if _, ok := decodeResponse(body); !ok {
			t.Errorf("%s: answer not decoded by hand", body)
		}
	}
}

// TestMarshalForm: marshalForm is true exactly for valid JSON that
// json.Marshal copies unchanged as a json.RawMessage.
func TestMarshalForm(t *testing.T) {
	t.Parallel()
	for _, c := range encodeCases() {
		checkMarshalForm(t, c.Payload)
	}
	for _, data := range entryCorpus(t) {
		checkMarshalForm(t, data)
	}
}

func checkMarshalForm(t testing.TB, raw []byte) {
	t.Helper()
	out, err := json.Marshal(json.RawMessage(raw))
	same := err == nil && len(raw) > 0 && bytes.Equal(out, raw)
	deep := bytes.Count(raw, []byte("["))+bytes.Count(raw, []byte("{")) > maxScanDepth
	if marshalForm(raw) != same && !(same && deep) {
		t.Fatalf("marshalForm(%q) = %v; json.Marshal gives %q, %v", raw, !same, out, err)
	}
	end, ok := checkValue(raw, 0)
	valid := ok && end == len(raw)
	if valid && !json.Valid(raw) {
		t.Fatalf("checkValue accepts %q, which is not valid JSON", raw)
	}
	// The other way round is only a matter of speed, and holds up to
	// maxScanDepth containers deep.
	trimmed := bytes.Trim(raw, " \t\r\n")
	end, ok = checkValue(trimmed, 0)
	if json.Valid(raw) && !deep && !(ok && end == len(trimmed)) {
		t.Fatalf("checkValue refuses %q, which is valid JSON", raw)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, data := range entryCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeEntry(t, data)
	})
}

func FuzzDecodeFrame(f *testing.F) {
	for _, data := range frameCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFrame(t, body)
	})
}

func FuzzMarshalForm(f *testing.F) {
	for _, data := range entryCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkMarshalForm(t, raw)
	})
}

func FuzzEncodeEntry(f *testing.F) {
	for _, c := range encodeCases() {
		_, off := c.Time.Zone()
		f.Add(c.Type, c.Tenant, c.RequestID, c.Fingerprint, c.Version, []byte(c.Payload), c.Payload == nil, c.Time.Unix(), int64(c.Time.Nanosecond()), off, c.Actor != nil)
	}
	f.Fuzz(func(t *testing.T, typ, tenant, rid, fp string, v int, payload []byte, nilPayload bool, sec, nsec int64, off int, actor bool) {
		c := Command{Type: typ, Version: v, Tenant: tenant, RequestID: rid, Fingerprint: fp, Payload: payload,
			Time: time.Unix(sec, nsec).In(time.FixedZone("", off%100000))}
		if nilPayload {
			c.Payload = nil
		}
		if actor {
			c.Actor = &Actor{ID: rid, Name: fp, Tenant: tenant}
		}
		checkEncodeEntry(t, c)
		if data, err := encodeEntry(c); err == nil {
			checkDecodeEntry(t, data)
		}
	})
}

// BenchmarkEntryCodec measures encodeEntry and decodeEntry on a booking's
// envelope, and decodeEntry on a shared entry of 50 bookings, by hand and
// through encoding/json.
func BenchmarkEntryCodec(b *testing.B) {
	payload := json.RawMessage(`{"id":"0192abcdef0123456789","code":"BA7K3Q9P","service_id":"svc","start":"2027-03-11T09:30:00Z","channel":"in_person","citizen":{"given_name":"Maria","family_name":"Rossi","fiscal_code":"RSSMRA85T10A562S","email":"maria@example.it","phone":""},"details":"","token_hash":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=","comune":{"name":"Comune di Bari","time_zone":"Europe/Rome","sender":{"name":"Comune di Bari","address":"noreply@bari.example.it"}},"base_url":"https://bari.example.it","manage_url":"https://bari.example.it/prenotazioni/BA7K3Q9P?token=abcdefabcdefabcdefabcdef"}`)
	cmd := Command{Type: "booking.create", Version: 3, Tenant: "bari", Time: time.Now().UTC(), Payload: payload, RequestID: "0192abcdef0123456789abcdef012345"}
	one, _ := encodeEntry(cmd)
	var envs [][]byte
	for range 50 {
		envs = append(envs, one)
	}
	batch := batchEntry(b, envs)
	b.Run("encode/hand", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeEntry(cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, in := range []struct {
		name string
		data []byte
	}{{"one", one}, {"batch50", batch}} {
		b.Run("decode-"+in.name+"/hand", func(b *testing.B) {
			for b.Loop() {
				if _, err := decodeEntry(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode-"+in.name+"/encoding-json", func(b *testing.B) {
			for b.Loop() {
				var c Command
				if err := json.Unmarshal(in.data, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	req := appendRequest(nil, rpcRequest{Op: opPropose, Command: one, TimeoutMS: 1500})
	b.Run("request/hand", func(b *testing.B) {
		for b.Loop() {
			var r rpcRequestIn
			if err := unmarshalFrame(req, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var r rpcRequestIn
			if err := json.Unmarshal(req, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// nilAppender's AppendJSON cannot take a nil receiver.
type nilAppender struct{ V int }

func (a *nilAppender) AppendJSON(dst []byte) []byte { return fmt.Appendf(dst, `{"V":%d}`, a.V) }

// TestMarshalResult: values with AppendJSON write through it, the others
// and nil pointers through json.Marshal.
func TestMarshalResult(t *testing.T) {
	t.Parallel()
	for _, v := range []any{&nilAppender{V: 7}, (*nilAppender)(nil), nilAppender{V: 7}, map[string]int{"a": 1}, "x<y"} {
		got, err := marshalResult(v)
		want, wantErr := json.Marshal(v)
		if err != nil || wantErr != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v: %s, %v; want %s, %v", v, got, err, want, wantErr)
		}
	}
}
