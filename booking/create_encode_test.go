package booking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// oddStrings are strings json.Marshal escapes in each of its ways.
var oddStrings = []string{
	"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f", "line\u2028para\u2029", "Zoë 🙂 Ñ",
	string([]byte{0xff, 'a', 0xc3}), "\xed\xa0\x80", "\ufffd",
}

// TestCreatePayloadJSON: the hand writer writes json.Marshal's bytes for
// every sample, and for the odd strings in each string field.
func TestCreatePayloadJSON(t *testing.T) {
	t.Parallel()
	samples := createSamples()
	for _, s := range oddStrings {
		p := samples[1]
		p.ID, p.Citizen.GivenName, p.Details, p.Comune.Sender.Name, p.ManageURL, p.Net = s, s, s, s, s, s
		p.Comune.PatronDays = []tenant.PatronDay{{Name: s, Month: 13, Day: -1}}
		samples = append(samples, p)
	}
	p := samples[0]
	p.Start = time.Time{}
	samples = append(samples, p)
	p.Start = time.Date(2027, 1, 2, 3, 4, 5, 600, time.FixedZone("X", -(23*3600+59*60)))
	samples = append(samples, p)
	p.Comune.PatronDays = []tenant.PatronDay{{Name: "odd", Date: civil.Date{Year: -5, Month: 13, Day: 40}}}
	samples = append(samples, p)
	for i, p := range samples {
		checkCreatePayloadJSON(t, fmt.Sprint("sample ", i), p)
	}
	// Times json.Marshal refuses: the writer gives up, and
	// newCreateCommand fails as cluster.NewCommand does.
	for _, start := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
	} {
		p := samples[0]
		p.Start = start
		checkCreatePayloadJSON(t, start.String(), p)
	}
}

func checkCreatePayloadJSON(t *testing.T, name string, p createPayload) {
	t.Helper()
	want, wantErr := cluster.NewCommand(CmdCreate, 3, "bari", p)
	got, gotErr := newCreateCommand(3, "bari", p)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: newCreateCommand error %v, NewCommand error %v", name, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\nnewCreateCommand %+v\nNewCommand       %+v\npayloads:\n%s\n%s", name, got, want, got.Payload, want.Payload)
	}
	b, ok := p.appendJSON([]byte("prefix"))
	if ok != (wantErr == nil) {
		t.Fatalf("%s: appendJSON ok = %v, json.Marshal error %v", name, ok, wantErr)
	}
	if ok && !bytes.Equal(b, append([]byte("prefix"), want.Payload...)) {
		t.Fatalf("%s: appendJSON after a prefix\n%s\nwant prefix%s", name, b, want.Payload)
	}
}

// appliedSamples are results of booking.create as apply makes them, and
// the odd values a citizen or a Comune can put in them.
func appliedSamples() []Applied {
	bk := Booking{
		ID: "0190f3a2b4c5d6e7f8091a2b3c4d5e6f", Tenant: "bari", Code: "BA-23456X", ServiceID: "cie", OfficeID: "anagrafe",
		Start: time.Date(2027, 3, 10, 8, 30, 0, 0, time.UTC), End: time.Date(2027, 3, 10, 8, 45, 0, 0, time.UTC),
		Channel: InPerson, Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"},
		Status: Active, JoinToken: "secret", Sequence: 0,
		Created: time.Date(2027, 3, 1, 10, 0, 0, 123456789, time.UTC), Updated: time.Date(2027, 3, 1, 10, 0, 0, 123456789, time.UTC),
	}
	base := Applied{ID: bk.ID, Code: bk.Code, Booking: &bk, ManageURL: "https://bari.example.it/prenotazioni/BA-23456X?token=abc&x=<>"}
	out := []Applied{base, {}, {ID: "a", Code: "b", Sequence: -3}}
	for _, s := range oddStrings {
		b := bk
		b.ID, b.Code, b.Citizen.FamilyName, b.Citizen.Phone, b.Details, b.Lang, b.Channel, b.Status = s, s, s, s, s, s, Channel(s), Status(s)
		b.Sequence = 7
		b.Start = time.Date(2027, 10, 31, 1, 30, 0, 1, time.FixedZone("CET", 3600))
		out = append(out, Applied{ID: s, Code: s, Sequence: 1 << 40, Booking: &b, ManageURL: s})
	}
	b := bk
	b.Start, b.End, b.Created, b.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	out = append(out, Applied{Booking: &b})
	return out
}

