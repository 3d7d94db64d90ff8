package booking

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// fixture is a real one-node cluster with the booking schema, a Comune
// "bari" with an Anagrafe office (Monday–Friday 08:30–12:30, Thursday also
// 15:00–17:00) and a service of 30 minutes with two desks.
type fixture struct {
	node   *cluster.Node
	book   *Book
	clock  *clustertest.Clock
	loc    *time.Location
	office Office
	svc    Service
	// mails receives the composed messages the outbox worker delivers,
	// when the fixture was built with deliver.
	mails chan []byte
}

// startTime is the fixture's clock at start: Monday 9 March 2026, 10:00
// in Rome.
var startTime = time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, deliver bool) *fixture {
	t.Helper()
	f := &fixture{clock: clustertest.NewClock(startTime), mails: make(chan []byte, 100)}
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now}, Register)
	if deliver {
		f.node.HandleOutbox(OutboxKind, func(ctx context.Context, m cluster.OutboxMessage) error {
			var n Notice
			if err := json.Unmarshal(m.Payload, &n); err != nil {
				return err
			}
			_, _, msg, err := ComposeEmail(n, f.clock.Now())
			if err != nil {
				return err
			}
			f.mails <- msg
			return nil
		})
	}
	clustertest.Start(t, f.node)
	f.book = NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.loc = bari.Location()
	ctx := context.Background()
	var week Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Interval{{hm(8, 30), hm(12, 30)}}
	}
	week[time.Thursday] = append(week[time.Thursday], Interval{hm(15, 0), hm(17, 0)})
	var err error
	f.office, err = f.book.SaveOffice(ctx, bari.ID, Office{
		Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84, 70122 Bari",
		Phone: "080 577 1111", Email: "anagrafe@comune.bari.it", Hours: week,
	})
	if err != nil {
		t.Fatalf("SaveOffice: %v", err)
	}
	f.svc, err = f.book.SaveService(ctx, bari.ID, Service{
		OfficeID: f.office.ID, Name: "Rilascio carta d'identità elettronica",
		Description: "Richiesta della CIE.", Category: "Anagrafe e stato civile",
		WhatToBring: []string{"Fototessera", "Tessera sanitaria"},
		Duration:    30 * time.Minute, Channels: []Channel{InPerson, Video}, Capacity: 2,
		MinNotice: 2 * time.Hour, HorizonDays: 60, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatalf("SaveService: %v", err)
	}
	return f
}

// at returns the instant at hh:mm on a day in Rome.
func (f *fixture) at(y int, m time.Month, d, hh, mm int) time.Time {
	t, _ := civil.Date{Year: y, Month: m, Day: d}.In(f.loc, hh, mm)
	return t
}

func (f *fixture) request(svc string, start time.Time, citizen int) Request {
	return Request{
		ServiceID: svc, Start: start, Channel: InPerson,
		Citizen: Citizen{
			GivenName: "Maria", FamilyName: fmt.Sprintf("Rossi %d", citizen),
			FiscalCode: testFiscalCode(citizen), Email: fmt.Sprintf("maria%d@example.it", citizen),
		},
		PrivacyAccepted: true,
	}
}

