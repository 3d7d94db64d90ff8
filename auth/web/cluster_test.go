package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
)

// TestSessionAcrossNodes logs in through node 1 of a two-node cluster and
// uses the session on node 2 (a follower), then logs out there.
func TestSessionAcrossNodes(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	nodes := clustertest.Cluster(t, 2, auth.Register)
	r1 := startRP(t, nodes[0], op.Client())
	r2 := startRP(t, nodes[1], op.Client())
	r1.addProvider(t, op, "puglia")
	b := newBrowser(t, r1.srv.Client())
	b.login(r1, "puglia")
	// The jar sends the 127.0.0.1 cookies to both servers (cookies ignore
	// ports), as a load balancer would send one host's to both nodes.
	ok, page := b.loggedIn(r2)
	if !ok {
		t.Fatal("node 2 refused the session created through node 1")
	}
	if got := field(page, "user"); got != "Mario Rossi" {
		t.Errorf("user on node 2: got %q, want Mario Rossi", got)
	}
	// A login begun on node 2 finishes on node 1: both serve the same
	// host name, as behind a load balancer (the Host header says node 2's
	// address, the connection goes to node 1).
	op.AddClient(clientID, clientSecret, r1.srv.URL+"/_auth/callback", r2.srv.URL+"/_auth/callback")
	b2 := newBrowser(t, r1.srv.Client())
	cb := b2.authorize(b2.startLogin(r2, "puglia"))
	host := strings.TrimPrefix(r2.srv.URL, "https://")
	toNode1 := r1.srv.URL + strings.TrimPrefix(cb, r2.srv.URL)
	if status, loc, body := b2.doHost(http.MethodGet, toNode1, host); status != http.StatusSeeOther || loc != "/private" {
		t.Fatalf("callback on node 1 of a login begun on node 2: got %d %q %s", status, loc, body)
	}
	if ok, _ := b2.loggedIn(r1); !ok {
		t.Error("not logged in on node 1")
	}
	// Both nodes hold the same auth state once they applied the same log.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, nodes[0].AppliedIndex()); err != nil {
			t.Fatal(err)
		}
	}
	if d := clustertest.Diff(clustertest.Dump(t, nodes[1]), clustertest.Dump(t, nodes[0])); d != "" {
		t.Errorf("node 2's state differs from node 1's: %s", d)
	}
}
