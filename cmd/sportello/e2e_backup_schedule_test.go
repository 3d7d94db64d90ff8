package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestE2EScheduledBackup runs the real binary with [backup] on a short
// interval: it books, waits for a scheduled backup taken after the
// booking, checks that the folder keeps only the newest `keep` backups
// while more have been written, stops the node, restores the backup with
// `sportello restore` into a fresh data dir, starts a node there and
// finds the booking. The metrics listener reports the last success.
func TestE2EScheduledBackup(t *testing.T) {
	needBinary(t)
	t.Parallel()
	const (
		host = "bari.localhost"
		keep = 2
	)
	dir := shortTempDir(t)
	backups := filepath.Join(shortTempDir(t), "backups")
	metricsAddr := freeAddr(t)
	cfg := clusterNodeConfig(t, dir, "b1", freeAddr(t), fmt.Sprintf(`
[metrics]
listen = %q

[backup]
dir = %q
interval = "1s"
keep = %d
`, metricsAddr, backups, keep))
	if _, errOut, code := runCLI(t, "check-config", cfg); code != exitOK {
		if strings.Contains(errOut, "unknown keys: backup") {
			// config.go reads [backup] once the lead adds BackupConfig to
			// Config (see config_backup.go); until then serve refuses it.
			t.Skip("[backup] is not part of Config yet")
		}
		t.Fatalf("check-config: exit %d\n%s", code, errOut)
	}

	p := startProc(t, dir, "serve", "--config", cfg)
	svc := seedBari(t, p, dir, 5)
	code, token := backupDemoBook(t, p, host, svc.ID, 31)
	booked := time.Now().UTC()

	// Wait for backups taken after the booking, and for the folder to
	// have pruned some: more written than kept.
	seen := map[string]bool{}
	var after []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		own := ownBackups(t, backups, "b1")
		after = after[:0]
		for _, name := range own {
			seen[name] = true
			if backupTime(t, name, "b1").After(booked) {
				after = append(after, name)
			}
		}
		if len(seen) > keep+1 && len(after) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d backups seen, %d after the booking; stderr:\n%s", len(seen), len(after), tail(p.stderr.String(), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	fams := scrapeURL(t, "http://"+metricsAddr+"/metrics")
	if v, ok := value(fams, "sportello_backup_last_success_timestamp_seconds", nil); !ok || v < float64(booked.Unix()) {
		t.Errorf("sportello_backup_last_success_timestamp_seconds = %v (%v), want at least %d", v, ok, booked.Unix())
	}
	wantValue(t, fams, "sportello_backup_failures_total", nil, 0)
	file := filepath.Join(backups, after[len(after)-1])
	// Copy it out before the node stops: pruning could remove it.
	saved := filepath.Join(t.TempDir(), "scheduled.tar")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	p.stop()
	// Once the node has stopped (a backup is written, then the folder
	// pruned), the folder keeps the newest `keep`: the oldest are gone.
	own := ownBackups(t, backups, "b1")
	if len(own) != keep {
		t.Errorf("the folder holds %d backups of this node, want %d: %v", len(own), keep, own)
	}
	var all []string
	for name := range seen {
		all = append(all, name)
	}
	sort.Strings(all)
	for _, name := range all[:len(all)-len(own)] {
		if _, err := os.Stat(filepath.Join(backups, name)); !os.IsNotExist(err) {
			t.Errorf("old backup %s kept (err %v) while newer ones exist", name, err)
		}
	}

	newDir := shortTempDir(t)
	out, errOut, exit := runCLI(t, "restore", "--data", newDir, "--node-id", "b1", saved)
	if exit != exitOK {
		t.Fatalf("restore of the scheduled backup: exit %d\n%s", exit, errOut)
	}
	if !strings.Contains(out, "as node b1 of a new cluster") {
		t.Errorf("restore output:\n%s", out)
	}
	q := startProc(t, newDir, "serve", "--config", clusterNodeConfig(t, newDir, "b1", freeAddr(t), ""))
	r := q.get(t, q.url(host, "/api/v1/bookings/"+code+"?token="+token))
	wantStatus(t, "booking after restoring the scheduled backup", r, http.StatusOK)
	wantText(t, "booking after restore", r.Body, code)
	q.stop()
}

// ownBackups lists node's scheduled backups in dir, oldest first.
func ownBackups(t *testing.T, dir, node string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), backupFilePrefix+node+"-") && strings.HasSuffix(e.Name(), ".tar") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func backupTime(t *testing.T, name, node string) time.Time {
	t.Helper()
	ts, err := time.Parse(backupStampLayout, strings.TrimSuffix(strings.TrimPrefix(name, backupFilePrefix+node+"-"), ".tar"))
	if err != nil {
		t.Fatalf("backup name %q: %v", name, err)
	}
	return ts
}
