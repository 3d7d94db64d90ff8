package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

func TestBackupConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  BackupConfig
		want string // "" for valid
	}{
		{"off", defaultBackupConfig(), ""},
		{"interval", BackupConfig{Dir: "/srv/b", Interval: 24 * time.Hour, Keep: 7}, ""},
		{"at", BackupConfig{Dir: "/srv/b", At: "02:30", Keep: 7}, ""},
		{"neither", BackupConfig{Dir: "/srv/b", Keep: 1}, ""},
		{"relative", BackupConfig{Dir: "backups", Keep: 7}, `backup.dir "backups": want an absolute path`},
		{"both", BackupConfig{Dir: "/srv/b", Interval: time.Hour, At: "02:30", Keep: 7}, "interval and at are both set"},
		{"short", BackupConfig{Dir: "/srv/b", Interval: time.Millisecond, Keep: 7}, "backup.interval 1ms: want at least 1s"},
		{"bad at", BackupConfig{Dir: "/srv/b", At: "2:30", Keep: 7}, `backup.at "2:30": want a time of day HH:MM`},
		{"late at", BackupConfig{Dir: "/srv/b", At: "24:00", Keep: 7}, `backup.at "24:00"`},
		{"keep 0", BackupConfig{Dir: "/srv/b", Keep: 0}, "backup.keep 0: want 1 to 1000"},
		{"no dir", BackupConfig{Interval: time.Hour, Keep: 7}, "dir is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			c.cfg.validate(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) })
			switch {
			case c.want == "" && len(got) > 0:
				t.Errorf("got %q, want valid", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
				t.Errorf("got %q, want one problem with %q", got, c.want)
			}
		})
	}
}

// TestBackupScheduleTimes checks when backups fall: a daily time in the
// machine's zone, and an interval counted from the newest backup, not
// from the start.
func TestBackupScheduleTimes(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Skip("no time zone data")
	}
	dir := t.TempDir()
	s := &backupScheduler{cfg: BackupConfig{Dir: dir, At: "02:30", Keep: 3}, nodeID: "n1", loc: rome}
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, rome)
	if got, want := s.after(now), time.Date(2026, 11, 27, 2, 30, 0, 0, rome); !got.Equal(want) {
		t.Errorf("at 02:30 from 01:00: got %v, want %v", got, want)
	}
	now = time.Date(2026, 11, 27, 2, 30, 0, 0, rome)
	if got, want := s.after(now), time.Date(2026, 11, 28, 2, 30, 0, 0, rome); !got.Equal(want) {
		t.Errorf("at 02:30 from 02:30: got %v, want %v", got, want)
	}
	// The night the clocks go back still has one 02:30.
	now = time.Date(2026, 10, 24, 12, 0, 0, 0, rome)
	if got, want := s.after(now), time.Date(2026, 10, 25, 2, 30, 0, 0, rome); !got.Equal(want) {
		t.Errorf("at 02:30 before the change of time: got %v, want %v", got, want)
	}

	// Off at 02:30 yesterday: the newest backup is two days old, so the
	// node catches up a minute after it starts.
	start0 := time.Date(2026, 11, 27, 9, 0, 0, 0, rome)
	touchBackup(t, dir, s.fileName(start0.Add(-49*time.Hour)))
	if got, want := s.first(start0), start0.Add(backupStartDelay); !got.Equal(want) {
		t.Errorf("daily time missed: got %v, want %v", got, want)
	}
	touchBackup(t, dir, s.fileName(start0.Add(-7*time.Hour)))
	if got, want := s.first(start0), time.Date(2026, 11, 28, 2, 30, 0, 0, rome); !got.Equal(want) {
		t.Errorf("daily time kept: got %v, want %v", got, want)
	}
	dir = t.TempDir()
	s = &backupScheduler{cfg: BackupConfig{Dir: dir, Interval: 6 * time.Hour, Keep: 3}, nodeID: "n1", loc: rome}
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if got, want := s.first(start), start.Add(6*time.Hour); !got.Equal(want) {
		t.Errorf("first with an empty folder: got %v, want %v", got, want)
	}
	// A backup two hours old: the next one four hours from now.
	touchBackup(t, dir, s.fileName(start.Add(-2*time.Hour)))
	if got, want := s.first(start), start.Add(4*time.Hour); !got.Equal(want) {
		t.Errorf("first after a backup 2h ago: got %v, want %v", got, want)
	}
	// A day old: overdue, taken a minute after the start.
	touchBackup(t, dir, s.fileName(start.Add(-24*time.Hour)))
	os.Remove(filepath.Join(dir, s.fileName(start.Add(-2*time.Hour))))
	if got, want := s.first(start), start.Add(backupStartDelay); !got.Equal(want) {
		t.Errorf("first when overdue: got %v, want %v", got, want)
	}
}

