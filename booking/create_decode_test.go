package booking

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// createSamples are payloads as proposers write them, with the odd values
// a citizen or a Comune can put in them.
func createSamples() []createPayload {
	base := createPayload{
		ID: "0190f3a2b4c5d6e7f8091a2b3c4d5e6f", Code: "BA-23456X", ServiceID: "cie",
		Start: time.Date(2027, 3, 10, 8, 30, 0, 0, time.UTC), Channel: InPerson,
		Citizen:   Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"},
		TokenHash: hashToken("token"), Comune: comuneOf(bari),
		BaseURL: "https://bari.example.it", ManageURL: "https://bari.example.it/prenotazioni/BA-23456X?t=abc",
	}
	var out []createPayload
	out = append(out, base)
	p := base
	p.Citizen = Citizen{GivenName: "Zoë Ñíñez", FamilyName: "D'Àngelo <&> \"Ū\"", FiscalCode: "DNGZOE85T10A562S",
		Email: "z@example.it", Phone: "+39 080 123\u2028"}
	p.Details = "Riga 1\nRiga 2\ttab \\ backslash 🙂"
	p.Channel, p.JoinToken, p.Lang, p.Net = Video, "join-token", LangDE, "abcdef0123"
	p.Start = time.Date(2027, 10, 31, 1, 30, 0, 123456789, time.FixedZone("", 3600))
	out = append(out, p)
	p = base
	p.Comune = comune{Name: "Bolzano", TimeZone: "Europe/Rome", PatronDays: []tenant.PatronDay{
		{Name: "San Nicola", Month: time.May, Day: 8},
		{Name: "Festa", Date: civil.Date{Year: 2027, Month: 6, Day: 2}},
		{Name: ""},
	}, Sender: tenant.Sender{Name: "Comune di Bolzano", Address: "noreply@bolzano.example.it"}}
	out = append(out, p)
	p = base
	p.TokenHash = []byte{}
	p.Comune.PatronDays = []tenant.PatronDay{}
	out = append(out, p)
	p = base
	p.Citizen.GivenName = string([]byte{0xff, 'a'}) // invalid UTF-8 in a name
	out = append(out, p)
	p = base
	p.TokenHash = nil
	out = append(out, p)
	return out
}

// createVariants are hand-written payloads outside what json.Marshal
// writes: the scanner must give up on them or agree with encoding/json.
var createVariants = []string{
	`{}`,
	` {"id":"a"} `,
	`{"id":"a"}x`,
	`{"id":"a"}{"id":"b"}`,
	`{"ID":"a"}`,
	`{"id":"a","id":"b"}`,
	`{"id":null}`,
	`{"id":1}`,
	`{"unknown":1}`,
	`{"comune":{"name":"x","name":"y"}}`,
	`{"comune":{"patron_days":[{"month":5,"day":08}]}}`,
	`{"comune":{"patron_days":[{"month":5.0}]}}`,
	`{"comune":{"patron_days":[{"month":-3,"day":1e1}]}}`,
	`{"comune":{"patron_days":[{"month":99999999999999999999}]}}`,
	`{"comune":{"patron_days":[{"date":"2027-02-30"}]}}`,
	`{"comune":{"patron_days":null}}`,
	`{"comune":{"patron_days":[]}}`,
	`{"comune":{"patron_days":[{},]}}`,
	`{"comune":{"sender":{"name":"a","address":"b","x":1}}}`,
	`{"start":"2027-03-10T08:30:00Z"}`,
	`{"start":"2027-03-10 08:30:00Z"}`,
	`{"start":"2027-03-10T08:30:00+25:00"}`,
	`{"token_hash":"not base64!"}`,
	`{"token_hash":"AAEC"}`,
	`{"token_hash":"AAE="}`,
	`{"citizen":{"given_name":"\u004d"}}`,
	`{"citizen":{"given_name":"\ud800x","family_name":"\"\\\/\b\f\n\r\t"}}`,
	`{"details":"\x"}`,
	`{"details":"\u12"}`,
	`{"details":"a\`,
	`{"details":"a\"}`,
	`{"det\u0061ils":"a"}`,
	"{\"details\":\"a\\\u0001\"}",
	`{"id":"tab	inside"}`,
	`{"id":"a",}`,
	`{"id" "a"}`,
	`{"id":"a"`,
	`{"lang":"en","net":"n","details":""}`,
	"{\"id\":\"a\"}\n",
}

// TestDecodeCreateMatchesEncodingJSON: on every sample and variant,
// decodeCreate gives what cluster.Command.Decode gives (value or error),
// and the scanner itself reads every sample json.Marshal wrote.
func TestDecodeCreateMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	var payloads [][]byte
	for i, p := range createSamples() {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, raw)
		var fast createPayload
		// Only the last sample, with a null token hash, is left to
		// encoding/json.
		if ok := fastDecodeCreate(raw, &fast); ok != (i < len(createSamples())-1) {
			t.Errorf("sample %d: scanner read it = %v\n%s", i, ok, raw)
		}
	}
	for _, v := range createVariants {
		payloads = append(payloads, []byte(v))
	}
	for _, raw := range payloads {
		checkDecodeCreate(t, raw)
	}
}

func checkDecodeCreate(t *testing.T, raw []byte) {
	t.Helper()
	cmd := cluster.Command{Type: CmdCreate, Version: 2, Tenant: "bari", Payload: raw}
	var want, got createPayload
	wantErr := cmd.Decode(&want)
	gotErr := decodeCreate(cmd, createVersion, &got)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Errorf("%s:\ndecodeCreate error %v\nDecode error       %v", raw, gotErr, wantErr)
		return
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ndecodeCreate %+v\nDecode       %+v", raw, got, want)
	}
	var fast createPayload
	if fastDecodeCreate(raw, &fast) {
		if wantErr != nil {
			t.Errorf("%s: the scanner read what encoding/json refuses (%v)", raw, wantErr)
		} else if !reflect.DeepEqual(fast, want) {
			t.Errorf("%s:\nscanner %+v\nDecode  %+v", raw, fast, want)
		}
	}
}

// FuzzDecodeCreate: whatever the bytes, decodeCreate agrees with
// encoding/json.
func FuzzDecodeCreate(f *testing.F) {
	for _, p := range createSamples() {
		raw, _ := json.Marshal(p)
		f.Add(raw)
	}
	for _, v := range createVariants {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if strings.Count(string(raw), "{") > 50 {
			return
		}
		checkDecodeCreate(t, raw)
	})
}

func BenchmarkDecodeCreate(b *testing.B) {
	raw, _ := json.Marshal(createSamples()[0])
	cmd := cluster.Command{Type: CmdCreate, Version: 1, Tenant: "bari", Payload: raw}
	b.Run("scanner", func(b *testing.B) {
		for b.Loop() {
			var p createPayload
			if err := decodeCreate(cmd, createVersion, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var p createPayload
			if err := cmd.Decode(&p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
