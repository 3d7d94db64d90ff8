package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
)

// bookingBodies are request bodies of POST /api/v1/bookings: the shapes
// clients send, which decodeBookingRequest decodes itself (fast true),
// and bodies it must leave to encoding/json.
var bookingBodies = []struct {
	body string
	fast bool
}{
	// loadgen's body, in its key order.
	{`{"service_id":"svc-1","start":"2027-03-11T10:00:00+01:00","channel":"in_person","privacy_accepted":true,"citizen":{"given_name":"Prova","family_name":"Carico 12","fiscal_code":"RSSMRA80A41H501U","email":"prova12@bench.localhost"}}`, true},
	// Every field, pretty-printed, with a proof.
	{"{\n  \"service_id\": \"svc-1\",\n  \"start\": \"2027-03-11T10:00:00Z\",\n  \"channel\": \"video\",\n  \"citizen\": {\n    \"given_name\": \"Niccolò\",\n    \"family_name\": \"D'Àlessio\",\n    \"fiscal_code\": \"DLSNCC80A01H501X\",\n    \"email\": \"n@example.it\",\n    \"phone\": \"+39 333 1234567\"\n  },\n  \"details\": \"Carta d'identità scaduta.\",\n  \"privacy_accepted\": false,\n  \"lang\": \"en\",\n  \"proof\": {\"challenge\": \"abc.def\", \"counter\": 18446744073709551615}\r\n}\t\n", true},
	{`{}`, true},
	{` { } `, true},
	{`{"citizen":{},"proof":{}}`, true},
	{`{"proof":{"counter":0,"challenge":""}}`, true},
	{"{\"details\":\"\x7f and ☎ and 𝄞\"}", true},
	// Left to encoding/json: each gives today's value or error.
	{``, false},
	{`null`, false},
	{`[]`, false},
	{`"x"`, false},
	{`{`, false},
	{`{"service_id":"a"`, false},
	{`{"service_id":"a",}`, false},
	{`{"service_id":"a"}{}`, false},
	{`{"service_id":"a"} x`, false},
	{`{"service_id":"a"}]`, false},
	{`{"service_id":null}`, false},
	{`{"citizen":null}`, false},
	{`{"proof":null}`, false},
	{`{"privacy_accepted":null}`, false},
	{`{"privacy_accepted":"true"}`, false},
	{`{"privacy_accepted":truex}`, false},
	{`{"privacy_accepted":1}`, false},
	{`{"service_id":1}`, false},
	{`{"service_id":["a"]}`, false},
	{`{"service_id":{"a":1}}`, false},
	{`{"Service_ID":"a"}`, false},
	{`{"SERVICE_ID":"a","service_id":"b"}`, false},
	{`{"service_id":"a","service_id":"b"}`, false},
	{`{"citizen":{"email":"a"},"citizen":{"phone":"b"}}`, false},
	{`{"citizen":{"email":"a","email":"b"}}`, false},
	{`{"citizen":{"age":3}}`, false},
	{`{"citizen":"Maria"}`, false},
	{`{"unknown":1}`, false},
	{`{"unknown":1,"other":{"x":2}}`, false},
	{`{"service_id":"a\"b"}`, false},
	{`{"service_id":"a\u00e0"}`, false},
	{`{"service_id":"a\/b"}`, false},
	{"{\"service_id\":\"a\xffb\"}", false},
	{"{\"service_id\":\"a\tb\"}", false},
	{"{\"serv\xe0ice_id\":\"a\"}", false},
	{`{"proof":{"counter":-1}}`, false},
	{`{"proof":{"counter":1.5}}`, false},
	{`{"proof":{"counter":1e3}}`, false},
	{`{"proof":{"counter":01}}`, false},
	{`{"proof":{"counter":18446744073709551616}}`, false},
	{`{"proof":{"counter":"5"}}`, false},
	{`{"proof":{"counter":5,"extra":1}}`, false},
	{`{"proof":[]}`, false},
	{"\xef\xbb\xbf{}", false},
	{`{"lang":"de" "x":1}`, false},
	{`{"lang" "de"}`, false},
}

// TestDecodeBookingRequest checks that decodeBookingRequest takes the
// usual bodies itself, and that decodeBody gives exactly what encoding/json
// gives for every body.
func TestDecodeBookingRequest(t *testing.T) {
	for _, c := range bookingBodies {
		var fast apiBookingRequest
		if got := decodeBookingRequest([]byte(c.body), &fast); got != c.fast {
			t.Errorf("decodeBookingRequest(%q) = %v, want %v", c.body, got, c.fast)
		}
		if !c.fast && fast != (apiBookingRequest{}) {
			t.Errorf("decodeBookingRequest(%q) refused the body but changed the request: %+v", c.body, fast)
		}
		compareDecodeBody(t, []byte(c.body))
	}
}

