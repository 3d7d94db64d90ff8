package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Outbox item statuses: pending → sent, or pending → failed after
// Config.OutboxMaxAttempts failed deliveries. Failed items are kept for
// inspection and never retried by the worker.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// Built-in outbox commands, proposed by the leader's outbox worker.
const (
	outboxSentType   = "cluster.outbox.sent"
	outboxRetryType  = "cluster.outbox.retry"
	outboxFailedType = "cluster.outbox.failed"
)

// clusterMigrations is the schema of the cluster package's own component.
func clusterMigrations() []Migration {
	return []Migration{{
		Component: reservedComponent,
		Version:   1,
		SQL: `
CREATE TABLE cluster_outbox (
	id           TEXT PRIMARY KEY,
	cmd_index    INTEGER NOT NULL,
	tenant       TEXT NOT NULL,
	kind         TEXT NOT NULL,
	key          TEXT NOT NULL UNIQUE,
	payload      BLOB NOT NULL,
	status       TEXT NOT NULL DEFAULT 'pending',
	attempts     INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	sent         INTEGER,
	last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cluster_outbox_due ON cluster_outbox (status, next_attempt);
CREATE INDEX cluster_outbox_cmd ON cluster_outbox (cmd_index);`,
	}, admissionMigration()}
}

// OutboxItem is something to deliver outside the cluster (an email), recorded
// by a domain apply function in the same transaction as the change that
// causes it, so that the change and the promise to tell about it commit
// together.
type OutboxItem struct {
	// Kind selects the Deliverer, e.g. "email".
	Kind string
	// Key is a stable dedupe key, e.g. "booking/bari/<id>/1/confirm". A
	// second Enqueue with the same key is ignored; deliverers can also pass
	// it on (e.g. in a Message-ID) so the receiver can drop a duplicate.
	// Items of one kind whose keys agree up to their last two
	// "/"-separated parts ("booking/bari/<id>": one booking's emails) form
	// a sequence: the worker delivers them one at a time, in the order they
	// were enqueued, while it delivers different sequences in parallel.
	Key string
	// Payload is what the deliverer needs, JSON-encoded.
	Payload json.RawMessage
}

// OutboxMessage is an outbox row as the deliverer and the inspection API
// see it.
type OutboxMessage struct {
	// ID is derived from the log index of the command that enqueued it
	// ("<index>-<n>"), so it is the same on every node.
	ID          string
	Tenant      string
	Kind        string
	Key         string
	Payload     json.RawMessage
	Status      string
	Attempts    int // failed deliveries so far (a sent item counts its last one too)
	Created     time.Time
	NextAttempt time.Time
	Sent        time.Time // zero unless Status is OutboxSent
	LastError   string
}

// Deliverer delivers one outbox message (sends the email). It must honour
// ctx, which ends at Config.OutboxTimeout or when this node stops leading.
// A nil error marks the message sent; an error schedules a retry. Delivery
// is at least once: a deliverer that must not repeat itself dedupes on
// m.Key.
type Deliverer func(ctx context.Context, m OutboxMessage) error

