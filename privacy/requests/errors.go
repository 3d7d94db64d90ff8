package requests

import (
	"errors"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Sentinel errors of the package, registered with the cluster's error
// codec so that errors.Is works on a node that forwarded the command.
var (
	// ErrNotFound: no request with that ID in the Comune.
	ErrNotFound = errors.New("privacyreq: request not found")
	// ErrLinkInvalid: the one-time link is unknown, used or expired. One
	// error for the three, so that a guesser learns nothing.
	ErrLinkInvalid = errors.New("privacyreq: link invalid or expired")
	// ErrAccessInvalid: the verified access (cookie) is unknown or over.
	ErrAccessInvalid = errors.New("privacyreq: access invalid or expired")
	// ErrDecided: the request was already decided.
	ErrDecided = errors.New("privacyreq: request already decided")
	// ErrNoSubject: neither a codice fiscale nor an email address.
	ErrNoSubject = errors.New("privacyreq: no codice fiscale or email")
)

// ValidationError lists invalid fields ("fiscal_code", "email",
// "reason", "note", "decision") with Italian messages.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	return cluster.FieldsMessage("invalid fields", e.Fields)
}

// FieldErrors returns the invalid fields (cluster.FieldError).
func (e *ValidationError) FieldErrors() map[string]string { return e.Fields }

func fieldsErr(f map[string]string) error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

func registerErrors(r *cluster.Registry) {
	r.RegisterError("privacyreq.not_found", ErrNotFound)
	r.RegisterError("privacyreq.link_invalid", ErrLinkInvalid)
	r.RegisterError("privacyreq.access_invalid", ErrAccessInvalid)
	r.RegisterError("privacyreq.decided", ErrDecided)
	r.RegisterError("privacyreq.no_subject", ErrNoSubject)
	r.RegisterFieldError("privacyreq.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
}
