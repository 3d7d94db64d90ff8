package web

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The live streams of one office share one reader: a hub. While a node
// has clients following an office (ticket pages, boards), one goroutine
// waits on the node's applied index, reads the office's day once
// (queue.Snapshot) and hands each client its part, only when that part
// changed. Without it every stream re-read its own ticket after every
// applied command: N reads per command for N clients, which is what
// kept a node far from 10,000 clients.
//
// A client never blocks the hub: the hub leaves the latest update in the
// watcher's slot and signals it; a client still writing the previous one
// finds only the newest when it comes back. Every event is the whole
// view, so the intermediate ones it skips carry nothing it needs.

// hubKey names one office of one Comune.
type hubKey struct {
	tenant tenant.ID
	office string
}

// hubs is a Handler's fan-outs, one per office with watchers on the
// node. It lives in the Handler (no package-level state) and holds
// goroutines only while clients follow: the last watcher to leave an
// office stops its hub.
type hubs struct {
	q       *queue.Queue
	changes Changes
	// wait is how long a hub waits for a command before it reads again
	// anyway: positions move with time alone (an appointment becoming
	// due), so a quiet office is re-read this often.
	wait time.Duration

	mu sync.Mutex
	m  map[hubKey]*hub

	// reads counts snapshots read and lookups single tickets read (a
	// watched ticket not in its office's day); tests and the benchmark
	// read them.
	reads, lookups atomic.Int64
}

func newHubs(q *queue.Queue, changes Changes) *hubs {
	return &hubs{q: q, changes: changes, wait: keepAlive, m: map[hubKey]*hub{}}
}

// running is how many hubs run now.
func (hs *hubs) running() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return len(hs.m)
}

// hub is the fan-out of one office.
type hub struct {
	hs     *hubs
	t      tenant.Tenant
	key    hubKey
	ctx    context.Context
	cancel context.CancelFunc
	// done is closed when the hub's goroutine has returned.
	done chan struct{}

	// mu guards what follows; hs.mu, when both are held, is taken first.
	mu       sync.Mutex
	watchers map[*watcher]struct{}
	// last is the latest snapshot handed out (nil before the first).
	last *published
	// kicked asks the goroutine to hand last to watchers again (a new
	// watcher needs a ticket looked up); wake interrupts its wait.
	kicked bool
	wake   context.CancelFunc
	// dead is set when the hub stops (last watcher gone, or a failed
	// read): watch then starts a new one.
	dead bool
	// callsGen counts the changes of the board's list.
	callsGen uint64
	// lineGen counts the changes of the line's digest.
	lineGen uint64
}

// published is a snapshot as the hub hands it out.
type published struct {
	snap  queue.Snapshot
	index uint64
	calls []apiCall
	gen   uint64
	// line sums up the waiting line and the calls for the operators'
	// pages (lineDigest); lineGen counts its changes.
	line    string
	lineGen uint64
}

// staffWatch is the "ticket" of a watcher of the operators' pages
// (desk_events.go): it follows the whole line, not one ticket. Ticket
// IDs are hex, so it names none.
const staffWatch = "\x00line"

// update is what a watcher receives: the ticket with its status (ticket
// watchers) or the board's list (board watchers), read at index; or the
// error that ends the stream.
type update struct {
	index  uint64
	office string
	ticket queue.Ticket
	status queue.Status
	calls  []apiCall
	// line is the line's digest (staff watchers only).
	line string
	err  error
}

// ends tells a ticket stream whether the update closes it (the ticket is
// served, gone or cancelled) and, when the ticket was transferred to
// another office, that office, whose hub the stream follows from now on.
func (u update) ends() (closed bool, moved string) {
	closed = closedState(u.ticket.State)
	if !closed && u.ticket.OfficeID != u.office {
		moved = u.ticket.OfficeID
	}
	return closed, moved
}

// watcher is one client of a hub.
type watcher struct {
	hub *hub
	// ticket is the ticket followed; "" for the office's board.
	ticket string
	// ready has a token when slot holds an update not taken yet.
	ready chan struct{}

	slotMu sync.Mutex
	slot   update

	// Owned by the hub, under hub.mu: what was last handed over, so that
	// only changes are.
	sent     bool
	lastK    queue.Ticket
	lastSt   queue.Status
	callsGen uint64
	// final is set once the watcher got its last update (its ticket is
	// closed or left the office): the hub hands it nothing more.
	final bool
	left  bool
}

// take returns the update in the slot.
func (w *watcher) take() update {
	w.slotMu.Lock()
	defer w.slotMu.Unlock()
	return w.slot
}

