package clustertest_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// registerNotes adds "notes.add", which enqueues one outbox item of kind
// "mail" per note, as booking does with its emails.
func registerNotes(r *cluster.Registry) {
	r.Migrate(cluster.Migration{Component: "notes", Version: 1, SQL: `CREATE TABLE notes (id TEXT PRIMARY KEY)`})
	r.Handle("notes.add", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		var id string
		if err := cmd.Decode(&id); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(`INSERT INTO notes (id) VALUES (?)`, id); err != nil {
			return nil, err
		}
		return nil, cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: "mail", Key: "note/" + id, Payload: []byte(`{}`)})
	})
}

// mailLog records, for every item, which nodes delivered it successfully;
// a node named in hang never finishes a delivery (its SMTP server hangs)
// until the worker gives up.
type mailLog struct {
	mu        sync.Mutex
	delivered map[string][]string
	hang      string
	hung      chan string // receives the key of each hung delivery
}

func (l *mailLog) deliverer(node string) cluster.Deliverer {
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		l.mu.Lock()
		hang := l.hang == node
		l.mu.Unlock()
		if hang {
			select {
			case l.hung <- m.Key:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.delivered[m.Key] = append(l.delivered[m.Key], node)
		return nil
	}
}

func (l *mailLog) byKey() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]string, len(l.delivered))
	for k, v := range l.delivered {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// waitAllSent waits until node's outbox holds want items, every one sent.
func waitAllSent(t *testing.T, n *cluster.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err := n.Outbox(context.Background(), "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for _, m := range all {
			if m.Status == "sent" {
				sent++
			}
		}
		if len(all) == want && sent == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d items, %d sent; want %d sent", n.Config().NodeID, len(all), sent, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutboxMovesToTheNewLeader: the leader delivers the outbox; when it
// stops with a delivery in flight, the new leader delivers what is left,
// the interrupted item included, and every item is delivered exactly once.
func TestOutboxMovesToTheNewLeader(t *testing.T) {
	t.Parallel()
	log := &mailLog{delivered: map[string][]string{}, hung: make(chan string, 1)}
	nodes := clustertest.ClusterWith(t, 3, func(n *cluster.Node) {
		n.HandleOutbox("mail", log.deliverer(n.Config().NodeID))
	}, registerNotes)
	leader := clustertest.Leader(t, nodes...)
	add := func(via *cluster.Node, id string) {
		t.Helper()
		cmd, err := cluster.NewCommand("notes.add", 1, "bari", id)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := via.Propose(ctx, cmd); err != nil {
			t.Fatalf("add %s through %s: %v", id, via.Config().NodeID, err)
		}
	}
	for i := range 10 {
		add(nodes[i%3], fmt.Sprintf("a%d", i))
	}
	for _, n := range nodes {
		waitAllSent(t, n, 10)
	}

	// The leader's SMTP server hangs; ten more notes come in.
	log.mu.Lock()
	log.hang = leader.Config().NodeID
	log.mu.Unlock()
	var others []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			others = append(others, n)
		}
	}
	for i := range 10 {
		add(others[i%2], fmt.Sprintf("b%d", i))
	}
	var interrupted string
	select {
	case interrupted = <-log.hung:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader never tried to deliver the new items")
	}
	if err := leader.Close(); err != nil {
		t.Fatalf("close the leader: %v", err)
	}
	next := clustertest.Leader(t, others...)
	for _, n := range others {
		waitAllSent(t, n, 20)
	}

	got := log.byKey()
	for i := range 10 {
		for _, key := range []string{fmt.Sprintf("note/a%d", i), fmt.Sprintf("note/b%d", i)} {
			if len(got[key]) != 1 {
				t.Errorf("%s delivered %d times (by %v), want once", key, len(got[key]), got[key])
			}
		}
		if by := got[fmt.Sprintf("note/a%d", i)]; len(by) == 1 && by[0] != leader.Config().NodeID {
			t.Errorf("note/a%d delivered by %s, want the first leader %s", i, by[0], leader.Config().NodeID)
		}
		if by := got[fmt.Sprintf("note/b%d", i)]; len(by) == 1 && by[0] != next.Config().NodeID {
			t.Errorf("note/b%d delivered by %s, want the new leader %s", i, by[0], next.Config().NodeID)
		}
	}
	t.Logf("%s was interrupted on %s and delivered by %s", interrupted, leader.Config().NodeID, next.Config().NodeID)

	// The old leader comes back as a follower: it learns that everything
	// was sent, and sends nothing again.
	back := clustertest.Restart(t, leader, registerNotes)
	waitAllSent(t, back, 20)
	time.Sleep(500 * time.Millisecond)
	if after := log.byKey(); len(after) != 20 {
		t.Errorf("%d keys delivered after the restart, want 20", len(after))
	}
	want := clustertest.Dump(t, next)
	for _, n := range []*cluster.Node{back, others[0], others[1]} {
		if err := n.WaitApplied(context.Background(), next.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" && n != next {
			t.Errorf("%s differs from the leader:\n%s", n.Config().NodeID, d)
		}
	}
}
