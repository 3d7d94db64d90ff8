package booking

import (
	"errors"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Domain errors. Web packages map them to status codes and messages in one
// place; apply functions return them as values.
var (
	ErrNotFound       = errors.New("not found")
	ErrSlotFull       = errors.New("slot is full")
	ErrAlreadyBooked  = errors.New("citizen already holds an active booking for this service")
	ErrNotASlot       = errors.New("start is not a slot of the service")
	ErrTooSoon        = errors.New("start is inside the minimum notice")
	ErrTooFar         = errors.New("start is past the booking horizon")
	ErrClosed         = errors.New("office is closed on that day")
	ErrPastDeadline   = errors.New("cancellation deadline has passed")
	ErrCancelled      = errors.New("booking is cancelled")
	ErrBadToken       = errors.New("manage token does not match")
	ErrCodeTaken      = errors.New("booking code already in use")
	ErrChannelOffered = errors.New("channel not offered by the service")
)

// ValidationError lists invalid fields of a request, keyed by field name
// ("citizen.fiscal_code"), with a message in Italian for the citizen.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	return cluster.FieldsMessage("invalid fields", e.Fields)
}

// FieldErrors returns the invalid fields, so that the error crosses the
// node-to-node RPC with them (cluster.FieldError).
func (e *ValidationError) FieldErrors() map[string]string { return e.Fields }

// registerErrors names the domain errors for the cluster's error codec, so
// that errors.Is and errors.As work on a node that forwarded the command.
func registerErrors(reg *cluster.Registry) {
	for code, err := range map[string]error{
		"booking.not_found": ErrNotFound, "booking.slot_full": ErrSlotFull,
		"booking.already_booked": ErrAlreadyBooked, "booking.not_a_slot": ErrNotASlot,
		"booking.too_soon": ErrTooSoon, "booking.too_far": ErrTooFar, "booking.closed": ErrClosed,
		"booking.past_deadline": ErrPastDeadline, "booking.cancelled": ErrCancelled,
		"booking.bad_token": ErrBadToken, "booking.code_taken": ErrCodeTaken,
		"booking.channel_offered": ErrChannelOffered,
	} {
		reg.RegisterError(code, err)
	}
	reg.RegisterFieldError("booking.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
}
