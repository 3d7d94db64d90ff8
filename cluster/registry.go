package cluster

import (
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
}

// handler is one registered apply function with the newest payload version
// it understands.
type handler struct {
	maxVersion int
	fn         ApplyFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		handlers:   make(map[string]handler),
		migrations: make(map[string][]Migration),
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
