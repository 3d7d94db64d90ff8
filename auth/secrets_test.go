package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// newSecrets returns a fresh key, as `sportello` creates at cluster init.
func newSecrets(t *testing.T) *auth.Secrets {
	t.Helper()
	s, err := auth.CreateSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// filesContain reports which files under dir hold needle.
func filesContain(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// rawConfig reads the stored JSON of a provider from a node's SQLite.
func rawConfig(t *testing.T, n *cluster.Node, id string) string {
	t.Helper()
	var cfg string
	if err := n.DB().QueryRow(`SELECT config FROM auth_providers WHERE tenant_id = ? AND id = ?`, string(comune), id).Scan(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSecretsAtRest saves a provider with a client secret on a real
// three-node cluster and checks that no file of any node (SQLite state,
// WAL, Raft log, snapshots) holds the secret, that every node with the key
// reads it back, and that a node without the key, or with another, says
// so.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, auth.Register)
	lead := clustertest.Leader(t, nodes...)
	key := newSecrets(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const secret = "segreto-riconoscibile-7f3a9c1e"
	p := provider()
	p.ClientSecret = secret
	saved, err := auth.NewStore(auth.Config{Proposer: lead, DB: lead.DB(), Secrets: key}).SaveProvider(ctx, comune, p)
	if err != nil {
		t.Fatal(err)
	}
	if saved.ClientSecret != secret || !strings.HasPrefix(saved.SealedSecret, "sealed:v1:") {
		t.Fatalf("saved secret %q sealed %q", saved.ClientSecret, saved.SealedSecret)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, lead.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		got, err := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Secrets: key}).Provider(ctx, comune, "puglia")
		if err != nil || got.ClientSecret != secret {
			t.Errorf("%s: secret %q, %v", n.Config().NodeID, got.ClientSecret, err)
		}
		if cfg := rawConfig(t, n, "puglia"); strings.Contains(cfg, secret) || strings.Contains(cfg, `"client_secret"`) {
			t.Errorf("%s: stored config has the secret in clear: %s", n.Config().NodeID, cfg)
		}
	}
	for _, n := range nodes {
		if err := n.Snapshot(); err != nil {
			t.Logf("snapshot of %s: %v", n.Config().NodeID, err)
		}
		if hits := filesContain(t, n.Config().Dir, []byte(secret)); len(hits) > 0 {
			t.Errorf("the secret is in clear in %v", hits)
		}
	}

	// A node whose secrets.key is missing refuses, naming the file.
	missing, err := auth.OpenSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	follower := nodes[1]
	if follower == lead {
		follower = nodes[2]
	}
	bare := auth.NewStore(auth.Config{Proposer: follower, DB: follower.DB(), Secrets: missing})
	sealed, err := bare.Provider(ctx, comune, "puglia")
	if err != nil || sealed.ClientSecret != "" || sealed.SealedSecret == "" {
		t.Errorf("read without the key: %v, secret %q; want the provider, sealed", err, sealed.ClientSecret)
	}
	if err := sealed.SecretsError(); !errors.Is(err, auth.ErrNoSecretsKey) || !strings.Contains(err.Error(), auth.SecretsFile) {
		t.Errorf("read without the key: %v, want ErrNoSecretsKey naming %s", err, auth.SecretsFile)
	}
	p.ID = "altro"
	if _, err := bare.SaveProvider(ctx, comune, p); !errors.Is(err, auth.ErrNoSecretsKey) {
		t.Errorf("save without the key: %v, want ErrNoSecretsKey", err)
	}
	// A node with another key says it is another key.
	other := auth.NewStore(auth.Config{Proposer: follower, DB: follower.DB(), Secrets: newSecrets(t)})
	if p, err := other.Provider(ctx, comune, "puglia"); err != nil || !errors.Is(p.SecretsError(), auth.ErrWrongSecretsKey) || p.ClientSecret != "" {
		t.Errorf("read with another key: %v, %v, want ErrWrongSecretsKey", err, p.SecretsError())
	}
	// The list does not need the key.
	if ps, err := bare.Providers(ctx, comune); err != nil || len(ps) != 1 {
		t.Errorf("providers without the key: %d, %v", len(ps), err)
	}
}

// TestClearSecretMigrates reads a provider saved in clear (before
// sealing) and seals it at the next save.
func TestClearSecretMigrates(t *testing.T) {
	t.Parallel()
	n := clustertest.Cluster(t, 1, auth.Register)[0]
	ctx := context.Background()
	legacy := auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
	if _, err := legacy.SaveProvider(ctx, comune, provider()); err != nil {
		t.Fatal(err)
	}
	if cfg := rawConfig(t, n, "puglia"); !strings.Contains(cfg, "s3cret") {
		t.Fatalf("legacy row should be in clear: %s", cfg)
	}
	s := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Secrets: newSecrets(t)})
	p, err := s.Provider(ctx, comune, "puglia")
	if err != nil || p.ClientSecret != "s3cret" {
		t.Fatalf("legacy read: %q, %v", p.ClientSecret, err)
	}
	if _, err := s.SaveProvider(ctx, comune, p); err != nil {
		t.Fatal(err)
	}
	if cfg := rawConfig(t, n, "puglia"); strings.Contains(cfg, "s3cret") {
		t.Errorf("resaved row still in clear: %s", cfg)
	}
	if p, err := s.Provider(ctx, comune, "puglia"); err != nil || p.ClientSecret != "s3cret" {
		t.Errorf("after migration: %q, %v", p.ClientSecret, err)
	}
}