func touchBackup(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupScheduleWritesAndPrunes runs the scheduler on a real node
// with a short interval: the backups it writes verify and restore with
// the restore command's code, the folder keeps the newest `keep` of this
// node's backups and nothing else is touched, and the metrics follow.
func TestBackupScheduleWritesAndPrunes(t *testing.T) {
	n := clustertest.Node(t, tenant.Register)
	ctx := context.Background()
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	if _, err := reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backups")
	// Another node's backup and an unrelated file share the folder.
	os.MkdirAll(dir, 0o700)
	touchBackup(t, dir, "sportello-node2-20200101T000000.000Z.tar")
	touchBackup(t, dir, "notes.txt")
	// A temporary file left by a crash is removed at start.
	touchBackup(t, dir, ".sportello-node1-20200101T000000.000Z.tar.tmp")

	pr := prometheus.NewRegistry()
	cfg := BackupConfig{Dir: dir, Interval: 300 * time.Millisecond, Keep: 2}
	s, err := newBackupScheduler(cfg, "node1", n, pr, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".sportello-node1-20200101T000000.000Z.tar.tmp")); !os.IsNotExist(err) {
		t.Errorf("stale temporary file not removed: %v", err)
	}
	if v := metricValue(t, s.lastSuccess); v != 0 {
		t.Errorf("last success before any backup: got %v, want 0", v)
	}
	s.Start(ctx)
	t.Cleanup(s.Close)

	// Wait for at least four backups: with keep 2, two have been pruned.
	deadline := time.Now().Add(30 * time.Second)
	var own []ownBackup
	seen := map[string]bool{}
	for time.Now().Before(deadline) {
		own, err = s.list()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range own {
			seen[b.name] = true
		}
		if len(seen) >= 4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Close()
	s.Close() // twice is safe
	own, _ = s.list()
	if len(seen) < 4 {
		t.Fatalf("backups written in 30s: %d, want at least 4", len(seen))
	}
	if len(own) != cfg.Keep {
		t.Errorf("backups kept: %d (%v), want %d", len(own), own, cfg.Keep)
	}
	for _, other := range []string{"sportello-node2-20200101T000000.000Z.tar", "notes.txt"} {
		if _, err := os.Stat(filepath.Join(dir, other)); err != nil {
			t.Errorf("pruning touched %s: %v", other, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	newest := own[len(own)-1]
	st, err := os.Stat(filepath.Join(dir, newest.name))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if got := metricValue(t, s.lastSuccess); got != float64(newest.taken.Unix()) {
		t.Errorf("sportello_backup_last_success_timestamp_seconds: got %v, want %v", got, newest.taken.Unix())
	}
	if got := metricValue(t, s.failures); got != 0 {
		t.Errorf("failures: got %v, want 0", got)
	}
	fams, err := pr.Gather()
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	for _, want := range []string{"sportello_backup_last_success_timestamp_seconds", "sportello_backup_failures_total"} {
		if !names[want] {
			t.Errorf("registry lacks %s (%v)", want, err)
		}
	}

	// The newest backup restores into a new data dir with the Comune.
	newDir := filepath.Join(t.TempDir(), "restored")
	info, err := restoreDataDir(filepath.Join(dir, newest.name), newDir, "node1", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("restore the scheduled backup: %v", err)
	}
	if info.NodeID != "node1" || info.AppliedIndex == 0 {
		t.Errorf("restored manifest: %+v", info)
	}
	m := clustertest.New(t, cluster.Config{Dir: filepath.Join(newDir, "cluster"), NodeID: "node1"}, tenant.Register)
	clustertest.Start(t, m)
	got, err := tenant.NewRegistry(m, m.DB(), "example.it").Get(ctx, "bari")
	if err != nil || got.Name != "Comune di Bari" {
		t.Errorf("Comune after restore: %+v, %v", got, err)
	}
}

// failingSource fails every backup.
type failingSource struct{}

func (failingSource) Barrier(context.Context) (uint64, error) { return 0, errors.New("no leader") }
func (failingSource) PrepareBackup(context.Context) (*cluster.PreparedBackup, error) {
	return nil, errors.New("disk full")
}

// TestBackupScheduleCountsFailures: a failing backup is counted, logged
// and retried, and leaves nothing in the folder.
func TestBackupScheduleCountsFailures(t *testing.T) {
	dir := t.TempDir()
	s, err := newBackupScheduler(BackupConfig{Dir: dir, Interval: 100 * time.Millisecond, Keep: 2}, "node1", failingSource{}, nil, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, s.failures) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s.Close()
	if got := metricValue(t, s.failures); got < 2 {
		t.Errorf("failures after 10s of failing backups: got %v, want at least 2 (retried)", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed backups left %d files", len(entries))
	}
}

// TestBackupScheduleOff: no dir, no scheduler, and the nil scheduler's
// methods are no-ops.
func TestBackupScheduleOff(t *testing.T) {
	s, err := startBackupSchedule(context.Background(), defaultBackupConfig(), "node1", failingSource{}, nil, nil)
	if err != nil || s != nil {
		t.Fatalf("off: got %v, %v; want nil, nil", s, err)
	}
	s.Close()
}

// metricValue reads a gauge's or a counter's value.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func TestBackupConfigProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, c := range []struct {
		dir, want string
	}{
		{"", ""},
		{dir, ""},
		{filepath.Join(dir, "new"), ""},
		{file, "not a folder"},
		{filepath.Join(dir, "missing", "backups"), ""},
		{filepath.Join(file, "backups"), "not a directory"},
	} {
		got := BackupConfig{Dir: c.dir, Keep: 1}.problems()
		if (c.want == "") != (len(got) == 0) || (c.want != "" && !strings.Contains(got[0], c.want)) {
			t.Errorf("problems(%q) = %q, want %q", c.dir, got, c.want)
		}
	}
}
