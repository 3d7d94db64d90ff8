package tenant

import (
	"errors"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Domain errors. Apply functions return them as values; web packages map
// them to status codes and messages in one place.
var (
	// ErrNotFound means no Comune has that ID or host name.
	ErrNotFound = errors.New("tenant not found")
	// ErrExists means a Comune with that ID already exists.
	ErrExists = errors.New("tenant already exists")
	// ErrDomainTaken means another Comune already answers on a domain.
	ErrDomainTaken = errors.New("domain already used by another tenant")
	// ErrDisabled means the Comune exists but is disabled. Resolve returns
	// it together with the Comune, so that the site can name it on its
	// 503 page while every caller that only checks err refuses the host.
	ErrDisabled = errors.New("tenant disabled")
)

// ValidationError lists the invalid fields of a Tenant, keyed by the JSON
// path of the field ("sender.address", "domains.1", "patron_days.0.day"),
// each with a message in Italian for the administrator who typed it.
type ValidationError struct {
	Fields map[string]string `json:"fields"`
}

// Error lists the invalid field names in a stable order, so that every node
// produces the same text for the same command.
func (e *ValidationError) Error() string {
	return cluster.FieldsMessage("invalid tenant fields", e.Fields)
}

// FieldErrors returns the invalid fields, so that the error crosses the
// node-to-node RPC with them (cluster.FieldError).
func (e *ValidationError) FieldErrors() map[string]string { return e.Fields }

// registerErrors names the domain errors for the cluster's error codec, so
// that errors.Is and errors.As work on a node that forwarded the command.
func registerErrors(reg *cluster.Registry) {
	reg.RegisterError("tenant.not_found", ErrNotFound)
	reg.RegisterError("tenant.exists", ErrExists)
	reg.RegisterError("tenant.domain_taken", ErrDomainTaken)
	reg.RegisterError("tenant.disabled", ErrDisabled)
	reg.RegisterFieldError("tenant.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
}