// TestAppliedJSON: AppendJSON writes json.Marshal's bytes, of the value
// and of its recorded form, and json.Marshal's answer for a booking whose
// times it refuses.
func TestAppliedJSON(t *testing.T) {
	t.Parallel()
	var _ interface{ AppendJSON([]byte) []byte } = Applied{}
	for i, a := range appliedSamples() {
		checkAppliedJSON(t, fmt.Sprint("sample ", i), a)
		checkAppliedJSON(t, fmt.Sprint("recorded sample ", i), a.RecordedValue().(Applied))
	}
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600)),
	} {
		a := appliedSamples()[0]
		a.Booking.Updated = at
		if _, err := json.Marshal(a); err == nil {
			t.Fatalf("%s: json.Marshal wrote it", at)
		}
		if got := string(a.AppendJSON([]byte("x"))); got != "xnull" {
			t.Errorf("%s: AppendJSON wrote %s, want null", at, got)
		}
	}
}

func checkAppliedJSON(t *testing.T, name string, a Applied) {
	t.Helper()
	want, err := json.Marshal(a)
	if err != nil {
		if got := string(a.AppendJSON(nil)); got != "null" {
			t.Fatalf("%s: json.Marshal error %v, AppendJSON %s", name, err, got)
		}
		return
	}
	if got := a.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%s:\nAppendJSON prefix%s\njson       prefix%s", name, got[len("prefix"):], want)
	}
	// What AppendJSON writes, decodeApplied reads as json.Unmarshal
	// does, and in the scanner, without the fallback.
	checkDecodeApplied(t, want)
	var fast Applied
	if !fastDecodeApplied(want, &fast) {
		t.Fatalf("%s: the scanner gave up on %s", name, want)
	}
}

// appliedVariants are hand-written results outside what json.Marshal
// writes: the scanner must give up on them or agree with encoding/json.
var appliedVariants = []string{
	`{}`, ` {"id":"a"} `, `{"id":"a"}x`, `{"ID":"a"}`, `{"id":"a","id":"b"}`, `{"id":null}`,
	`{"id":1}`, `{"unknown":1}`, `{"booking":null}`, `{"booking":{}}`, `{"booking":{"tenant":"x"}}`,
	`{"booking":{"JoinToken":"x"}}`, `{"booking":{"id":"a","id":"b"}}`, `{"sequence":1.0}`,
	`{"sequence":-0}`, `{"sequence":01}`, `{"sequence":99999999999999999999}`, `{"sequence":"1"}`,
	`{"booking":{"start":"2027-03-10T08:30:00Z","end":"2027-03-10T08:30:00.5+01:00"}}`,
	`{"booking":{"start":"2027-03-10 08:30:00Z"}}`, `{"booking":{"start":"2027-03-10T08:30:00\u005a"}}`,
	`{"booking":{"start":null}}`, `{"booking":{"start":"2027-03-10T08:30:00+25:00"}}`,
	`{"booking":{"citizen":{"given_name":"\u004d","x":1}}}`, `{"booking":{"citizen":{"phone":"\ud800"}}}`,
	`{"booking":{"status":"active","sequence":2,"lang":"de","details":"a\nb"}}`,
	`{"manage_url":"https://x/?a=1\u0026b=2"}`, `{"id":"a",}`, `{"id" "a"}`, `{"id":"a"`, `null`, `[]`, ``, `"x"`,
	`{"booking":{"id":"a"},"booking":{"code":"b"}}`, "{\"id\":\"tab\tinside\"}",
}

// TestDecodeAppliedMatchesEncodingJSON: on every variant, decodeApplied
// gives what json.Unmarshal gives (value or error).
func TestDecodeAppliedMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, v := range appliedVariants {
		checkDecodeApplied(t, []byte(v))
	}
	// The scanner reads what AppendJSON writes.
	raw := appliedSamples()[0].AppendJSON(nil)
	var a Applied
	if !fastDecodeApplied(raw, &a) {
		t.Errorf("the scanner gave up on %s", raw)
	}
}

func checkDecodeApplied(t *testing.T, raw []byte) {
	t.Helper()
	var want Applied
	wantErr := json.Unmarshal(raw, &want)
	got, gotErr := decodeApplied(raw)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s:\ndecodeApplied error %v\njson.Unmarshal error %v", raw, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\ndecodeApplied  %+v\njson.Unmarshal %+v", raw, got, want)
	}
	var fast Applied
	if fastDecodeApplied(raw, &fast) {
		if wantErr != nil {
			t.Fatalf("%s: the scanner read what encoding/json refuses (%v)", raw, wantErr)
		} else if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%s:\nscanner        %+v\njson.Unmarshal %+v", raw, fast, want)
		}
	}
}

// FuzzDecodeApplied: whatever the bytes, decodeApplied agrees with
// json.Unmarshal.
func FuzzDecodeApplied(f *testing.F) {
	for _, a := range appliedSamples() {
		f.Add(a.AppendJSON(nil))
	}
	for _, v := range appliedVariants {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if strings.Count(string(raw), "{") > 50 {
			return
		}
		checkDecodeApplied(t, raw)
	})
}

// fuzzTime builds a time from fuzzed parts: any instant, any fixed
// offset (json.Marshal refuses some of them), or UTC.
func fuzzTime(sec int64, nsec int64, offset int32) time.Time {
	t := time.Unix(sec, nsec)
	if offset == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(offset)))
}