// TestDecodeBookingRequestValue spells out one decoded body.
func TestDecodeBookingRequestValue(t *testing.T) {
	var in apiBookingRequest
	if !decodeBookingRequest([]byte(bookingBodies[1].body), &in) {
		t.Fatal("refused")
	}
	want := apiBookingRequest{ServiceID: "svc-1", Start: "2027-03-11T10:00:00Z", Channel: "video",
		Citizen: apiCitizen{GivenName: "Niccolò", FamilyName: "D'Àlessio", FiscalCode: "DLSNCC80A01H501X",
			Email: "n@example.it", Phone: "+39 333 1234567"},
		Details: "Carta d'identità scaduta.", Lang: "en", Proof: &apiProof{Challenge: "abc.def", Counter: 1<<64 - 1}}
	if in.Proof == nil || *in.Proof != *want.Proof {
		t.Fatalf("proof %+v, want %+v", in.Proof, want.Proof)
	}
	in.Proof, want.Proof = nil, nil
	if in != want {
		t.Fatalf("got %+v\nwant %+v", in, want)
	}
}

// TestDecodeJSONBookingErrors checks that decodeJSON answers a booking
// body as before: its errors are encoding/json's, turned into the web
// layer's, whichever way the body went.
func TestDecodeJSONBookingErrors(t *testing.T) {
	for _, c := range []struct {
		body, ct string
		want     func(error) bool
	}{
		{`{"service_id":"a"}`, "application/json", func(err error) bool { return err == nil }},
		{`{"service_id":"a"}`, "application/json; charset=utf-8", func(err error) bool { return err == nil }},
		{`{"service_id":"a"}`, "Application/JSON", func(err error) bool { return err == nil }},
		{`{"service_id":"a"}`, "text/plain", func(err error) bool { return errors.Is(err, errUnsupportedMedia) }},
		{`{"service_id":"a"}`, "", func(err error) bool { return errors.Is(err, errUnsupportedMedia) }},
		{`{"service_id":"a"} {}`, "application/json", func(err error) bool { return errors.Is(err, errMalformed) }},
		{`{"service_id":"a"`, "application/json", func(err error) bool { return errors.Is(err, errMalformed) }},
		{`{"citizen":{"age":3},"x":1}`, "application/json", func(err error) bool {
			var ve *booking.ValidationError
			return errors.As(err, &ve) && maps.Equal(ve.Fields, map[string]string{"citizen.age": "Campo non previsto.", "x": "Campo non previsto."})
		}},
		{`{"privacy_accepted":"yes"}`, "application/json", func(err error) bool {
			var ve *booking.ValidationError
			return errors.As(err, &ve) && ve.Fields["privacy_accepted"] == "Tipo di valore non valido: atteso booleano (true o false)."
		}},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/bookings", strings.NewReader(c.body))
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		var in apiBookingRequest
		if err := decodeJSON(r, &in); !c.want(err) {
			t.Errorf("decodeJSON(%q, %q) = %v", c.body, c.ct, err)
		}
	}
}

// TestDecodeBodyKeepsFilledRequest checks that a request already holding
// values is decoded by encoding/json, which merges into it.
func TestDecodeBodyKeepsFilledRequest(t *testing.T) {
	in := apiBookingRequest{Details: "prima", Proof: &apiProof{Challenge: "c"}}
	if err := decodeBody([]byte(`{"service_id":"a","proof":{"counter":3}}`), &in); err != nil {
		t.Fatal(err)
	}
	if in.Details != "prima" || in.ServiceID != "a" || *in.Proof != (apiProof{Challenge: "c", Counter: 3}) {
		t.Fatalf("got %+v %+v", in, in.Proof)
	}
}

// compareDecodeBody fails t unless decodeBody and encoding/json alone
// give the same request and the same error for body.
func compareDecodeBody(t *testing.T, body []byte) {
	t.Helper()
	var got, want apiBookingRequest
	errGot := decodeBody(body, &got)
	errWant := decodeBodyJSON(body, &want)
	if fmt.Sprint(errGot) != fmt.Sprint(errWant) {
		t.Fatalf("body %q: error %v, encoding/json %v", body, errGot, errWant)
	}
	var veGot, veWant *booking.ValidationError
	if errors.As(errGot, &veGot) != errors.As(errWant, &veWant) || (veGot != nil && !maps.Equal(veGot.Fields, veWant.Fields)) {
		t.Fatalf("body %q: error %#v, encoding/json %#v", body, errGot, errWant)
	}
	if errors.Is(errGot, errMalformed) != errors.Is(errWant, errMalformed) {
		t.Fatalf("body %q: error %v, encoding/json %v", body, errGot, errWant)
	}
	if (got.Proof == nil) != (want.Proof == nil) || (got.Proof != nil && *got.Proof != *want.Proof) {
		t.Fatalf("body %q: proof %+v, encoding/json %+v", body, got.Proof, want.Proof)
	}
	got.Proof, want.Proof = nil, nil
	if got != want {
		t.Fatalf("body %q:\n got %+v\nwant %+v (encoding/json)", body, got, want)
	}
}