// TestPrivateKeyJWT draws, rotates and publishes the keys of a
// private_key_jwt provider, and checks its client assertion.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	n := clustertest.Cluster(t, 1, auth.Register)[0]
	ctx := context.Background()
	s := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Secrets: newSecrets(t)})
	p := provider()
	p.ClientSecret, p.ClientAuth = "", auth.PrivateKeyJWT
	saved, err := s.SaveProvider(ctx, comune, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Keys) != 1 || saved.Keys[0].Alg != auth.AlgRS256 || saved.SealedSecret != "" {
		t.Fatalf("keys %+v", saved.Keys)
	}
	first := saved.Keys[0].ID
	cfg := rawConfig(t, n, "puglia")
	if strings.Contains(cfg, "PRIVATE") || !strings.Contains(cfg, `"sealed_private":"sealed:v1:`) {
		t.Errorf("stored key not sealed: %s", cfg)
	}

	// Saving again keeps the key; rotating puts a new one first and keeps
	// the previous one, and only that one.
	saved, err = s.SaveProvider(ctx, comune, saved)
	if err != nil || len(saved.Keys) != 1 || saved.Keys[0].ID != first {
		t.Fatalf("resave: %+v, %v", saved.Keys, err)
	}
	saved, err = s.RotateProviderKey(ctx, comune, "puglia", auth.AlgES256)
	if err != nil || len(saved.Keys) != 2 || saved.Keys[1].ID != first || saved.Keys[0].Alg != auth.AlgES256 {
		t.Fatalf("rotate: %+v, %v", saved.Keys, err)
	}
	second := saved.Keys[0].ID
	saved, err = s.RotateProviderKey(ctx, comune, "puglia", "")
	if err != nil || len(saved.Keys) != 2 || saved.Keys[1].ID != second {
		t.Fatalf("second rotate: %+v, %v", saved.Keys, err)
	}

	ps, err := s.Providers(ctx, comune)
	if err != nil {
		t.Fatal(err)
	}
	set, err := auth.PublicJWKS(ps)
	if err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS %+v, %v", set, err)
	}
	b, _ := json.Marshal(set)
	if strings.Contains(string(b), `"d"`) {
		t.Errorf("JWKS holds a private part: %s", b)
	}

	const aud = "https://id.regione.puglia.it/token"
	now := time.Now()
	raw, err := saved.ClientAssertion(aud, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 || tok.Headers[0].KeyID != saved.Keys[0].ID {
		t.Fatalf("assertion kid %q not the current key", tok.Headers[0].KeyID)
	}
	var c jwt.Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: p.ClientID, Subject: p.ClientID, AnyAudience: jwt.Audience{aud}, Time: now}, 0); err != nil {
		t.Error(err)
	}
	if c.ID == "" || c.Expiry.Time().Sub(now) > 5*time.Minute {
		t.Errorf("jti %q exp %v", c.ID, c.Expiry.Time())
	}

	// A provider switched back to a secret loses its keys.
	saved.ClientAuth, saved.ClientSecret = auth.ClientSecretPost, "nuovo"
	if saved, err = s.SaveProvider(ctx, comune, saved); err != nil || len(saved.Keys) != 0 {
		t.Errorf("switch back: %d keys, %v", len(saved.Keys), err)
	}
}

// TestSecretsFile checks the key file: created once with mode 0600,
// opened again with the same key, refused when malformed.
func TestSecretsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), auth.SecretsFile)
	a, err := auth.CreateSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.CreateSecrets(path)
	if err != nil || b.KeyID() != a.KeyID() || a.KeyID() == "" {
		t.Fatalf("second create: %v, ids %q %q", err, a.KeyID(), b.KeyID())
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte("corto\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.OpenSecrets(path); err == nil {
		t.Error("malformed key file accepted")
	}
}

// TestSecretsDerive: derived keys are the same for the same key file and
// purpose, differ between purposes and keys, and do not exist without a key.
func TestSecretsDerive(t *testing.T) {
	a, _ := auth.NewSecrets(bytes.Repeat([]byte{1}, 32))
	a2, _ := auth.NewSecrets(bytes.Repeat([]byte{1}, 32))
	b, _ := auth.NewSecrets(bytes.Repeat([]byte{2}, 32))
	if k := a.Derive("queue.challenge"); len(k) != 32 || !bytes.Equal(k, a2.Derive("queue.challenge")) {
		t.Fatalf("same key and purpose gave %x and %x", k, a2.Derive("queue.challenge"))
	}
	if bytes.Equal(a.Derive("queue.challenge"), a.Derive("other")) || bytes.Equal(a.Derive("queue.challenge"), b.Derive("queue.challenge")) {
		t.Fatal("derived keys collide across purposes or keys")
	}
	missing, err := auth.OpenSecrets(filepath.Join(t.TempDir(), "none"))
	if err != nil {
		t.Fatal(err)
	}
	if k := missing.Derive("queue.challenge"); k != nil {
		t.Fatalf("derived %x without a key", k)
	}
}
