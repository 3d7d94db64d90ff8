package cluster_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// The stream tags of the transport (transport.go), as a peer writes them.
const (
	wireTagRPC  byte = 2
	wireTagJoin byte = 3
)

// seedNode starts a one-node cluster with TLS whose CA is in the
// replicated state (cluster init).
func seedNode(t *testing.T) *cluster.Node {
	t.Helper()
	ca, id, err := cluster.NewClusterCA("test", "node1", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := clustertest.New(t, cluster.Config{NodeID: "node1", Identity: id, HeartbeatTimeout: 300 * time.Millisecond}, registerKV)
	clustertest.Start(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.InitCluster(ctx, ca); err != nil {
		t.Fatalf("init: %v", err)
	}
	// Idempotent with the same CA.
	if err := n.InitCluster(ctx, ca); err != nil {
		t.Fatalf("init again: %v", err)
	}
	return n
}

func token(t *testing.T, n *cluster.Node, ttl time.Duration, voter bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := n.CreateToken(ctx, ttl, voter)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return tok.String()
}

func join(tok, addr, nodeID string) (*pki.Identity, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return cluster.Join(ctx, cluster.JoinOptions{Token: tok, Addr: addr, NodeID: nodeID, AdvertiseAddr: "127.0.0.1:0"})
}

// startJoined starts a node with the identity Join returned and has it
// added through seed.
func startJoined(t *testing.T, seed *cluster.Node, id *pki.Identity, voter bool) *cluster.Node {
	t.Helper()
	n := clustertest.New(t, cluster.Config{NodeID: id.NodeID, Identity: id, Join: true, HeartbeatTimeout: 300 * time.Millisecond}, registerKV)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- n.Start(ctx) }()
	if err := n.JoinCluster(ctx, seed.RaftAddr(), voter); err != nil {
		t.Fatalf("join cluster: %v", err)
	}
	if err := <-started; err != nil {
		t.Fatalf("start %s: %v", id.NodeID, err)
	}
	return n
}

func TestJoinAdmitsNode(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	id, voter, err := join(token(t, seed, time.Hour, true), seed.RaftAddr(), "node2")
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if !voter || id.NodeID != "node2" {
		t.Fatalf("join: got node %q voter %v, want node2 voter true", id.NodeID, voter)
	}
	n2 := startJoined(t, seed, id, voter)
	res := put(t, n2, "k", "v") // forwarded to the leader
	if err := seed.WaitApplied(context.Background(), res.Index); err != nil {
		t.Fatal(err)
	}
	if got := readKV(t, seed, "k"); got != "v" {
		t.Errorf("seed reads k: got %q, want v", got)
	}
	voters := 0
	for _, s := range seed.Status().Servers {
		if s.Voter {
			voters++
		}
	}
	if voters != 2 {
		t.Errorf("voters: got %d, want 2 (%+v)", voters, seed.Status().Servers)
	}
	// The joined node admits the next one too: the CA is in its state.
	id3, voter3, err := join(token(t, n2, time.Hour, false), n2.RaftAddr(), "node3")
	if err != nil {
		t.Fatalf("join through node2: %v", err)
	}
	if voter3 {
		t.Errorf("non-voter token: got voter true")
	}
	startJoined(t, seed, id3, voter3)
}

func TestJoinRefusals(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	other, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good := token(t, seed, time.Hour, true)
	parsed, _ := pki.ParseToken(good)
	wrongSecret := pki.Token{ID: parsed.ID, Secret: mustToken(t, parsed.CAFingerprint).Secret, CAFingerprint: parsed.CAFingerprint}
	wrongCA := pki.Token{ID: parsed.ID, Secret: parsed.Secret, CAFingerprint: other.Fingerprint()}
	expired := token(t, seed, time.Millisecond, true)
	time.Sleep(20 * time.Millisecond)
	unknown := mustToken(t, parsed.CAFingerprint)

	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"wrong secret", wrongSecret.String(), cluster.ErrTokenSecret},
		{"CA fingerprint mismatch", wrongCA.String(), pki.ErrFingerprintMismatch},
		{"expired", expired, cluster.ErrTokenExpired},
		{"unknown", unknown.String(), cluster.ErrTokenUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := join(tc.token, seed.RaftAddr(), "node9")
			if !errors.Is(err, tc.want) {
				t.Fatalf("join: got %v, want %v", err, tc.want)
			}
		})
	}
	// None of the refusals spent the good token.
	if _, _, err := join(good, seed.RaftAddr(), "node2"); err != nil {
		t.Fatalf("join with the good token after refusals: %v", err)
	}
	if _, _, err := join(good, seed.RaftAddr(), "node3"); !errors.Is(err, cluster.ErrTokenUsed) {
		t.Fatalf("second use: got %v, want ErrTokenUsed", err)
	}
}

