package clustertest_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// The fake domain: a counter of slots with a capacity, with a sentinel
// error and a typed field error, registered like booking registers its own.
var errSlotFull = errors.New("slot is full")

type fieldError struct{ Fields map[string]string }

func (e *fieldError) Error() string                  { return fmt.Sprintf("invalid fields: %d", len(e.Fields)) }
func (e *fieldError) FieldErrors() map[string]string { return e.Fields }

type bookPayload struct {
	Slot string `json:"slot"`
	Who  string `json:"who"`
}

type booked struct {
	Slot  string `json:"slot"`
	Count int    `json:"count"`
}

const capacity = 2

func registerSlots(r *cluster.Registry) {
	r.RegisterError("slots.full", errSlotFull)
	r.RegisterFieldError("slots.invalid", func(f map[string]string) error { return &fieldError{Fields: f} })
	r.HandleResult("slots.book", func(b json.RawMessage) (any, error) {
		var v booked
		err := json.Unmarshal(b, &v)
		return v, err
	})
	r.Migrate(cluster.Migration{Component: "slots", Version: 1,
		SQL: `CREATE TABLE slots_bookings (slot TEXT NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL)`})
	r.Handle("slots.book", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		var p bookPayload
		if err := cmd.Decode(&p); err != nil {
			return nil, err
		}
		if p.Who == "" {
			return nil, &fieldError{Fields: map[string]string{"who": "obbligatorio"}}
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM slots_bookings WHERE slot = ?`, p.Slot).Scan(&n); err != nil {
			return nil, err
		}
		if n >= capacity {
			return nil, fmt.Errorf("book %s: %w", p.Slot, errSlotFull)
		}
		if _, err := tx.Exec(`INSERT INTO slots_bookings (slot, who, at) VALUES (?, ?, ?)`,
			p.Slot, p.Who, cmd.Time.Format(time.RFC3339Nano)); err != nil {
			return nil, err
		}
		return booked{Slot: p.Slot, Count: n + 1}, nil
	})
}

func book(ctx context.Context, n *cluster.Node, slot, who string) (cluster.Result, error) {
	cmd, err := cluster.NewCommand("slots.book", 1, "bari", bookPayload{Slot: slot, Who: who})
	if err != nil {
		return cluster.Result{}, err
	}
	return n.Propose(ctx, cmd)
}

func countSlot(t *testing.T, n *cluster.Node, slot string) int {
	t.Helper()
	var c int
	if err := n.DB().QueryRow(`SELECT count(*) FROM slots_bookings WHERE slot = ?`, slot).Scan(&c); err != nil {
		t.Fatalf("count: %v", err)
	}
	return c
}

func TestClusterWritesThroughEveryNode(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, n := range nodes {
		slot := fmt.Sprintf("s%d", i)
		res, err := book(ctx, n, slot, "anna")
		if err != nil {
			t.Fatalf("book through node%d: %v", i+1, err)
		}
		// Read-your-writes on the node asked, with no WaitApplied.
		if got := countSlot(t, n, slot); got != 1 {
			t.Errorf("node%d: count after its own write: got %d, want 1", i+1, got)
		}
		// The same Go type on the leader and, through HandleResult, on
		// the followers.
		b, ok := res.Value.(booked)
		if !ok {
			t.Fatalf("node%d: value of type %T, want booked", i+1, res.Value)
		}
		if b != (booked{Slot: slot, Count: 1}) {
			t.Errorf("node%d: value: got %+v, want {%s 1}", i+1, b, slot)
		}
	}

	leader := clustertest.Leader(t, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	if _, err := book(ctx, follower, "full", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := book(ctx, follower, "full", "b"); err != nil {
		t.Fatal(err)
	}
	_, err := book(ctx, follower, "full", "c")
	if !errors.Is(err, errSlotFull) {
		t.Fatalf("third booking through a follower: got %v, want errSlotFull", err)
	}
	if !strings.Contains(err.Error(), "book full") {
		t.Errorf("error text: got %q, want the leader's context", err)
	}
	_, err = book(ctx, follower, "x", "")
	var fe *fieldError
	if !errors.As(err, &fe) || fe.Fields["who"] != "obbligatorio" {
		t.Fatalf("invalid booking through a follower: got %v, want *fieldError{who}", err)
	}

	want := clustertest.Dump(t, leader)
	for i, n := range nodes {
		if err := n.WaitApplied(ctx, leader.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("node%d differs from the leader: %s", i+1, d)
		}
	}
}

func TestClusterStatusAndLeave(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	leader := clustertest.Leader(t, nodes...)
	st := leader.Status()
	if st.State != "Leader" || st.LeaderID != st.NodeID || len(st.Servers) != 3 || st.Term == 0 {
		t.Fatalf("leader status: got %+v, want Leader of 3 servers", st)
	}
	var leaving *cluster.Node
	for _, n := range nodes {
		if n != leader {
			leaving = n
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := leaving.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	var ids []string
	for _, s := range leader.Status().Servers {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	if len(ids) != 2 || ids[0] == leaving.Config().NodeID || ids[1] == leaving.Config().NodeID {
		t.Errorf("servers after Leave: got %v, want two without %s", ids, leaving.Config().NodeID)
	}

	// The leader leaves too: it hands leadership over first, and the last
	// node leads a one-node cluster and still takes writes.
	var last *cluster.Node
	for _, n := range nodes {
		if n != leader && n != leaving {
			last = n
		}
	}
	if err := leader.Leave(ctx); err != nil {
		t.Fatalf("Leave of the leader: %v", err)
	}
	if got := clustertest.Leader(t, last); got != last {
		t.Fatalf("leader after both left: got %v", got.Config().NodeID)
	}
	if st := last.Status(); len(st.Servers) != 1 || st.Servers[0].ID != last.Config().NodeID || !st.Servers[0].IsSelf {
		t.Errorf("servers of the last node: got %+v, want itself alone", st.Servers)
	}
	if _, err := book(ctx, last, "after-leave", "anna"); err != nil {
		t.Errorf("write on the last node: %v", err)
	}
}

func TestClusterFailoverAndCatchUp(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acked := map[string]bool{}
	// retried marks writes sent again after an unknown outcome (a pooled
	// connection to the stopped leader failed after the request was
	// written): like any client, the test retries, so such a booking may
	// be applied twice until forwarded commands carry idempotency keys.
	retried := map[string]bool{}
	write := func(n *cluster.Node, who string) {
		t.Helper()
		for {
			_, err := book(ctx, n, "slot-"+who, who)
			if err == nil {
				acked[who] = true
				return
			}
			if errors.Is(err, cluster.ErrOutcomeUnknown) {
				retried[who] = true
			} else if !errors.Is(err, cluster.ErrNoLeader) && !errors.Is(err, cluster.ErrNotLeader) {
				t.Fatalf("write %s: %v", who, err)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("write %s: no leader before the deadline: %v", who, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	for i, n := range nodes {
		write(n, fmt.Sprintf("before%d", i))
	}
	old := clustertest.Leader(t, nodes...)
	oldAddr := old.RaftAddr()
	var rest []*cluster.Node
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	// Writes go on through both survivors, retrying while they elect.
	for i := range 6 {
		write(rest[i%2], fmt.Sprintf("during%d", i))
	}
	leader := clustertest.Leader(t, rest...)
	if leader.Status().Term <= 1 {
		t.Errorf("term after failover: got %d, want > 1", leader.Status().Term)
	}

	// The old leader restarts on its address and catches up.
	back := clustertest.Restart(t, old, registerSlots)
	if back.RaftAddr() != oldAddr {
		t.Fatalf("restarted on %s, want %s", back.RaftAddr(), oldAddr)
	}
	write(back, "after")
	all := append(rest, back)
	want := ""
	for _, n := range all {
		if err := n.WaitApplied(ctx, leader.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range all {
		for who := range acked {
			got, max := countSlot(t, n, "slot-"+who), 1
			if retried[who] {
				max = 2
			}
			if got < 1 || got > max {
				t.Errorf("%s: acknowledged booking %s: got %d rows, want 1 to %d", n.Config().NodeID, who, got, max)
			}
		}
		d := clustertest.Dump(t, n)
		if want == "" {
			want = d
		} else if diff := clustertest.Diff(d, want); diff != "" {
			t.Errorf("%s differs: %s", n.Config().NodeID, diff)
		}
	}
}

func TestClusterRefusesForeignCertificates(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 1, registerSlots)
	foreignCA, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign := clustertest.Identity(t, foreignCA, "node9")

	// A raw connection with a certificate of another CA: the server ends
	// the handshake, so the first read fails (in TLS 1.3 the client's
	// handshake may finish before the server has checked its certificate).
	for _, tag := range []byte{1, 2} {
		c, err := tls.Dial("tcp", nodes[0].RaftAddr(), pki.ClientConfig(foreign.Pool, foreign.Certificate, ""))
		if err != nil {
			continue // refused already: fine
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{tag})
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("tag %d: a foreign node read from the cluster", tag)
		}
		c.Close()
	}

	// A whole node of another CA, added by mistake, never gets the log.
	stranger := clustertest.New(t, cluster.Config{NodeID: "node9", Identity: foreign, Join: true,
		HeartbeatTimeout: 300 * time.Millisecond}, registerSlots)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go stranger.Start(ctx)
	addr := ""
	for addr == "" && ctx.Err() == nil {
		addr = stranger.RaftAddr()
		time.Sleep(5 * time.Millisecond)
	}
	actx, acancel := context.WithTimeout(context.Background(), time.Second)
	defer acancel()
	nodes[0].AddNonvoter(actx, "node9", addr) // fails or times out: the stranger never answers
	<-ctx.Done()
	if got := stranger.AppliedIndex(); got != 0 {
		t.Errorf("stranger's applied index: got %d, want 0", got)
	}
}

func TestClusterConcurrentWritesKeepCapacity(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, each, slots = 24, 10, 20
	type outcome struct {
		slot string
		err  error
	}
	out := make(chan outcome, writers*each)
	for w := range writers {
		go func() {
			for i := range each {
				slot := fmt.Sprintf("s%d", (w*each+i)%slots)
				_, err := book(ctx, nodes[w%len(nodes)], slot, fmt.Sprintf("w%d-%d", w, i))
				out <- outcome{slot, err}
			}
		}()
	}
	acked := map[string]int{}
	for range writers * each {
		o := <-out
		switch {
		case o.err == nil:
			acked[o.slot]++
		case errors.Is(o.err, errSlotFull):
		default:
			t.Errorf("write %s: %v", o.slot, o.err)
		}
	}
	leader := clustertest.Leader(t, nodes...)
	want := clustertest.Dump(t, leader)
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, leader.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		for slot, a := range acked {
			if got := countSlot(t, n, slot); got != a || got > capacity {
				t.Errorf("%s slot %s: got %d rows, want %d acknowledged (capacity %d)", n.Config().NodeID, slot, got, a, capacity)
			}
		}
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from the leader: %s", n.Config().NodeID, d)
		}
	}
	if len(acked) != slots {
		t.Errorf("slots with bookings: got %d, want %d", len(acked), slots)
	}
}

func TestIdentityMustNameTheNode(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cluster.New(cluster.Config{Dir: t.TempDir(), NodeID: "node1", RaftAddr: "127.0.0.1:0",
		Registry: cluster.NewRegistry(), Identity: clustertest.Identity(t, ca, "node2")})
	if err == nil || !strings.Contains(err.Error(), "node2") {
		t.Errorf("New with another node's identity: got %v, want an error naming node2", err)
	}
}
