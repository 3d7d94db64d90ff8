package cluster_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// recorder is a Deliverer that records every attempt and fails the first
// failures attempts of each key.
type recorder struct {
	mu       sync.Mutex
	failures int
	attempts map[string][]time.Time
	msgs     []cluster.OutboxMessage
	notify   chan struct{}
}

func newRecorder(failures int) *recorder {
	return &recorder{failures: failures, attempts: map[string][]time.Time{}, notify: make(chan struct{}, 100)}
}

func (r *recorder) deliver(ctx context.Context, m cluster.OutboxMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[m.Key] = append(r.attempts[m.Key], time.Now())
	r.msgs = append(r.msgs, m)
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if len(r.attempts[m.Key]) <= r.failures {
		return errors.New("smtp: 451 try again later")
	}
	return nil
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts[key])
}

// waitStatus waits until the outbox item with key has status.
func waitStatus(t *testing.T, n *cluster.Node, key, status string) cluster.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		all, err := n.Outbox(context.Background(), status, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range all {
			if m.Key == key {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	all, _ := n.Outbox(context.Background(), "", 0)
	t.Fatalf("item %s never reached status %s; outbox: %+v", key, status, all)
	return cluster.OutboxMessage{}
}

// deliveringNode starts a one-node cluster whose outbox hands the items
// of kind "test" to rec.
func deliveringNode(t *testing.T, rec *recorder) *cluster.Node {
	t.Helper()
	n := clustertest.New(t, cluster.Config{}, registerKV)
	n.HandleOutbox("test", rec.deliver)
	clustertest.Start(t, n)
	return n
}

func TestOutboxDeliversOnce(t *testing.T) {
	t.Parallel()
	rec := newRecorder(0)
	n := deliveringNode(t, rec)

	res, err := propose(n, putPayload{Key: "a", Value: "1", Outbox: true})
	if err != nil {
		t.Fatal(err)
	}
	m := waitStatus(t, n, "kv/a/1", cluster.OutboxSent)
	if want := strings.Join([]string{itoa(res.Index), "1"}, "-"); m.ID != want {
		t.Errorf("ID: got %s, want %s", m.ID, want)
	}
	if m.Tenant != "bari" || m.Kind != "test" || string(m.Payload) != `{"key":"a"}` {
		t.Errorf("message: got %+v", m)
	}
	if m.Attempts != 1 || m.Sent.IsZero() || m.Sent.Before(m.Created) {
		t.Errorf("sent item: got attempts %d, sent %v, created %v; want 1 and sent >= created", m.Attempts, m.Sent, m.Created)
	}
	// More applies wake the worker; the sent item is not delivered again.
	for i := range 5 {
		put(t, n, "other"+itoa(uint64(i)), "x")
	}
	time.Sleep(100 * time.Millisecond)
	if got := rec.count("kv/a/1"); got != 1 {
		t.Errorf("deliveries of kv/a/1: got %d, want 1", got)
	}
	rec.mu.Lock()
	if got := rec.msgs[0].Attempts; got != 0 {
		t.Errorf("deliverer saw Attempts %d on the first try, want 0", got)
	}
	rec.mu.Unlock()
}

func TestOutboxDedupesKey(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV)
	for range 3 {
		if _, err := propose(n, putPayload{Key: "a", Value: "1", Outbox: true, Overwrite: true}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := n.Outbox(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Status != cluster.OutboxPending {
		t.Fatalf("outbox: got %+v, want one pending item (no deliverer)", all)
	}
	// A failed command's outbox item is rolled back with it.
	if _, err := propose(n, putPayload{Key: "a", Value: "2", Outbox: true}); !errors.Is(err, errTaken) {
		t.Fatalf("got %v, want errTaken", err)
	}
	all, _ = n.Outbox(context.Background(), "", 0)
	if len(all) != 1 {
		t.Errorf("items after a failed command: got %d, want 1", len(all))
	}
}

func TestOutboxRetriesWithBackoffThenFails(t *testing.T) {
	t.Parallel()
	rec := newRecorder(1000)
	n := clustertest.New(t, cluster.Config{
		OutboxBackoff: 40 * time.Millisecond, OutboxMaxBackoff: 100 * time.Millisecond, OutboxMaxAttempts: 4,
	}, registerKV)
	n.HandleOutbox("test", rec.deliver)
	clustertest.Start(t, n)
	if _, err := propose(n, putPayload{Key: "a", Value: "1", Outbox: true}); err != nil {
		t.Fatal(err)
	}
	m := waitStatus(t, n, "kv/a/1", cluster.OutboxFailed)
	if m.Attempts != 4 || !strings.Contains(m.LastError, "451") {
		t.Errorf("failed item: got attempts %d, last error %q; want 4 and the SMTP error", m.Attempts, m.LastError)
	}
	rec.mu.Lock()
	times := append([]time.Time(nil), rec.attempts["kv/a/1"]...)
	rec.mu.Unlock()
	if len(times) != 4 {
		t.Fatalf("deliveries: got %d, want 4", len(times))
	}
	// Delays double from 40 ms and are capped at 100 ms.
	for i, want := range []time.Duration{40, 80, 100} {
		want *= time.Millisecond
		if got := times[i+1].Sub(times[i]); got < want*9/10 {
			t.Errorf("delay before attempt %d: got %v, want at least %v", i+2, got, want)
		}
	}
	time.Sleep(150 * time.Millisecond)
	if got := rec.count("kv/a/1"); got != 4 {
		t.Errorf("deliveries after failing for good: got %d, want 4", got)
	}
}

func TestOutboxRetryThenSuccess(t *testing.T) {
	t.Parallel()
	rec := newRecorder(2)
	n := clustertest.New(t, cluster.Config{OutboxBackoff: 10 * time.Millisecond}, registerKV)
	n.HandleOutbox("test", rec.deliver)
	clustertest.Start(t, n)
	if _, err := propose(n, putPayload{Key: "a", Value: "1", Outbox: true}); err != nil {
		t.Fatal(err)
	}
	m := waitStatus(t, n, "kv/a/1", cluster.OutboxSent)
	if m.Attempts != 3 || rec.count("kv/a/1") != 3 {
		t.Errorf("got attempts %d, deliveries %d; want 3 and 3", m.Attempts, rec.count("kv/a/1"))
	}
}

func TestOutboxPendingSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// First life: no deliverer, so items stay pending.
	n := clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, n)
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		if _, err := propose(n, putPayload{Key: k, Value: "1", Outbox: true}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()

	rec := newRecorder(0)
	n = clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	n.HandleOutbox("test", rec.deliver)
	clustertest.Start(t, n)
	for _, k := range keys {
		waitStatus(t, n, "kv/"+k+"/1", cluster.OutboxSent)
		if got := rec.count("kv/" + k + "/1"); got != 1 {
			t.Errorf("deliveries of %s: got %d, want 1", k, got)
		}
	}
}

func TestEnqueueOutsideApply(t *testing.T) {
	t.Parallel()
	err := cluster.Enqueue((*sql.Tx)(nil), cluster.Command{Type: "x.y"}, cluster.OutboxItem{Kind: "k", Key: "k", Payload: []byte(`{}`)})
	if err == nil {
		t.Fatal("Enqueue with a command without index: got nil error, want one")
	}
}

func itoa(i uint64) string { return strconv.FormatUint(i, 10) }

// TestOutboxRecordsManyDeliveriesInOneCommand checks that the worker marks
// the deliveries of one round sent with a single command, not one command
// per item, and that every item ends sent exactly once.
func TestOutboxRecordsManyDeliveriesInOneCommand(t *testing.T) {
	t.Parallel()
	const items = 20
	release := make(chan struct{})
	rec := newRecorder(0)
	var once sync.Once
	n := clustertest.New(t, cluster.Config{}, registerKV)
	n.HandleOutbox("test", func(ctx context.Context, m cluster.OutboxMessage) error {
		// The first delivery waits until every other item is queued, so
		// that the next round finds them all due.
		once.Do(func() { <-release })
		return rec.deliver(ctx, m)
	})
	clustertest.Start(t, n)

	if _, err := propose(n, putPayload{Key: "first", Value: "1", Outbox: true}); err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if _, err := propose(n, putPayload{Key: "k" + itoa(uint64(i)), Value: "1", Outbox: true}); err != nil {
			t.Fatal(err)
		}
	}
	queued := n.AppliedIndex()
	close(release)
	waitStatus(t, n, "kv/first/1", cluster.OutboxSent)
	for i := range items {
		m := waitStatus(t, n, "kv/k"+itoa(uint64(i))+"/1", cluster.OutboxSent)
		if m.Attempts != 1 {
			t.Errorf("%s: got attempts %d, want 1", m.Key, m.Attempts)
		}
	}
	// One command marks the first item, one the other twenty.
	if got := n.AppliedIndex() - queued; got > 2 {
		t.Errorf("commands recording %d deliveries: got %d, want at most 2", items+1, got)
	}
	for i := range items {
		if got := rec.count("kv/k" + itoa(uint64(i)) + "/1"); got != 1 {
			t.Errorf("deliveries of k%d: got %d, want 1", i, got)
		}
	}
}

// TestEnqueueNumbersItemsOfOneCommand checks the IDs of several items
// enqueued by one command: numbered from 1 in order, a duplicate key
// skipped without using a number.
func TestEnqueueNumbersItemsOfOneCommand(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, func(r *cluster.Registry) {
		r.Handle("multi.enqueue", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
			for _, key := range []string{"a", "a", "b", "c"} {
				if err := cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: "none", Key: "multi/" + key, Payload: []byte(`{}`)}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	})
	cmd, err := cluster.NewCommand("multi.enqueue", 1, "bari", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Propose(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	all, err := n.Outbox(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range all {
		got[m.Key] = m.ID
	}
	idx := itoa(res.Index)
	want := map[string]string{"multi/a": idx + "-1", "multi/b": idx + "-2", "multi/c": idx + "-3"}
	if len(got) != len(want) {
		t.Errorf("items: got %v, want %v", got, want)
	}
	for k, id := range want {
		if got[k] != id {
			t.Errorf("ID of %s: got %q, want %q", k, got[k], id)
		}
	}
}

// TestOutboxCloseRecordsWhatWasDelivered closes a node while the worker is
// in the middle of a round: the items delivered before Close are recorded
// sent (Close lets the worker propose its marks before raft stops), so
// after a restart only the undelivered item goes out.
func TestOutboxCloseRecordsWhatWasDelivered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// First life: items queue while no deliverer runs.
	n := clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, n)
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		if _, err := propose(n, putPayload{Key: k, Value: "1", Outbox: true}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()

	// Second life: "a" and "b" go out, "c" hangs until Close.
	first := newRecorder(0)
	hanging := make(chan struct{})
	n = clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	n.HandleOutbox("test", func(ctx context.Context, m cluster.OutboxMessage) error {
		if m.Key == "kv/c/1" {
			close(hanging)
			<-ctx.Done()
			return ctx.Err()
		}
		return first.deliver(ctx, m)
	})
	clustertest.Start(t, n)
	select {
	case <-hanging:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never reached the last item")
	}
	n.Close()

	// Third life: only "c" is delivered.
	again := newRecorder(0)
	n = clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	n.HandleOutbox("test", again.deliver)
	clustertest.Start(t, n)
	waitStatus(t, n, "kv/c/1", cluster.OutboxSent)
	for _, k := range []string{"a", "b"} {
		if got := first.count("kv/" + k + "/1"); got != 1 {
			t.Errorf("deliveries of %s before Close: got %d, want 1", k, got)
		}
		if got := again.count("kv/" + k + "/1"); got != 0 {
			t.Errorf("deliveries of %s after the restart: got %d, want 0", k, got)
		}
	}
	if got := again.count("kv/c/1"); got != 1 {
		t.Errorf("deliveries of c after the restart: got %d, want 1", got)
	}
}
