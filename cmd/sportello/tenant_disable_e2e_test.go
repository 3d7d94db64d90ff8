package main

import (
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"
)

// TestTenantDisableEnableDelete drives the end of a Comune's service with
// the real binary, as municipal IT would: disable (every page, the back
// office and the API answer 503 naming the Comune), enable (all back),
// delete (only once disabled, only with the ID confirmed; the host is then
// unknown and the ID can never be created again).
func TestTenantDisableEnableDelete(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dataDir := shortTempDir(t)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn")
	host := "bari.localhost"
	const msg = "Il servizio del Comune di Bari non è al momento disponibile."
	cli := func(want int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runCLI(t, append(args, "--data", dataDir)...)
		if code != want {
			t.Fatalf("sportello %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
	page := func(path string) response {
		t.Helper()
		return p.get(t, p.url(host, path))
	}
	if r := page("/"); r.Status != http.StatusOK {
		t.Fatalf("home before disable: %d", r.Status)
	}

	// Usage and validation errors change nothing.
	cli(exitUsage, "tenant", "disable")
	cli(exitNotFound, "tenant", "disable", "milano")
	if _, errOut := cli(exitFailure, "tenant", "disable", "bari", "--reason", strings.Repeat("x", 400)); !strings.Contains(errOut, "al massimo 300 caratteri") {
		t.Errorf("long reason: stderr %q, want the Italian rule", errOut)
	}
	if _, errOut := cli(exitUsage, "tenant", "delete", "bari"); !strings.Contains(errOut, "--confirm bari") {
		t.Errorf("delete without --confirm: stderr %q", errOut)
	}
	if _, errOut := cli(exitFailure, "tenant", "delete", "bari", "--confirm", "bari"); !strings.Contains(errOut, "disattivalo prima") {
		t.Errorf("delete of an active Comune: stderr %q, want the Italian refusal", errOut)
	}
	if r := page("/"); r.Status != http.StatusOK {
		t.Fatalf("home after refused commands: %d", r.Status)
	}

	out, _ := cli(exitOK, "tenant", "disable", "bari", "--reason", "Convenzione scaduta")
	if !strings.Contains(out, "Disabled Comune di Bari (bari)") {
		t.Errorf("disable: stdout %q", out)
	}
	for _, path := range []string{"/", "/gestione", "/gestione/accedi"} {
		r := page(path)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(html.UnescapeString(r.Body), msg) {
			t.Errorf("GET %s while disabled: %d, want 503 saying %q", path, r.Status, msg)
		}
	}
	r := page("/api/v1/servizi")
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || r.Status != http.StatusServiceUnavailable || body.Error.Code != "tenant_disabled" {
		t.Errorf("API while disabled: %d %s", r.Status, r.Body)
	}
	if out, _ := cli(exitOK, "tenant", "show", "bari"); !strings.Contains(out, "Disabled:") || !strings.Contains(out, "Convenzione scaduta") {
		t.Errorf("show of a disabled Comune:\n%s", out)
	}
	if out, _ := cli(exitOK, "tenant", "list"); !strings.Contains(out, "disabled") {
		t.Errorf("list does not say bari is disabled:\n%s", out)
	}
	if _, errOut := cli(exitFailure, "tenant", "delete", "bari", "--confirm", "Bari"); !strings.Contains(errOut, "Per confermare") {
		t.Errorf("delete with a wrong confirmation: stderr %q", errOut)
	}

	if out, _ := cli(exitOK, "tenant", "enable", "bari"); !strings.Contains(out, "Enabled Comune di Bari") {
		t.Errorf("enable: stdout %q", out)
	}
	if r := page("/"); r.Status != http.StatusOK {
		t.Errorf("home after enable: %d, want 200", r.Status)
	}

	cli(exitOK, "tenant", "disable", "bari")
	out, _ = cli(exitOK, "tenant", "delete", "bari", "--confirm", "bari")
	if !strings.Contains(out, "Deleted Comune di Bari (bari)") {
		t.Errorf("delete: stdout %q", out)
	}
	if r := page("/"); r.Status != http.StatusNotFound || strings.Contains(r.Body, "Bari") {
		t.Errorf("home after delete: %d, want the neutral 404", r.Status)
	}
	cli(exitNotFound, "tenant", "show", "bari")
	if _, errOut := cli(exitFailure, "tenant", "create", "--id", "bari", "--name", "Comune di Bari", "--istat", "072006"); !strings.Contains(errOut, "Comune eliminato") {
		t.Errorf("re-create of a deleted ID: stderr %q, want the Italian refusal", errOut)
	}
}
