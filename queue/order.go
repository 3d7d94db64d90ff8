package queue

import (
	"sort"
	"time"
)

// Classes of the ordering rule, first called first. DESIGN.md explains
// the rule with examples.
const (
	// classPriority: a priority category (disability, pregnancy), whatever
	// else the ticket is.
	classPriority = iota
	// classDue: a booked citizen who checked in inside the window and
	// whose appointment time has come.
	classDue
	// classWalkIn: everyone else, including booked citizens who arrived
	// after the window closed.
	classWalkIn
	// classEarly: a booked citizen whose appointment time has not come
	// yet; called only when no walk-in waits, so a desk never idles.
	classEarly
)

// class returns the ticket's class at now.
func class(t Ticket, now time.Time) int {
	switch {
	case t.Priority != NoPriority:
		return classPriority
	case t.Booked && !now.Before(t.Appointment):
		return classDue
	case t.Booked:
		return classEarly
	default:
		return classWalkIn
	}
}

// ahead reports whether a is called before b at now: by class, then by
// appointment time for booked classes, then by order of arrival.
func ahead(a, b Ticket, now time.Time) bool {
	ca, cb := class(a, now), class(b, now)
	if ca != cb {
		return ca < cb
	}
	if ca == classDue || ca == classEarly {
		if !a.Appointment.Equal(b.Appointment) {
			return a.Appointment.Before(b.Appointment)
		}
	}
	return a.Seq < b.Seq
}

// order sorts waiting tickets of one office and day in the order they
// are called at now. It is the one ordering of the package: apply calls
// it with cmd.Time to pick the next ticket, and the reads call it with
// the clock to tell a citizen's position.
func order(ts []Ticket, now time.Time) {
	sort.SliceStable(ts, func(i, j int) bool { return ahead(ts[i], ts[j], now) })
}
