package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHeldBack checks the reasons the promoter gives for not promoting a
// staged node, and that a node in step gets none.
func TestHeldBack(t *testing.T) {
	const term, commit, stale = 7, 1000, 2 * time.Second
	ok := Status{Term: term, AppliedIndex: commit - promoteMaxLag, LastContact: 50 * time.Millisecond}
	cases := []struct {
		name string
		st   Status
		err  error
		want string // a part of the reason; "" for none
	}{
		{"in step", ok, nil, ""},
		{"no answer", ok, errors.New("dial tcp: connection refused"), "does not answer: dial tcp: connection refused"},
		{"other term", Status{Term: term - 1, AppliedIndex: commit, LastContact: 0}, nil, "at term 6, the leader at 7"},
		{"behind", Status{Term: term, AppliedIndex: commit - promoteMaxLag - 1, LastContact: 0}, nil, "applied 743 of 1000"},
		{"never heard", Status{Term: term, AppliedIndex: commit, LastContact: -1}, nil, "no contact"},
		{"stale", Status{Term: term, AppliedIndex: commit, LastContact: 3 * time.Second}, nil, "3s ago"},
	}
	for _, c := range cases {
		got := heldBack(c.st, c.err, term, commit, stale)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: heldBack = %q, want %q", c.name, got, c.want)
		}
	}
	// The sentinel the RPC puts in front of a failed call is left out.
	err := fmt.Errorf("%w: reach node2 at 127.0.0.1:7000: refused", ErrNoLeader)
	if got := heldBack(ok, err, term, commit, stale); strings.Contains(got, ErrNoLeader.Error()) || !strings.Contains(got, "reach node2") {
		t.Errorf("reason for %q: %q", err, got)
	}
}

// TestPeerCheckWithoutReads checks the handshake's check of removed nodes
// when its read fails: with no list read yet it refuses (a removed node
// is never let in), with one it keeps using it.
func TestPeerCheckWithoutReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	w, err := openWriteDB(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	db, err := openReadDB(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // a closed pool: every read fails at once
	n := &Node{readDB: db}
	if err := n.peerCheck("node2", nil); err == nil {
		t.Fatal("no list of removed nodes read: the handshake was let through")
	}
	n.removed.ids = map[string]bool{"node3": true} // read before, now stale
	if err := n.peerCheck("node2", nil); err != nil {
		t.Errorf("node2 (not removed), list read before: %v", err)
	}
	if err := n.peerCheck("node3", nil); !errors.Is(err, ErrNodeRemoved) {
		t.Errorf("node3 (removed), list read before: got %v, want ErrNodeRemoved", err)
	}
}
