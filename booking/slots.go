package booking

import (
	"fmt"
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// minutesPerDay bounds Interval values: an interval may end at 24:00.
const minutesPerDay = 24 * 60

// IsZero reports whether w has no interval on any day: a service whose
// Hours are zero inherits its office's hours.
func (w Week) IsZero() bool {
	for _, d := range w {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

// schedule is everything that decides when one service can be booked on
// the days it was loaded for: the Comune (time zone, national holidays and
// patron days), the service, its effective weekly hours, and the office's
// closures and extra openings. It is a pure value: Book.Slots builds it
// from the read pool, apply from the FSM transaction, and both get the same
// answers from it.
type schedule struct {
	tenant   tenant.Tenant
	loc      *time.Location
	svc      Service
	hours    Week
	closures []Closure
	openings []Opening
}

// newSchedule returns the schedule of svc. officeHours are used unless the
// service has hours of its own; closures and openings of other offices are
// ignored.
func newSchedule(t tenant.Tenant, loc *time.Location, svc Service, officeHours Week, closures []Closure, openings []Opening) schedule {
	s := schedule{tenant: t, loc: loc, svc: svc, hours: svc.Hours}
	if s.hours.IsZero() {
		s.hours = officeHours
	}
	for _, c := range closures {
		if c.OfficeID == "" || c.OfficeID == svc.OfficeID {
			s.closures = append(s.closures, c)
		}
	}
	for _, o := range openings {
		if o.OfficeID == svc.OfficeID {
			s.openings = append(s.openings, o)
		}
	}
	return s
}

// openOn returns the intervals the service is open on d, sorted. An extra
// opening on d replaces the weekly hours and wins over closures, national
// holidays and patron days; otherwise a closed day has no intervals and
// reason says why ("Festa della Repubblica", a closure's reason).
func (s schedule) openOn(d civil.Date) (ivs []Interval, closed bool, reason string) {
	var extra []Interval
	opened := false
	for _, o := range s.openings {
		if o.Date == d {
			opened = true
			extra = append(extra, o.Intervals...)
		}
	}
	if opened {
		slices.SortFunc(extra, func(a, b Interval) int { return a.Start - b.Start })
		return extra, false, ""
	}
	if c, why := s.tenant.ClosedOn(d); c {
		return nil, true, why
	}
	for _, c := range s.closures {
		if !d.Before(c.From) && !d.After(c.To) {
			return nil, true, c.Reason
		}
	}
	ivs = slices.Clone(s.hours[d.Weekday()])
	slices.SortFunc(ivs, func(a, b Interval) int { return a.Start - b.Start })
	return ivs, false, ""
}

// slotsOn returns the service's slots on d in the Comune's zone, each with
// Remaining set to the full capacity. Intervals are cut into appointments
// of the service's duration, in wall-clock time: an office open 08:00–12:00
// has the same slots on the days DST starts and ends, each with the offset
// of its own instant. A slot whose wall-clock start does not exist (the
// hour skipped when DST starts) or that spans a DST change is not offered.
func (s schedule) slotsOn(d civil.Date) []Slot {
	step := int(s.svc.Duration / time.Minute)
	if step <= 0 {
		return nil
	}
	ivs, _, _ := s.openOn(d)
	var out []Slot
	for _, iv := range ivs {
		for m := iv.Start; m+step <= iv.End; m += step {
			start, ok := wallTime(d, m, s.loc)
			if !ok {
				continue
			}
			end := start.Add(s.svc.Duration)
			if want, ok := wallTime(d, m+step, s.loc); !ok || !want.Equal(end) {
				continue
			}
			out = append(out, Slot{Start: start, End: end, Remaining: s.svc.Capacity})
		}
	}
	return out
}

// wallTime returns the instant at min minutes after midnight on d in loc;
// min may be 24:00 (midnight of the next day). ok is false when that wall
// time does not exist.
func wallTime(d civil.Date, min int, loc *time.Location) (time.Time, bool) {
	if min >= minutesPerDay {
		d, min = d.AddDays(min/minutesPerDay), min%minutesPerDay
	}
	return d.In(loc, min/60, min%60)
}

// window returns the first and last day on which slots may start as of now:
// from today to today plus the horizon, in the Comune's zone.
func (s schedule) window(now time.Time) (first, last civil.Date) {
	today := civil.DateOf(now.In(s.loc))
	return today, today.AddDays(s.svc.HorizonDays)
}

// bookable reports why a slot starting at start cannot be booked at now,
// as far as time is concerned: ErrTooSoon inside the minimum notice (or
// in the past), ErrTooFar past the horizon.
func (s schedule) bookable(start, now time.Time) error {
	if start.Before(now.Add(s.svc.MinNotice)) {
		return ErrTooSoon
	}
	if _, last := s.window(now); civil.DateOf(start.In(s.loc)).After(last) {
		return ErrTooFar
	}
	return nil
}

// check returns nil if start is a slot the service offers at now, or the
// first rule it breaks: ErrTooSoon, ErrTooFar, ErrClosed, ErrNotASlot.
func (s schedule) check(start, now time.Time) error {
	when := start.In(s.loc).Format("2006-01-02T15:04")
	if err := s.bookable(start, now); err != nil {
		return fmt.Errorf("slot %s: %w", when, err)
	}
	d := civil.DateOf(start.In(s.loc))
	ivs, closed, reason := s.openOn(d)
	if closed {
		return fmt.Errorf("slot %s (%s): %w", when, reason, ErrClosed)
	}
	if s.isSlotIn(ivs, d, start) {
		return nil
	}
	return fmt.Errorf("slot %s: %w", when, ErrNotASlot)
}

// isSlot reports whether start is one of slotsOn(d), without listing the
// day's slots: apply checks one start per booking, and a service open all
// day in 5-minute slots has 288 of them, each costing two time.Date calls.
// A slot of slotsOn starts at a wall time m minutes after midnight of d
// with m = iv.Start + k·step inside an interval, so only start's own wall
// minute can match; the same two wallTime checks as slotsOn then decide.
func (s schedule) isSlot(d civil.Date, start time.Time) bool {
	ivs, _, _ := s.openOn(d)
	return s.isSlotIn(ivs, d, start)
}

// isSlotIn is isSlot with the day's intervals, openOn(d), already read:
// check has them, and openOn costs the Comune's holidays of the year
// (tenant.Tenant.ClosedOn builds the list), the largest allocation of a
// booking's apply before check read them once.
func (s schedule) isSlotIn(ivs []Interval, d civil.Date, start time.Time) bool {
	step := int(s.svc.Duration / time.Minute)
	if step <= 0 {
		return false
	}
	w := start.In(s.loc)
	if civil.DateOf(w) != d {
		return false
	}
	m := w.Hour()*60 + w.Minute()
	for _, iv := range ivs {
		if m < iv.Start || m+step > iv.End || (m-iv.Start)%step != 0 {
			continue
		}
		at, ok := wallTime(d, m, s.loc)
		if !ok || !at.Equal(start) {
			continue
		}
		end := at.Add(s.svc.Duration)
		if want, ok := wallTime(d, m+step, s.loc); ok && want.Equal(end) {
			return true
		}
	}
	return false
}

// offers reports whether the service offers channel c.
func (svc Service) offers(c Channel) bool { return slices.Contains(svc.Channels, c) }
