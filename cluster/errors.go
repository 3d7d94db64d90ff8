package cluster

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is matched (errors.Is) by every *NotLeaderError.
	ErrNotLeader = errors.New("cluster: this node is not the leader")
	// ErrClosed is returned by a node that is closed or closing.
	ErrClosed = errors.New("cluster: node closed")
	// ErrNotStarted is returned by calls that need Start first.
	ErrNotStarted = errors.New("cluster: node not started")
	// ErrNoLeader is returned by Propose (and the membership calls) when no
	// leader is known or the known leader cannot be reached: the command
	// was not handed to any leader, so it is safe to retry. Web layers
	// answer 503 with Retry-After.
	ErrNoLeader = errors.New("cluster: no leader is available")
	// ErrOutcomeUnknown is returned when a forwarded command was sent to the
	// leader but its answer was lost (connection broken, leader died): the
	// command may or may not be applied.
	ErrOutcomeUnknown = errors.New("cluster: forwarded command's outcome is unknown")
)

// NotLeaderError is returned by Propose on a node that is not the leader.
// LeaderAddr and LeaderID are empty when no leader is known (election in
// progress). Forwarding to the leader comes with multi-node clusters; the
// caller can already tell where the leader is.
type NotLeaderError struct {
	LeaderAddr string
	LeaderID   string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "cluster: this node is not the leader and no leader is known"
	}
	return fmt.Sprintf("cluster: this node is not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true, and errors.Is(err,
// ErrNoLeader) too when no leader is known.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || (target == ErrNoLeader && e.LeaderAddr == "")
}

// UnknownCommandError is the domain error of a command whose type has no
// apply function on this node, or whose payload version is newer than the
// registered one: typically a command from a newer binary. The FSM changes
// nothing for it and goes on; Propose refuses it before proposing.
type UnknownCommandError struct {
	Type       string
	Version    int
	MaxVersion int // 0 when the type is not registered at all
}

func (e *UnknownCommandError) Error() string {
	if e.MaxVersion == 0 {
		return fmt.Sprintf("cluster: unknown command type %q (v%d): is this node older than the leader?", e.Type, e.Version)
	}
	return fmt.Sprintf("cluster: command %q v%d is newer than this node knows (up to v%d)", e.Type, e.Version, e.MaxVersion)
}

// MigrationError reports a schema migration that cannot run: a target above
// what this binary knows, a stored schema newer than the binary, or failing
// SQL.
type MigrationError struct {
	Component string
	Version   int
	Known     int // newest version this binary knows for Component
	Err       error
}

func (e *MigrationError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("cluster: migration %s/%d: %v", e.Component, e.Version, e.Err)
	}
	return fmt.Sprintf("cluster: schema %s version %d is newer than this binary knows (%d): upgrade the binary", e.Component, e.Version, e.Known)
}

func (e *MigrationError) Unwrap() error { return e.Err }

// ApplyPanicError is the error a command gets when its apply function
// panicked. The FSM rolls that command back and goes on: a panic in one
// apply function must not stop the cluster.
type ApplyPanicError struct {
	Type  string
	Value any
}

func (e *ApplyPanicError) Error() string {
	return fmt.Sprintf("cluster: apply of %q panicked: %v", e.Type, e.Value)
}
