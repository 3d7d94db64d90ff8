package knowledge

import (
	"errors"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Sentinel errors of the package. They are registered with the cluster's
// error codec (Register), so errors.Is works on a node that forwarded the
// command to the leader.
var (
	// ErrNotFound: the FAQ entry or synonym group does not exist in the
	// Comune (another administrator may have deleted it meanwhile).
	ErrNotFound = errors.New("knowledge: not found")
	// ErrFull: the Comune already has MaxFAQ entries or MaxGroups groups.
	ErrFull = errors.New("knowledge: limit reached")
)

// ValidationError lists the invalid fields of an FAQ entry or a synonym
// group ("question", "answer", "service_id", "office_id", "phrases"), each
// with a message in Italian for the administrator.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	return cluster.FieldsMessage("invalid fields", e.Fields)
}

// FieldErrors returns the invalid fields, so that the error crosses the
// node-to-node RPC with them (cluster.FieldError).
func (e *ValidationError) FieldErrors() map[string]string { return e.Fields }

// fieldsErr returns nil for no invalid field, else a *ValidationError.
func fieldsErr(f map[string]string) error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// registerErrors names the package's errors for the cluster's codec.
func registerErrors(r *cluster.Registry) {
	r.RegisterError("knowledge.not_found", ErrNotFound)
	r.RegisterError("knowledge.full", ErrFull)
	r.RegisterFieldError("knowledge.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
}
