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
	// classTransferred: a citizen an operator sent back to the line, to
	// another desk or office. They already waited their turn in full
	// once, so they go ahead of everyone not yet called, by the time of
	// the transfer.
	classTransferred
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

// booked reports whether t waits for its appointment time: checked in
// inside the window and never transferred (a transfer means the
// appointment was already honoured by the first call).
func booked(t Ticket) bool { return t.Booked && t.Transferred.IsZero() }

// class returns the ticket's class at now.
func class(t Ticket, now time.Time) int {
	switch {
	case t.Priority != NoPriority:
		return classPriority
	case !t.Transferred.IsZero():
		return classTransferred
	case booked(t) && !now.Before(t.Appointment):
		return classDue
	case booked(t):
		return classEarly
	default:
		return classWalkIn
	}
}

// ahead reports whether a is called before b at now: by class, then by
// appointment time for booked classes and transfer time for transferred
// tickets, then by order of arrival.
func ahead(a, b Ticket, now time.Time) bool {
	ca, cb := class(a, now), class(b, now)
	if ca != cb {
		return ca < cb
	}
	switch ca {
	case classDue, classEarly:
		if !a.Appointment.Equal(b.Appointment) {
			return a.Appointment.Before(b.Appointment)
		}
	case classTransferred:
		if !a.Transferred.Equal(b.Transferred) {
			return a.Transferred.Before(b.Transferred)
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

// callable keeps, from waiting tickets, those desk may call under o:
// tickets reserved for another desk never; tickets reserved for this one
// always (the operator who transferred them chose the desk, so its
// services and channels do not filter them out); the others when their
// service and channel are among o's (an empty list allows all; a ticket
// without a service is allowed by every service list).
func callable(ts []Ticket, desk string, o CallOptions) []Ticket {
	services := make(map[string]bool, len(o.Services))
	for _, s := range o.Services {
		services[s] = true
	}
	channels := make(map[Channel]bool, len(o.Channels))
	for _, c := range o.Channels {
		channels[c] = true
	}
	var out []Ticket
	for _, k := range ts {
		switch {
		case k.ForDesk == desk:
			out = append(out, k)
		case k.ForDesk != "":
		case len(services) > 0 && k.ServiceID != "" && !services[k.ServiceID]:
		case len(channels) > 0 && !channels[k.Channel]:
		default:
			out = append(out, k)
		}
	}
	return out
}

// pick chooses the ticket desk calls at now among waiting tickets of
// its office's day, and false when it calls none. A desk not reserved
// for appointments takes the first callable ticket by the ordering
// rule. A reserved desk (o.Appointments) is for booked citizens:
//
//  1. first, by the ordering rule, the tickets that cannot wait: booked
//     citizens whose time has come (or with a priority) and tickets
//     transferred to this very desk;
//  2. then the first other ticket by the ordering rule (a walk-in,
//     a late arrival, a transfer to any desk), but only if it fits in
//     the gap: no checked-in appointment becomes due before the walk-in's
//     expected service ends (now + its Duration);
//  3. else the earliest checked-in appointment, called early: the
//     citizen is in the room and the desk would otherwise idle.
//
// Only the first walk-in is considered in step 2, never a shorter one
// behind it: walk-ins keep their order among themselves, and the desks
// not reserved serve them anyway.
func pick(ts []Ticket, desk string, o CallOptions, now time.Time) (Ticket, bool) {
	c := callable(ts, desk, o)
	order(c, now)
	if len(c) == 0 {
		return Ticket{}, false
	}
	if !o.Appointments {
		return c[0], true
	}
	var walkIn, early *Ticket
	for i := range c {
		k := &c[i]
		switch {
		case k.ForDesk == desk && desk != "", booked(*k) && class(*k, now) != classEarly:
			return *k, true
		case booked(*k):
			if early == nil {
				early = k
			}
		case walkIn == nil:
			walkIn = k
		}
	}
	if walkIn != nil && (early == nil || !early.Appointment.Before(now.Add(walkIn.Duration))) {
		return *walkIn, true
	}
	if early != nil {
		return *early, true
	}
	return Ticket{}, false
}