// FuzzCreatePayloadJSON: whatever the fields, the hand writer writes
// json.Marshal's bytes, or gives up where json.Marshal fails.
func FuzzCreatePayloadJSON(f *testing.F) {
	f.Add("0190f3a2", "Maria", "Rossi <&>", "riga\nriga", "https://x/?a=1&b=2", []byte("hash"), false,
		int64(1804000000), int64(0), int32(0), 5, 8, 2027, 6, 2)
	f.Add("\u2028", "\xff", "\"\\", "", "", []byte{}, true, int64(-62135596800), int64(999999999), int32(3600), 0, 0, 0, 0, 0)
	f.Fuzz(func(t *testing.T, id, given, family, details, url string, hash []byte, nilHash bool,
		sec, nsec int64, offset int32, month, day, year, dmonth, dday int) {
		p := createPayload{
			ID: id, Code: family, ServiceID: given, Start: fuzzTime(sec, nsec, offset), Channel: Channel(details),
			Citizen: Citizen{GivenName: given, FamilyName: family, FiscalCode: id, Email: url, Phone: details},
			Details: details, TokenHash: hash, JoinToken: given, BaseURL: url, ManageURL: url, Lang: family, Net: id,
			Comune: comune{Name: family, TimeZone: id, Sender: tenant.Sender{Name: given, Address: url}},
		}
		if nilHash {
			p.TokenHash = nil
		}
		if month != 0 || day != 0 || year != 0 {
			p.Comune.PatronDays = []tenant.PatronDay{{Name: details, Month: time.Month(month), Day: day},
				{Name: given, Date: civil.Date{Year: year, Month: time.Month(dmonth), Day: dday}}}
		}
		checkCreatePayloadJSON(t, "fuzz", p)
	})
}

// FuzzAppliedJSON: whatever the fields, AppendJSON writes json.Marshal's
// bytes, and decodeApplied reads them back as json.Unmarshal does.
func FuzzAppliedJSON(f *testing.F) {
	f.Add("0190f3a2", "BA-1", "Rossi <&>", "riga\nriga", "https://x/?a=1&b=2", 3, true,
		int64(1804000000), int64(0), int32(0), int64(1804000900), int64(5), int32(-7200))
	f.Add("\u2028", "\xff", "\"\\", "", "", 0, false, int64(-62135596800), int64(999999999), int32(3600), int64(0), int64(0), int32(0))
	f.Fuzz(func(t *testing.T, id, code, name, details, url string, seq int, withBooking bool,
		sec, nsec int64, offset int32, sec2, nsec2 int64, offset2 int32) {
		a := Applied{ID: id, Code: code, Sequence: seq, ManageURL: url}
		if withBooking {
			a.Booking = &Booking{
				ID: id, Tenant: "bari", Code: code, ServiceID: name, OfficeID: details,
				Start: fuzzTime(sec, nsec, offset), End: fuzzTime(sec2, nsec2, offset2), Channel: Channel(name),
				Citizen: Citizen{GivenName: name, FamilyName: details, FiscalCode: code, Email: url, Phone: id},
				Details: details, Status: Status(code), JoinToken: url, Sequence: -seq,
				Created: fuzzTime(sec2, nsec, offset), Updated: fuzzTime(sec, nsec2, offset2), Lang: name,
			}
		}
		checkAppliedJSON(t, "fuzz", a)
		checkAppliedJSON(t, "fuzz recorded", a.RecordedValue().(Applied))
	})
}

func BenchmarkCreatePayloadJSON(b *testing.B) {
	p := createSamples()[0]
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			if _, err := newCreateCommand(3, "bari", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := cluster.NewCommand(CmdCreate, 3, "bari", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppliedJSON(b *testing.B) {
	a := appliedSamples()[0]
	a.ManageURL = "https://bari.example.it" + ManagePath(a.Code, "sNq3wVb6kP0x2YzR8tLmE1uH4cJ7aDfG")
	raw, _ := json.Marshal(a)
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			_ = a.AppendJSON(nil)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	rec := a.RecordedValue().(Applied)
	b.Run("recorded-append", func(b *testing.B) {
		for b.Loop() {
			_ = rec.AppendJSON(make([]byte, 0, 256))
		}
	})
	b.Run("recorded-marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeApplied(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		for b.Loop() {
			var a Applied
			if err := json.Unmarshal(raw, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMarshalSafe: marshalSafe agrees with json.Marshal on every ASCII
// byte.
func TestMarshalSafe(t *testing.T) {
	t.Parallel()
	for c := range byte(utf8.RuneSelf) {
		b, err := json.Marshal(string(rune(c)))
		if err != nil {
			t.Fatal(err)
		}
		if want := len(b) == 3; marshalSafe(c) != want {
			t.Errorf("byte %#x: marshalSafe %v, json.Marshal writes %s", c, marshalSafe(c), b)
		}
	}
}
