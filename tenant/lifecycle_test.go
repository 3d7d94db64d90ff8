package tenant_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// wantField asserts that err is a *ValidationError whose field says want
// (part of its Italian text).
func wantField(t *testing.T, err error, field, want string) {
	t.Helper()
	var ve *tenant.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError on %q", err, field)
	}
	if msg := ve.Fields[field]; !strings.Contains(msg, want) {
		t.Fatalf("field %q says %q, want it to say %q (all: %v)", field, msg, want, ve.Fields)
	}
}

// TestDisableEnableDelete runs a Comune's end of service on a three-node
// cluster, writing through a follower (so errors cross the forwarding RPC)
// and reading on another follower whose resolve cache was warm: disable
// and enable are seen there at once, delete makes the names unknown and
// leaves a tombstone that refuses the ID forever while freeing the
// domains, and every node ends with the same state.
func TestDisableEnableDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := clustertest.Cluster(t, 3, tenant.Register)
	leader := clustertest.Leader(t, nodes...)
	var followers []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	w := tenant.NewRegistry(followers[0], followers[0].DB(), base) // writes
	r := tenant.NewRegistry(followers[1], followers[1].DB(), base) // reads
	sync := func() { t.Helper(); waitApplied(t, followers[1], leader.AppliedIndex()) }

	if _, err := w.Create(ctx, bari()); err != nil {
		t.Fatalf("Create: %v", err)
	}
	sync()
	hosts := []string{"bari." + base, "servizi.comune.bari.it"}
	for _, h := range hosts {
		if _, err := r.Resolve(ctx, h); err != nil {
			t.Fatalf("Resolve(%s) before disable: %v", h, err)
		}
	}

	// Refusals, in Italian, change nothing.
	_, err := w.Delete(ctx, "bari", "bari")
	wantField(t, err, "id", "disattivalo prima")
	_, err = w.Disable(ctx, "bari", strings.Repeat("x", 301))
	wantField(t, err, "reason", "al massimo 300 caratteri")
	_, err = w.Disable(ctx, "bari", "riga\nseconda")
	wantField(t, err, "reason", "una riga")
	if _, err := w.Disable(ctx, "milano", ""); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Disable(milano): got %v, want ErrNotFound", err)
	}
	if _, err := w.Enable(ctx, "milano"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Enable(milano): got %v, want ErrNotFound", err)
	}

	got, err := w.Disable(ctx, "bari", "  Convenzione scaduta  ")
	if err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if !got.IsDisabled() || got.Disabled.Reason != "Convenzione scaduta" || got.Disabled.Since.IsZero() {
		t.Fatalf("after Disable: %+v, want disabled with the trimmed reason", got.Disabled)
	}
	since := got.Disabled.Since
	sync()
	for _, h := range hosts {
		rt, err := r.Resolve(ctx, h)
		if !errors.Is(err, tenant.ErrDisabled) {
			t.Fatalf("Resolve(%s) of a disabled Comune: got %v, want ErrDisabled", h, err)
		}
		if rt.Name != "Comune di Bari" || !rt.IsDisabled() {
			t.Errorf("Resolve(%s) of a disabled Comune returned %q (disabled %v), want the Comune", h, rt.Name, rt.IsDisabled())
		}
	}
	// Data are kept: the Comune is still there, and an update keeps it
	// disabled (Update never touches the state).
	g, err := r.Get(ctx, "bari")
	if err != nil || !g.IsDisabled() {
		t.Fatalf("Get of a disabled Comune: %+v, %v", g.Disabled, err)
	}
	g.Name = "Città di Bari"
	if u, err := w.Update(ctx, g); err != nil || !u.IsDisabled() || u.Disabled.Since != since {
		t.Fatalf("Update of a disabled Comune: %+v, %v; want it still disabled since %v", u.Disabled, err, since)
	}
	// Disabling again replaces the note, not the time.
	if again, err := w.Disable(ctx, "bari", "Migrazione in corso"); err != nil ||
		again.Disabled.Reason != "Migrazione in corso" || again.Disabled.Since != since {
		t.Fatalf("second Disable: %+v, %v", again.Disabled, err)
	}

	if e, err := w.Enable(ctx, "bari"); err != nil || e.IsDisabled() {
		t.Fatalf("Enable: %+v, %v", e.Disabled, err)
	}
	sync()
	for _, h := range hosts {
		if rt, err := r.Resolve(ctx, h); err != nil || rt.Name != "Città di Bari" {
			t.Fatalf("Resolve(%s) after Enable: %q, %v", h, rt.Name, err)
		}
	}
	if _, err := w.Enable(ctx, "bari"); err != nil {
		t.Errorf("Enable of an active Comune: %v, want nil", err)
	}

	if _, err := w.Disable(ctx, "bari", ""); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	_, err = w.Delete(ctx, "bari", "Bari")
	wantField(t, err, "confirm", "«bari»")
	ts, err := w.Delete(ctx, "bari", "bari")
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ts.ID != "bari" || ts.Name != "Città di Bari" || ts.ISTAT != "072006" || ts.Deleted == "" {
		t.Errorf("tombstone: %+v", ts)
	}
	sync()
	for _, h := range hosts {
		if _, err := r.Resolve(ctx, h); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("Resolve(%s) of a deleted Comune: got %v, want ErrNotFound", h, err)
		}
	}
	if _, err := r.Get(ctx, "bari"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Get of a deleted Comune: got %v, want ErrNotFound", err)
	}
	if list, err := r.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after delete: %v, %v; want none", list, err)
	}
	if got, err := r.Tombstone(ctx, "bari"); err != nil || got != ts {
		t.Errorf("Tombstone on another node: %+v, %v; want %+v", got, err, ts)
	}
	if _, err := r.Tombstone(ctx, "lecce"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Tombstone(lecce): got %v, want ErrNotFound", err)
	}
	if _, err := w.Delete(ctx, "bari", "bari"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}

	// The ID is never given again; the domain is free for another Comune.
	_, err = w.Create(ctx, bari())
	wantField(t, err, "id", "Comune eliminato")
	other := lecce()
	other.Domains = []string{"servizi.comune.bari.it"}
	if _, err := w.Create(ctx, other); err != nil {
		t.Fatalf("Create with the deleted Comune's domain: %v", err)
	}
	sync()
	if rt, err := r.Resolve(ctx, "servizi.comune.bari.it"); err != nil || rt.ID != "lecce" {
		t.Errorf("the freed domain resolves to %q, %v; want lecce", rt.ID, err)
	}

	// Every node applied the same commands to the same state.
	for _, n := range nodes {
		waitApplied(t, n, leader.AppliedIndex())
	}
	var sums []string
	for _, n := range nodes {
		_, sum, err := n.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] || sums[0] != sums[2] {
		t.Errorf("state digests differ across nodes: %v", sums)
	}
}
