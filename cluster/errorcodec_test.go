package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

var errTestFull = errors.New("full")

type testFieldError struct{ fields map[string]string }

func (e *testFieldError) Error() string                  { return "invalid" }
func (e *testFieldError) FieldErrors() map[string]string { return e.fields }

func TestErrorCodecRoundTrip(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.RegisterError("test.full", errTestFull)
	r.RegisterFieldError("test.invalid", func(f map[string]string) error { return &testFieldError{f} })
	c := r.errorCodecOf()
	tests := []struct {
		name  string
		err   error
		code  string
		check func(error) bool
	}{
		{"wrapped sentinel", fmt.Errorf("book 10:00: %w", errTestFull), "test.full",
			func(e error) bool { return errors.Is(e, errTestFull) && e.Error() == "book 10:00: full" }},
		{"field error", fmt.Errorf("save: %w", &testFieldError{map[string]string{"name": "obbligatorio"}}), "test.invalid",
			func(e error) bool {
				var fe *testFieldError
				return errors.As(e, &fe) && fe.fields["name"] == "obbligatorio"
			}},
		{"not leader", &NotLeaderError{LeaderAddr: "10.0.0.1:7000", LeaderID: "n2"}, codeNotLeader,
			func(e error) bool {
				var nl *NotLeaderError
				return errors.As(e, &nl) && nl.LeaderID == "n2" && errors.Is(e, ErrNotLeader)
			}},
		{"no leader", fmt.Errorf("x: %w", ErrNoLeader), "cluster.no_leader", func(e error) bool { return errors.Is(e, ErrNoLeader) }},
		{"deadline", context.DeadlineExceeded, "context.deadline_exceeded", func(e error) bool { return errors.Is(e, context.DeadlineExceeded) }},
		{"unregistered", errors.New("disk on fire"), "", func(e error) bool { return e.Error() == "disk on fire" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := c.encode(tt.err)
			if w.Code != tt.code {
				t.Errorf("code: got %q, want %q", w.Code, tt.code)
			}
			if got := c.decode(w); !tt.check(got) {
				t.Errorf("decoded: got %v (%T), which fails the check", got, got)
			}
		})
	}
	if c.encode(nil) != nil || c.decode(nil) != nil {
		t.Errorf("nil does not round-trip to nil")
	}
}

func TestRegisterErrorPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(r *Registry)
	}{
		{"duplicate", func(r *Registry) { r.RegisterError("a", errTestFull); r.RegisterError("a", errTestFull) }},
		{"reserved", func(r *Registry) { r.RegisterError("cluster.no_leader", errTestFull) }},
		{"nil", func(r *Registry) { r.RegisterError("a", nil) }},
		{"not a field error", func(r *Registry) { r.RegisterFieldError("a", func(map[string]string) error { return errTestFull }) }},
		{"frozen", func(r *Registry) { r.freeze(); r.RegisterError("a", errTestFull) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tt.f(NewRegistry())
		})
	}
}
