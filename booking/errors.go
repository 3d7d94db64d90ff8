package booking

import (
	"errors"
	"sort"
	"strings"
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
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "invalid fields: " + strings.Join(keys, ", ")
}