// offer puts u in the slot, replacing any update not taken yet, and
// signals the client without waiting for it.
func (w *watcher) offer(u update) {
	w.slotMu.Lock()
	w.slot = u
	w.slotMu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// watch adds a watcher of ticket (or of the board, ticket "") to the
// office's hub, starting the hub if none runs. The watcher's first update
// comes at once when the hub has a snapshot. The caller must call leave.
func (hs *hubs) watch(t tenant.Tenant, officeID, ticket string) *watcher {
	key := hubKey{t.ID, officeID}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hb := hs.m[key]
	if hb == nil {
		ctx, cancel := context.WithCancel(context.Background())
		hb = &hub{hs: hs, t: t, key: key, ctx: ctx, cancel: cancel, done: make(chan struct{}), watchers: map[*watcher]struct{}{}}
		hs.m[key] = hb
		// Owned by the hub; ends when its last watcher leaves (leave
		// cancels ctx) or a read fails.
		go hb.run()
	}
	w := &watcher{hub: hb, ticket: ticket, ready: make(chan struct{}, 1)}
	hb.mu.Lock()
	hb.watchers[w] = struct{}{}
	if hb.last != nil && !hb.handOne(hb.last, w) {
		hb.kickLocked()
	}
	hb.mu.Unlock()
	return w
}

// leave removes the watcher from its hub, and stops the hub when it was
// the last. It may be called more than once.
func (w *watcher) leave() {
	hb := w.hub
	hs := hb.hs
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if w.left {
		return
	}
	w.left = true
	delete(hb.watchers, w)
	if len(hb.watchers) == 0 && !hb.dead {
		hb.dead = true
		if hs.m[hb.key] == hb {
			delete(hs.m, hb.key)
		}
		hb.cancel()
	}
}

// kickLocked wakes the goroutine to hand the snapshot out again; hb.mu
// is held.
func (hb *hub) kickLocked() {
	hb.kicked = true
	if hb.wake != nil {
		hb.wake()
	}
}

// run is the hub's goroutine: read, hand out, wait for the next applied
// command (or hs.wait), and again, until the hub is stopped.
func (hb *hub) run() {
	defer close(hb.done)
	defer hb.cancel()
	var idx uint64
	read := true
	for {
		if read {
			snap, err := hb.hs.q.Snapshot(hb.ctx, hb.t, hb.key.office, boardCalls)
			hb.hs.reads.Add(1)
			if hb.ctx.Err() != nil {
				return
			}
			if err != nil {
				hb.fail(err)
				return
			}
			// The index comes from the read itself: AppliedIndex, read
			// before it, may lag the state it sees (the FSM commits,
			// then raises the index), and an event's id must not name
			// an older index than its view.
			idx = snap.Index
			hb.publish(&published{snap: snap, index: idx, calls: callsOf(snap.Calls, snap.DeskLabels)})
		} else {
			hb.mu.Lock()
			missing := hb.handAll(hb.last)
			hb.mu.Unlock()
			hb.lookUp(missing, idx)
		}
		if hb.ctx.Err() != nil {
			return
		}
		wctx, cancel := context.WithTimeout(hb.ctx, hb.hs.wait)
		hb.mu.Lock()
		kicked := hb.kicked
		hb.kicked = false
		hb.wake = cancel
		hb.mu.Unlock()
		var err error
		if !kicked {
			err = hb.hs.changes.WaitApplied(wctx, idx+1)
		}
		timedOut := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		hb.mu.Lock()
		// A kick during the wait is served by the pass that follows.
		hb.wake, hb.kicked = nil, false
		hb.mu.Unlock()
		if hb.ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			// The node is closing.
			hb.fail(err)
			return
		}
		read = timedOut || hb.hs.changes.AppliedIndex() != idx
	}
}

// publish makes p the hub's snapshot and hands each watcher its part,
// then looks up the tickets p lacks.
func (hb *hub) publish(p *published) {
	hb.mu.Lock()
	if hb.last == nil || !slices.Equal(hb.last.calls, p.calls) {
		hb.callsGen++
	}
	p.gen = hb.callsGen
	p.line = lineDigest(p.snap, p.gen)
	if hb.last == nil || hb.last.line != p.line {
		hb.lineGen++
	}
	p.lineGen = hb.lineGen
	hb.last = p
	missing := hb.handAll(p)
	hb.mu.Unlock()
	hb.lookUp(missing, p.index)
}

