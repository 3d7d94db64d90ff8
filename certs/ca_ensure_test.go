package certs_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestEnsureInternalCA: the root is made by EnsureInternalCA, as a node
// does at start, before anyone asks for a certificate or exports it; every
// node then reads the same root, and a second call changes nothing. A node
// without the secrets key, or with another key, gets its error at once
// instead of retrying forever.
func TestEnsureInternalCA(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 11)
	const rootKey = "sportello/internal-ca/root.crt"
	first := certs.NewStorage(nodes[0], sec, nil)
	if first.Exists(ctx, rootKey) {
		t.Fatal("a new cluster already has a root")
	}
	if err := first.EnsureInternalCA(ctx, 50*time.Millisecond); err != nil {
		t.Fatalf("EnsureInternalCA: %v", err)
	}
	if !first.Exists(ctx, rootKey) {
		t.Fatal("no root stored after EnsureInternalCA")
	}
	want, err := first.InternalRootPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		s := certs.NewStorage(n, sec, nil)
		if err := s.EnsureInternalCA(ctx, 50*time.Millisecond); err != nil {
			t.Fatalf("node %d: EnsureInternalCA again: %v", i, err)
		}
		got, err := s.InternalRootPEM(ctx)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("node %d: root %v, want the first one", i, err)
		}
	}

	for name, s := range map[string]*certs.Storage{
		"no secrets key":      certs.NewStorage(nodes[1], nil, nil),
		"another secrets key": certs.NewStorage(nodes[2], testSecrets(t, 12), nil),
	} {
		start := time.Now()
		err := s.EnsureInternalCA(ctx, 50*time.Millisecond)
		if !errors.Is(err, certs.ErrNoSecretsKey) && !errors.Is(err, certs.ErrSealed) {
			t.Errorf("%s: EnsureInternalCA = %v, want ErrNoSecretsKey or ErrSealed", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: EnsureInternalCA returned after %v, want at once", name, d)
		}
	}
	// The root survived those attempts.
	if got, err := first.InternalRootPEM(ctx); err != nil || !bytes.Equal(got, want) {
		t.Errorf("root after the failed attempts: %v", err)
	}
}