// state is the booking tables and outbox as text, to prove that a refused
// command changed nothing.
func (f *fixture) state(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT tenant, id, code, start_unix, status, sequence, fiscal_code FROM booking_bookings ORDER BY tenant, id`,
		`SELECT tenant, key FROM cluster_outbox ORDER BY key`,
	} {
		rows, err := f.node.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

func (f *fixture) outbox(t *testing.T) []Notice {
	t.Helper()
	ms, err := f.node.Outbox(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []Notice
	for _, m := range ms {
		var n Notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

var codePattern = regexp.MustCompile(`^BA-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{6}$`)

func TestBookingLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	thu := civil.Date{Year: 2026, Month: 3, Day: 12}

	slots, err := f.book.Slots(ctx, bari, f.svc.ID, thu, thu)
	if err != nil {
		t.Fatalf("Slots: %v", err)
	}
	if len(slots) != 12 { // 08:30–12:30 and 15:00–17:00 in 30 minutes
		t.Fatalf("%d slots on Thursday, want 12", len(slots))
	}
	first := slots[0]
	if got := first.Start.Format(time.RFC3339); got != "2026-03-12T08:30:00+01:00" || first.Remaining != 2 {
		t.Fatalf("first slot %s remaining %d, want 2026-03-12T08:30:00+01:00 remaining 2", got, first.Remaining)
	}

	req := f.request(f.svc.ID, first.Start, 1)
	req.Channel = Video
	req.Citizen.FiscalCode = " " + strings.ToLower(req.Citizen.FiscalCode)
	c, err := f.book.Create(ctx, bari, req, "https://bari.example.it/")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	b := c.Booking
	if !codePattern.MatchString(b.Code) {
		t.Errorf("code %q does not match %s", b.Code, codePattern)
	}
	if len(c.ManageToken) != 43 || b.JoinToken == "" || c.Index == 0 {
		t.Errorf("token %q, join token %q, index %d: want a 43-character token, a join token and an index", c.ManageToken, b.JoinToken, c.Index)
	}
	if !b.Start.Equal(first.Start) || b.End.Sub(b.Start) != 30*time.Minute || b.Status != Active || b.Sequence != 0 {
		t.Errorf("booking %+v, want active at %v for 30m, sequence 0", b, first.Start)
	}
	if b.Citizen.FiscalCode != testFiscalCode(1) {
		t.Errorf("fiscal code stored as %q, want %q", b.Citizen.FiscalCode, testFiscalCode(1))
	}
	if !b.Created.Equal(startTime) {
		t.Errorf("created %v, want the leader's time %v", b.Created, startTime)
	}
	var hash []byte
	if err := f.node.DB().QueryRow(`SELECT manage_hash FROM booking_bookings WHERE tenant = 'bari' AND id = ?`, b.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(hash, []byte(c.ManageToken)) || len(hash) != 32 {
		t.Errorf("stored manage hash %x is not a SHA-256", hash)
	}

	got, err := f.book.Get(ctx, bari.ID, strings.ToLower(b.Code), c.ManageToken)
	if err != nil || got.ID != b.ID {
		t.Fatalf("Get = %v, %v, want the booking", got.ID, err)
	}
	if _, err := f.book.Get(ctx, bari.ID, b.Code, c.ManageToken+"x"); !errors.Is(err, ErrBadToken) {
		t.Errorf("Get with a wrong token: %v, want ErrBadToken", err)
	}
	if _, err := f.book.Get(ctx, bari.ID, "BA-XXXXXX", c.ManageToken); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown code: %v, want ErrNotFound", err)
	}
	slots, _ = f.book.Slots(ctx, bari, f.svc.ID, thu, thu)
	if slots[0].Remaining != 1 {
		t.Errorf("remaining after one booking %d, want 1", slots[0].Remaining)
	}
	ics, err := f.book.CalendarFile(ctx, bari, b.Code, c.ManageToken, "https://bari.example.it")
	if err != nil || !bytes.Contains(ics, []byte("METHOD:REQUEST")) || !bytes.Contains(ics, []byte("UID:"+b.ID+"@bari.sportello")) {
		t.Errorf("CalendarFile = %q, %v", ics, err)
	}

	mail := <-f.mails
	p := parseEmail(t, mail)
	manage := "https://bari.example.it/prenotazioni/" + b.Code + "?token=" + c.ManageToken
	join := "https://bari.example.it/chiamata/" + b.Code + "?t=" + b.JoinToken
	if !strings.Contains(p.text, manage) || !strings.Contains(p.text, join) {
		t.Errorf("confirmation lacks manage link %s or join link %s:\n%s", manage, join, p.text)
	}
	if p.header.Get("To") == "" || !strings.Contains(p.subject, "confermato") {
		t.Errorf("confirmation To %q Subject %q", p.header.Get("To"), p.subject)
	}

	// Move to 09:00 the same day: the old slot frees up, the new one fills.
	moved, err := f.book.Move(ctx, bari, b.Code, c.ManageToken, slots[1].Start, "https://bari.example.it")
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	if !moved.Start.Equal(slots[1].Start) || moved.Sequence != 1 || moved.Status != Active {
		t.Errorf("moved booking at %v sequence %d status %s, want %v 1 active", moved.Start, moved.Sequence, moved.Status, slots[1].Start)
	}
	slots, _ = f.book.Slots(ctx, bari, f.svc.ID, thu, thu)
	if slots[0].Remaining != 2 || slots[1].Remaining != 1 {
		t.Errorf("remaining after the move %d, %d, want 2, 1", slots[0].Remaining, slots[1].Remaining)
	}
	p = parseEmail(t, <-f.mails)
	props := icsProps(t, p.ics)
	if value(props["SEQUENCE"][0]) != "1" || value(props["DTSTART"][0]) != "20260312T080000Z" {
		t.Errorf("move ICS SEQUENCE %v DTSTART %v, want 1 and 20260312T080000Z", props["SEQUENCE"], props["DTSTART"])
	}
	if !strings.Contains(p.text, manage) {
		t.Errorf("move email lacks the manage link")
	}

	cancelled, err := f.book.Cancel(ctx, bari, b.Code, c.ManageToken, "https://bari.example.it")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if cancelled.Status != Cancelled || cancelled.Sequence != 2 {
		t.Errorf("cancelled booking status %s sequence %d, want cancelled 2", cancelled.Status, cancelled.Sequence)
	}
	p = parseEmail(t, <-f.mails)
	props = icsProps(t, p.ics)
	if value(props["METHOD"][0]) != "CANCEL" || value(props["SEQUENCE"][0]) != "2" {
		t.Errorf("cancel ICS METHOD %v SEQUENCE %v", props["METHOD"], props["SEQUENCE"])
	}
	slots, _ = f.book.Slots(ctx, bari, f.svc.ID, thu, thu)
	if slots[1].Remaining != 2 {
		t.Errorf("remaining after the cancellation %d, want 2", slots[1].Remaining)
	}
	if _, err := f.book.Cancel(ctx, bari, b.Code, c.ManageToken, ""); !errors.Is(err, ErrCancelled) {
		t.Errorf("second Cancel: %v, want ErrCancelled", err)
	}
	if _, err := f.book.Move(ctx, bari, b.Code, c.ManageToken, slots[2].Start, ""); !errors.Is(err, ErrCancelled) {
		t.Errorf("Move after Cancel: %v, want ErrCancelled", err)
	}
	// The citizen may book the service again once the booking is cancelled.
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, slots[3].Start, 1), "https://bari.example.it"); err != nil {
		t.Errorf("Create after Cancel: %v", err)
	}

	// Three changes, three emails, each queued once.
	keys := map[string]bool{}
	for _, n := range f.outbox(t)[:3] {
		keys[string(n.Kind)] = true
		if n.Booking.Citizen.FiscalCode != "" {
			t.Errorf("%s notice carries the codice fiscale", n.Kind)
		}
	}
	if len(keys) != 3 {
		t.Errorf("notice kinds %v, want confirm, move, cancel", keys)
	}
}

func TestRulesRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	base := "https://bari.example.it"
	book := func(start time.Time, citizen int) (Created, error) {
		return f.book.Create(ctx, bari, f.request(f.svc.ID, start, citizen), base)
	}
	// Two desks at 09:00 on Tuesday 10 March, both taken.
	full := f.at(2026, 3, 10, 9, 0)
	if _, err := book(full, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := book(full, 2); err != nil {
		t.Fatal(err)
	}
	held, err := book(f.at(2026, 3, 11, 9, 0), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.AddClosure(ctx, bari.ID, Closure{OfficeID: f.office.ID,
		From: civil.Date{Year: 2026, Month: 3, Day: 16}, To: civil.Date{Year: 2026, Month: 3, Day: 17}, Reason: "Inventario"}); err != nil {
		t.Fatal(err)
	}
	patron := bari
	patron.PatronDays = []tenant.PatronDay{{Name: "San Sabino", Month: time.March, Day: 18}}

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"slot full", func() error { _, err := book(full, 4); return err }, ErrSlotFull},
		{"citizen already booked", func() error { _, err := book(f.at(2026, 3, 12, 9, 0), 1); return err }, ErrAlreadyBooked},
		{"inside the minimum notice", func() error { _, err := book(f.at(2026, 3, 9, 11, 30), 5); return err }, ErrTooSoon},
		{"in the past", func() error { _, err := book(f.at(2026, 3, 6, 9, 0), 5); return err }, ErrTooSoon},
		{"past the horizon", func() error { _, err := book(f.at(2026, 5, 11, 9, 0), 5); return err }, ErrTooFar},
		{"national holiday", func() error { _, err := book(f.at(2026, 4, 6, 9, 0), 5); return err }, ErrClosed},
		{"office closure", func() error { _, err := book(f.at(2026, 3, 17, 9, 0), 5); return err }, ErrClosed},
		{"patron day", func() error {
			_, err := f.book.Create(ctx, patron, f.request(f.svc.ID, f.at(2026, 3, 18, 9, 0), 5), base)
			return err
		}, ErrClosed},
		{"weekend", func() error { _, err := book(f.at(2026, 3, 14, 9, 0), 5); return err }, ErrNotASlot},
		{"not on the grid", func() error { _, err := book(f.at(2026, 3, 10, 9, 10), 5); return err }, ErrNotASlot},
		{"after hours", func() error { _, err := book(f.at(2026, 3, 10, 12, 30), 5); return err }, ErrNotASlot},
		{"channel not offered", func() error {
			r := f.request(f.svc.ID, f.at(2026, 3, 10, 10, 0), 5)
			r.Channel, r.Citizen.Phone = Phone, "3331234567"
			_, err := f.book.Create(ctx, bari, r, base)
			return err
		}, ErrChannelOffered},
		{"unknown service", func() error {
			_, err := f.book.Create(ctx, bari, f.request("nope", f.at(2026, 3, 10, 10, 0), 5), base)
			return err
		}, ErrNotFound},
		{"move into a full slot", func() error {
			_, err := f.book.Move(ctx, bari, held.Booking.Code, held.ManageToken, full, base)
			return err
		}, ErrSlotFull},
		{"move to a holiday", func() error {
			_, err := f.book.Move(ctx, bari, held.Booking.Code, held.ManageToken, f.at(2026, 4, 6, 9, 0), base)
			return err
		}, ErrClosed},
		{"move with a wrong token", func() error {
			_, err := f.book.Move(ctx, bari, held.Booking.Code, "guess", f.at(2026, 3, 12, 9, 0), base)
			return err
		}, ErrBadToken},
		{"cancel with a wrong token", func() error {
			_, err := f.book.Cancel(ctx, bari, held.Booking.Code, "guess", base)
			return err
		}, ErrBadToken},
		{"cancel an unknown code", func() error {
			_, err := f.book.Cancel(ctx, bari, "BA-222222", held.ManageToken, base)
			return err
		}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state(t)
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if after := f.state(t); after != before {
				t.Errorf("state changed:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}

	t.Run("validation", func(t *testing.T) {
		before := f.state(t)
		r := f.request(f.svc.ID, full, 6)
		r.PrivacyAccepted = false
		_, err := f.book.Create(ctx, bari, r, base)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Fields["privacy_accepted"] == "" {
			t.Errorf("got %v, want a *ValidationError on privacy_accepted", err)
		}
		if f.state(t) != before {
			t.Errorf("state changed")
		}
	})

	t.Run("cancellation deadline", func(t *testing.T) {
		// held starts Wednesday 11 March 09:00; the deadline is 24 hours
		// before.
		f.clock.Set(held.Booking.Start.Add(-24*time.Hour + time.Second))
		defer f.clock.Set(startTime)
		before := f.state(t)
		if _, err := f.book.Cancel(ctx, bari, held.Booking.Code, held.ManageToken, base); !errors.Is(err, ErrPastDeadline) {
			t.Errorf("Cancel: %v, want ErrPastDeadline", err)
		}
		if _, err := f.book.Move(ctx, bari, held.Booking.Code, held.ManageToken, f.at(2026, 3, 13, 9, 0), base); !errors.Is(err, ErrPastDeadline) {
			t.Errorf("Move: %v, want ErrPastDeadline", err)
		}
		if f.state(t) != before {
			t.Errorf("state changed")
		}
		f.clock.Set(held.Booking.Start.Add(-24 * time.Hour))
		if _, err := f.book.Cancel(ctx, bari, held.Booking.Code, held.ManageToken, base); err != nil {
			t.Errorf("Cancel exactly at the deadline: %v", err)
		}
	})
}

func TestRulesAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	base := "https://bari.example.it"

	t.Run("extra opening on a holiday", func(t *testing.T) {
		easterMonday := civil.Date{Year: 2026, Month: 4, Day: 6}
		if _, err := f.book.AddOpening(ctx, bari.ID, Opening{OfficeID: f.office.ID, Date: easterMonday,
			Intervals: []Interval{{hm(9, 0), hm(10, 0)}}, Reason: "Apertura straordinaria"}); err != nil {
			t.Fatal(err)
		}
		slots, err := f.book.Slots(ctx, bari, f.svc.ID, easterMonday, easterMonday)
		if err != nil || len(slots) != 2 {
			t.Fatalf("Slots = %d, %v, want 2", len(slots), err)
		}
		if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 4, 6, 9, 30), 10), base); err != nil {
			t.Errorf("Create on the extra opening: %v", err)
		}
	})

	t.Run("move keeps the citizen's own booking out of the cap", func(t *testing.T) {
		c, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 19, 9, 0), 11), base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.book.Move(ctx, bari, c.Booking.Code, c.ManageToken, f.at(2026, 3, 19, 9, 30), base); err != nil {
			t.Errorf("Move to another slot: %v", err)
		}
		// Onto its own slot, full with itself and another citizen.
		if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 19, 9, 30), 12), base); err != nil {
			t.Fatal(err)
		}
		if _, err := f.book.Move(ctx, bari, c.Booking.Code, c.ManageToken, f.at(2026, 3, 19, 9, 30), base); err != nil {
			t.Errorf("Move onto its own full slot: %v", err)
		}
	})

	t.Run("past bookings do not count for the cap", func(t *testing.T) {
		if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 20, 9, 0), 13), base); err != nil {
			t.Fatal(err)
		}
		f.clock.Set(f.at(2026, 3, 20, 9, 1))
		defer f.clock.Set(startTime)
		if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 24, 9, 0), 13), base); err != nil {
			t.Errorf("Create after the first appointment passed: %v", err)
		}
	})

	t.Run("no cap", func(t *testing.T) {
		svc := f.svc
		svc.ID, svc.MaxActivePerCitizen = "", 0
		svc, err := f.book.SaveService(ctx, bari.ID, svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []int{9, 10, 11} {
			if _, err := f.book.Create(ctx, bari, f.request(svc.ID, f.at(2026, 3, 25, h, 0), 14), base); err != nil {
				t.Errorf("booking %d:00 with no cap: %v", h, err)
			}
		}
	})
}

func TestCodeCollisionRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	// The scripted randomness gives each Create a fresh ID and token, and
	// the code bytes 0,0,0,0,0,0 ("222222") first; the second Create then
	// draws bytes of 1 ("333333") on its retry.
	script := func(id byte, codes ...byte) *bytes.Reader {
		var b []byte
		b = append(b, bytes.Repeat([]byte{id}, idRandomBytes)...)
		b = append(b, bytes.Repeat([]byte{id}, manageTokenBytes)...)
		for _, c := range codes {
			b = append(b, bytes.Repeat([]byte{c}, codeLength)...)
		}
		return bytes.NewReader(b)
	}
	b1 := NewBook(f.node, f.node.DB(), f.clock.Now, script(1, 0))
	c1, err := b1.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 10, 9, 0), 1), "")
	if err != nil || c1.Booking.Code != "BA-222222" {
		t.Fatalf("first Create = %q, %v, want BA-222222", c1.Booking.Code, err)
	}
	b2 := NewBook(f.node, f.node.DB(), f.clock.Now, script(2, 0, 1))
	c2, err := b2.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 10, 9, 0), 2), "")
	if err != nil || c2.Booking.Code != "BA-333333" {
		t.Fatalf("second Create = %q, %v, want BA-333333 after a retry", c2.Booking.Code, err)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	milano := tenant.Tenant{ID: "milano", Name: "Comune di Milano", CodePrefix: "BA", TimeZone: "Europe/Rome"}
	// Milano has an office with the same ID as Bari's.
	mo, err := f.book.SaveOffice(ctx, milano.ID, Office{ID: f.office.ID, Name: "Anagrafe Milano", Address: "Via Larga 12, Milano",
		Hours: f.office.Hours})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 10, 9, 0), 1), "")
	if err != nil {
		t.Fatal(err)
	}
	code, tok := c.Booking.Code, c.ManageToken
	checks := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := f.book.Get(ctx, milano.ID, code, tok); return err }},
		{"Cancel", func() error { _, err := f.book.Cancel(ctx, milano, code, tok, ""); return err }},
		{"Move", func() error { _, err := f.book.Move(ctx, milano, code, tok, f.at(2026, 3, 10, 10, 0), ""); return err }},
		{"CalendarFile", func() error { _, err := f.book.CalendarFile(ctx, milano, code, tok, ""); return err }},
		{"Service", func() error { _, err := f.book.Service(ctx, milano.ID, f.svc.ID); return err }},
		{"Slots", func() error {
			_, err := f.book.Slots(ctx, milano, f.svc.ID, civil.Date{Year: 2026, Month: 3, Day: 10}, civil.Date{Year: 2026, Month: 3, Day: 10})
			return err
		}},
		{"Create with Bari's service", func() error {
			_, err := f.book.Create(ctx, milano, f.request(f.svc.ID, f.at(2026, 3, 10, 10, 0), 2), "")
			return err
		}},
	}
	for _, ck := range checks {
		if err := ck.do(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s through milano: %v, want ErrNotFound", ck.name, err)
		}
	}
	offices, err := f.book.Offices(ctx, milano.ID)
	if err != nil || len(offices) != 1 || offices[0].Name != "Anagrafe Milano" || len(offices[0].Services) != 0 {
		t.Errorf("milano offices = %+v, %v, want only its own, without Bari's services", offices, err)
	}
	if o, _ := f.book.Office(ctx, bari.ID, mo.ID); o.Name != "Anagrafe" || len(o.Services) != 1 {
		t.Errorf("bari office after milano's save = %+v, want unchanged", o)
	}
	if got, err := f.book.Get(ctx, bari.ID, code, tok); err != nil || got.Status != Active {
		t.Errorf("bari booking after milano's attempts: %+v, %v, want active", got, err)
	}
	if bs, _ := f.book.Bookings(ctx, milano.ID, "", startTime, startTime.Add(90*24*time.Hour)); len(bs) != 0 {
		t.Errorf("milano agenda lists %d bookings, want 0", len(bs))
	}
}

func TestSlotsThroughBook(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	f.clock.Set(time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC))

	// A Sunday service across the start of DST (29 March 2026).
	svc := f.svc
	svc.ID, svc.Name = "", "Apertura domenicale"
	svc.Hours = Week{}
	svc.Hours[time.Sunday] = []Interval{{hm(8, 0), hm(10, 0)}}
	svc.Duration = time.Hour
	svc, err := f.book.SaveService(ctx, bari.ID, svc)
	if err != nil {
		t.Fatal(err)
	}
	d := func(m time.Month, day int) civil.Date { return civil.Date{Year: 2026, Month: m, Day: day} }
	slots, err := f.book.Slots(ctx, bari, svc.ID, d(3, 21), d(3, 30))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range slots {
		got = append(got, s.Start.Format(time.RFC3339))
	}
	want := []string{"2026-03-22T08:00:00+01:00", "2026-03-22T09:00:00+01:00", "2026-03-29T08:00:00+02:00", "2026-03-29T09:00:00+02:00"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Sunday slots = %v, want %v", got, want)
	}
	c, err := f.book.Create(ctx, bari, f.request(svc.ID, slots[2].Start, 1), "")
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Booking.Start.UTC().Format(time.RFC3339); u != "2026-03-29T06:00:00Z" {
		t.Errorf("booked start %s UTC, want 2026-03-29T06:00:00Z", u)
	}

	// Holidays close days: Easter Monday has no slots, the days around do.
	slots, err = f.book.Slots(ctx, bari, f.svc.ID, d(4, 3), d(4, 7))
	if err != nil {
		t.Fatal(err)
	}
	days := map[string]int{}
	for _, s := range slots {
		days[s.Start.Format(time.DateOnly)]++
	}
	if days["2026-04-06"] != 0 || days["2026-04-03"] != 8 || days["2026-04-07"] != 8 {
		t.Errorf("slots per day %v, want none on Easter Monday and 8 on 3 and 7 April", days)
	}

	// The window: nothing before now + notice, nothing past the horizon.
	f.clock.Set(f.at(2026, 3, 10, 9, 0))
	slots, _ = f.book.Slots(ctx, bari, f.svc.ID, d(3, 1), d(12, 31))
	if len(slots) == 0 {
		t.Fatal("no slots")
	}
	if first := slots[0].Start.Format(time.RFC3339); first != "2026-03-10T11:00:00+01:00" {
		t.Errorf("first slot %s, want 2026-03-10T11:00:00+01:00 (two hours' notice)", first)
	}
	if last := slots[len(slots)-1].Start.Format(time.DateOnly); last != "2026-05-07" {
		// 9 May is the 60th day, a Saturday; 8 May is the test Comune's
		// patron day.
		t.Errorf("last slot on %s, want 2026-05-07", last)
	}
}

func TestConcurrentBookings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	svc := f.svc
	svc.ID, svc.Capacity = "", 1
	svc, err := f.book.SaveService(ctx, bari.ID, svc)
	if err != nil {
		t.Fatal(err)
	}
	day := civil.Date{Year: 2026, Month: 3, Day: 12}
	slots, err := f.book.Slots(ctx, bari, svc.ID, day, day)
	if err != nil {
		t.Fatal(err)
	}
	more, _ := f.book.Slots(ctx, bari, svc.ID, day.AddDays(1), day.AddDays(1))
	slots = append(slots, more...)[:20]

	const clients = 300
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		wg.Go(func() {
			_, errs[i] = f.book.Create(ctx, bari, f.request(svc.ID, slots[i%len(slots)].Start, 100+i), "https://bari.example.it")
		})
	}
	wg.Wait()
	ok, full := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrSlotFull):
			full++
		default:
			t.Errorf("client %d: %v, want nil or ErrSlotFull", i, err)
		}
	}
	if ok != 20 || full != 280 {
		t.Errorf("%d booked, %d refused as full, want 20 and 280", ok, full)
	}
	// Create answers once its booking is applied, before the commit of
	// the entry it shares (cluster/early.go): a direct read of the
	// database waits for this node's own writes first, as Get does.
	if err := f.book.WaitOwnWrites(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, perSlot int
	if err := f.node.DB().QueryRow(`SELECT count(*), max(n) FROM (SELECT count(*) AS n FROM booking_bookings
		WHERE tenant = 'bari' AND service_id = ? AND status = 'active' GROUP BY start_unix)`, svc.ID).Scan(&rows, &perSlot); err != nil {
		t.Fatal(err)
	}
	if rows != 20 || perSlot != 1 {
		t.Errorf("%d slots booked, at most %d per slot, want 20 and 1", rows, perSlot)
	}
	if n := len(f.outbox(t)); n != 20 {
		t.Errorf("%d emails queued, want 20", n)
	}
}

// TestIDsStartWithTheirTime: booking IDs sort by creation time (so inserts
// append to the primary key), keep 32 hex digits and stay unique within
// one millisecond.
func TestIDsStartWithTheirTime(t *testing.T) {
	t.Parallel()
	clk := clustertest.NewClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
	b := NewBook(nil, nil, clk.Now, rand.Reader)
	var ids []string
	for i := range 20 {
		if i%4 == 0 {
			clk.Advance(time.Millisecond)
		}
		id, err := b.newID()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidID(id) || len(id) != 32 {
			t.Fatalf("newID = %q, want 32 hex digits", id)
		}
		ids = append(ids, id)
	}
	for i := 4; i < len(ids); i++ {
		if ids[i][:12] <= ids[i-4][:12] {
			t.Errorf("ID %s (a millisecond later) does not sort after %s", ids[i], ids[i-4])
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("ID %s made twice", id)
		}
		seen[id] = true
	}
}
