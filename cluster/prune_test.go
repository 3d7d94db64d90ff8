package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestOldTokensArePruned: creating a token deletes the tokens that expired
// (or were used) more than a week before, by the leader's clock, and
// keeps the others.
func TestOldTokensArePruned(t *testing.T) {
	t.Parallel()
	clk := clustertest.NewClock(time.Now().UTC())
	ca, id, err := cluster.NewClusterCA("test", "node1", []string{"127.0.0.1"}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := clustertest.New(t, cluster.Config{NodeID: "node1", Identity: id, Now: clk.Now, HeartbeatTimeout: 300 * time.Millisecond}, registerKV)
	clustertest.Start(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.InitCluster(ctx, ca); err != nil {
		t.Fatal(err)
	}
	create := func(ttl time.Duration) string {
		tok, err := n.CreateToken(ctx, ttl, true)
		if err != nil {
			t.Fatal(err)
		}
		return tok.ID
	}
	tokens := func() []string {
		rows, err := n.DB().QueryContext(ctx, `SELECT id FROM cluster_tokens ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}
	short := create(time.Hour)
	long := create(30 * 24 * time.Hour)
	clk.Advance(6 * 24 * time.Hour)
	create(time.Hour) // expired six days ago at most: kept
	if got := tokens(); !slices.Contains(got, short) || len(got) != 3 {
		t.Fatalf("after six days: tokens %v, want all three", got)
	}
	clk.Advance(2 * 24 * time.Hour)
	last := create(time.Hour)
	got := tokens()
	if slices.Contains(got, short) {
		t.Errorf("a token expired eight days ago is still there: %v", got)
	}
	if !slices.Contains(got, long) || !slices.Contains(got, last) || len(got) != 3 {
		t.Errorf("after eight days: tokens %v, want the 30-day one, the one of two days ago and the new one", got)
	}
}
