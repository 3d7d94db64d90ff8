package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestBackupRestore books on a demo node, backs it up with `sportello
// backup` while it runs, stops it, restores the file into a new data dir
// with `sportello restore` and starts a node there: the booking is found
// through the API with its manage token, and the new node takes bookings.
func TestBackupRestore(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dataDir := shortTempDir(t)
	demo := func(dir string) []string {
		return []string{"demo", "--data", dir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn"}
	}
	p := startProc(t, dataDir, demo(dataDir)...)
	host := "bari.localhost"
	svc := backupDemoService(t, p, host)
	code, token := backupDemoBook(t, p, host, svc, 11)

	file := filepath.Join(t.TempDir(), "sportello.tar")
	out, errOut, exit := runCLI(t, "backup", "--data", dataDir, file)
	if exit != exitOK {
		t.Fatalf("backup: exit %d, stderr %s", exit, errOut)
	}
	for _, want := range []string{"backup written to " + file, "applied index:", "booking v"} {
		if !strings.Contains(out, want) {
			t.Errorf("backup output lacks %q:\n%s", want, out)
		}
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v; want mode 0600", err, st.Mode().Perm())
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("backup left %s.tmp behind: %v", file, err)
	}
	if _, errOut, exit := runCLI(t, "backup", "--data", dataDir, file); exit != exitConflict {
		t.Errorf("backup over an existing file: exit %d (%s), want %d", exit, errOut, exitConflict)
	}
	p.stop()

	if _, errOut, exit := runCLI(t, "backup", "--data", dataDir, filepath.Join(t.TempDir(), "x.tar")); exit != exitUnavailable {
		t.Errorf("backup with no node running: exit %d (%s), want %d", exit, errOut, exitUnavailable)
	}

	// A damaged copy is refused and leaves no data dir behind.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, raw, 0o600)
	badDir := filepath.Join(shortTempDir(t), "new")
	if _, errOut, exit := runCLI(t, "restore", "--data", badDir, bad); exit != exitFailure || !strings.Contains(errOut, "not a valid Sportello backup") {
		t.Errorf("restore of a damaged file: exit %d, stderr %q; want %d and a clear message", exit, errOut, exitFailure)
	}
	if _, err := os.Stat(badDir); !os.IsNotExist(err) {
		t.Errorf("refused restore left %s: %v", badDir, err)
	}

	newDir := shortTempDir(t)
	out, errOut, exit = runCLI(t, "restore", "--data", newDir, file)
	if exit != exitOK {
		t.Fatalf("restore: exit %d, stderr %s", exit, errOut)
	}
	if !strings.Contains(out, "as node node1 of a new cluster") {
		t.Errorf("restore output:\n%s", out)
	}
	if _, errOut, exit := runCLI(t, "restore", "--data", newDir, file); exit != exitConflict {
		t.Errorf("restore into a non-empty data dir: exit %d (%s), want %d", exit, errOut, exitConflict)
	}

	q := startProc(t, newDir, demo(newDir)...)
	r := q.get(t, q.url(host, "/api/v1/bookings/"+code+"?token="+token))
	wantStatus(t, "booking after restore", r, http.StatusOK)
	wantText(t, "booking after restore", r.Body, code)
	r = q.get(t, q.url(host, "/api/v1/bookings/"+code+"?token=wrong"+token))
	if r.Status == http.StatusOK {
		t.Errorf("booking after restore with a wrong token: got 200")
	}
	// The restored node books, and the demo was not seeded twice.
	if again := demoAPIOffices(t, q, host); len(again.Offices) != 10 {
		t.Errorf("offices after restore: got %d, want 10", len(again.Offices))
	}
	code2, _ := backupDemoBook(t, q, host, svc, 12)
	if code2 == code {
		t.Errorf("new booking after restore reused code %s", code)
	}
	q.stop()
}

// backupDemoService returns the ID of the demo's identity card service.
func backupDemoService(t *testing.T, p *proc, host string) string {
	t.Helper()
	for _, o := range demoAPIOffices(t, p, host).Offices {
		for _, s := range o.Services {
			if s.Name == "Rilascio carta d'identità elettronica" {
				return s.ID
			}
		}
	}
	t.Fatal("demo lacks the identity card service")
	return ""
}

// backupDemoBook books the first free slot of svc for citizen i and returns the
// booking's code and manage token.
func backupDemoBook(t *testing.T, p *proc, host, svc string, i int) (code, token string) {
	t.Helper()
	today := civil.DateOf(time.Now())
	r := p.get(t, p.url(host, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", svc, today, today.AddDays(30))))
	wantStatus(t, "slots", r, http.StatusOK)
	var slots struct {
		Slots []struct {
			Start string `json:"start"`
		} `json:"slots"`
	}
	if err := json.Unmarshal([]byte(r.Body), &slots); err != nil || len(slots.Slots) == 0 {
		t.Fatalf("slots: %v %s", err, r.Body)
	}
	r = p.postJSON(t, p.url(host, "/api/v1/bookings"), bookingRequest(svc, slots.Slots[0].Start, i))
	wantStatus(t, "booking", r, http.StatusCreated)
	var created struct {
		Code      string `json:"code"`
		ManageURL string `json:"manage_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &created); err != nil {
		t.Fatal(err)
	}
	return created.Code, tokenOf(t, created.ManageURL)
}