func mustToken(t *testing.T, fp string) pki.Token {
	t.Helper()
	tok, err := pki.NewToken(rand.Reader, fp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenSingleUseRace(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	tok := token(t, seed, time.Hour, true)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = join(tok, seed.RaftAddr(), "racer"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, cluster.ErrTokenUsed):
			t.Errorf("losing join: got %v, want ErrTokenUsed", err)
		}
	}
	if wins != 1 {
		t.Fatalf("joins that won: got %d, want 1 (%v)", wins, errs)
	}
}

// TestRemovedNodeRefused removes a joined node and checks that its
// certificate no longer opens a connection.
func TestRemovedNodeRefused(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	id, voter, err := join(token(t, seed, time.Hour, false), seed.RaftAddr(), "node2")
	if err != nil {
		t.Fatal(err)
	}
	startJoined(t, seed, id, voter)
	if err := speaks(id, seed.RaftAddr()); err != nil {
		t.Fatalf("member connects: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := seed.RemoveNode(ctx, "node2"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := speaks(id, seed.RaftAddr()); err == nil {
		t.Fatal("removed node still gets an RPC answer")
	}
	// Nor can it join again under its old ID.
	if _, _, err := join(token(t, seed, time.Hour, true), seed.RaftAddr(), "node2"); !errors.Is(err, cluster.ErrNodeRemoved) {
		t.Fatalf("rejoin: got %v, want ErrNodeRemoved", err)
	}
}

// speaks opens an RPC stream with id's certificate and sends a request
// that any member answers (an unknown operation).
func speaks(id *pki.Identity, addr string) error {
	c, err := tls.Dial("tcp", addr, pki.ClientConfig(id.Pool, id.Certificate, ""))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return roundTrip(c, wireTagRPC, map[string]string{"op": "nothing"})
}

// roundTrip writes tag and one frame and reads one frame back.
func roundTrip(c io.ReadWriter, tag byte, req any) error {
	body, _ := json.Marshal(req)
	msg := append([]byte{tag}, binary.BigEndian.AppendUint32(nil, uint32(len(body)))...)
	if _, err := c.Write(append(msg, body...)); err != nil {
		return err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(hdr[:])))
	return err
}

// TestNoCertificateOnlyJoins checks that a connection without a client
// certificate gets an answer on the join tag and none on the RPC tag.
func TestNoCertificateOnlyJoins(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	parsed, _ := pki.ParseToken(token(t, seed, time.Hour, true))
	for _, tc := range []struct {
		name   string
		tag    byte
		answer bool
	}{
		{"join", wireTagJoin, true},
		{"rpc", wireTagRPC, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", seed.RaftAddr(), pki.PinnedConfig(parsed.CAFingerprint))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			err = roundTrip(c, tc.tag, map[string]any{"op": "nothing", "token_id": "x", "node_id": "nobody"})
			if got := err == nil; got != tc.answer {
				t.Fatalf("answered: got %v (%v), want %v", got, err, tc.answer)
			}
		})
	}
}

func TestInitRefusesAnotherCA(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plain := clustertest.Node(t)
	if _, err := plain.CreateToken(ctx, time.Hour, true); !errors.Is(err, cluster.ErrNotInitialised) {
		t.Errorf("token before init: got %v, want ErrNotInitialised", err)
	}
	seed := seedNode(t)
	other, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.InitCluster(ctx, other); !errors.Is(err, cluster.ErrAlreadyInitialised) {
		t.Errorf("init with another CA: got %v, want ErrAlreadyInitialised", err)
	}
}
