package cluster

import (
	"slices"
	"sync"
)

// Early answers. The leader applies a shared entry (batcher.go) command
// by command and commits the SQLite transaction once at its end; raft
// resolves the entry's future only after that. At 256 clients an entry
// carries up to 256 bookings, so the first booking of an entry waited for
// the apply of the 255 after it before its answer left: a spread of
// several tens of milliseconds between the bookings of one entry, which
// was most of the gap between the median latency and the p99.
//
// A command whose proposer does not read this node's state after it
// (proposed WithoutLocalApply: a forwarded command, whose follower reads
// its own state; a booking, whose answer is its result) is answered as
// soon as its own apply is done, before the entry's commit. That is safe
// because the FSM only applies committed entries: the command's outcome
// is already decided by the log, and a node that fails before its SQLite
// commit applies the same entry again, with the same outcome, when it
// restarts. What the early answer gives up is only that this node's
// database shows the command; readers that need it use WaitOwnWrites.
//
// The batcher registers an entry here, keyed by its bytes (raft hands the
// leader's FSM the very slice given to Apply), before it proposes it; the
// FSM answers through the registration; the batcher's waiter removes it
// before it answers the rest, so an entry whose future failed (leadership
// lost) but that a later leader commits finds nothing here when this node
// applies it.
type earlyAnswers struct {
	mu      sync.Mutex
	entries map[*byte]*earlyEntry
}

type earlyEntry struct {
	batch    []proposal
	answered []bool
}

// add registers an entry of batch whose bytes are data, if any of its
// proposals takes an early answer.
func (e *earlyAnswers) add(data []byte, batch []proposal) {
	if len(data) == 0 || len(batch) < 2 {
		return
	}
	if !slices.ContainsFunc(batch, func(p proposal) bool { return p.early }) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.entries == nil {
		e.entries = make(map[*byte]*earlyEntry)
	}
	e.entries[&data[0]] = &earlyEntry{batch: batch, answered: make([]bool, len(batch))}
}

// remove drops data's registration and reports which of its proposals
// were answered already (nil when none or not registered).
func (e *earlyAnswers) remove(data []byte) []bool {
	if len(data) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.entries[&data[0]]
	if en == nil {
		return nil
	}
	delete(e.entries, &data[0])
	return en.answered
}

// answer hands command i of the entry data, applied at index with resp,
// its result now if its proposer takes an early answer. The FSM calls it
// after each command of a shared entry, on every node: where nothing is
// registered it costs a lock and a map lookup.
func (e *earlyAnswers) answer(data []byte, i int, index uint64, resp *response) {
	if len(data) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.entries[&data[0]]
	if en == nil || i >= len(en.batch) || !en.batch[i].early || en.answered[i] {
		return
	}
	en.answered[i] = true
	select {
	case en.batch[i].done <- proposalResult{index: index, resp: resp}:
	default: // never: done holds one result, and only this sends it
	}
}
