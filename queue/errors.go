package queue

import (
	"errors"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Domain errors. queue/web maps them to status codes and Italian messages
// in one place; apply functions return them as values.
var (
	ErrNotFound         = errors.New("not found")
	ErrBadSecret        = errors.New("ticket secret does not match")
	ErrTransition       = errors.New("transition not allowed from the ticket's state")
	ErrEmpty            = errors.New("no ticket is waiting")
	ErrDeskBusy         = errors.New("desk already has a called or served ticket")
	ErrWrongDesk        = errors.New("ticket was called by another desk")
	ErrAlreadyCheckedIn = errors.New("booking already checked in")
	ErrTooEarly         = errors.New("check-in window not open yet")
	ErrNotToday         = errors.New("booking is not for today at this office")
	ErrDeskPaused       = errors.New("desk is paused")
)

// ValidationError lists invalid fields of a request, keyed by field name,
// with a message in Italian for the citizen.
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
		"queue.not_found": ErrNotFound, "queue.bad_secret": ErrBadSecret,
		"queue.transition": ErrTransition, "queue.empty": ErrEmpty,
		"queue.desk_busy": ErrDeskBusy, "queue.wrong_desk": ErrWrongDesk,
		"queue.already_checked_in": ErrAlreadyCheckedIn, "queue.too_early": ErrTooEarly,
		"queue.not_today": ErrNotToday, "queue.desk_paused": ErrDeskPaused,
	} {
		reg.RegisterError(code, err)
	}
	reg.RegisterFieldError("queue.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
}
