package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Commands proposed at the same moment share log entries. Under load,
// every raft log entry costs each node the same fixed work whatever it
// carries: a write and fsync of the log store, an AppendEntries message,
// and an SQLite commit in the FSM. The batcher, on the leader, puts the
// commands that arrive while earlier entries are still on their way into
// one entry of type cluster.batch, so those costs are paid once per entry,
// not once per command.
//
// It adds no wait of its own: it sends a command at once when fewer than
// maxInFlight of its entries are in flight, so at low load every command
// still goes alone, in the envelope it always had; only while the log is
// busy do commands queue, and the next entry takes all of them (up to
// maxBatch). Inside the entry each command keeps its own SAVEPOINT and its
// own result or domain error, exactly as consecutive entries would; they
// share the entry's index and the leader's time stamp.
//
// Only the command types registered with Registry.ShareEntries go into
// batches (the others go alone, as before), and only once every member of
// the configuration has recorded that it can apply cluster.batch (the
// version gate): an older node would refuse the entry while the others
// applied it.

// batchType is the built-in command whose payload is the envelopes of the
// commands it carries.
const batchType = "cluster.batch"

const (
	// maxInFlight is how many batcher entries may be handed to raft and
	// not yet applied on the leader. One would leave raft idle while an
	// entry is applied; a few keep its pipeline busy.
	maxInFlight = 2
	// maxBatch bounds the commands of one entry (and its size: a
	// booking's envelope is well under 2 KiB).
	maxBatch = 256
)

// batchResponse is the FSM's answer for a cluster.batch entry: one
// response per command, in order.
type batchResponse struct {
	resps []*response
}

// proposal is one command waiting for an entry. It travels by value
// (one allocation less per command): the batcher needs only the
// command's envelope and time stamp.
type proposal struct {
	at   time.Time // the command's Time
	data []byte    // the command's envelope (Time stamped)
	done chan proposalResult
	// early: answer as soon as the command is applied, before its
	// entry's commit (early.go).
	early bool
}

type proposalResult struct {
	index uint64
	resp  *response
	err   error
}

// batcher owns the leader side of batching. Its goroutine (run) lives as
// long as the node's raft; Propose hands it commands through in.
type batcher struct {
	n     *Node
	in    chan proposal
	slots chan struct{} // one token per entry in flight

	// entries and commands count what run handed to raft.
	entries, commands atomic.Uint64
}

func newBatcher(n *Node) *batcher {
	return &batcher{n: n, in: make(chan proposal, maxBatch), slots: make(chan struct{}, maxInFlight)}
}

// canBatch reports whether every member can apply cluster.batch (the
// version gate, through its cache).
func (b *batcher) canBatch(ctx context.Context, r *raft.Raft) bool {
	return b.n.supported(ctx, r, Command{Type: batchType, Version: 1}) == nil
}

// propose sends cmd (already checked, Time stamped) through the batcher
// and waits for its result, as Node.propose does for a lone entry.
func (b *batcher) propose(ctx context.Context, cmd Command, data []byte) (Result, error) {
	p := proposal{at: cmd.Time, data: data, done: make(chan proposalResult, 1), early: withoutLocalApply(ctx)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-b.n.closing:
		return Result{}, ErrClosed
	}
	select {
	case res := <-p.done:
		out := Result{Index: res.index}
		if p.early {
			// Its reader on this node may have to wait for it (WaitOwnWrites).
			b.n.own.note(res.index)
		}
		if res.err != nil {
			return out, res.err
		}
		if res.resp == nil {
			return out, nil
		}
		out.Value = res.resp.Value
		return out, res.resp.Err
	case <-b.n.closing:
		return Result{}, fmt.Errorf("cluster: propose %s: %w: %w", cmd.Type, ErrOutcomeUnknown, ErrClosed)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("cluster: propose %s: %w: %w", cmd.Type, ErrOutcomeUnknown, ctx.Err())
	}
}

// run takes proposals until the node closes: it waits for a free slot,
// then takes every proposal queued (up to maxBatch) into one entry.
func (b *batcher) run(r *raft.Raft) {
	for {
		var first proposal
		select {
		case first = <-b.in:
		case <-b.n.closing:
			b.failQueued(ErrClosed)
			return
		}
		select {
		case b.slots <- struct{}{}:
		case <-b.n.closing:
			first.done <- proposalResult{err: ErrClosed}
			b.failQueued(ErrClosed)
			return
		}
		// Sized for what is queued now, so that the drain below does
		// not grow it step by step.
		batch := make([]proposal, 1, 1+len(b.in))
		batch[0] = first
	drain:
		for len(batch) < maxBatch {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		data, err := b.entry(batch)
		if err != nil {
			<-b.slots
			for _, p := range batch {
				p.done <- proposalResult{err: err}
			}
			continue
		}
		b.entries.Add(1)
		b.commands.Add(uint64(len(batch)))
		b.n.fsm.early.add(data, batch)
		f := r.Apply(data, 10*time.Second)
		// Not in the node's WaitGroup: like Node.propose's waiter, it
		// ends when raft resolves the future, which it always does
		// (applied, failed, or shut down after Close's wait).
		go b.await(r, f, data, batch)
	}
}

// entry encodes batch: a lone command in its own envelope, several in a
// cluster.batch envelope stamped with the first one's time.
func (b *batcher) entry(batch []proposal) ([]byte, error) {
	if len(batch) == 1 {
		return batch[0].data, nil
	}
	// Each envelope is valid JSON (encodeEntry's or encodeTrusted's
	// output), so the list is joined by hand: json.Marshal ran every byte
	// of it through its scanner twice more (16 µs of the leader's CPU per
	// booking). The entry is written straight into one buffer of its
	// final size, the bytes encodeTrusted writes for the batch command
	// (TestBatchEntryBytes): building the list first and copying it into
	// the envelope made a second large allocation and copy per entry.
	t, err := batch[0].at.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("cluster: encode batch: %w", err)
	}
	size := len(batchEntryHead) + len(t) + len(batchEntryPayload) + len(batch) - 1 + len("]}")
	for _, p := range batch {
		size += len(p.data)
	}
	data := make([]byte, 0, size)
	data = append(data, batchEntryHead...)
	data = append(data, t...)
	data = append(data, batchEntryPayload...)
	for i, p := range batch {
		if i > 0 {
			data = append(data, ',')
		}
		data = append(data, p.data...)
	}
	return append(data, "]}"...), nil
}

