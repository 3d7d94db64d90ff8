package push_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
	"github.com/sportello-virtuale/sportello/push"
)

const subject = "mailto:admin@comune.example.it"

func secrets(t *testing.T, fill byte) *auth.Secrets {
	t.Helper()
	s, err := auth.NewSecrets(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedRow reads the pair as node holds it.
func storedRow(t *testing.T, n *cluster.Node) (pub, sealed string) {
	t.Helper()
	if err := n.DB().QueryRow(`SELECT public_key, sealed_private FROM push_vapid WHERE id = 1`).Scan(&pub, &sealed); err != nil {
		t.Fatalf("%s: read push_vapid: %v", n.Config().NodeID, err)
	}
	return pub, sealed
}

func TestOneKeyPairForTheWholeCluster(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, push.Register)
	sec := secrets(t, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Three nodes, four callers each, all at once: every node proposes a
	// key of its own, one wins, everybody gets the winner.
	var wg sync.WaitGroup
	type answer struct {
		node int
		pub  string
		v    webpush.VAPID
		err  error
	}
	answers := make(chan answer, 12)
	for i, n := range nodes {
		k := push.NewKeys(n, sec, subject)
		for range 4 {
			wg.Go(func() {
				v, err := k.VAPID(ctx)
				pub, _ := k.PublicKey(ctx)
				answers <- answer{i, pub, v, err}
			})
		}
	}
	wg.Wait()
	close(answers)
	var want string
	for a := range answers {
		if a.err != nil {
			t.Fatalf("node%d: %v", a.node+1, a.err)
		}
		if want == "" {
			want = a.pub
		}
		if a.pub != want || webpush.PublicKey(a.v.Key) != want {
			t.Errorf("node%d: got key %s (signing %s), want %s", a.node+1, a.pub, webpush.PublicKey(a.v.Key), want)
		}
		if a.v.Subject != subject {
			t.Errorf("node%d: subject %q, want %q", a.node+1, a.v.Subject, subject)
		}
	}
	// Every node's state holds that pair and only it.
	leader := clustertest.Leader(t, nodes...)
	last := leader.AppliedIndex()
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, last); err != nil {
			t.Fatal(err)
		}
		pub, _ := storedRow(t, n)
		if pub != want {
			t.Errorf("%s stores %s, want %s", n.Config().NodeID, pub, want)
		}
		var rows int
		n.DB().QueryRow(`SELECT count(*) FROM push_vapid`).Scan(&rows)
		if rows != 1 {
			t.Errorf("%s: %d rows, want 1", n.Config().NodeID, rows)
		}
	}

	// A later ensure command, proposed directly, changes nothing: the
	// first pair applied stays.
	cmd, err := cluster.NewCommand(push.CmdEnsureVAPID, 1, "", map[string]string{
		"public_key": "BOther", "sealed_private": "v1:AAAA",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].Propose(ctx, cmd); err != nil {
		t.Fatalf("second ensure through a follower: %v", err)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, leader.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		if pub, _ := storedRow(t, n); pub != want {
			t.Errorf("%s after a second ensure: %s, want %s", n.Config().NodeID, pub, want)
		}
	}
}

func TestSealedKeyIsNotTheKey(t *testing.T) {
	n := clustertest.Node(t, push.Register)
	sec := secrets(t, 1)
	k := push.NewKeys(n, sec, subject)
	v, err := k.VAPID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := v.Key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pub, sealed := storedRow(t, n)
	if pub != webpush.PublicKey(v.Key) {
		t.Fatalf("stored public key %s, want %s", pub, webpush.PublicKey(v.Key))
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if strings.Contains(sealed, enc.EncodeToString(raw)) {
			t.Fatalf("sealed value %q holds the private key in base64", sealed)
		}
	}
	if strings.Contains(sealed, string(raw)) || strings.Contains(strings.ToLower(sealed), strings.ToLower(string(raw))) {
		t.Fatal("sealed value holds the raw private key")
	}
	if len(sealed) < 60 {
		t.Errorf("sealed value %q too short to hold nonce, key and tag", sealed)
	}

	// Another secrets key cannot open it, and says so.
	other := push.NewKeys(n, secrets(t, 2), subject)
	if _, err := other.VAPID(context.Background()); !errors.Is(err, push.ErrSealedKey) {
		t.Errorf("other secrets key: got %v, want ErrSealedKey", err)
	}
	// A subject the push services would refuse is refused at once.
	if _, err := push.NewKeys(n, sec, "admin@comune.example.it").VAPID(context.Background()); err == nil {
		t.Error("subject without mailto: accepted")
	}
	// Without a secrets key there is no VAPID, with a clear error.
	for _, s := range []*auth.Secrets{nil, {}} {
		none := push.NewKeys(n, s, subject)
		if _, err := none.PublicKey(context.Background()); !errors.Is(err, push.ErrNoSecretsKey) {
			t.Errorf("no secrets key: got %v, want ErrNoSecretsKey", err)
		}
	}
}

func TestKeySurvivesRestart(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, push.Register)
	sec := secrets(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, err := push.NewKeys(nodes[0], sec, subject).PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].WaitApplied(ctx, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	back := clustertest.Restart(t, nodes[2], push.Register)
	got, err := push.NewKeys(back, sec, subject).PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("after restart: got %s, want %s", got, want)
	}
	// The restarted node did not need to propose: still one row.
	var rows int
	back.DB().QueryRow(`SELECT count(*) FROM push_vapid`).Scan(&rows)
	if rows != 1 {
		t.Errorf("%d rows, want 1", rows)
	}
}

// TestKeysSignPushes sends through the real receiver with the cluster's
// key: the receiver verifies the JWT with the key the pages would give
// to pushManager.subscribe.
func TestKeysSignPushes(t *testing.T) {
	n := clustertest.Node(t, push.Register)
	k := push.NewKeys(n, secrets(t, 4), subject)
	ctx := context.Background()
	pub, err := k.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := pushtest.New(t)
	r.ExpectKey(pub)
	s := &webpush.Sender{Client: r.Client(), Policy: r.Policy(), VAPID: k.VAPID}
	if err := s.Send(ctx, r.Subscribe(), webpush.Message{Payload: []byte(`{"kind":"called"}`), TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-r.Messages():
		if string(m.Payload) != `{"kind":"called"}` || m.Subject != subject {
			t.Errorf("got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
}
