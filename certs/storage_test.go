package certs_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// testSecrets returns a secrets key made of fill.
func testSecrets(t testing.TB, fill byte) *auth.Secrets {
	t.Helper()
	s, err := auth.NewSecrets(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testCtx is a context bounded so that a hung cluster fails the test
// instead of the whole run.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// keyPEM makes a new ECDSA private key in PEM, as certmagic stores them.
func keyPEM(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// fresh makes node apply everything committed so far.
func fresh(t testing.TB, ctx context.Context, n *cluster.Node) {
	t.Helper()
	if err := n.ReadFresh(ctx); err != nil {
		t.Fatalf("%s: read fresh: %v", n.Config().NodeID, err)
	}
}

// sameDumps checks that every node holds the same state.
func sameDumps(t *testing.T, ctx context.Context, nodes []*cluster.Node) {
	t.Helper()
	for _, n := range nodes {
		fresh(t, ctx, n)
	}
	want := clustertest.Dump(t, nodes[0])
	for _, n := range nodes[1:] {
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from node1: %s", n.Config().NodeID, d)
		}
	}
}

func TestStorageValueStoredOnOneNodeIsReadOnAll(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 1)
	st := make([]*certs.Storage, len(nodes))
	for i, n := range nodes {
		st[i] = certs.NewStorage(n, sec, nil)
	}
	if clustertest.Leader(t, nodes...) != nodes[0] {
		t.Fatal("node1 should lead")
	}

	// Through a follower (forwarded to the leader), then read at once on
	// that follower: read-your-writes without waiting.
	crt := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	key := keyPEM(t)
	crtKey := certmagic.StorageKeys.SiteCert("acme-v02.api.letsencrypt.org-directory", "servizi.comune.esempio.it")
	keyKey := certmagic.StorageKeys.SitePrivateKey("acme-v02.api.letsencrypt.org-directory", "servizi.comune.esempio.it")
	if err := st[1].Store(ctx, crtKey, crt); err != nil {
		t.Fatalf("store certificate: %v", err)
	}
	if err := st[1].Store(ctx, keyKey, key); err != nil {
		t.Fatalf("store key: %v", err)
	}
	for i, s := range st {
		if i != 1 {
			fresh(t, ctx, nodes[i])
		}
		got, err := s.Load(ctx, crtKey)
		if err != nil || !bytes.Equal(got, crt) {
			t.Errorf("node%d: Load certificate = %q, %v", i+1, got, err)
		}
		got, err = s.Load(ctx, keyKey)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("node%d: Load key = %q, %v", i+1, got, err)
		}
		info, err := s.Stat(ctx, keyKey)
		if err != nil || !info.IsTerminal || info.Size != int64(len(key)) || info.Key != keyKey || info.Modified.IsZero() {
			t.Errorf("node%d: Stat key = %+v, %v; want terminal, %d bytes", i+1, info, err, len(key))
		}
		if !s.Exists(ctx, keyKey) || !s.Exists(ctx, "certificates") || s.Exists(ctx, "certificates/acme") {
			t.Errorf("node%d: Exists wrong for file, directory or missing key", i+1)
		}
	}

	// A value stored again is replaced everywhere; a deleted one is gone
	// everywhere, and its directories with it.
	if err := st[2].Store(ctx, crtKey, []byte("renewed")); err != nil {
		t.Fatal(err)
	}
	fresh(t, ctx, nodes[0])
	if got, _ := st[0].Load(ctx, crtKey); string(got) != "renewed" {
		t.Errorf("node1 after a store on node3: %q", got)
	}
	if err := st[0].Delete(ctx, "certificates"); err != nil {
		t.Fatal(err)
	}
	for i, s := range st {
		fresh(t, ctx, nodes[i])
		if _, err := s.Load(ctx, keyKey); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("node%d: Load after Delete: %v, want fs.ErrNotExist", i+1, err)
		}
		if s.Exists(ctx, "certificates") {
			t.Errorf("node%d: the deleted directory still exists", i+1)
		}
	}
	sameDumps(t, ctx, nodes)
}