// Enqueue records item in the outbox. It is called by apply functions,
// inside their transaction, so the item exists if and only if the command's
// other changes do. The row's ID is derived from cmd.Index. A Key already
// in the outbox makes Enqueue a no-op. Payload must be a JSON object, as
// json.Marshal of a struct gives: Enqueue checks its first and last bytes
// only (a full validation, on every node for every booking, was 3% of a
// follower's CPU under load). An apply function must not roll back an
// Enqueue of its own (with a savepoint of its own): the FSM rolls back a
// failed command's rows, and the row numbers with them.
func Enqueue(tx *sql.Tx, cmd Command, item OutboxItem) error {
	switch {
	case cmd.Index == 0:
		return errors.New("cluster: Enqueue called outside apply (command has no index)")
	case item.Kind == "" || item.Key == "":
		return errors.New("cluster: Enqueue: Kind and Key are required")
	case len(item.Payload) < 2 || item.Payload[0] != '{' || item.Payload[len(item.Payload)-1] != '}':
		return fmt.Errorf("cluster: Enqueue %s: payload is not JSON", item.Key)
	}
	at := cmd.Time.UnixNano()
	if seq := cmd.outbox; seq != nil {
		// The row's number within its entry is the count of rows the
		// entry has enqueued so far that are still there: the FSM keeps
		// it (outboxSeq), so the insert is a plain one. Counting them in
		// SQL made SQLite read the table it inserts into, which it does
		// through a temporary copy of the SELECT's result, for every
		// booking on every node.
		n := seq.n + 1
		res, err := tx.ExecContext(context.Background(), `INSERT INTO cluster_outbox
			(id, cmd_index, tenant, kind, key, payload, created, next_attempt)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO NOTHING`,
			strconv.FormatUint(cmd.Index, 10)+"-"+strconv.Itoa(n), int64(cmd.Index), cmd.Tenant, item.Kind, item.Key,
			[]byte(item.Payload), at, at)
		if err != nil {
			return fmt.Errorf("cluster: Enqueue %s: %w", item.Key, err)
		}
		if added, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("cluster: Enqueue %s: %w", item.Key, err)
		} else if added > 0 {
			seq.n = n
		}
		return nil
	}
	// Called with a command the FSM did not hand out (tests): count the
	// entry's rows in the same statement as the insert. The WHERE clause
	// also keeps SQLite from reading ON CONFLICT as a join constraint.
	_, err := tx.ExecContext(context.Background(), `INSERT INTO cluster_outbox
		(id, cmd_index, tenant, kind, key, payload, created, next_attempt)
		SELECT ? || '-' || (COUNT(*) + 1), ?, ?, ?, ?, ?, ?, ? FROM cluster_outbox WHERE cmd_index = ?
		ON CONFLICT (key) DO NOTHING`,
		strconv.FormatUint(cmd.Index, 10), int64(cmd.Index), cmd.Tenant, item.Kind, item.Key,
		[]byte(item.Payload), at, at, int64(cmd.Index))
	if err != nil {
		return fmt.Errorf("cluster: Enqueue %s: %w", item.Key, err)
	}
	return nil
}

// outboxSeq counts the outbox rows that the commands of one log entry
// have enqueued and not rolled back: exactly what a COUNT(*) of the rows
// with the entry's index gives (no other entry writes that index, and
// nothing deletes outbox rows), so the IDs are those older binaries give.
// The FSM makes one per entry and restores n when it rolls a command back.
type outboxSeq struct{ n int }