// FuzzDecodeBookingRequest compares decodeBody with encoding/json alone
// on any body, and checks that whatever decodeBookingRequest accepts
// encoding/json accepts too.
//
//	go test ./booking/web -run '^$' -fuzz FuzzDecodeBookingRequest -fuzztime 60s
func FuzzDecodeBookingRequest(f *testing.F) {
	for _, c := range bookingBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast apiBookingRequest
		if decodeBookingRequest(body, &fast) {
			var want apiBookingRequest
			if err := decodeBodyJSON(body, &want); err != nil {
				t.Fatalf("body %q: decoded by hand, refused by encoding/json: %v", body, err)
			}
		} else if fast != (apiBookingRequest{}) {
			t.Fatalf("body %q: refused but changed the request", body)
		}
		compareDecodeBody(t, body)
	})
}

// BenchmarkDecodeBookingRequest compares the two ways on loadgen's body.
//
//	go test ./booking/web -run '^$' -bench DecodeBookingRequest
func BenchmarkDecodeBookingRequest(b *testing.B) {
	body := []byte(bookingBodies[0].body)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in apiBookingRequest
			if err := decodeBody(body, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in apiBookingRequest
			if err := decodeBodyJSON(body, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// encodeCreatedJSON is what writeJSON writes for c.
func encodeCreatedJSON(t *testing.T, c apiBookingCreated) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compareCreated fails t unless writeBookingCreated answers c with the
// status, headers and bytes writeJSON answers it with.
func compareCreated(t *testing.T, c apiBookingCreated) {
	t.Helper()
	if got, ok := c.appendJSON(nil); ok && !bytes.Equal(got, encodeCreatedJSON(t, c)) {
		t.Fatalf("appendJSON:\n%s\nencoding/json:\n%s", got, encodeCreatedJSON(t, c))
	}
	got, want := httptest.NewRecorder(), httptest.NewRecorder()
	writeBookingCreated(got, c)
	writeJSON(want, http.StatusCreated, c)
	if got.Code != want.Code || !maps.EqualFunc(got.Header(), want.Header(), slices.Equal) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
		t.Fatalf("writeBookingCreated %d %v\n%s\nwriteJSON %d %v\n%s", got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
	}
}

func TestWriteBookingCreated(t *testing.T) {
	join := "https://bari.example.it/chiamata/ABC234?t=xyz"
	odd := "https://bari.example.it/é\"<&>\u2028\\\x01"
	base := apiBookingCreated{ID: "0190c9a3-1c2b-7d4e-8f00-123456789abc", Code: "BA-ABC234",
		Start: "2027-03-11T10:00:00+01:00", End: "2027-03-11T10:15:00+01:00",
		ManageURL: "https://bari.example.it/prenotazioni/BA-ABC234?token=tok_-", ManageToken: "tok_-"}
	withJoin, withOdd, oddJoin := base, base, base
	withJoin.JoinURL = &join
	withOdd.ManageURL = odd
	oddJoin.JoinURL = &odd
	for _, c := range []apiBookingCreated{base, withJoin, withOdd, oddJoin, {}} {
		compareCreated(t, c)
	}
	if _, ok := base.appendJSON(nil); !ok {
		t.Fatal("a plain answer went to encoding/json")
	}
}

// FuzzBookingCreatedJSON compares writeBookingCreated with writeJSON.
//
//	go test ./booking/web -run '^$' -fuzz FuzzBookingCreatedJSON -fuzztime 30s
func FuzzBookingCreatedJSON(f *testing.F) {
	f.Add("id", "BA-ABC234", "2027-03-11T10:00:00+01:00", "end", "https://x/y?token=a", "a", "", false)
	f.Add("id", "c", "s", "e", "u\"", "\x7f", "https://x/j", true)
	f.Fuzz(func(t *testing.T, id, code, start, end, murl, tok, join string, hasJoin bool) {
		c := apiBookingCreated{ID: id, Code: code, Start: start, End: end, ManageURL: murl, ManageToken: tok}
		if hasJoin {
			c.JoinURL = &join
		}
		compareCreated(t, c)
	})
}
