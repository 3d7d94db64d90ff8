package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// FieldError is implemented by typed validation errors that list invalid
// fields (booking.ValidationError, tenant.ValidationError). Registered with
// Registry.RegisterFieldError, they cross the node-to-node RPC with their
// fields intact.
type FieldError interface {
	error
	FieldErrors() map[string]string
}

// FieldsMessage is the text of a field error: what, then the invalid
// field names in sorted order, so that every node produces the same text
// for the same command (the text is part of the replicated outcome).
func FieldsMessage(what string, fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return what + ": " + strings.Join(keys, ", ")
}

// RemoteError is an error returned by the leader to a follower that
// forwarded a command. Error is the leader's full text (with its context);
// Unwrap gives the registered sentinel or typed error it carried, so
// errors.Is and errors.As work as they do on the leader. Code is "" for an
// error that no package registered: then only the text crosses.
type RemoteError struct {
	Code    string
	Message string
	err     error
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the registered error the code names, or nil.
func (e *RemoteError) Unwrap() error { return e.err }

// wireError is the JSON form of an error on the RPC.
type wireError struct {
	Code    string            `json:"code,omitempty"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	// Leader names the leader for a "cluster.not_leader" error.
	LeaderAddr string `json:"leader_addr,omitempty"`
	LeaderID   string `json:"leader_id,omitempty"`
}

// errorCodec maps errors to codes and back. Each Registry has one (no
// package globals), filled by Register functions before New and read-only
// afterwards.
type errorCodec struct {
	sentinels []codedSentinel
	fields    map[reflect.Type]string
	ctors     map[string]func(map[string]string) error
	codes     map[string]bool
}

type codedSentinel struct {
	code string
	err  error
}

// newErrorCodec returns a codec that knows the cluster package's own
// errors and context's.
func newErrorCodec() errorCodec {
	c := errorCodec{
		fields: make(map[reflect.Type]string),
		ctors:  make(map[string]func(map[string]string) error),
		codes:  make(map[string]bool),
	}
	c.addSentinel("cluster.no_leader", ErrNoLeader)
	c.addSentinel("cluster.closed", ErrClosed)
	c.addSentinel("cluster.not_started", ErrNotStarted)
	c.addSentinel("cluster.not_supported", ErrNotSupportedByCluster)
	c.addSentinel("context.deadline_exceeded", context.DeadlineExceeded)
	c.addSentinel("context.canceled", context.Canceled)
	registerAdmissionErrors(&c)
	c.addSentinel("cluster.request_reused", ErrRequestReused)
	c.addSentinel("cluster.outcome_unknown", ErrOutcomeUnknown)
	return c
}

func (c *errorCodec) claim(code string) {
	switch {
	case code == "":
		panic("cluster: error code is empty")
	case c.codes[code] || code == codeNotLeader || code == codeUnknownCommand || code == codeApplyPanic:
		panic(fmt.Sprintf("cluster: error code %q registered twice", code))
	}
	c.codes[code] = true
}

func (c *errorCodec) addSentinel(code string, err error) {
	if err == nil {
		panic(fmt.Sprintf("cluster: error code %q: nil error", code))
	}
	c.claim(code)
	c.sentinels = append(c.sentinels, codedSentinel{code, err})
}

func (c *errorCodec) addFields(code string, newErr func(map[string]string) error) {
	if newErr == nil {
		panic(fmt.Sprintf("cluster: error code %q: nil constructor", code))
	}
	sample := newErr(nil)
	if _, ok := sample.(FieldError); !ok {
		panic(fmt.Sprintf("cluster: error code %q: %T does not implement FieldError", code, sample))
	}
	c.claim(code)
	c.fields[reflect.TypeOf(sample)] = code
	c.ctors[code] = newErr
}

// Codes of the cluster package's typed errors.
const (
	codeNotLeader      = "cluster.not_leader"
	codeUnknownCommand = "cluster.unknown_command"
	codeApplyPanic     = "cluster.apply_panic"
)

// encode turns err into its wire form. Typed field errors win over
// sentinels (a validation error is the more precise answer), then the
// sentinels in registration order.
func (c *errorCodec) encode(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	var nl *NotLeaderError
	var fe FieldError
	switch {
	case errors.As(err, &nl):
		w.Code, w.LeaderAddr, w.LeaderID = codeNotLeader, nl.LeaderAddr, nl.LeaderID
		return w
	case errors.As(err, &fe):
		if code, ok := c.fields[reflect.TypeOf(fe)]; ok {
			w.Code, w.Fields = code, fe.FieldErrors()
			return w
		}
	}
	var uc *UnknownCommandError
	if errors.As(err, &uc) {
		w.Code = codeUnknownCommand
		return w
	}
	var ap *ApplyPanicError
	if errors.As(err, &ap) {
		w.Code = codeApplyPanic
		return w
	}
	for _, s := range c.sentinels {
		if errors.Is(err, s.err) {
			w.Code = s.code
			return w
		}
	}
	return w
}

// decode is encode's inverse: a *RemoteError wrapping the registered
// error, or a *NotLeaderError.
func (c *errorCodec) decode(w *wireError) error {
	if w == nil {
		return nil
	}
	if w.Code == codeNotLeader {
		return &NotLeaderError{LeaderAddr: w.LeaderAddr, LeaderID: w.LeaderID}
	}
	re := &RemoteError{Code: w.Code, Message: w.Message}
	if ctor, ok := c.ctors[w.Code]; ok {
		re.err = ctor(w.Fields)
		return re
	}
	for _, s := range c.sentinels {
		if s.code == w.Code {
			re.err = s.err
			return re
		}
	}
	return re
}