// outboxResult is the payload of the worker's commands. NextAttempt is
// computed by the worker (the backoff is its business, not apply's).
type outboxResult struct {
	ID          string    `json:"id"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// outboxSentVersion is the version of cluster.outbox.sent the worker
// proposes: version 2 marks many items sent in one command (outboxSentMany);
// version 1, one item (outboxResult), is still applied for the entries
// already in logs.
const outboxSentVersion = 2

// outboxSentMany is the payload of cluster.outbox.sent version 2.
type outboxSentMany struct {
	IDs []string `json:"ids"`
}

// applyOutboxSent marks items sent at the command's (leader-stamped) time.
// An item that is no longer pending is left alone: a previous leader may
// have marked it already.
func applyOutboxSent(tx *sql.Tx, cmd Command) (any, error) {
	var ids []string
	if cmd.Version == 1 {
		var p outboxResult
		if err := cmd.Decode(&p); err != nil {
			return nil, err
		}
		ids = []string{p.ID}
	} else {
		var p outboxSentMany
		if err := cmd.Decode(&p); err != nil {
			return nil, err
		}
		ids = p.IDs
	}
	for _, id := range ids {
		if _, err := tx.Exec(`UPDATE cluster_outbox SET status = 'sent', sent = ?, attempts = attempts + 1
			WHERE id = ? AND status = 'pending'`, cmd.Time.UnixNano(), id); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// applyOutboxRetry records a failed attempt and when to try again.
func applyOutboxRetry(tx *sql.Tx, cmd Command) (any, error) {
	var p outboxResult
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`UPDATE cluster_outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ?
		WHERE id = ? AND status = 'pending'`, p.NextAttempt.UnixNano(), p.Error, p.ID)
	return nil, err
}

// applyOutboxFailed records the last failed attempt and gives up.
func applyOutboxFailed(tx *sql.Tx, cmd Command) (any, error) {
	var p outboxResult
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`UPDATE cluster_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?
		WHERE id = ? AND status = 'pending'`, p.Error, p.ID)
	return nil, err
}

// HandleOutbox registers the deliverer of one kind of outbox item. Call it
// before Start; it panics after Start, on a duplicate kind or a nil d.
// Items of a kind with no deliverer stay pending.
func (n *Node) HandleOutbox(kind string, d Deliverer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.started:
		panic(fmt.Sprintf("cluster: HandleOutbox(%q) after Start", kind))
	case kind == "" || d == nil:
		panic("cluster: HandleOutbox needs a kind and a deliverer")
	}
	if _, dup := n.deliverers[kind]; dup {
		panic(fmt.Sprintf("cluster: outbox kind %q handled twice", kind))
	}
	n.deliverers[kind] = d
}

// outboxColumns is the column list scanOutbox reads.
const outboxColumns = `id, tenant, kind, key, payload, status, attempts, created, next_attempt, COALESCE(sent, 0), last_error`

func scanOutbox(rows *sql.Rows) (OutboxMessage, error) {
	var m OutboxMessage
	var payload []byte
	var created, next, sent int64
	err := rows.Scan(&m.ID, &m.Tenant, &m.Kind, &m.Key, &payload, &m.Status, &m.Attempts,
		&created, &next, &sent, &m.LastError)
	m.Payload = payload
	m.Created = time.Unix(0, created).UTC()
	m.NextAttempt = time.Unix(0, next).UTC()
	if sent != 0 {
		m.Sent = time.Unix(0, sent).UTC()
	}
	return m, err
}

// Outbox lists outbox items with the given status (all when status is
// ""), oldest first, at most limit (100 when limit <= 0). It reads the
// local state.
func (n *Node) Outbox(ctx context.Context, status string, limit int) ([]OutboxMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := n.readDB.QueryContext(ctx, `SELECT `+outboxColumns+` FROM cluster_outbox
		WHERE ? = '' OR status = ? ORDER BY created, cmd_index, id LIMIT ?`, status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("cluster: list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("cluster: list outbox: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// outboxBatch is how many due items the worker reads at once, and at most
// how many deliveries one "sent" command records.
const outboxBatch = 64

// outboxGather is how long the worker, woken by an apply, lets further
// applies come before it reads the due items. Without it, at a few
// bookings a second each booking was read, delivered and recorded alone:
// one "sent" command, one more log write and FSM commit, per email. An
// email leaves at most this much later.
const outboxGather = 25 * time.Millisecond

// outboxSentDelay bounds how long a successful delivery waits for the
// others of its round before the worker records them: a slow receiver
// does not hold many unrecorded deliveries, which a change of leader would
// send again.
const outboxSentDelay = 250 * time.Millisecond

// recordTimeout bounds the proposal that records a delivery's outcome.
const recordTimeout = 5 * time.Second

// runOutbox is the leader-only delivery loop. The run loop starts it when
// this node becomes leader and cancels ctx when it stops leading or closes;
// it returns promptly after ctx ends. Every result of a round is applied
// (Propose waits for local apply) before the next round's query, so in
// normal operation an item is never delivered twice.
func (n *Node) runOutbox(ctx context.Context, r *raft.Raft) {
	log := n.log.With("worker", "outbox")
	// The outbox table exists once Start has run the migrations.
	select {
	case <-n.ready:
	case <-ctx.Done():
		return
	}
	// A barrier makes this node apply everything a previous leader
	// committed (e.g. its "sent" marks) before looking for due items.
	if err := r.Barrier(0).Error(); err != nil {
		log.Warn("outbox worker not started: barrier failed", "err", err)
		return
	}
	log.Info("outbox worker started")
	defer log.Info("outbox worker stopped")
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, err := n.deliverDue(ctx, log)
		if ctx.Err() != nil {
			return
		}
		wait := time.Duration(0)
		switch {
		case err != nil:
			log.Error("outbox delivery round failed", "err", err)
			wait = n.cfg.OutboxBackoff
		case next.IsZero():
			wait = time.Hour
		default:
			wait = next.Sub(n.cfg.Now())
		}
		if wait <= 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.outboxWake:
			// Since Go 1.23 Reset needs no draining of the channel.
			timer.Reset(outboxGather)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		case <-timer.C:
		}
	}
}

// outboxPending selects the pending rows of cluster_outbox through its
// partial due index (leanOutboxMigration): SQLite uses that index only
// when the query names the index's own condition too.
const outboxPending = `status <> 'sent' AND status = 'pending'`

// outboxDueQuery reads the first outboxBatch items due at a time; in is
// the placeholders of the kinds ("?,?").
func outboxDueQuery(in string) string {
	return `SELECT ` + outboxColumns + ` FROM cluster_outbox
		WHERE ` + outboxPending + ` AND next_attempt <= ? AND kind IN (` + in + `)
		ORDER BY next_attempt, cmd_index, id LIMIT ?`
}

// outboxNextQuery reads when the next pending item of the kinds is due.
func outboxNextQuery(in string) string {
	return `SELECT MIN(next_attempt) FROM cluster_outbox WHERE ` + outboxPending + ` AND kind IN (` + in + `)`
}

// deliverDue delivers the items due now and returns when the next pending
// item is due (zero when none is pending; now when more are due).
func (n *Node) deliverDue(ctx context.Context, log interface {
	Warn(string, ...any)
}) (time.Time, error) {
	kinds := make([]any, 0, len(n.deliverers))
	for k := range n.deliverers {
		kinds = append(kinds, k)
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(kinds)), ",")
	now := n.cfg.Now()
	args := append([]any{now.UnixNano()}, kinds...)
	args = append(args, outboxBatch)
	rows, err := n.readDB.QueryContext(ctx, outboxDueQuery(in), args...)
	if err != nil {
		return time.Time{}, fmt.Errorf("read due outbox items: %w", err)
	}
	var due []OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			rows.Close()
			return time.Time{}, fmt.Errorf("read due outbox items: %w", err)
		}
		due = append(due, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return time.Time{}, fmt.Errorf("read due outbox items: %w", err)
	}
	if err := n.deliverRound(ctx, due, log); err != nil {
		return time.Time{}, err
	}
	if len(due) == outboxBatch {
		return now, nil
	}
	var next sql.NullInt64
	if err := n.readDB.QueryRowContext(ctx, outboxNextQuery(in), kinds...).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("read next outbox item: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return time.Unix(0, next.Int64), nil
}

// deliverRound delivers the due items of one round: the items of one
// sequence (see OutboxItem.Key) one after the other, in order, and up to
// Config.OutboxParallel sequences at a time, so that a slow receiver (an
// SMTP conversation takes milliseconds) does not hold every other email
// behind it. It returns once every started delivery has ended and what
// was delivered is recorded; an error (not leading any more, closing)
// stops starting new deliveries.
func (n *Node) deliverRound(ctx context.Context, due []OutboxMessage, log interface {
	Warn(string, ...any)
}) error {
	sent := &sentMarks{}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	slots := make(chan struct{}, n.cfg.OutboxParallel)
	for _, seq := range outboxSequences(due) {
		select {
		case slots <- struct{}{}:
		case <-rctx.Done():
		}
		if rctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, m := range seq {
				if rctx.Err() != nil {
					return
				}
				err := n.deliverOne(rctx, m, sent, log)
				if err == nil && sent.due(n.cfg.Now()) {
					err = n.recordSent(rctx, sent)
				}
				if err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// What was delivered is recorded even after an error (see recordSent).
	err := n.recordSent(ctx, sent)
	mu.Lock()
	defer mu.Unlock()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return errors.Join(first, err)
}

// outboxSequences splits due (in delivery order) into sequences: items
// of one kind whose keys agree up to their last two "/"-separated parts,
// each in the order of due; the sequences in the order of their first item.
func outboxSequences(due []OutboxMessage) [][]OutboxMessage {
	var order []string
	seqs := map[string][]OutboxMessage{}
	for _, m := range due {
		k := m.Key
		for range 2 {
			if i := strings.LastIndexByte(k, '/'); i >= 0 {
				k = k[:i]
			}
		}
		k = m.Kind + "\x00" + k
		if _, ok := seqs[k]; !ok {
			order = append(order, k)
		}
		seqs[k] = append(seqs[k], m)
	}
	out := make([][]OutboxMessage, len(order))
	for i, k := range order {
		out[i] = seqs[k]
	}
	return out
}

// sentMarks collects the items of one round that were delivered and are
// not yet recorded. The round's deliveries add to it concurrently.
type sentMarks struct {
	mu    sync.Mutex
	ids   []string
	first time.Time // when the first of ids was delivered
}

func (s *sentMarks) add(id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 {
		s.first = now
	}
	s.ids = append(s.ids, id)
}

// due reports whether the marks should be recorded now rather than with
// the rest of the round.
func (s *sentMarks) due(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids) >= outboxBatch || len(s.ids) > 0 && now.Sub(s.first) >= outboxSentDelay
}

// take returns the collected IDs and empties s.
func (s *sentMarks) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.ids
	s.ids, s.first = nil, time.Time{}
	return ids
}

// recordSent proposes one command that marks every collected item sent,
// and empties s. Each delivery otherwise costs a command of its own, a
// round trip through the log that the worker waits for: under load the
// worker then fell ever further behind, and marks were half of the
// commands the FSM applied. The marks are recorded even if ctx ended
// after the deliveries (Close waits for it, raft is still up), so that
// closing a node does not make its last emails go out twice. An error
// leaves the items pending: whoever leads next delivers them again.
func (n *Node) recordSent(ctx context.Context, s *sentMarks) error {
	ids := s.take()
	if len(ids) == 0 {
		return nil
	}
	cmd, err := NewCommand(outboxSentType, outboxSentVersion, "", outboxSentMany{IDs: ids})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := n.propose(rctx, cmd); err != nil {
		return fmt.Errorf("record %d outbox items sent: %w", len(ids), err)
	}
	return nil
}

// deliverOne delivers m. A success is added to sent, to be recorded with
// the others of the round; a failure is recorded at once. An error means
// the outcome could not be recorded (not leader any more, closing); the
// item stays pending and is delivered again by whoever leads next.
func (n *Node) deliverOne(ctx context.Context, m OutboxMessage, sent *sentMarks, log interface {
	Warn(string, ...any)
}) error {
	dctx, cancel := context.WithTimeout(ctx, n.cfg.OutboxTimeout)
	err := n.deliverers[m.Kind](dctx, m)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Stopped leading or closing during the delivery, which failed
		// (probably because of that): the item stays pending as it was.
		return ctx.Err()
	}
	if err == nil {
		sent.add(m.ID, n.cfg.Now())
		return nil
	}
	var typ string
	p := outboxResult{ID: m.ID}
	switch attempts := m.Attempts + 1; {
	case attempts >= n.cfg.OutboxMaxAttempts:
		typ, p.Error = outboxFailedType, err.Error()
		log.Warn("outbox item failed for good", "id", m.ID, "key", m.Key, "tenant", m.Tenant, "attempts", attempts, "err", err)
	default:
		typ, p.Error = outboxRetryType, err.Error()
		p.NextAttempt = n.cfg.Now().Add(n.backoff(attempts)).UTC()
		log.Warn("outbox delivery failed, will retry", "id", m.ID, "key", m.Key, "tenant", m.Tenant,
			"attempts", attempts, "next", p.NextAttempt, "err", err)
	}
	cmd, cerr := NewCommand(typ, 1, m.Tenant, p)
	if cerr != nil {
		return cerr
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer rcancel()
	if _, perr := n.propose(rctx, cmd); perr != nil {
		return fmt.Errorf("record outbox %s %s: %w", m.ID, typ, perr)
	}
	return nil
}

// backoff is the delay after the given number of failed attempts:
// OutboxBackoff doubled at each further failure, capped at OutboxMaxBackoff.
func (n *Node) backoff(attempts int) time.Duration {
	d := n.cfg.OutboxBackoff
	for i := 1; i < attempts && d < n.cfg.OutboxMaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.cfg.OutboxMaxBackoff)
}
