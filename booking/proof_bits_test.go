package booking

import (
	"context"
	"testing"
)

// TestProofBitsFollowsTheSettings: ProofBits keeps its answer only while
// the node applies nothing, so a change of the fair settings, made on
// another node, is seen as soon as this node has applied it; an unknown
// service asks no proof.
func TestProofBitsFollowsTheSettings(t *testing.T) {
	t.Parallel()
	c := newFairCluster(t, FairSettings{ProofOfWork: 8})
	ctx := context.Background()
	other := c.books[1]
	for range 2 {
		if bits, err := other.ProofBits(ctx, bari.ID, c.svc.ID); err != nil || bits != 8 {
			t.Fatalf("ProofBits = %d, %v; want 8", bits, err)
		}
	}
	if bits, err := other.ProofBits(ctx, bari.ID, "nessuno"); err != nil || bits != 0 {
		t.Errorf("ProofBits of an unknown service = %d, %v; want 0", bits, err)
	}
	for _, want := range []int{0, 12} {
		idx, err := c.books[0].SaveFairSettings(ctx, bari.ID, c.svc.ID, FairSettings{ProofOfWork: want})
		if err != nil {
			t.Fatalf("SaveFairSettings: %v", err)
		}
		if err := c.nodes[1].WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		if bits, err := other.ProofBits(ctx, bari.ID, c.svc.ID); err != nil || bits != want {
			t.Errorf("after saving %d bits, ProofBits = %d, %v", want, bits, err)
		}
	}
}
