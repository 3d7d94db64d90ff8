package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// compactCases are notices that exercise every member of the compact
// form, its shortcuts (manage and confirm links, sequence, updated time)
// and the values they must not swallow.
func compactCases() map[string]Notice {
	cases := map[string]Notice{}
	for _, k := range []NoticeKind{NoticeConfirm, NoticeMove, NoticeCancel, NoticeReminder} {
		for _, ch := range []Channel{InPerson, Video, Phone} {
			n := testNotice(k, ch)
			if k == NoticeReminder {
				n.Before = 2 * time.Hour
			}
			cases[fmt.Sprintf("%s/%s", k, ch)] = n
		}
	}
	n := testNotice(NoticeConfirm, InPerson)
	n.ConfirmURL = confirmURLOf(n.ManageURL)
	n.ConfirmFrom, n.ConfirmBy = n.Booking.Start.Add(-72*time.Hour), n.Booking.Start.Add(-24*time.Hour)
	n.Booking.Lang = LangDE
	cases["confirm-to-keep"] = n

	n = testNotice(NoticeConfirm, InPerson)
	n.ConfirmURL = "https://elsewhere.example/conferma?x=1"
	n.ManageURL = "https://other.example/prenotazioni/X?token=abc"
	n.Booking.Created = time.Date(2026, 3, 9, 9, 0, 0, 123456789, time.UTC)
	n.Booking.Updated = time.Date(2026, 3, 9, 9, 0, 0, 1, time.UTC)
	n.Sequence = 7
	n.Booking.Status = ""
	n.WhatToBring = []string{}
	n.Reason = "Chiusura straordinaria \"urgente\"\n\tper\x01guasto \u2028 <b>&</b>"
	cases["odd values"] = n

	n = testNotice(NoticeConfirm, Phone)
	n.BookURL = ""
	n.Booking.Updated = time.Time{}
	n.Booking.Citizen = Citizen{GivenName: "Zoë\xff", FamilyName: "O'Brien \\ 日本", FiscalCode: "RSSMRA85T10A562S", Email: "z@example.org", Phone: "+39"}
	n.Booking.Details = "riga uno\r\nriga \"due\"\x7f"
	n.Sender.Name, n.TenantName = "", "Comune di Bari"
	cases["no site, bad UTF-8"] = n

	cases["empty"] = Notice{}
	return cases
}

