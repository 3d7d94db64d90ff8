package tenant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestResolveOnAnotherNode: Resolve keeps the registry version while the
// node applies nothing, and a change made through another node is seen
// on this one as soon as it has applied it.
func TestResolveOnAnotherNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := clustertest.Cluster(t, 2, tenant.Register)
	leader := clustertest.Leader(t, nodes...)
	other := nodes[0]
	if other == leader {
		other = nodes[1]
	}
	regL := tenant.NewRegistry(leader, leader.DB(), base)
	regO := tenant.NewRegistry(other, other.DB(), base)
	created, err := regL.Create(ctx, bari())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	waitApplied(t, other, leader.AppliedIndex())
	for range 3 {
		if r, err := regO.Resolve(ctx, "servizi.comune.bari.it"); err != nil || r.Name != created.Name {
			t.Fatalf("on the other node, the domain resolves to %q, %v; want %q", r.Name, err, created.Name)
		}
	}
	u := created
	u.Name = "Città di Bari"
	u.Domains = []string{"prenota.comune.bari.it"}
	if _, err := regL.Update(ctx, u); err != nil {
		t.Fatalf("Update: %v", err)
	}
	waitApplied(t, other, leader.AppliedIndex())
	if _, err := regO.Resolve(ctx, "servizi.comune.bari.it"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("on the other node, the old domain still resolves (err %v)", err)
	}
	if r, err := regO.Resolve(ctx, "prenota.comune.bari.it"); err != nil || r.Name != "Città di Bari" {
		t.Errorf("on the other node, the new domain resolves to %q, %v; want Città di Bari", r.Name, err)
	}
}

func waitApplied(t *testing.T, n interface {
	WaitApplied(context.Context, uint64) error
}, index uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitApplied(ctx, index); err != nil {
		t.Fatalf("wait for %d: %v", index, err)
	}
}
