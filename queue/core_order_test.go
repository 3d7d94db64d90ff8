package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// callScenario is one story of an office's morning, played on a real
// node with the clock moved by each step. Every step is one line:
//
//	HH:MM walkin LABEL [cie|cert] [video|phone]   a walk-in takes a ticket
//	HH:MM prio LABEL                              a pregnant citizen takes one
//	HH:MM checkin LABEL                           booking LABEL checks in
//	HH:MM call DESK WANT                          DESK closes what it holds (served)
//	                                              and calls; WANT is a label, "-" for
//	                                              nobody (ErrEmpty) or "paused"
//	HH:MM pause DESK | resume DESK
//	HH:MM transfer DESK [TO]                      DESK sends its ticket back to the
//	                                              line, for desk TO only if given
//	HH:MM release LABEL                           a supervisor releases LABEL, which
//	                                              waits for a paused desk
//	HH:MM line LABEL...                           the line, next first
//
// Bookings (label → appointment time) are made at 08:00, before the
// story starts.
type callScenario struct {
	name  string
	desks map[string]CallOptions
	book  map[string]string
	steps []string
}

func TestCallScenarios(t *testing.T) {
	t.Parallel()
	reserved := CallOptions{Appointments: true}
	scenarios := []callScenario{
		{
			name: "appointments and walk-ins interleaved on one desk",
			book: map[string]string{"b10": "10:00", "b1030": "10:30"},
			steps: []string{
				"09:45 walkin w1", "09:46 checkin b10", "09:47 walkin w2",
				"09:50 call 1 w1", // b10 is early: the walk-in fills the gap
				"10:00 line b10 w2",
				"10:00 call 1 b10", // its time came: ahead of w2, who came first
				"10:15 checkin b1030",
				"10:15 call 1 w2", "10:25 call 1 b1030", "10:40 call 1 -",
			},
		},
		{
			name: "late arrival drops to the walk-in line",
			book: map[string]string{"late": "09:30"},
			steps: []string{
				"09:35 walkin w1", "09:41 checkin late", "09:42 walkin w2",
				"09:45 line w1 late w2", "09:45 call 1 w1", "09:50 call 1 late", "10:00 call 1 w2",
			},
		},
		{
			name: "priority jumps ahead of due appointments and walk-ins",
			book: map[string]string{"b": "09:30"},
			steps: []string{
				"09:20 walkin w1", "09:25 checkin b", "09:31 prio p",
				"09:32 line p b w1", "09:32 call 1 p", "09:40 call 1 b", "09:50 call 1 w1",
			},
		},
		{
			name: "two desks share one line and never call the same citizen",
			steps: []string{
				"09:00 walkin w1", "09:00 walkin w2", "09:00 walkin w3",
				"09:01 call 1 w1", "09:01 call 2 w2", "09:05 call 2 w3", "09:06 call 1 -", "09:06 call 2 -",
			},
		},
		{
			name: "a paused desk calls nobody while the other takes the line",
			steps: []string{
				"09:00 walkin w1", "09:00 walkin w2", "09:00 walkin w3",
				"09:01 pause 2", "09:01 call 2 paused", "09:01 call 1 w1",
				"09:10 call 1 w2", "09:12 resume 2", "09:12 call 2 w3",
			},
		},
		{
			name:  "reserved desk fills a gap with a walk-in who ends before the appointment",
			desks: map[string]CallOptions{"r": reserved},
			book:  map[string]string{"b": "10:30"},
			steps: []string{
				// At 10:15 a 10-minute certificate ends at 10:25, before
				// the 10:30 appointment: the reserved desk takes it.
				"10:10 walkin c cert", "10:15 checkin b",
				"10:15 call r c", "10:30 call r b", "10:45 call r -",
			},
		},
		{
			name:  "reserved desk keeps the gap from a walk-in who would overrun the appointment",
			desks: map[string]CallOptions{"r": reserved},
			book:  map[string]string{"b": "10:30"},
			steps: []string{
				// A 30-minute identity card from 10:15 would end at 10:45:
				// the reserved desk calls the booked citizen early instead,
				// and the walk-in goes to the desk that is not reserved.
				"10:10 walkin w cie", "10:15 checkin b",
				"10:15 call r b", "10:15 call 1 w",
			},
		},
		{
			name:  "reserved desk calls a due appointment before a priority walk-in",
			desks: map[string]CallOptions{"r": reserved},
			book:  map[string]string{"b": "10:00"},
			steps: []string{
				"09:50 checkin b", "10:01 prio p", "10:01 walkin w",
				"10:02 call r b", "10:02 call 1 p", "10:20 call r w", // no appointment left: a walk-in fits
			},
		},
		{
			name:  "ticket transferred to a reserved desk goes first there",
			desks: map[string]CallOptions{"r": reserved},
			book:  map[string]string{"b": "10:00"},
			steps: []string{
				"09:50 checkin b", "09:50 walkin w1 cie", "09:51 call 1 w1",
				"09:55 transfer 1 r", "10:00 call r w1", "10:10 call r b",
			},
		},
		{
			name:  "reserved desk with nobody booked serves walk-ins",
			desks: map[string]CallOptions{"r": reserved},
			steps: []string{"09:00 walkin w1", "09:00 walkin w2", "09:01 call r w1", "09:20 call r w2"},
		},
		{
			name: "transferred citizen goes ahead of walk-ins and due appointments",
			book: map[string]string{"b": "09:30"},
			steps: []string{
				"09:00 walkin w1", "09:01 walkin w2", "09:02 call 1 w1",
				"09:25 checkin b", "09:31 walkin w3",
				"09:32 transfer 1", "09:32 line w1 b w2 w3",
				"09:33 call 2 w1", "09:40 call 1 b",
			},
		},
		{
			name: "ticket transferred to one desk is called only by that desk",
			steps: []string{
				"09:00 walkin w1", "09:01 walkin w2", "09:02 call 1 w1",
				"09:05 transfer 1 3", "09:06 call 2 w2", "09:07 call 1 -", "09:08 call 3 w1",
			},
		},
		{
			name: "ticket transferred to a paused desk waits until a supervisor releases it, still as transferred",
			steps: []string{
				"09:00 walkin w1", "09:01 walkin w2", "09:02 call 1 w1",
				"09:05 transfer 1 3", "09:06 pause 3", "09:07 walkin w3",
				"09:08 call 2 w2", "09:09 call 1 w3", "09:09 walkin w4",
				"09:10 release w1", "09:10 line w1 w4", "09:11 call 2 w1",
			},
		},
		{
			name: "desk channels: a remote station takes video and phone, a counter in person",
			desks: map[string]CallOptions{
				"remote":  {Channels: []Channel{Video, Phone}},
				"counter": {Channels: []Channel{InPerson}},
			},
			steps: []string{
				"09:00 walkin w1", "09:00 walkin v1 cert video", "09:00 walkin w2",
				"09:01 call remote v1", "09:01 call counter w1", "09:10 call remote -", "09:10 call counter w2",
			},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			playScenario(t, sc)
		})
	}
}

