package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfig: the sample configuration is valid; a broken one gets
// every problem listed, one per line, and exit 2.
func TestCheckConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	sample := filepath.Join("..", "..", "packaging", "sportello.toml")
	// The sample is valid; on a machine without the files it names (the
	// SMTP password, TURN's certificate), those, and only those, are
	// reported.
	if code := dispatch([]string{"check-config", sample}, &out, &errOut); code != exitOK {
		for _, line := range strings.Split(strings.TrimSpace(errOut.String()), "\n")[1:] {
			if !strings.HasSuffix(line, "no such file") {
				t.Errorf("check-config on the sample: %s", line)
			}
		}
	} else if !strings.Contains(out.String(), "configuration is valid") {
		t.Errorf("check-config on the sample printed %q", out.String())
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(`data_dir = "data"
[tls]
mode = "acme"
http01 = false
tlsalpn01 = false
cert_file = "missing.pem"
[push]
subject = "ftp://x"
[rate_limit]
burst = 0
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := dispatch([]string{"check-config", bad}, &out, &errOut); code != exitUsage {
		t.Fatalf("check-config on a broken file: exit %d, want %d\n%s", code, exitUsage, errOut.String())
	}
	msg := errOut.String()
	for _, want := range []string{"tls: mode acme needs http01", "push.subject", "rate_limit.burst"} {
		if !strings.Contains(msg, want) {
			t.Errorf("check-config did not name %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n  - "); n < 3 {
		t.Errorf("want one line per problem, got %d:\n%s", n, msg)
	}

	// A valid file naming a file that does not exist.
	missing := filepath.Join(dir, "missing.toml")
	if err := os.WriteFile(missing, []byte("data_dir = \"data\"\n[push]\nca_file = \"nowhere.pem\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := dispatch([]string{"check-config", missing}, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), "push.ca_file") || !strings.Contains(errOut.String(), "no such file") {
		t.Errorf("check-config with a missing ca_file: exit %d\n%s", code, errOut.String())
	}
}