// fsOutcome is what one probe answered, in a form the two storages can
// be compared on.
type fsOutcome struct {
	Keys     []string
	Terminal bool
	Size     int64
	Exists   bool
	Value    string
	NotExist bool
	Err      bool
}

func (o fsOutcome) String() string {
	type plain fsOutcome // without the method, so %+v prints the fields
	return fmt.Sprintf("%+v", plain(o))
}

// probe runs one read on s.
func probe(ctx context.Context, s certmagic.Storage, op, key string) fsOutcome {
	var o fsOutcome
	var err error
	switch op {
	case "list":
		o.Keys, err = s.List(ctx, key, false)
	case "list-r":
		o.Keys, err = s.List(ctx, key, true)
	case "stat":
		var info certmagic.KeyInfo
		info, err = s.Stat(ctx, key)
		o.Terminal = info.IsTerminal
		if info.IsTerminal {
			o.Size = info.Size // a folder's size is the file system's
		}
		if err == nil && info.Key != key {
			o.Value = "stat named " + info.Key
		}
	case "exists":
		o.Exists = s.Exists(ctx, key)
	case "load":
		var b []byte
		b, err = s.Load(ctx, key)
		o.Value = string(b)
	}
	o.NotExist = errors.Is(err, fs.ErrNotExist)
	o.Err = err != nil
	if len(o.Keys) == 0 {
		o.Keys = nil
	}
	return o
}

