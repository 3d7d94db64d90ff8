package auth

import (
	"errors"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Domain errors. Apply functions return them as values; auth/web maps them
// to status codes and Italian messages in one place.
var (
	// ErrProviderNotFound means the Comune has no provider with that ID.
	ErrProviderNotFound = errors.New("identity provider not found")
	// ErrFlowInvalid means a login's state is unknown, already used,
	// expired or presented by another browser.
	ErrFlowInvalid = errors.New("login state invalid, used or expired")
	// ErrNoSession means no active session has that ID: unknown, ended,
	// idle too long or past its absolute end.
	ErrNoSession = errors.New("no active session")
	// ErrUserNotFound means the Comune has no user with that ID.
	ErrUserNotFound = errors.New("user not found")
	// ErrIssuerMismatch means a login was verified against another issuer
	// than the one the provider has now (its configuration changed during
	// the login).
	ErrIssuerMismatch = errors.New("identity's issuer is not the provider's")
	// ErrUserDisabled means the user was disabled by an administrator.
	ErrUserDisabled = errors.New("user disabled")
)

// ValidationError lists the invalid fields of a provider or grant, keyed
// by JSON path ("issuer", "roles.0.grant.role"), each with a message in
// Italian for the administrator who typed it.
type ValidationError struct {
	Fields map[string]string `json:"fields"`
}

// Error lists the invalid field names in a stable order, so that every
// node produces the same text for the same command.
func (e *ValidationError) Error() string {
	return cluster.FieldsMessage("invalid auth fields", e.Fields)
}

// FieldErrors returns the invalid fields (cluster.FieldError).
func (e *ValidationError) FieldErrors() map[string]string { return e.Fields }

// registerErrors names the domain errors for the cluster's error codec.
func registerErrors(reg *cluster.Registry) {
	reg.RegisterError("auth.provider_not_found", ErrProviderNotFound)
	reg.RegisterError("auth.flow_invalid", ErrFlowInvalid)
	reg.RegisterError("auth.no_session", ErrNoSession)
	reg.RegisterError("auth.user_not_found", ErrUserNotFound)
	reg.RegisterError("auth.user_disabled", ErrUserDisabled)
	reg.RegisterError("auth.issuer_mismatch", ErrIssuerMismatch)
	reg.RegisterFieldError("auth.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
}
