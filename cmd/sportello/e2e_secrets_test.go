package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
)

// TestSecretsKeyE2E runs `sportello demo` (a node alone, which creates
// its secrets.key), saves a provider with a client secret and one with
// private_key_jwt through the CLI, rotates the key, and checks the Comune's
// /_auth/jwks and that no file of the data folder but secrets.key holds
// the client secret.
func TestSecretsKeyE2E(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dataDir := shortTempDir(t)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn")

	keyFile := filepath.Join(dataDir, auth.SecretsFile)
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v, mode %v; want it created with 0600", err, fi)
	}
	const secret = "segreto-e2e-9d8c7b6a5f"
	secretFile := filepath.Join(dataDir, "client-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "tenant", "oidc", "add", "bari", "--data", dataDir, "--id", "segreto", "--name", "Con segreto",
		"--issuer", "https://id.example.it/realms/comuni", "--client-id", "bari", "--client-secret-file", secretFile); code != exitOK {
		t.Fatalf("oidc add with a secret: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code := runCLI(t, "tenant", "oidc", "add", "bari", "--data", dataDir, "--id", "chiave", "--name", "Con chiave",
		"--issuer", "https://id.example.it/realms/comuni", "--client-id", "bari", "--client-auth", "private_key_jwt")
	if code != exitOK || !strings.Contains(out, "/_auth/jwks") {
		t.Fatalf("oidc add with private_key_jwt: exit %d, %q %q", code, out, errOut)
	}
	jwks := func() []string {
		r := p.get(t, p.url("bari.localhost", "/_auth/jwks"))
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &set) != nil {
			t.Fatalf("GET /_auth/jwks: %d %s", r.Status, r.Body)
		}
		var kids []string
		for _, k := range set.Keys {
			if _, private := k["d"]; private || k["alg"] != "RS256" || k["use"] != "sig" {
				t.Errorf("JWKS key %v", k)
			}
			kids = append(kids, k["kid"].(string))
		}
		return kids
	}
	first := jwks()
	if len(first) != 1 {
		t.Fatalf("JWKS: %v, want one key", first)
	}
	out, errOut, code = runCLI(t, "tenant", "oidc", "rotate-key", "bari", "--data", dataDir, "--id", "chiave")
	if code != exitOK || !strings.Contains(out, "New key") {
		t.Fatalf("rotate-key: exit %d, %q %q", code, out, errOut)
	}
	if kids := jwks(); len(kids) != 2 || kids[1] != first[0] {
		t.Errorf("JWKS after rotation: %v, want a new key then %s", kids, first[0])
	}
	if _, errOut, code := runCLI(t, "tenant", "oidc", "rotate-key", "bari", "--data", dataDir, "--id", "segreto"); code == exitOK || !strings.Contains(errOut, "private_key_jwt") {
		t.Errorf("rotate-key of a secret provider: exit %d, %q", code, errOut)
	}
	out, _, _ = runCLI(t, "tenant", "oidc", "list", "bari", "--data", dataDir, "--json")
	if strings.Contains(out, secret) || strings.Contains(out, "sealed:") {
		t.Errorf("oidc list shows secrets: %s", out)
	}
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == secretFile || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the client secret in clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
