package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// envelopeCorpus is envelopes as encodeEntry writes them, and others it
// never writes but a newer binary or a hand-made entry could.
func envelopeCorpus(t testing.TB) [][]byte {
	t.Helper()
	at := time.Date(2027, 3, 11, 9, 30, 0, 123456789, time.UTC)
	var out [][]byte
	for _, c := range []Command{
		{Type: "booking.create", Version: 1, Tenant: "bari", Time: at, Payload: json.RawMessage(`{"id":"x","citizen":{"given_name":"Maria"},"n":[1,2.5,-3e2,true,null,"a\"b\\"]}`)},
		{Type: "booking.create", Version: 1, Tenant: "bari", Time: at, Payload: json.RawMessage(`{}`), RequestID: "0192abcd", Fingerprint: "ff00"},
		{Type: "cluster.outbox.sent", Version: 2, Time: at, Payload: json.RawMessage(`{"ids":["1-1","2-1"]}`)},
		{Type: "t.put", Version: 1, Tenant: "sant'agata", Time: at, Payload: json.RawMessage(`[1,{"a":"}"}]`)},
		{Type: "booking.create", Version: 1, Tenant: "bari", Time: at, Payload: json.RawMessage(`{}`), Actor: &Actor{ID: "u1", Name: "Anna"}},
		{Type: "città", Version: 3, Tenant: "forlì", Time: time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)), Payload: json.RawMessage(`{"x":"è"}`)},
	} {
		b, err := encodeEntry(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		`{}`,
		` { "type" : "a.b" , "v" : 2 , "payload" : { } , "time" : "2027-03-11T09:30:00Z" } `,
		`{"type":"a.b","v":1,"payload":{"k":1},"type":"c.d","payload":[2]}`,
		`{"Type":"a.b","v":1,"payload":{}}`,
		`{"type":"a\u00e8b","v":1,"payload":{}}`,
		`{"type":"a\nb","v":1,"payload":{}}`,
		`{"type":"a","v":1.0,"payload":{}}`,
		`{"type":"a","v":99999999999999999999,"payload":{}}`,
		`{"type":"a","v":-1,"payload":{}}`,
		`{"type":"a","tenant":null,"payload":{}}`,
		`{"type":"a","payload":null}`,
		`{"type":"a","payload":"x"}`,
		`{"type":"a","time":"not a time","payload":{}}`,
		`{"type":"a","time":null,"payload":{}}`,
		`{"type":"a","extra":{"nested":[1,2,{"x":"]"}]},"payload":{}}`,
		`{"type":"a","extra":12,"payload":{}}`,
		`{"type":"a","v":1,"payload":{},"rid":"r","fp":"f"}`,
		"{\"type\":\"\xff\",\"payload\":{}}",
	} {
		out = append(out, []byte(s))
	}
	return out
}

// TestDecodeTrustedMatchesEncodingJSON: on every envelope, decodeTrusted
// gives exactly what json.Unmarshal gives (value or failure).
func TestDecodeTrustedMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for i, env := range envelopeCorpus(t) {
		var want Command
		wantErr := json.Unmarshal(env, &want)
		got, err := decodeTrusted(env)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%d %s: error %v, encoding/json %v", i, env, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d %s:\n got %+v\nwant %+v", i, env, got, want)
		}
		if len(got.Payload) > 0 && &got.Payload[0] == &env[bytes.Index(env, got.Payload)] {
			t.Errorf("%d: the payload shares the entry's bytes", i)
		}
	}
}

// TestSplitBatch: the elements are those json.Unmarshal finds in a list.
func TestSplitBatch(t *testing.T) {
	t.Parallel()
	corpus := envelopeCorpus(t)
	var lists []string
	for n := range 4 {
		var b bytes.Buffer
		b.WriteString("[")
		for i := range n * 3 {
			if i > 0 {
				b.WriteString(" ,\n")
			}
			b.Write(corpus[(i+n)%len(corpus)])
		}
		b.WriteString(" ] ")
		lists = append(lists, b.String())
	}
	lists = append(lists, `[1,"a",null,[],{},[{"a":[1]}],"]",true]`, `[ ]`)
	for _, l := range lists {
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(l), &want); err != nil {
			t.Fatal(err)
		}
		got, err := splitBatch([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d elements, want %d", l, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("element %d: %s, want %s", i, got[i], want[i])
			}
		}
	}
	for _, bad := range []string{`{}`, `"x"`, ``} {
		if _, err := splitBatch([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// BenchmarkDecodeBatch compares the two ways of decoding the commands of
// a shared entry of 50 bookings.
func BenchmarkDecodeBatch(b *testing.B) {
	payload := json.RawMessage(`{"id":"0192abcdef0123456789","code":"BA7K3Q9P","service_id":"svc","start":"2027-03-11T09:30:00Z","channel":"in_person","citizen":{"given_name":"Maria","family_name":"Rossi","fiscal_code":"RSSMRA85T10A562S","email":"maria@example.it","phone":""},"details":"","token_hash":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=","comune":{"name":"Comune di Bari","time_zone":"Europe/Rome","sender":{"name":"Comune di Bari","address":"noreply@bari.example.it"}},"base_url":"https://bari.example.it","manage_url":"https://bari.example.it/prenotazioni/BA7K3Q9P?token=abcdefabcdefabcdefabcdef"}`)
	var envs []json.RawMessage
	for i := range 50 {
		e, _ := encodeEntry(Command{Type: "booking.create", Version: 1, Tenant: "bari", Time: time.Now().UTC(), Payload: payload, RequestID: fmt.Sprintf("%032x", i)})
		envs = append(envs, e)
	}
	data, _ := json.Marshal(envs)
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var list []json.RawMessage
			if err := json.Unmarshal(data, &list); err != nil {
				b.Fatal(err)
			}
			for _, e := range list {
				if _, err := decodeEntry(e); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("trusted", func(b *testing.B) {
		for b.Loop() {
			list, err := splitBatch(data)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range list {
				if _, err := decodeTrusted(e); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