// hhmm parses "09:50" as that time of the fixture's Monday in Rome.
func hhmm(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse("15:04", s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return at(d.Hour(), d.Minute())
}

func playScenario(t *testing.T, sc callScenario) {
	f := newFixture(t)
	ctx := context.Background()
	codes := map[string]string{}
	for label, when := range sc.book {
		codes[label] = f.bookAt(t, hhmm(t, when), "RSSMRA85T10A562S")
	}
	ids := map[string]string{}    // label → ticket ID
	labels := map[string]string{} // ticket ID → label
	for _, step := range sc.steps {
		w := strings.Fields(step)
		f.clock.Set(hhmm(t, w[0]))
		switch verb, args := w[1], w[2:]; verb {
		case "walkin", "prio", "checkin":
			req := TakeRequest{}
			for _, a := range args[1:] {
				switch a {
				case "cie":
					req.ServiceID = f.cie.ID
				case "cert":
					req.ServiceID = f.cert.ID
				default:
					req.Channel = Channel(a)
				}
			}
			if verb == "prio" {
				req.Priority = Pregnancy
			}
			if verb == "checkin" {
				req.BookingCode = codes[args[0]]
			}
			k := f.take(t, req)
			ids[args[0]], labels[k.Ticket.ID] = k.Ticket.ID, args[0]
		case "call":
			desk, want := args[0], args[1]
			if k, ok, err := f.q.AtDesk(ctx, bari, f.office.ID, desk); err != nil {
				t.Fatalf("%s: AtDesk: %v", step, err)
			} else if ok {
				if k.State == Called {
					if _, err := f.q.StartServing(ctx, bari.ID, k.ID, desk); err != nil {
						t.Fatalf("%s: start %s: %v", step, labels[k.ID], err)
					}
				}
				if _, err := f.q.Served(ctx, bari.ID, k.ID, desk); err != nil {
					t.Fatalf("%s: served %s: %v", step, labels[k.ID], err)
				}
			}
			k, err := f.q.CallNextWith(ctx, bari, f.office.ID, desk, sc.desks[desk])
			got := labels[k.ID]
			switch {
			case errors.Is(err, ErrEmpty):
				got = "-"
			case errors.Is(err, ErrDeskPaused):
				got = "paused"
			case err != nil:
				t.Fatalf("%s: %v", step, err)
			}
			if got != want {
				t.Fatalf("%s: desk %s called %s", step, desk, got)
			}
		case "pause":
			if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, args[0], "Pausa caffè"); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		case "resume":
			if _, err := f.q.ResumeDesk(ctx, bari, f.office.ID, args[0]); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		case "transfer":
			k, ok, err := f.q.AtDesk(ctx, bari, f.office.ID, args[0])
			if err != nil || !ok {
				t.Fatalf("%s: desk holds nothing (%v)", step, err)
			}
			to := TransferTo{}
			if len(args) > 1 {
				to.Desk = args[1]
			}
			if _, err := f.q.Transfer(ctx, bari, k.ID, args[0], to); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		case "release":
			if _, err := f.q.Release(ctx, bari, f.office.ID, ids[args[0]]); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		case "line":
			line, err := f.q.Line(ctx, bari, f.office.ID)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			var got []string
			for _, k := range line {
				got = append(got, labels[k.ID])
			}
			if strings.Join(got, " ") != strings.Join(args, " ") {
				t.Fatalf("%s: got line %v", step, got)
			}
		default:
			t.Fatalf("unknown step %q", step)
		}
	}
}