// The cluster.batch envelope around the time stamp and the list of
// envelopes, in encodeTrusted's order of fields.
const (
	batchEntryHead    = `{"type":"` + batchType + `","v":1,"time":`
	batchEntryPayload = `,"payload":[`
)

// await hands each proposal of batch its result once raft resolves f,
// except those the FSM answered early (early.go).
func (b *batcher) await(r *raft.Raft, f raft.ApplyFuture, data []byte, batch []proposal) {
	err := f.Error()
	if answered := b.n.fsm.early.remove(data); slices.Contains(answered, true) {
		// Only the others are answered below. A batch response is
		// matched by position, so the answered ones stay in place,
		// without a channel.
		batch = slices.Clone(batch)
		for i := range batch {
			if answered[i] {
				batch[i].done = nil
			}
		}
	}
	<-b.slots
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			// Refused before it reached the log: safe to send again.
			err = notLeader(r)
		case errors.Is(err, raft.ErrLeadershipLost):
			// In the log, not known committed: a new leader may still
			// commit it.
			err = fmt.Errorf("cluster: propose: %w: %w", ErrOutcomeUnknown, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			err = fmt.Errorf("cluster: propose: %w: %w", ErrOutcomeUnknown, ErrClosed)
		default:
			err = fmt.Errorf("cluster: propose: %w", err)
		}
		for _, p := range batch {
			if p.done != nil {
				p.done <- proposalResult{err: err}
			}
		}
		return
	}
	idx := f.Index()
	switch resp := f.Response().(type) {
	case *batchResponse:
		for i, p := range batch {
			var r *response
			if i < len(resp.resps) {
				r = resp.resps[i]
			}
			if p.done != nil {
				p.done <- proposalResult{index: idx, resp: r}
			}
		}
	case *response:
		batch[0].done <- proposalResult{index: idx, resp: resp}
	default:
		for _, p := range batch {
			if p.done != nil {
				p.done <- proposalResult{index: idx}
			}
		}
	}
}

// failQueued answers every proposal still queued with err.
func (b *batcher) failQueued(err error) {
	for {
		select {
		case p := <-b.in:
			p.done <- proposalResult{err: err}
		default:
			return
		}
	}
}

// applyBatchEntry applies the commands of a cluster.batch entry, each in
// its own savepoint, with the entry's index and time.
func (f *fsm) applyBatchEntry(ctx context.Context, tx *sql.Tx, batch Command, data []byte) *batchResponse {
	// The entry was decoded, and so checked, by decodeEntry (which
	// checks the whole entry as encoding/json would): its payload is
	// valid JSON, and the envelopes need not be checked again
	// (envelope.go).
	envs, err := splitBatch(batch.Payload)
	if err != nil {
		panic(fmt.Sprintf("cluster: fsm: entry %d: batch payload: %v", batch.Index, err))
	}
	out := &batchResponse{resps: make([]*response, len(envs))}
	for i, env := range envs {
		if len(env) == 0 || env[0] != '{' {
			panic(fmt.Sprintf("cluster: fsm: entry %d: command %d of the batch: not a JSON envelope", batch.Index, i))
		}
		cmd, err := decodeTrusted(env)
		if err != nil {
			panic(fmt.Sprintf("cluster: fsm: entry %d: command %d of the batch: %v", batch.Index, i, err))
		}
		cmd.Index, cmd.Time, cmd.outbox = batch.Index, batch.Time, batch.outbox
		out.resps[i] = f.applyCommand(ctx, tx, cmd)
		if f.opt.aborted {
			return out
		}
		f.early.answer(data, i, batch.Index, out.resps[i])
	}
	return out
}

// BatchStats returns how many log entries this node's batcher proposed
// while it led, and how many commands they carried: commands/entries is
// the average batch. Commands of types that do not share entries, and
// those proposed while the gate is closed, are not counted.
func (n *Node) BatchStats() (entries, commands uint64) {
	if n.batch == nil {
		return 0, 0
	}
	return n.batch.entries.Load(), n.batch.commands.Load()
}
