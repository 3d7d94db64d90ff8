package booking

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

var bari = tenant.Tenant{
	ID: "bari", Name: "Comune di Bari", CodePrefix: "BA", TimeZone: "Europe/Rome",
	PatronDays: []tenant.PatronDay{{Name: "San Nicola (traslazione)", Month: time.May, Day: 8}},
	Sender:     tenant.Sender{Name: "Comune di Bari", Address: "prenotazioni@comune.bari.it"},
}

func rome(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// everyDay returns a week with the same intervals on each day, so tests do
// not depend on which weekday a date falls.
func everyDay(ivs ...Interval) Week {
	var w Week
	for d := range w {
		w[d] = ivs
	}
	return w
}

func hm(h, m int) int { return h*60 + m }

func date(y int, m time.Month, d int) civil.Date { return civil.Date{Year: y, Month: m, Day: d} }

func testService(dur time.Duration) Service {
	return Service{
		ID: "cie", OfficeID: "anagrafe", Name: "Rilascio carta d'identità elettronica",
		Duration: dur, Channels: []Channel{InPerson}, Capacity: 2, MinNotice: 2 * time.Hour,
		HorizonDays: 60, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	}
}

// wall lists slots as "15:04 -0700" in the Comune's zone.
func wall(slots []Slot, loc *time.Location) []string {
	var out []string
	for _, s := range slots {
		out = append(out, s.Start.In(loc).Format("15:04 -0700"))
	}
	return out
}

func TestSlotsOnCutsIntervals(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	office := everyDay(Interval{hm(15, 0), hm(16, 45)}, Interval{hm(8, 30), hm(10, 0)})
	s := newSchedule(bari, loc, testService(30*time.Minute), office, nil, nil)
	got := wall(s.slotsOn(date(2026, 3, 12)), loc)
	want := []string{"08:30 +0100", "09:00 +0100", "09:30 +0100", "15:00 +0100", "15:30 +0100", "16:00 +0100"}
	if !slices.Equal(got, want) {
		t.Errorf("slots = %v, want %v", got, want)
	}
	for _, sl := range s.slotsOn(date(2026, 3, 12)) {
		if d := sl.End.Sub(sl.Start); d != 30*time.Minute {
			t.Errorf("slot %v lasts %v, want 30m", sl.Start, d)
		}
		if sl.Remaining != 2 {
			t.Errorf("slot %v remaining %d, want capacity 2", sl.Start, sl.Remaining)
		}
	}
}

func TestSlotsAcrossDST(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	office := everyDay(Interval{hm(8, 0), hm(12, 0)})
	s := newSchedule(bari, loc, testService(time.Hour), office, nil, nil)
	tests := []struct {
		day    civil.Date
		offset string
		utc8   string // the 08:00 slot in UTC
	}{
		{date(2026, 3, 22), "+0100", "07:00"},
		{date(2026, 3, 29), "+0200", "06:00"}, // DST starts at 02:00
		{date(2026, 10, 18), "+0200", "06:00"},
		{date(2026, 10, 25), "+0100", "07:00"}, // DST ends at 03:00
	}
	for _, tt := range tests {
		t.Run(tt.day.String(), func(t *testing.T) {
			t.Parallel()
			slots := s.slotsOn(tt.day)
			got := wall(slots, loc)
			var want []string
			for _, h := range []string{"08:00", "09:00", "10:00", "11:00"} {
				want = append(want, h+" "+tt.offset)
			}
			if !slices.Equal(got, want) {
				t.Errorf("slots = %v, want %v", got, want)
			}
			if len(slots) > 0 {
				if u := slots[0].Start.UTC().Format("15:04"); u != tt.utc8 {
					t.Errorf("08:00 slot is %s UTC, want %s", u, tt.utc8)
				}
				if rfc := slots[0].Start.Format(time.RFC3339); !strings.HasSuffix(rfc, tt.offset[:3]+":"+tt.offset[3:]) {
					t.Errorf("RFC 3339 start %s, want offset %s", rfc, tt.offset)
				}
			}
		})
	}
}

func TestSlotsInChangingHours(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	night := everyDay(Interval{hm(1, 0), hm(4, 0)})
	s := newSchedule(bari, loc, testService(30*time.Minute), night, nil, nil)

	// 29 March 2026: 02:00–03:00 does not exist. 01:30 would end at the
	// missing 02:00, so it spans the change and is not offered either.
	got := wall(s.slotsOn(date(2026, 3, 29)), loc)
	want := []string{"01:00 +0100", "03:00 +0200", "03:30 +0200"}
	if !slices.Equal(got, want) {
		t.Errorf("spring slots = %v, want %v", got, want)
	}

	// 25 October 2026: 02:00–03:00 happens twice. Whatever slots are
	// offered, each lasts its duration and none overlaps another.
	slots := s.slotsOn(date(2026, 10, 25))
	if len(slots) == 0 {
		t.Fatal("no autumn slots")
	}
	for i, sl := range slots {
		if d := sl.End.Sub(sl.Start); d != 30*time.Minute {
			t.Errorf("autumn slot %v lasts %v, want 30m", sl.Start, d)
		}
		if i > 0 && sl.Start.Before(slots[i-1].End) {
			t.Errorf("autumn slot %v overlaps %v", sl.Start, slots[i-1].Start)
		}
	}
}

func TestClosedDays(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	office := everyDay(Interval{hm(8, 0), hm(12, 0)})
	closures := []Closure{
		{ID: "c1", OfficeID: "anagrafe", From: date(2026, 8, 10), To: date(2026, 8, 14), Reason: "Chiusura estiva"},
		{ID: "c2", OfficeID: "urp", From: date(2026, 9, 1), To: date(2026, 9, 30), Reason: "Lavori all'URP"},
		{ID: "c3", From: date(2026, 11, 16), To: date(2026, 11, 16), Reason: "Elezioni"},
	}
	openings := []Opening{
		{ID: "o1", OfficeID: "anagrafe", Date: date(2026, 6, 2), Intervals: []Interval{{hm(9, 0), hm(11, 0)}}, Reason: "Apertura straordinaria"},
		{ID: "o2", OfficeID: "urp", Date: date(2026, 12, 8), Intervals: []Interval{{hm(9, 0), hm(11, 0)}}},
		{ID: "o3", OfficeID: "anagrafe", Date: date(2026, 8, 12), Intervals: []Interval{{hm(10, 0), hm(11, 0)}}},
	}
	s := newSchedule(bari, loc, testService(time.Hour), office, closures, openings)
	tests := []struct {
		day    civil.Date
		closed bool
		reason string
		slots  int
	}{
		{date(2026, 3, 12), false, "", 4},
		{date(2026, 1, 1), true, "Capodanno", 0},
		{date(2026, 4, 5), true, "Pasqua", 0},
		{date(2026, 4, 6), true, "Lunedì dell'Angelo", 0},
		{date(2026, 10, 4), true, "San Francesco d'Assisi e Santa Caterina da Siena", 0},
		{date(2026, 5, 8), true, "San Nicola (traslazione)", 0},
		{date(2026, 8, 10), true, "Chiusura estiva", 0},
		{date(2026, 8, 14), true, "Chiusura estiva", 0},
		{date(2026, 8, 15), true, "Ferragosto", 0},
		{date(2026, 8, 17), false, "", 4},
		{date(2026, 9, 15), false, "", 4},                     // another office's closure
		{date(2026, 11, 16), true, "Elezioni", 0},             // every office
		{date(2026, 6, 2), false, "", 2},                      // extra opening on a holiday
		{date(2026, 12, 8), true, "Immacolata Concezione", 0}, // another office's opening
		{date(2026, 8, 12), false, "", 1},                     // extra opening inside a closure
	}
	for _, tt := range tests {
		t.Run(tt.day.String(), func(t *testing.T) {
			t.Parallel()
			_, closed, reason := s.openOn(tt.day)
			if closed != tt.closed || reason != tt.reason {
				t.Errorf("openOn = closed %v %q, want %v %q", closed, reason, tt.closed, tt.reason)
			}
			if n := len(s.slotsOn(tt.day)); n != tt.slots {
				t.Errorf("%d slots, want %d", n, tt.slots)
			}
		})
	}
}

func TestServiceHoursReplaceOffice(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	svc := testService(time.Hour)
	svc.Hours[time.Thursday] = []Interval{{hm(14, 0), hm(16, 0)}}
	s := newSchedule(bari, loc, svc, everyDay(Interval{hm(8, 0), hm(12, 0)}), nil, nil)
	if got, want := wall(s.slotsOn(date(2026, 3, 12)), loc), []string{"14:00 +0100", "15:00 +0100"}; !slices.Equal(got, want) {
		t.Errorf("Thursday slots = %v, want %v", got, want)
	}
	if got := s.slotsOn(date(2026, 3, 16)); len(got) != 0 {
		t.Errorf("Monday slots = %v, want none: the service's hours replace the office's", wall(got, loc))
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	svc := testService(30 * time.Minute) // notice 2h, horizon 60 days
	s := newSchedule(bari, loc, svc, everyDay(Interval{hm(8, 0), hm(12, 0)}), nil, nil)
	now := time.Date(2026, 3, 12, 8, 0, 0, 0, loc)
	at := func(d civil.Date, h, m int) time.Time {
		t, _ := d.In(loc, h, m)
		return t
	}
	tests := []struct {
		start time.Time
		want  error
	}{
		{at(date(2026, 3, 12), 10, 0), nil},
		{at(date(2026, 3, 12), 9, 30), ErrTooSoon},
		{at(date(2026, 3, 11), 10, 0), ErrTooSoon},
		{at(date(2026, 5, 11), 11, 30), nil}, // last day of the horizon
		{at(date(2026, 5, 12), 8, 0), ErrTooFar},
		{at(date(2026, 4, 25), 10, 0), ErrClosed},
		{at(date(2026, 3, 13), 10, 15), ErrNotASlot},
		{at(date(2026, 3, 13), 12, 0), ErrNotASlot},
		{at(date(2026, 3, 13), 10, 0).Add(time.Second), ErrNotASlot},
	}
	for _, tt := range tests {
		t.Run(tt.start.Format(time.RFC3339Nano), func(t *testing.T) {
			t.Parallel()
			err := s.check(tt.start, now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSlotLabel(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	got := SlotLabel(time.Date(2027, 3, 11, 10, 0, 0, 0, loc))
	if want := "Giovedì 11 marzo 2027 ore 10:00"; got != want {
		t.Errorf("SlotLabel = %q, want %q", got, want)
	}
}

// TestIsSlotAgreesWithSlotsOn checks the shortcut apply uses against the
// list the citizen sees: for every minute (and a few off-minute instants)
// around ordinary days and both DST changes, with several durations and
// overlapping intervals up to 24:00, start is a slot for isSlot exactly
// when slotsOn lists it.
func TestIsSlotAgreesWithSlotsOn(t *testing.T) {
	t.Parallel()
	loc := rome(t)
	hours := everyDay(Interval{hm(0, 0), hm(3, 10)}, Interval{hm(1, 45), hm(4, 0)},
		Interval{hm(8, 30), hm(12, 0)}, Interval{hm(22, 50), hm(24, 0)})
	for _, dur := range []time.Duration{5 * time.Minute, 7 * time.Minute, 25 * time.Minute, 60 * time.Minute} {
		s := newSchedule(bari, loc, testService(dur), hours, nil, nil)
		for _, day := range []civil.Date{date(2026, 3, 12), date(2026, 3, 29), date(2026, 10, 25)} {
			listed := map[int64]bool{}
			hits := 0
			for _, sl := range s.slotsOn(day) {
				listed[sl.Start.UnixNano()] = true
			}
			from, _ := day.In(loc, 0, 0)
			for start := from.Add(-time.Hour); start.Before(from.Add(26 * time.Hour)); start = start.Add(time.Minute) {
				for _, at := range []time.Time{start, start.Add(30 * time.Second)} {
					d := civil.DateOf(at.In(loc))
					want := listed[at.UnixNano()] && d == day
					if d != day {
						continue // listed with its own day's slots
					}
					if got := s.isSlot(d, at); got != want {
						t.Errorf("%v slots, %s: isSlot = %v, slotsOn lists it: %v", dur, at.In(loc).Format(time.RFC3339), got, want)
					} else if got {
						hits++
					}
				}
			}
			if hits != len(listed) {
				t.Errorf("%v slots on %s: isSlot accepted %d starts, slotsOn lists %d", dur, day, hits, len(listed))
			}
		}
	}
}
