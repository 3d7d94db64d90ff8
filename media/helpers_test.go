package media_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/tenant"
)

const comune tenant.ID = "roccaraso"

// testSecrets is the secrets key every node of a test cluster shares, as
// secrets.key is copied to every node of a real one.
func testSecrets(t testing.TB) *auth.Secrets {
	t.Helper()
	s, err := auth.NewSecrets(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rooms returns a Rooms per node over the same secrets key.
func rooms(t testing.TB, nodes []*cluster.Node, now func() time.Time) []*media.Rooms {
	s := testSecrets(t)
	out := make([]*media.Rooms, len(nodes))
	for i, n := range nodes {
		out[i] = media.NewRooms(n, s, now)
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fresh makes every node apply what is committed.
func fresh(t testing.TB, nodes ...*cluster.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.ReadFresh(ctxT(t)); err != nil {
			t.Fatalf("read fresh on %s: %v", n.Config().NodeID, err)
		}
	}
}

// clockNode is a one-node cluster whose leader stamps commands with clock.
func clockNode(t testing.TB, clock *clustertest.Clock) *cluster.Node {
	n := clustertest.New(t, cluster.Config{Now: clock.Now}, media.Register)
	clustertest.Start(t, n)
	return n
}

func count(t testing.TB, n *cluster.Node, query string, args ...any) int {
	t.Helper()
	var c int
	if err := n.DB().QueryRow(query, args...).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}
