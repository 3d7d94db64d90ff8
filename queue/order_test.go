package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

func TestOrderingRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	walkIn := func(id string, seq int) Ticket { return Ticket{ID: id, Seq: seq} }
	booked := func(id string, seq int, appt time.Duration) Ticket {
		return Ticket{ID: id, Seq: seq, BookingCode: "X" + id, Booked: true, Appointment: now.Add(appt)}
	}
	late := func(id string, seq int, appt time.Duration) Ticket {
		return Ticket{ID: id, Seq: seq, BookingCode: "X" + id, Appointment: now.Add(appt)}
	}
	prio := func(k Ticket, p Priority) Ticket { k.Priority = p; return k }
	tests := []struct {
		name string
		line []Ticket
		want string
	}{
		{"walk-ins by arrival", []Ticket{walkIn("w2", 2), walkIn("w1", 1), walkIn("w3", 3)}, "w1 w2 w3"},
		{"priority jumps ahead of walk-ins", []Ticket{walkIn("w1", 1), walkIn("w2", 2), prio(walkIn("p", 3), Pregnancy)}, "p w1 w2"},
		{"two priorities by arrival", []Ticket{prio(walkIn("p2", 4), Disability), walkIn("w1", 1), prio(walkIn("p1", 3), Pregnancy)}, "p1 p2 w1"},
		{"due appointment before walk-ins who came first", []Ticket{walkIn("w1", 1), walkIn("w2", 2), booked("b", 3, -2*time.Minute)}, "b w1 w2"},
		{"appointment exactly now is due", []Ticket{walkIn("w1", 1), booked("b", 2, 0)}, "b w1"},
		{"early appointment waits for its time while walk-ins fill the gap", []Ticket{booked("b", 1, 10*time.Minute), walkIn("w1", 2)}, "w1 b"},
		{"early appointment is called when nobody else waits", []Ticket{booked("b", 1, 10*time.Minute)}, "b"},
		{"due appointments by appointment time, not arrival", []Ticket{booked("b10", 1, -time.Minute), booked("b30", 2, -20*time.Minute)}, "b30 b10"},
		{"late arrival waits as a walk-in by arrival", []Ticket{walkIn("w1", 1), late("l", 2, -30*time.Minute), walkIn("w3", 3)}, "w1 l w3"},
		{"priority before a due appointment", []Ticket{booked("b", 1, -time.Minute), prio(walkIn("p", 2), Disability)}, "p b"},
		{"mixed", []Ticket{
			walkIn("w1", 1), booked("e", 2, 15*time.Minute), late("l", 3, -time.Hour), booked("d", 4, -5*time.Minute),
			prio(walkIn("p", 5), Pregnancy), walkIn("w6", 6),
		}, "p d w1 l w6 e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := append([]Ticket(nil), tt.line...)
			order(line, now)
			var ids []string
			for _, k := range line {
				ids = append(ids, k.ID)
			}
			if got := strings.Join(ids, " "); got != tt.want {
				t.Errorf("order: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOrderChangesWithTime: an appointment not yet due is behind the
// walk-ins, and moves ahead of them once its time comes.
func TestOrderChangesWithTime(t *testing.T) {
	t.Parallel()
	appt := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	b := Ticket{ID: "b", Seq: 2, Booked: true, BookingCode: "B", Appointment: appt}
	w := Ticket{ID: "w", Seq: 1}
	if ahead(b, w, appt.Add(-time.Second)) {
		t.Errorf("one second early: booked ahead of walk-in, want behind")
	}
	if !ahead(b, w, appt) {
		t.Errorf("at appointment: booked behind walk-in, want ahead")
	}
}

func TestDescribeNamesOnlyIDs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		payload, want string
	}{
		{`{"id":"t1","desk":"4"}`, "ticket=t1 desk=4"},
		{`{"office_id":"o1","desk":"2","time_zone":"Europe/Rome"}`, "office=o1 desk=2"},
		{`{"id":"t2","office_id":"o1","booking_code":"BA-XYZ","secret_hash":"AAAA"}`, "ticket=t2 office=o1"},
		{`{"config":{"office_id":"o3","groups":{"s":"B"}}}`, "office=o3"},
		{`{"id":"t3","desk":"2","to_office_id":"o4","to_desk":"5","service_id":"s"}`, "ticket=t3 desk=2 to_office=o4 to_desk=5"},
		{`{"office_id":"o1","desk":"2","reason":"visita medica"}`, "office=o1 desk=2"},
		{`{"office_id":"o1","desk":"2","ticket_id":"t9","time_zone":"Europe/Rome"}`, "ticket=t9 office=o1 desk=2"},
	} {
		if got := describe(cluster.Command{Payload: []byte(c.payload)}); got != c.want {
			t.Errorf("describe(%s): got %q, want %q", c.payload, got, c.want)
		}
	}
}

// TestPick checks what one desk calls, without a cluster: the filters
// of CallOptions and the reserved desk's gap rule at its edges.
func TestPick(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	walkIn := func(id string, seq int, d time.Duration) Ticket {
		return Ticket{ID: id, Seq: seq, Channel: InPerson, Duration: d}
	}
	booked := func(id string, seq int, appt time.Duration) Ticket {
		return Ticket{ID: id, Seq: seq, Channel: InPerson, BookingCode: "X" + id, Booked: true, Appointment: now.Add(appt), Duration: 30 * time.Minute}
	}
	with := func(k Ticket, edit func(*Ticket)) Ticket { edit(&k); return k }
	reserved := CallOptions{Appointments: true}
	tests := []struct {
		name string
		line []Ticket
		o    CallOptions
		want string
	}{
		{"empty line", nil, CallOptions{}, ""},
		{"walk-in ending exactly at the appointment fits", []Ticket{walkIn("w", 1, 10*time.Minute), booked("b", 2, 10*time.Minute)}, reserved, "w"},
		{"walk-in ending a minute after does not", []Ticket{walkIn("w", 1, 11*time.Minute), booked("b", 2, 10*time.Minute)}, reserved, "b"},
		{"only the first walk-in is weighed", []Ticket{walkIn("long", 1, time.Hour), walkIn("short", 2, time.Minute), booked("b", 3, 10*time.Minute)}, reserved, "b"},
		{"due appointment first at a reserved desk", []Ticket{walkIn("w", 1, time.Minute), booked("b", 2, -time.Minute)}, reserved, "b"},
		{"a late arrival is a walk-in for a reserved desk", []Ticket{with(booked("l", 1, -time.Hour), func(k *Ticket) { k.Booked = false })}, reserved, "l"},
		{"reserved desk, nobody booked", []Ticket{walkIn("w", 1, time.Hour)}, reserved, "w"},
		{"ticket for another desk is never called", []Ticket{with(walkIn("x", 1, 0), func(k *Ticket) { k.ForDesk = "9" })}, CallOptions{}, ""},
		{"ticket for this desk ignores its services and channels", []Ticket{
			with(walkIn("x", 1, 0), func(k *Ticket) { k.ForDesk = "1"; k.ServiceID = "other"; k.Channel = Video }),
		}, CallOptions{Services: []string{"mine"}, Channels: []Channel{InPerson}}, "x"},
		{"ticket for this desk first at a reserved desk", []Ticket{
			booked("b", 1, -time.Minute), with(walkIn("x", 2, 0), func(k *Ticket) { k.ForDesk = "1"; k.Transferred = now })}, reserved, "x"},
		{"services keep tickets without a service", []Ticket{
			with(walkIn("o", 1, 0), func(k *Ticket) { k.ServiceID = "other" }), walkIn("n", 2, 0)}, CallOptions{Services: []string{"mine"}}, "n"},
		{"channels", []Ticket{walkIn("p", 1, 0), with(walkIn("v", 2, 0), func(k *Ticket) { k.Channel = Phone })}, CallOptions{Channels: []Channel{Video, Phone}}, "v"},
		{"transferred before a due appointment", []Ticket{booked("b", 1, -time.Minute), with(walkIn("x", 2, 0), func(k *Ticket) { k.Transferred = now })}, CallOptions{}, "x"},
		{"a transferred booked citizen is no longer booked", []Ticket{
			with(booked("b", 1, time.Hour), func(k *Ticket) { k.Transferred = now.Add(-time.Minute) }), walkIn("w", 2, 0)}, CallOptions{}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := pick(append([]Ticket(nil), tt.line...), "1", tt.o, now)
			if got := k.ID; got != tt.want || ok != (tt.want != "") {
				t.Errorf("pick: got %q (%v), want %q", got, ok, tt.want)
			}
		})
	}
}
