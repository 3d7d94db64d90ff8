package media_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/turn"
)

func TestTURNSecretsRotate(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	if s, err := rs[1].TURNSecrets(ctx); err != nil || len(s) != 0 {
		t.Fatalf("secrets before any: %d, %v", len(s), err)
	}
	if err := rs[1].RotateTURN(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	first, err := rs[1].TURNSecrets(ctx)
	if err != nil || len(first) != 1 || len(first[0]) != 32 {
		t.Fatalf("after the first rotation: %d secrets, %v", len(first), err)
	}
	// Not old enough: nothing proposed.
	before := nodes[0].AppliedIndex()
	if err := rs[0].RotateTURN(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if nodes[0].AppliedIndex() != before {
		t.Errorf("a young secret was rotated (index %d → %d)", before, nodes[0].AppliedIndex())
	}
	// Two rotations proposed at once from two nodes add one secret.
	errs := make(chan error, 2)
	for _, x := range []*media.Rooms{rs[0], rs[2]} {
		go func() { errs <- x.RotateTURN(ctx, 0) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	fresh(t, nodes...)
	var second [][]byte
	for i, x := range rs {
		s, err := x.TURNSecrets(ctx)
		if err != nil || len(s) != 2 || !bytes.Equal(s[1], first[0]) || bytes.Equal(s[0], first[0]) {
			t.Fatalf("node %d after a concurrent rotation: %d secrets, %v", i+1, len(s), err)
		}
		if second == nil {
			second = s
		} else if !bytes.Equal(s[0], second[0]) {
			t.Errorf("node %d has another current secret", i+1)
		}
	}
	// A third rotation drops the first secret.
	if err := rs[0].RotateTURN(ctx, 0); err != nil {
		t.Fatal(err)
	}
	fresh(t, nodes...)
	for i, x := range rs {
		s, err := x.TURNSecrets(ctx)
		if err != nil || len(s) != 2 || !bytes.Equal(s[1], second[0]) || bytes.Equal(s[0], first[0]) || bytes.Equal(s[1], first[0]) {
			t.Errorf("node %d after the third rotation: %d secrets, %v", i+1, len(s), err)
		}
		if c := count(t, nodes[i], `SELECT count(*) FROM media_turn_secrets`); c != 2 {
			t.Errorf("node %d stores %d secrets, want 2", i+1, c)
		}
	}
	// Every node holds the same rows (sealed once, by the proposer).
	if d := clustertest.Diff(clustertest.Dump(t, nodes[1]), clustertest.Dump(t, nodes[0])); d != "" {
		t.Errorf("states differ: %s", d)
	}
	// Stored sealed: the state (what snapshots and backups copy) holds no
	// secret in any usual encoding.
	current, _ := rs[0].TURNSecrets(ctx)
	rows, err := nodes[2].DB().Query(`SELECT sealed FROM media_turn_secrets`)
	if err != nil {
		t.Fatal(err)
	}
	var sealed []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		sealed = append(sealed, s)
	}
	rows.Close()
	dump := clustertest.Dump(t, nodes[2])
	for _, s := range current {
		for _, enc := range []string{string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s),
			base64.RawURLEncoding.EncodeToString(s), base64.RawStdEncoding.EncodeToString(s)} {
			if strings.Contains(dump, enc) {
				t.Errorf("the state holds a TURN secret in clear")
			}
			for _, v := range sealed {
				if v == enc || strings.Contains(v, enc) {
					t.Errorf("sealed value %q contains the secret", v)
				}
			}
		}
	}
	// The same state under another secrets key opens nothing.
	other := media.NewRooms(nodes[0], nil, nil)
	if _, err := other.TURNSecrets(ctx); err == nil {
		t.Errorf("TURN secrets opened without the secrets key")
	}
}

func TestICEServersCredentials(t *testing.T) {
	nodes := clustertest.Cluster(t, 2, media.Register)
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	rs := rooms(t, nodes, func() time.Time { return now })
	ctx := ctxT(t)
	urls := []string{"turn:sportello.example:3478?transport=udp", "turns:sportello.example:5349"}
	// No secret yet: the first call creates it.
	ice, err := rs[1].ICEServers(ctx, "room1-citizen", urls, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(ice) != 1 || len(ice[0].URLs) != 2 || ice[0].URLs[1] != urls[1] {
		t.Fatalf("ICE servers %+v", ice)
	}
	exp, user, ok := strings.Cut(ice[0].Username, ":")
	if !ok || user != "room1-citizen" || exp != strconv.FormatInt(now.Add(2*time.Hour).Unix(), 10) {
		t.Errorf("username %q", ice[0].Username)
	}
	fresh(t, nodes[0])
	secrets, err := rs[0].TURNSecrets(ctx)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("secrets %d, %v", len(secrets), err)
	}
	m := hmac.New(sha1.New, secrets[0])
	m.Write([]byte(ice[0].Username))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); ice[0].Credential != want {
		t.Errorf("credential %q, want HMAC-SHA1 %q", ice[0].Credential, want)
	}
	// The TURN server's own scheme (media/turn) agrees.
	if u, p := turn.Credentials(secrets[0], "room1-citizen", now.Add(2*time.Hour)); u != ice[0].Username || p != ice[0].Credential {
		t.Errorf("media/turn.Credentials gives %q/%q, ICEServers %q/%q", u, p, ice[0].Username, ice[0].Credential)
	}
	// After a rotation new credentials use the new secret; the old ones
	// still verify with the previous secret the TURN server is given.
	if err := rs[0].RotateTURN(ctx, 0); err != nil {
		t.Fatal(err)
	}
	fresh(t, nodes[1])
	ice2, err := rs[1].ICEServers(ctx, "room1-citizen", urls, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets2 := rs[1].TURNSecretsFunc()()
	if len(secrets2) != 2 || !bytes.Equal(secrets2[1], secrets[0]) {
		t.Fatalf("after rotation: %d secrets", len(secrets2))
	}
	if _, p := turn.Credentials(secrets2[0], "room1-citizen", now.Add(2*time.Hour)); p != ice2[0].Credential {
		t.Errorf("credential after rotation not made with the current secret")
	}
	if _, err := rs[1].ICEServers(ctx, "a:b", urls, time.Hour); err == nil {
		t.Errorf("a user with ':' was accepted")
	}
	if ice, err := rs[1].ICEServers(ctx, "x", nil, time.Hour); err != nil || len(ice) != 0 {
		t.Errorf("no URLs: %+v, %v", ice, err)
	}
}
