package cluster

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// reservedPrefix starts the types of the package's built-in commands and the
// name of its own schema component; Registry refuses both from callers.
const (
	reservedPrefix    = "cluster."
	reservedComponent = "cluster"
)

// Registry maps command types to apply functions and holds the schema
// migrations of every component. cmd/sportello fills one explicitly at
// wiring time and hands it to New; New freezes it, so a Handle or Migrate
// after New panics instead of silently diverging from what the FSM uses.
type Registry struct {
	mu         sync.Mutex
	frozen     bool
	handlers   map[string]handler
	migrations map[string][]Migration
	order      []string // components in the order of their first Migrate
	codec      errorCodec
	results    map[string]func(json.RawMessage) (any, error)
}

// handler is one registered apply function with the newest payload version
// it understands.
type handler struct {
	maxVersion int
	fn         ApplyFunc
	// shares: commands of this type may share a log entry (ShareEntries).
	shares bool
	// describe sums up a command for the audit log (Describe).
	describe func(Command) string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		handlers:   make(map[string]handler),
		migrations: make(map[string][]Migration),
		codec:      newErrorCodec(),
		results:    make(map[string]func(json.RawMessage) (any, error)),
	}
}

// Handle registers fn for commands of type typ with payload versions 1 to
// maxVersion. It panics on a duplicate or reserved ("cluster.") type, a
// version below 1, a nil fn or a frozen registry: those are wiring mistakes
// that must stop the program before it writes anything.
func (r *Registry) Handle(typ string, maxVersion int, fn ApplyFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.frozen:
		panic(fmt.Sprintf("cluster: Handle(%q) after New", typ))
	case typ == "":
		panic("cluster: Handle with an empty command type")
	case strings.HasPrefix(typ, reservedPrefix):
		panic(fmt.Sprintf("cluster: command type %q is reserved for the cluster package", typ))
	case maxVersion < 1:
		panic(fmt.Sprintf("cluster: command type %q: maxVersion %d < 1", typ, maxVersion))
	case fn == nil:
		panic(fmt.Sprintf("cluster: command type %q: nil ApplyFunc", typ))
	}
	if _, dup := r.handlers[typ]; dup {
		panic(fmt.Sprintf("cluster: command type %q registered twice", typ))
	}
	r.handlers[typ] = handler{maxVersion: maxVersion, fn: fn}
}

// ShareEntries lets commands of the given (already handled) types share a
// log entry with other commands proposed at the same moment, which is what
// lets the cluster sustain a high rate of them (see batcher.go). Commands
// in one entry see the same cmd.Index and cmd.Time: mark only types whose
// apply functions do not use the index as something unique to the
// command (cluster.Enqueue is fine: it numbers the rows of an index) nor
// as a version number that a reader compares (a configuration version, for
// example: two changes in one entry would carry the same number). It
// panics on an unknown type or a frozen registry.
func (r *Registry) ShareEntries(types ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		panic("cluster: ShareEntries after New")
	}
	for _, typ := range types {
		h, ok := r.handlers[typ]
		if !ok {
			panic(fmt.Sprintf("cluster: ShareEntries(%q): type not handled", typ))
		}
		h.shares = true
		r.handlers[typ] = h
	}
}

// Migrate adds schema migrations. Versions of a component must end up
// 1, 2, 3... without gaps (New checks it); the order of the calls does not
// matter. It panics on a duplicate (component, version), on the reserved
// component "cluster" and on a frozen registry.
func (r *Registry) Migrate(ms ...Migration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		panic("cluster: Migrate after New")
	}
	for _, m := range ms {
		if m.Component == "" || m.Component == reservedComponent {
			panic(fmt.Sprintf("cluster: migration component %q is empty or reserved", m.Component))
		}
		if m.Version < 1 {
			panic(fmt.Sprintf("cluster: migration %s/%d: version < 1", m.Component, m.Version))
		}
		for _, old := range r.migrations[m.Component] {
			if old.Version == m.Version {
				panic(fmt.Sprintf("cluster: migration %s/%d registered twice", m.Component, m.Version))
			}
		}
		if len(r.migrations[m.Component]) == 0 {
			r.order = append(r.order, m.Component)
		}
		r.migrations[m.Component] = append(r.migrations[m.Component], m)
	}
}

// freeze stops further registration and returns a private copy of the
// registry's contents, with migrations sorted and checked for gaps, and the
// components in the order their migrations run (first Migrate call first:
// a component that references another's tables is registered after it).
func (r *Registry) freeze() (map[string]handler, map[string][]Migration, []string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frozen = true
	hs := make(map[string]handler, len(r.handlers))
	for k, v := range r.handlers {
		hs[k] = v
	}
	ms := make(map[string][]Migration, len(r.migrations))
	for comp, list := range r.migrations {
		sorted := append([]Migration(nil), list...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version < sorted[j].Version })
		for i, m := range sorted {
			if m.Version != i+1 {
				return nil, nil, nil, fmt.Errorf("cluster: migrations of %q: version %d missing", comp, i+1)
			}
		}
		ms[comp] = sorted
	}
	return hs, ms, append([]string(nil), r.order...), nil
}

// RegisterError names a domain package's sentinel error with code (by
// convention "<package>.<name>", e.g. "booking.slot_full"), so that an
// error matching it (errors.Is) on the leader still matches it on the
// follower that forwarded the command. Domain packages call it from their
// Register function. It panics on a duplicate or empty code, a nil error
// or a frozen registry.
func (r *Registry) RegisterError(code string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		panic(fmt.Sprintf("cluster: RegisterError(%q) after New", code))
	}
	r.codec.addSentinel(code, err)
}

// RegisterFieldError names a domain package's typed validation error: an
// error type implementing FieldError, which newErr builds from its fields
// (newErr(nil) must return a value of that type). A forwarded command's
// error of that type comes back on the follower as newErr(fields), so
// errors.As(err, &target) works there. It panics like RegisterError.
func (r *Registry) RegisterFieldError(code string, newErr func(fields map[string]string) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		panic(fmt.Sprintf("cluster: RegisterFieldError(%q) after New", code))
	}
	r.codec.addFields(code, newErr)
}

// errorCodecOf returns the registry's error codec; the registry is frozen
// by then, so the codec never changes again.
func (r *Registry) errorCodecOf() *errorCodec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &r.codec
}

// HandleResult registers how a forwarded result of command type typ is
// decoded: on the leader the apply function's value is encoded as JSON,
// and on the follower that forwarded the command Propose returns
// decode(that JSON) as Result.Value, so the caller gets the same Go type
// on every node. Without it a forwarded Value is a json.RawMessage. It
// panics on a duplicate, a nil decode or a frozen registry.
func (r *Registry) HandleResult(typ string, decode func(json.RawMessage) (any, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.frozen:
		panic(fmt.Sprintf("cluster: HandleResult(%q) after New", typ))
	case decode == nil:
		panic(fmt.Sprintf("cluster: HandleResult(%q): nil decode", typ))
	}
	if _, dup := r.results[typ]; dup {
		panic(fmt.Sprintf("cluster: HandleResult(%q) registered twice", typ))
	}
	r.results[typ] = decode
}

// resultDecoder returns the decoder HandleResult registered for typ, or
// nil.
func (r *Registry) resultDecoder(typ string) func(json.RawMessage) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results[typ]
}