// handAll hands p to every watcher and returns those whose ticket p
// lacks; hb.mu is held.
func (hb *hub) handAll(p *published) []*watcher {
	if p == nil {
		return nil
	}
	var missing []*watcher
	for w := range hb.watchers {
		if !hb.handOne(p, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// handOne offers w its part of p if it changed since the last offer, and
// reports false when w's ticket is not in p (it must be looked up);
// hb.mu is held.
func (hb *hub) handOne(p *published, w *watcher) bool {
	if w.final {
		return true
	}
	if w.ticket == staffWatch {
		if !w.sent || w.callsGen != p.lineGen {
			w.sent, w.callsGen = true, p.lineGen
			w.offer(update{index: p.index, office: hb.key.office, line: p.line})
		}
		return true
	}
	if w.ticket == "" {
		if !w.sent || w.callsGen != p.gen {
			w.sent, w.callsGen = true, p.gen
			w.offer(update{index: p.index, office: hb.key.office, calls: p.calls})
		}
		return true
	}
	k, st, ok := p.snap.Ticket(w.ticket)
	k = labelled(k, p.snap.DeskLabels)
	if !ok {
		return false
	}
	hb.handTicket(w, k, st, p.index)
	return true
}

// handTicket offers w its ticket if it changed; hb.mu is held.
func (hb *hub) handTicket(w *watcher, k queue.Ticket, st queue.Status, index uint64) {
	if w.sent && k == w.lastK && st == w.lastSt {
		return
	}
	w.sent, w.lastK, w.lastSt = true, k, st
	if closedState(k.State) || k.OfficeID != hb.key.office {
		w.final = true
	}
	w.offer(update{index: index, office: hb.key.office, ticket: k, status: st})
}

// lookUp reads, one by one, the tickets the snapshot lacked: closed or
// waiting on another day, or moved to another office. They are few (a
// ticket of another office's day is handed over once and its stream
// moves), so this is not the per-client read the hub avoids.
//
// Streams of one ticket share its read: many streams opened on one old
// ticket cost one read per pass, not one each.
func (hb *hub) lookUp(ws []*watcher, index uint64) {
	type found struct {
		k   queue.Ticket
		st  queue.Status
		err error
	}
	read := map[string]found{}
	for _, w := range ws {
		f, ok := read[w.ticket]
		if !ok {
			f.k, f.err = hb.hs.q.Ticket(hb.ctx, hb.t.ID, w.ticket)
			if f.err == nil {
				f.st, f.err = hb.hs.q.Status(hb.ctx, hb.t.ID, w.ticket)
			}
			if f.err == nil && f.k.Desk != "" {
				var labels map[string]string
				labels, f.err = hb.hs.q.DeskLabels(hb.ctx, hb.t.ID, f.k.OfficeID)
				f.k = labelled(f.k, labels)
			}
			hb.hs.lookups.Add(1)
			read[w.ticket] = f
		}
		if hb.ctx.Err() != nil {
			return
		}
		k, st, err := f.k, f.st, f.err
		hb.mu.Lock()
		if _, ok := hb.watchers[w]; ok && !w.final {
			if err != nil {
				w.final = true
				w.offer(update{index: index, office: hb.key.office, err: err})
			} else {
				hb.handTicket(w, k, st, index)
			}
		}
		hb.mu.Unlock()
	}
}

// fail stops the hub after a failed read (or the node closing): its
// watchers get the error, which ends their streams, and the next client
// starts a new hub.
func (hb *hub) fail(err error) {
	hs := hb.hs
	hs.mu.Lock()
	hb.mu.Lock()
	hb.dead = true
	if hs.m[hb.key] == hb {
		delete(hs.m, hb.key)
	}
	for w := range hb.watchers {
		if !w.final {
			w.final = true
			w.offer(update{office: hb.key.office, err: err})
		}
	}
	hb.mu.Unlock()
	hs.mu.Unlock()
}

// closedState reports whether a ticket in state s is closed for good:
// its stream sends it and ends. A parked ticket is not closed: its desk
// resumes it.
func closedState(s queue.State) bool {
	return s == queue.Served || s == queue.NoShow || s == queue.Cancelled
}

// callsOf is the board's list of tickets.
func callsOf(ks []queue.Ticket, labels map[string]string) []apiCall {
	out := make([]apiCall, 0, len(ks))
	for _, k := range ks {
		k = labelled(k, labels)
		out = append(out, apiCall{Number: k.Number, Desk: k.Desk, State: string(k.State),
			Called: k.Called.UTC().Format(time.RFC3339)})
	}
	return out
}

// FanoutStats is what a Handler's live streams cost the node so far.
type FanoutStats struct {
	// Hubs is how many offices have a hub running now.
	Hubs int
	// Reads is how many times the hubs read an office's day; Lookups
	// how many single tickets they read (tickets not in their office's
	// day).
	Reads, Lookups int64
}

// FanoutStats returns the fan-out's counters, for the benchmark
// (cmd/queuebench) and the tests.
func (h *Handler) FanoutStats() FanoutStats {
	return FanoutStats{Hubs: h.hubs.running(), Reads: h.hubs.reads.Load(), Lookups: h.hubs.lookups.Load()}
}
