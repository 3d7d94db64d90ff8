package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

func TestClusterConfigValidate(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     ClusterConfig
		wantErr string // "" for valid
	}{
		{"empty", ClusterConfig{}, ""},
		{"init", ClusterConfig{Init: true, Name: "comuni-puglia"}, ""},
		{"join", ClusterConfig{JoinToken: tok.String(), JoinAddr: "10.0.0.1:7000", AdvertiseAddr: "10.0.0.2:7000"}, ""},
		{"init and join", ClusterConfig{Init: true, JoinToken: tok.String(), JoinAddr: "10.0.0.1:7000"}, "both set"},
		{"token without address", ClusterConfig{JoinToken: tok.String()}, "go together"},
		{"bad token", ClusterConfig{JoinToken: "SPT1-nope", JoinAddr: "10.0.0.1:7000"}, "cluster.join_token"},
		{"bad address", ClusterConfig{AdvertiseAddr: "10.0.0.2"}, "cluster.advertise_addr"},
		{"bad name", ClusterConfig{Name: "Not A Name!"}, "cluster.name"},
		{"promote after", ClusterConfig{PromoteAfter: 5 * time.Second}, ""},
		{"negative promote after", ClusterConfig{PromoteAfter: -time.Second}, "cluster.promote_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []string
			tt.cfg.validate(func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) })
			got := strings.Join(errs, "; ")
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("validate: got %q, want an error containing %q", got, tt.wantErr)
			}
		})
	}
}

// TestPrintClusterStatusStaged checks that a node joining as a voter shows
// as a non-voter about to be promoted, and a plain non-voter as such.
func TestPrintClusterStatusStaged(t *testing.T) {
	t.Parallel()
	member := func(id string, voter, staged bool) cluster.MemberStatus {
		return cluster.MemberStatus{
			ServerStatus: cluster.ServerStatus{ID: id, Addr: "10.0.0.1:7000", Voter: voter, Staged: staged},
			Reachable:    true, State: "Follower",
		}
	}
	var b bytes.Buffer
	printClusterStatus(&b, clusterStatusView{
		Status:  cluster.Status{NodeID: "node1", State: "Leader", LeaderID: "node1"},
		Members: []cluster.MemberStatus{member("node1", true, false), member("node2", false, true), member("node3", false, false)},
	})
	lines := strings.Split(b.String(), "\n")
	find := func(id string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, id+" ") {
				return l
			}
		}
		t.Fatalf("no line for %s in:\n%s", id, b.String())
		return ""
	}
	if l := find("node2"); !strings.Contains(l, "nonvoter (catching up, promotes to voter)") {
		t.Errorf("staged node2: %q", l)
	}
	if l := find("node3"); strings.Contains(l, "promotes") || !strings.Contains(l, "nonvoter") {
		t.Errorf("non-voter node3: %q", l)
	}
	if l := find("node1"); !strings.Contains(l, " voter ") {
		t.Errorf("voter node1: %q", l)
	}
}