// TestCompactNoticeMatchesFull holds the compact form to the full one:
// both decode to the same Notice, so the deliverer composes the same
// email from either; and the compact one is at least a quarter shorter.
func TestCompactNoticeMatchesFull(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for name, n := range compactCases() {
		t.Run(name, func(t *testing.T) {
			full, err := json.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			compact := appendCompactNotice(nil, n)
			if !json.Valid(compact) || !bytes.HasPrefix(compact, []byte(compactPrefix)) {
				t.Fatalf("compact form is not JSON with the prefix: %s", compact)
			}
			var want, got Notice
			if err := json.Unmarshal(full, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(compact, &got); err != nil {
				t.Fatalf("decode %s: %v", compact, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("compact decodes to\n%+v\nwant (full form)\n%+v\ncompact: %s", got, want, compact)
			}
			if _, ok := scanCompactNotice(compact); !ok {
				t.Errorf("the scanner gave up on %s", compact)
			}
			for form, payload := range map[string][]byte{"compact": compact, "full": full} {
				if got, err := DecodeNotice(payload); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("DecodeNotice of the %s form: %v\n%+v\nwant\n%+v", form, err, got, want)
				}
			}
			if name != "empty" && 4*len(compact) > 3*len(full) {
				t.Errorf("compact form %d bytes, full %d: want at least a quarter less", len(compact), len(full))
			}
			if want.Booking.Citizen.Email == "" || want.Sender.Address == "" {
				return
			}
			_, _, wmsg, werr := ComposeEmail(want, at)
			_, _, gmsg, gerr := ComposeEmail(got, at)
			if werr != nil || gerr != nil || !bytes.Equal(wmsg, gmsg) {
				t.Errorf("emails differ (errors %v, %v)", werr, gerr)
			}
		})
	}
}

// FuzzCompactNotice: whatever the strings, the compact form is valid
// JSON that decodes to what the full form decodes to.
func FuzzCompactNotice(f *testing.F) {
	f.Add("Maria", "Via \"Roma\" 1\n", "https://bari.example.it/", "tok", int64(0))
	f.Add("\xff\xfe", "\u2028<>&", "", "", int64(999999999))
	f.Fuzz(func(t *testing.T, name, address, book, token string, nanos int64) {
		n := testNotice(NoticeConfirm, InPerson)
		n.Booking.Citizen.GivenName, n.OfficeAddress, n.BookURL = name, address, book
		n.ManageURL = manageURLOf(book, n.Booking.Code, token)
		n.Booking.Created = n.Booking.Created.Add(time.Duration(nanos % 1e12))
		full, _ := json.Marshal(n)
		compact := appendCompactNotice(nil, n)
		if !json.Valid(compact) {
			t.Fatalf("not JSON: %q", compact)
		}
		var want, got Notice
		if err := json.Unmarshal(full, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(compact, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("compact %s\ndecodes to %+v\nwant %+v", compact, got, want)
		}
		if _, ok := scanCompactNotice(compact); !ok {
			t.Fatalf("the scanner gave up on %q", compact)
		}
		if got, err := DecodeNotice(compact); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeNotice of %s: %v\n%+v\nwant %+v", compact, err, got, want)
		}
	})
}

// FuzzScanCompactNotice: on any input with the compact prefix,
// DecodeNotice gives what json.Unmarshal gives (the scanner either agrees
// or gives up).
func FuzzScanCompactNotice(f *testing.F) {
	for _, n := range compactCases() {
		f.Add(appendCompactNotice(nil, n))
	}
	f.Add([]byte(`{"v":2,"kind":"confirm","gn":"a\u00e9","ss":"x","KIND":"move"}`))
	f.Add([]byte(`{"v":2,"kind":"confirm","st":1e3,"wb":[],"uz":false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte(compactPrefix)) {
			return
		}
		var want Notice
		wantErr := json.Unmarshal(data, &want)
		got, err := DecodeNotice(data)
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: DecodeNotice %+v, %v\njson.Unmarshal %+v, %v", data, got, err, want, wantErr)
		}
	})
}

// TestCreateQueuesCompactNotice books on a cluster of two members that
// know booking.create version 3 and on one whose second member is of the
// release before it (version 2, a rolling upgrade): the first queues the
// compact form, the second the full one (the version gate holds version
// 3 back), and the two notices are the same.
func TestCreateQueuesCompactNotice(t *testing.T) {
	t.Parallel()
	older := func(r *cluster.Registry) { register(r, createLangVersion) }
	rows := map[string]cluster.OutboxMessage{}
	for _, c := range []struct {
		name string
		reg  func(*cluster.Registry)
	}{{"new", Register}, {"older", older}} {
		clock := clustertest.NewClock(startTime)
		node := twoMembers(t, clock, c.reg)
		// The same random bytes in both runs: the same IDs, codes and
		// tokens.
		book := NewBook(node, node.DB(), clock.Now, bytes.NewReader(bytes.Repeat([]byte("0123456789abcdef"), 1<<12)))
		ctx := context.Background()
		office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Via Roma 1", Phone: "080 577 1111",
			Hours: everyDay(Interval{hm(8, 0), hm(18, 0)})})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := book.SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "CIE", Duration: 30 * time.Minute,
			WhatToBring: []string{"Fototessera"}, Channels: []Channel{InPerson, Video}, Capacity: 2, HorizonDays: 30,
			CancelDeadline: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := book.SaveFairSettings(ctx, bari.ID, svc.ID, FairSettings{ConfirmFrom: 96 * time.Hour, ConfirmBy: 48 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		req := Request{ServiceID: svc.ID, Start: time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC), Channel: Video, PrivacyAccepted: true,
			Citizen: Citizen{GivenName: "Anna", FamilyName: "Bianchi", FiscalCode: testFiscalCode(3), Email: "anna@example.it"},
			Details: "Rinnovo"}
		if _, err := book.Create(ctx, bari, req, "https://bari.example.it"); err != nil {
			t.Fatal(err)
		}
		ms, err := node.Outbox(ctx, "", 10)
		if err != nil || len(ms) != 1 {
			t.Fatalf("%s: outbox %d rows, %v; want 1", c.name, len(ms), err)
		}
		rows[c.name] = ms[0]
	}
	if p := rows["new"].Payload; !bytes.HasPrefix(p, []byte(compactPrefix)) {
		t.Errorf("new cluster queued %s, want the compact form", p)
	}
	if p := rows["older"].Payload; !bytes.HasPrefix(p, []byte(`{"kind":"confirm"`)) {
		t.Errorf("cluster with an older member queued %s, want the full form", p)
	}
	if rows["new"].Key != rows["older"].Key {
		t.Errorf("keys %q and %q differ", rows["new"].Key, rows["older"].Key)
	}
	var gotN, wantN Notice
	if err := json.Unmarshal(rows["new"].Payload, &gotN); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rows["older"].Payload, &wantN); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotN, wantN) {
		t.Fatalf("compact notice\n%+v\nwant\n%+v", gotN, wantN)
	}
	if wantN.ConfirmURL == "" || wantN.JoinURL == "" || !strings.Contains(wantN.ManageURL, "?token=") {
		t.Errorf("the case does not exercise the links: %+v", wantN)
	}
	t.Logf("outbox payload: full %d bytes, compact %d bytes: %s", len(rows["older"].Payload), len(rows["new"].Payload), rows["new"].Payload)
}

// twoMembers starts a cluster of two: a leader of this release and a
// member registered with second. It returns the leader.
func twoMembers(t *testing.T, clock *clustertest.Clock, second func(*cluster.Registry)) *cluster.Node {
	t.Helper()
	leader, _ := clustertest.TwoMembers(t, clock.Now, Register, second)
	return leader
}

// BenchmarkDecodeNotice measures the leader's decoding of an outbox row
// before it composes the email: the full form and the compact one.
//
//	go test ./booking/ -run '^$' -bench DecodeNotice
func BenchmarkDecodeNotice(b *testing.B) {
	n := compactCases()["confirm-to-keep"]
	full, _ := json.Marshal(n)
	compact := appendCompactNotice(nil, n)
	for _, c := range []struct {
		name    string
		payload []byte
	}{{"full", full}, {"compact", compact}} {
		b.Run(c.name+"/json.Unmarshal", func(b *testing.B) {
			for b.Loop() {
				var got Notice
				if err := json.Unmarshal(c.payload, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/DecodeNotice", func(b *testing.B) {
			for b.Loop() {
				if _, err := DecodeNotice(c.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