// TestStorageBehavesLikeCertmagicFileStorage runs the same writes on
// certmagic's own FileStorage and on Storage (through a follower of a
// three-node cluster), and compares every read: List recursive or not,
// Stat of files and folders, Exists, Load, missing keys, Delete of a
// folder, and the writes a file system refuses.
func TestStorageBehavesLikeCertmagicFileStorage(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	ours := certs.NewStorage(nodes[2], testSecrets(t, 2), nil)
	theirs := &certmagic.FileStorage{Path: t.TempDir()}
	key := string(keyPEM(t))

	type write struct {
		del        bool
		key, value string
		// fileOnly: the write goes to FileStorage only. A folder
		// emptied by its last Delete stays on a file system; here
		// folders exist only through the keys below them, so it
		// vanishes. certmagic never relies on empty folders (it lists
		// and deletes them as it finds them), so the test removes
		// the empty folder from FileStorage rather than comparing it.
		fileOnly bool
	}
	steps := []struct {
		writes []write
		probes []string // "op key"
	}{
		{
			writes: []write{
				{key: "certificates/acme.example-directory/a.example.it/a.example.it.crt", value: "crt a"},
				{key: "certificates/acme.example-directory/a.example.it/a.example.it.key", value: key},
				{key: "certificates/acme.example-directory/a.example.it/a.example.it.json", value: "{}"},
				{key: "certificates/acme.example-directory/b.example.it/b.example.it.crt", value: "crt b"},
				{key: "certificates/acme.example-directory/a.example.it.x", value: "sibling with a dot"},
				{key: "acme/acme.example-directory/users/admin@comune.it/admin.key", value: key},
				{key: "acme/acme.example-directory/users/admin@comune.it/admin.json", value: `{"status":"valid"}`},
				{key: "ocsp/a.example.it-123", value: "staple"},
				{key: "top", value: ""},
			},
			probes: []string{
				"list ", "list-r ", "list certificates", "list-r certificates",
				"list certificates/acme.example-directory", "list-r certificates/acme.example-directory",
				"list certificates/acme.example-directory/a.example.it",
				"list certificates/acme.example-directory/a.example.it/a.example.it.crt",
				"list missing", "list-r certificates/missing", "list certif",
				"stat certificates/acme.example-directory/a.example.it/a.example.it.key",
				"stat certificates/acme.example-directory/a.example.it/a.example.it.crt",
				"stat certificates", "stat certificates/acme.example-directory/a.example.it",
				"stat acme/acme.example-directory/users/admin@comune.it", "stat top",
				"stat missing", "stat certificates/missing", "stat certif",
				"exists certificates", "exists certificates/acme.example-directory/a.example.it",
				"exists ocsp/a.example.it-123", "exists missing", "exists certif", "exists ocsp/a.example.it",
				"load certificates/acme.example-directory/a.example.it/a.example.it.key",
				"load acme/acme.example-directory/users/admin@comune.it/admin.json",
				"load top", "load missing", "load certificates/acme.example-directory/missing.crt",
			},
		},
		{
			// A folder, a file, a missing key and a missing folder
			// deleted; and the writes a file system refuses: a file
			// below a file, a file where a folder is.
			writes: []write{
				{del: true, key: "certificates/acme.example-directory/a.example.it"},
				{del: true, key: "ocsp/a.example.it-123"},
				{del: true, key: "ocsp", fileOnly: true},
				{del: true, key: "missing"},
				{del: true, key: "certificates/missing/deeper"},
				{key: "top/below", value: "x"},
				{key: "acme/acme.example-directory/users", value: "x"},
			},
			probes: []string{
				"list ", "list-r ", "list-r certificates", "list ocsp", "list-r acme",
				"stat certificates/acme.example-directory/a.example.it",
				"stat certificates/acme.example-directory/a.example.it/a.example.it.crt",
				"stat ocsp", "exists certificates/acme.example-directory/a.example.it",
				"exists certificates/acme.example-directory/a.example.it.x", "exists ocsp",
				"load top", "list-r acme/acme.example-directory/users",
			},
		},
	}
	for i, step := range steps {
		for _, w := range step.writes {
			var errOurs, errTheirs error
			if w.fileOnly {
				if err := theirs.Delete(ctx, w.key); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if w.del {
				errOurs, errTheirs = ours.Delete(ctx, w.key), theirs.Delete(ctx, w.key)
			} else {
				errOurs, errTheirs = ours.Store(ctx, w.key, []byte(w.value)), theirs.Store(ctx, w.key, []byte(w.value))
			}
			if (errOurs == nil) != (errTheirs == nil) {
				t.Errorf("step %d: write %+v: ours %v, FileStorage %v", i, w, errOurs, errTheirs)
			}
		}
		for _, p := range step.probes {
			op, k, _ := strings.Cut(p, " ")
			got, want := probe(ctx, ours, op, k), probe(ctx, theirs, op, k)
			if got.String() != want.String() {
				t.Errorf("step %d: %s %q:\n ours       %v\n FileStorage %v", i, op, k, got, want)
			}
		}
	}
	// The other nodes answer the same as the follower that wrote.
	sameDumps(t, ctx, nodes)
	other := certs.NewStorage(nodes[0], testSecrets(t, 2), nil)
	for _, p := range []string{"list-r ", "load top", "stat acme/acme.example-directory/users/admin@comune.it/admin.key"} {
		op, k, _ := strings.Cut(p, " ")
		if got, want := probe(ctx, other, op, k), probe(ctx, ours, op, k); got.String() != want.String() {
			t.Errorf("node1 %s %q = %v, node3 %v", op, k, got, want)
		}
	}
}

// TestStorageSealsPrivateKeys stores a site key, an ACME account key and
// a PEM key under an unusual name, and checks that no file of any node
// (raft log, SQLite, WAL, snapshots) nor the state's dump holds the key
// in clear, while Load gives it back.
func TestStorageSealsPrivateKeys(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 3)
	s := certs.NewStorage(nodes[1], sec, nil)
	keys := map[string][]byte{
		certmagic.StorageKeys.SitePrivateKey("acme.example-directory", "a.example.it"):                  keyPEM(t),
		"acme/acme.example-directory/users/admin@comune.it/admin.key":                                   keyPEM(t),
		certmagic.StorageKeys.SitePrivateKey("acme.example-directory", "b.example.it") + ".compromised": keyPEM(t),
		"misc/odd-name.pem": keyPEM(t),
	}
	for k, v := range keys {
		if err := s.Store(ctx, k, v); err != nil {
			t.Fatalf("store %s: %v", k, err)
		}
	}
	if err := s.Store(ctx, "certificates/x/x.crt", []byte("not a secret")); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		fresh(t, ctx, n)
		if err := n.Snapshot(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	// What would give a key away: the PEM armour, a line of each key's
	// base64 body (in case something re-wraps the text), and each key's
	// text as the raft log's JSON carries a []byte (base64 of the whole
	// value, aligned at its start). The dump prints blobs in hex.
	needles := [][]byte{[]byte("PRIVATE KEY")}
	dumpNeedles := []string{hex.EncodeToString([]byte("PRIVATE KEY"))}
	for _, v := range keys {
		b, _ := pem.Decode(v)
		needles = append(needles, []byte(base64.StdEncoding.EncodeToString(b.Bytes)[:40]),
			[]byte(base64.StdEncoding.EncodeToString(v[:60])))
		dumpNeedles = append(dumpNeedles, hex.EncodeToString(b.Bytes[:20]))
	}
	for _, n := range nodes {
		files := 0
		err := filepath.WalkDir(n.Config().Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			for _, needle := range needles {
				if bytes.Contains(b, needle) {
					t.Errorf("%s: %s holds %q in clear", n.Config().NodeID, p, needle)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		dump := clustertest.Dump(t, n)
		for _, needle := range dumpNeedles {
			if strings.Contains(dump, needle) {
				t.Errorf("%s: the dump holds %q", n.Config().NodeID, needle)
			}
		}
		if !strings.Contains(dump, "certs_kv") || files < 3 {
			t.Fatalf("%s: looked at %d files and a dump without certs_kv: the test checks nothing", n.Config().NodeID, files)
		}
		var sealed int
		if err := n.DB().QueryRow(`SELECT count(*) FROM certs_kv WHERE sealed = 1`).Scan(&sealed); err != nil || sealed != len(keys) {
			t.Errorf("%s: %d sealed rows (%v), want %d", n.Config().NodeID, sealed, err, len(keys))
		}
	}
	// Every node opens them with the same secrets file.
	for i, n := range nodes {
		r := certs.NewStorage(n, sec, nil)
		for k, v := range keys {
			if got, err := r.Load(ctx, k); err != nil || !bytes.Equal(got, v) {
				t.Errorf("node%d: Load %s = %v", i+1, k, err)
			}
		}
	}

	// Another secrets file cannot open them, and says so.
	wrong := certs.NewStorage(nodes[0], testSecrets(t, 4), nil)
	for k := range keys {
		if _, err := wrong.Load(ctx, k); !errors.Is(err, certs.ErrSealed) {
			t.Errorf("Load %s with another secrets key: %v, want ErrSealed", k, err)
		}
	}
	// Without a secrets key: a key is neither stored nor loaded, with a
	// clear error; a certificate still is.
	none := certs.NewStorage(nodes[2], nil, nil)
	for k, v := range keys {
		if err := none.Store(ctx, k+".new", v); !errors.Is(err, certs.ErrNoSecretsKey) || !strings.Contains(err.Error(), "secrets.key") {
			t.Errorf("Store %s without secrets: %v, want ErrNoSecretsKey naming the file", k, err)
		}
		if _, err := none.Load(ctx, k); !errors.Is(err, certs.ErrNoSecretsKey) {
			t.Errorf("Load %s without secrets: %v, want ErrNoSecretsKey", k, err)
		}
	}
	if got, err := none.Load(ctx, "certificates/x/x.crt"); err != nil || string(got) != "not a secret" {
		t.Errorf("Load of a certificate without secrets: %q, %v", got, err)
	}
	// A sealed value moved under another key does not open: the key's
	// name is bound to it.
	var raw []byte
	src := "misc/odd-name.pem"
	if err := nodes[0].DB().QueryRow(`SELECT value FROM certs_kv WHERE key = ?`, src).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	cmd, err := cluster.NewCommand(certs.CmdStore, 1, "", map[string]any{"key": "misc/moved.pem", "value": raw, "sealed": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].Propose(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.NewStorage(nodes[0], sec, nil).Load(ctx, "misc/moved.pem"); !errors.Is(err, certs.ErrSealed) {
		t.Errorf("a sealed value under another key: %v, want ErrSealed", err)
	}
}

// TestStorageIgnoresTheRequestsIDAndActor: certmagic writes several
// values with the context of the request that caused them; under the
// request's ID the second write would be taken for a repeat of the first
// and not applied, and the audit log would fill with storage internals.
func TestStorageIgnoresTheRequestsIDAndActor(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := cluster.WithRequestID(testCtx(t), "request-1", "fp")
	ctx = cluster.WithActor(ctx, cluster.Actor{ID: "u1", Name: "Anna", Tenant: "t1"})
	s := certs.NewStorage(nodes[1], testSecrets(t, 14), nil)
	for _, k := range []string{"a/1", "a/2", "a/3"} {
		if err := s.Store(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Lock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/1", "a/2", "a/3"} {
		if got, err := s.Load(ctx, k); err != nil || string(got) != k {
			t.Errorf("Load %s = %q, %v: a write under the request's ID was not applied", k, got, err)
		}
	}
	var audited int
	if err := nodes[1].DB().QueryRow(`SELECT count(*) FROM cluster_audit WHERE type LIKE 'certs.%'`).Scan(&audited); err != nil || audited != 0 {
		t.Errorf("%d audit rows of storage commands (%v), want none", audited, err)
	}
}

func TestStorageRefusesLargeValuesAndBadKeys(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	s := certs.NewStorage(nodes[2], testSecrets(t, 5), nil)

	big := bytes.Repeat([]byte{'x'}, certs.MaxValueSize)
	if err := s.Store(ctx, "big/ok", big); err != nil {
		t.Fatalf("a value of exactly 1 MiB through a follower: %v", err)
	}
	if got, err := s.Load(ctx, "big/ok"); err != nil || len(got) != certs.MaxValueSize {
		t.Errorf("Load of 1 MiB: %d bytes, %v", len(got), err)
	}
	if err := s.Store(ctx, "big/no", append(big, 'y')); !errors.Is(err, certs.ErrTooLarge) {
		t.Errorf("1 MiB + 1: %v, want ErrTooLarge", err)
	}
	// Apply refuses it too, whoever proposes it (a forwarded refusal
	// still matches the sentinel).
	cmd, err := cluster.NewCommand(certs.CmdStore, 1, "", map[string]any{"key": "big/no", "value": append(big, make([]byte, 1024)...)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[2].Propose(ctx, cmd); !errors.Is(err, certs.ErrTooLarge) {
		t.Errorf("apply of an oversized value: %v, want ErrTooLarge", err)
	}
	for _, k := range []string{"", "/", "a//b", "a/../b", "./a", "a/.", "sportello/internal-ca/root.crt", "sportello", "a\x00b"} {
		if err := s.Store(ctx, k, []byte("x")); !errors.Is(err, certs.ErrBadKey) {
			t.Errorf("Store %q: %v, want ErrBadKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, certs.ErrBadKey) {
			t.Errorf("Delete %q: %v, want ErrBadKey", k, err)
		}
	}
	// A challenge token that is nowhere is missing after the fresh read
	// a miss of a token makes.
	if _, err := s.Load(ctx, "acme/acme.example-directory/challenge_tokens/a.example.it.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing challenge token: %v, want fs.ErrNotExist", err)
	}
	// Leading and trailing slashes are not part of a key.
	if err := s.Store(ctx, "/slashes/k/", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "slashes/k"); err != nil || string(got) != "v" {
		t.Errorf("Load slashes/k = %q, %v", got, err)
	}
	keys, err := s.List(ctx, "", false)
	if err != nil || !slices.Equal(keys, []string{"big", "slashes"}) {
		t.Errorf("List root = %v, %v", keys, err)
	}
}
