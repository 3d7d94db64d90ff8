package lincheck

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is the kind of an operation of the booking API.
type Kind uint8

// The operations the model knows.
const (
	// Create is POST /api/v1/bookings for one citizen in one slot.
	Create Kind = iota + 1
	// Cancel is DELETE /api/v1/bookings/{code} with the manage token.
	Cancel
	// Get is GET /api/v1/bookings/{code} with the manage token.
	Get
	// Remaining reads the remaining places of one slot from
	// GET /api/v1/services/{id}/slots.
	Remaining
)

func (k Kind) String() string {
	switch k {
	case Create:
		return "create"
	case Cancel:
		return "cancel"
	case Get:
		return "get"
	case Remaining:
		return "remaining"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// write reports whether an operation of kind k may change the state.
func (k Kind) write() bool { return k == Create || k == Cancel }

// Slot names one bookable slot: the service and its start. Start is in a
// canonical form (UTC RFC 3339, see SlotOf), so that two spellings of the
// same instant name the same slot.
type Slot struct {
	Service string
	Start   string
}

func (s Slot) String() string { return s.Service + "@" + s.Start }

// Input is what a client asked. Every kind carries the Slot: Cancel and Get
// carry the slot the booking was created in, which the client knows from
// the create, so that the history can be partitioned by slot.
type Input struct {
	Kind Kind
	Slot Slot
	// Citizen is the fiscal code of a Create.
	Citizen string
	// Code is the booking code of a Cancel or Get.
	Code string
	// Seq is unique per operation in a history; the Recorder sets it. It
	// names the booking an unknown-outcome Create may have made, whose
	// code nobody learnt.
	Seq int
}

// Result is the outcome of an operation as the client saw it.
type Result string

// Results. Unknown and Rejected may answer any kind of operation.
const (
	// Created: Create answered 201 with a code.
	Created Result = "created"
	// SlotFull: Create answered 409 slot_full.
	SlotFull Result = "slot_full"
	// AlreadyBooked: Create answered 409 already_booked (the citizen holds
	// the most active bookings allowed for the service).
	AlreadyBooked Result = "already_booked"
	// CancelOK: Cancel answered 200; the booking is now cancelled.
	CancelOK Result = "ok"
	// AlreadyCancelled: Cancel answered 409 cancelled.
	AlreadyCancelled Result = "already_cancelled"
	// NotFound: Cancel or Get answered 404.
	NotFound Result = "not_found"
	// Active: Get answered 200 with status active.
	Active Result = "active"
	// Cancelled: Get answered 200 with status cancelled.
	Cancelled Result = "cancelled"
	// Counted: Remaining answered the slot with Output.Remaining places.
	Counted Result = "counted"
	// Rejected: the server refused the request before it could change
	// anything (422, 429, 409 past_deadline, ...), or the request never
	// left because no connection could be made. It is accepted in any
	// state and changes nothing.
	Rejected Result = "rejected"
	// Unknown: timeout, connection error or 5xx; the operation may or may
	// not have taken effect. Recorded writes with this result never return
	// (their return time is the end of the history), as porcupine expects.
	Unknown Result = "unknown"
)

// Output is what the client got back.
type Output struct {
	Result Result
	// Code is the booking code of Created.
	Code string
	// Start and Citizen are what Get answered with Active or Cancelled
	// (Start canonical as Slot.Start); empty means not checked.
	Start   string
	Citizen string
	// Remaining is the answer of Remaining with Counted.
	Remaining int
}

// Spec is what the model must know of the system under test.
type Spec struct {
	// Capacity is the number of free places of each slot when the history
	// begins: the service's capacity for a slot nobody booked yet.
	Capacity map[Slot]int
	// MaxActivePerCitizen caps active bookings per fiscal code and service;
	// 0 means no cap. The demo services allow 1.
	MaxActivePerCitizen int
}

// entry is one booking in the model state.
type entry struct {
	code    string
	slot    Slot
	citizen string
	active  bool
}

// state is the model state: every booking the history made, sorted by
// code. It is immutable: step returns a new one.
type state []entry

func (s state) find(code string) int {
	i := sort.Search(len(s), func(i int) bool { return s[i].code >= code })
	if i < len(s) && s[i].code == code {
		return i
	}
	return -1
}

func (s state) activeIn(slot Slot) int {
	n := 0
	for _, e := range s {
		if e.active && e.slot == slot {
			n++
		}
	}
	return n
}

func (s state) activeOf(service, citizen string) int {
	n := 0
	for _, e := range s {
		if e.active && e.citizen == citizen && e.slot.Service == service {
			n++
		}
	}
	return n
}

func (s state) with(e entry) state {
	i := sort.Search(len(s), func(i int) bool { return s[i].code >= e.code })
	out := make(state, 0, len(s)+1)
	out = append(out, s[:i]...)
	out = append(out, e)
	return append(out, s[i:]...)
}

func (s state) cancelled(i int) state {
	out := make(state, len(s))
	copy(out, s)
	out[i].active = false
	return out
}

// unknownCode is the state's name for the booking an unknown-outcome
// Create with sequence number seq made, if it made one. No real code
// contains "?".
func unknownCode(seq int) string { return fmt.Sprintf("?%d", seq) }

// NewModel returns the porcupine model of the booking store as the API
// exposes it (see the package documentation).
func NewModel(spec Spec) porcupine.Model {
	return porcupine.Model{
		Partition: partition,
		Init:      func() any { return state(nil) },
		Step: func(st, in, out any) (bool, any) {
			return step(spec, st.(state), in.(Input), out.(Output))
		},
		Equal: func(a, b any) bool {
			x, y := a.(state), b.(state)
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if x[i] != y[i] {
					return false
				}
			}
			return true
		},
		Hash: func(st any) uint64 {
			h := fnv.New64a()
			for _, e := range st.(state) {
				fmt.Fprintf(h, "%s|%s|%s|%s|%t\n", e.code, e.slot.Service, e.slot.Start, e.citizen, e.active)
			}
			return h.Sum64()
		},
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
	}
}

// step applies in with the answer out to st: whether the answer is
// possible in st, and the state after.
func step(spec Spec, st state, in Input, out Output) (bool, state) {
	if out.Result == Rejected {
		return true, st
	}
	switch in.Kind {
	case Create:
		capacity := spec.Capacity[in.Slot]
		full := st.activeIn(in.Slot) >= capacity
		capped := spec.MaxActivePerCitizen > 0 && st.activeOf(in.Slot.Service, in.Citizen) >= spec.MaxActivePerCitizen
		switch out.Result {
		case Created:
			if full || capped || out.Code == "" || st.find(out.Code) >= 0 {
				return false, st
			}
			return true, st.with(entry{code: out.Code, slot: in.Slot, citizen: in.Citizen, active: true})
		case SlotFull:
			return full, st
		case AlreadyBooked:
			return capped, st
		case Unknown:
			// An unknown Create linearized here takes effect when it
			// can; the outcome "it never happened" is the same Create
			// linearized at the end of the history, where it returns.
			if full || capped {
				return true, st
			}
			return true, st.with(entry{code: unknownCode(in.Seq), slot: in.Slot, citizen: in.Citizen, active: true})
		}
	case Cancel:
		i := st.find(in.Code)
		switch out.Result {
		case CancelOK:
			if i < 0 || !st[i].active {
				return false, st
			}
			return true, st.cancelled(i)
		case AlreadyCancelled:
			return i >= 0 && !st[i].active, st
		case NotFound:
			return i < 0, st
		case Unknown:
			if i >= 0 && st[i].active {
				return true, st.cancelled(i)
			}
			return true, st
		}
	case Get:
		i := st.find(in.Code)
		switch out.Result {
		case Active, Cancelled:
			if i < 0 || st[i].active != (out.Result == Active) {
				return false, st
			}
			e := st[i]
			if (out.Start != "" && out.Start != e.slot.Start) || (out.Citizen != "" && out.Citizen != e.citizen) {
				return false, st
			}
			return true, st
		case NotFound:
			return i < 0, st
		case Unknown:
			return true, st
		}
	case Remaining:
		switch out.Result {
		case Counted:
			return out.Remaining == max(spec.Capacity[in.Slot]-st.activeIn(in.Slot), 0), st
		case Unknown:
			return true, st
		}
	}
	// A result that cannot answer this kind of operation.
	return false, st
}

// partition splits a history into independent parts: the slots that no
// citizen links. A Create couples its slot with every other slot of the
// same service where the same citizen books (the per-citizen cap), so
// such slots stay together; every other operation touches one slot. Each
// part is linearizable exactly when the whole history is.
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok {
			parent[x] = x
			return x
		}
		if p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[ra] = rb
		}
	}
	slotNode := func(s Slot) string { return "s\x00" + s.Service + "\x00" + s.Start }
	for _, op := range history {
		in := op.Input.(Input)
		find(slotNode(in.Slot))
		if in.Kind == Create {
			union(slotNode(in.Slot), "c\x00"+in.Slot.Service+"\x00"+in.Citizen)
		}
	}
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		root := find(slotNode(op.Input.(Input).Slot))
		i, ok := index[root]
		if !ok {
			i = len(parts)
			index[root] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

func describeOperation(in, out any) string {
	i, o := in.(Input), out.(Output)
	var call string
	switch i.Kind {
	case Create:
		call = fmt.Sprintf("create(%s, %s)", i.Slot.Start, i.Citizen)
	case Cancel, Get:
		call = fmt.Sprintf("%s(%s)", i.Kind, i.Code)
	case Remaining:
		call = fmt.Sprintf("remaining(%s)", i.Slot.Start)
	default:
		call = i.Kind.String()
	}
	switch o.Result {
	case Created:
		return call + " → " + o.Code
	case Counted:
		return fmt.Sprintf("%s → %d", call, o.Remaining)
	}
	return call + " → " + string(o.Result)
}

func describeState(st any) string {
	var b strings.Builder
	for _, e := range st.(state) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		status := "active"
		if !e.active {
			status = "cancelled"
		}
		fmt.Fprintf(&b, "%s: %s %s %s", e.code, e.slot.Start, e.citizen, status)
	}
	if b.Len() == 0 {
		return "{}"
	}
	return "{" + b.String() + "}"
}
