package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sportello-virtuale/sportello/cluster"
)

// backupSource is what a scheduled backup reads; *cluster.Node is one.
type backupSource interface {
	Barrier(ctx context.Context) (uint64, error)
	PrepareBackup(ctx context.Context) (*cluster.PreparedBackup, error)
}

// Timing of the scheduler.
const (
	// backupBarrierWait bounds the wait for the leader's commit index
	// before a backup; without a leader the backup is taken anyway.
	backupBarrierWait = 30 * time.Second
	// backupRetry is how soon a failed backup is tried again (or the
	// interval, when shorter): a failure must not cost a whole day.
	backupRetry = 10 * time.Minute
	// backupStartDelay is the least time between the node's start and a
	// backup that is overdue, so that a node restarted in a loop does
	// not spend its starts copying its database.
	backupStartDelay = time.Minute
)

// backupFilePrefix starts every scheduled backup's file name; the node's
// ID and the UTC time follow: sportello-node1-20261127T023000.000Z.tar.
const backupFilePrefix = "sportello-"

// backupStampLayout is the time in a backup's file name: UTC, sortable
// as text, no characters a file system or a shell minds.
const backupStampLayout = "20060102T150405.000Z"

// backupScheduler writes the node's backups into cfg.Dir on the schedule
// of [backup], and prunes them to the newest cfg.Keep.
//
// Every node runs its own scheduler and writes its own copy, rather than
// the leader alone: the folder is local to each machine, and a
// leader-only schedule would scatter the backups over the machines as
// leadership moves, leave the old leaders' copies unpruned and lose the
// newest ones with the leader's disk. Each copy is taken after a barrier
// (the leader's commit index, then a wait until it is applied), so a
// follower's backup holds every write committed before it started, as
// `sportello backup --consistent` does; the cost, one copy of the
// database per node and schedule, is seconds for a municipal database.
// File names carry the node ID, so nodes may share one folder (a network
// share) and each prunes only its own files.
//
// The loop goroutine is owned by the scheduler: Start begins it, Close
// stops it and waits for it.
type backupScheduler struct {
	cfg    BackupConfig
	nodeID string
	src    backupSource
	now    func() time.Time
	log    *slog.Logger
	// loc is the time zone of cfg.At (the machine's).
	loc *time.Location

	lastSuccess prometheus.Gauge
	failures    prometheus.Counter
	duration    prometheus.Gauge

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// newBackupScheduler builds the scheduler of cfg for the node nodeID and
// registers its metrics with reg (nil: not registered). It returns nil
// when scheduled backups are off; a nil scheduler starts and closes as a
// no-op.
func newBackupScheduler(cfg BackupConfig, nodeID string, src backupSource, reg prometheus.Registerer, log *slog.Logger) (*backupScheduler, error) {
	if !cfg.on() {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	s := &backupScheduler{
		cfg: cfg, nodeID: nodeID, src: src, now: time.Now, loc: time.Local,
		log: log.With("component", "backup"),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sportello_backup_last_success_timestamp_seconds",
			Help: "Unix time of this node's newest scheduled backup in [backup] dir (0 while there is none). Alert when it is older than the schedule.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sportello_backup_failures_total",
			Help: "Scheduled backups of this node that failed (each is logged with its reason and retried).",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sportello_backup_last_duration_seconds",
			Help: "Time the last successful scheduled backup took, from the barrier to the rename.",
		}),
		done: make(chan struct{}),
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup.dir: %w", err)
	}
	s.removeStaleTemps()
	if last, ok := s.newest(); ok {
		s.lastSuccess.Set(float64(last.Unix()))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.lastSuccess, s.failures, s.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("backup metrics: %w", err)
			}
		}
	}
	return s, nil
}

// startBackupSchedule is the one call run makes: build the scheduler of
// [backup] for node nodeID and start it. It returns nil (a no-op to
// Close) when scheduled backups are off.
func startBackupSchedule(ctx context.Context, cfg BackupConfig, nodeID string, src backupSource, reg prometheus.Registerer, log *slog.Logger) (*backupScheduler, error) {
	s, err := newBackupScheduler(cfg, nodeID, src, reg, log)
	if err != nil {
		return nil, err
	}
	s.Start(ctx)
	return s, nil
}

// Start runs the schedule until ctx ends or Close is called.
func (s *backupScheduler) Start(ctx context.Context) {
	if s == nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	next := s.first(s.now())
	s.log.Info("scheduled backups on", "dir", s.cfg.Dir, "keep", s.cfg.Keep, "next", next.Format(time.RFC3339))
	go s.loop(ctx, next)
}

// Close stops the schedule, cancelling a backup in progress (its
// temporary file is removed), and waits for the loop. It is safe to call
// twice and on a nil scheduler.
func (s *backupScheduler) Close() {
	if s == nil || s.cancel == nil {
		return
	}
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
}

func (s *backupScheduler) loop(ctx context.Context, next time.Time) {
	defer close(s.done)
	for {
		timer := time.NewTimer(max(0, next.Sub(s.now())))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		file, err := s.backupOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.failures.Inc()
			retry := s.now().Add(min(s.interval(), backupRetry))
			s.log.Error("scheduled backup failed", "err", err, "retry", retry.Format(time.RFC3339))
			next = retry
			continue
		}
		next = s.after(s.now())
		s.log.Info("scheduled backup written", "file", file, "next", next.Format(time.RFC3339))
	}
}

// interval is the time between two backups: Interval, or a day for At
// and for neither.
func (s *backupScheduler) interval() time.Duration {
	if s.cfg.Interval > 0 {
		return s.cfg.Interval
	}
	return defaultBackupInterval
}

// after returns the time of the backup that follows one taken at now.
func (s *backupScheduler) after(now time.Time) time.Time {
	if s.cfg.At == "" {
		return now.Add(s.interval())
	}
	h, m, _ := parseDailyTime(s.cfg.At)
	local := now.In(s.loc)
	t := time.Date(local.Year(), local.Month(), local.Day(), h, m, 0, 0, s.loc)
	if !t.After(now) {
		t = time.Date(local.Year(), local.Month(), local.Day()+1, h, m, 0, 0, s.loc)
	}
	return t
}

// first returns the time of the first backup after the node started at
// now. With an interval it counts from the newest backup already in the
// folder, so that a node restarted more often than the interval still
// backs up; with a daily time, a newest backup more than a day old means
// the time was missed. An overdue backup waits backupStartDelay (or the
// interval, when shorter) for the node to settle.
func (s *backupScheduler) first(now time.Time) time.Time {
	earliest := now.Add(min(s.interval(), backupStartDelay))
	last, ok := s.newest()
	if s.cfg.At != "" {
		// A machine that was off at the daily time catches up soon
		// after it starts, rather than a day later.
		if ok && now.Sub(last) > defaultBackupInterval+time.Hour {
			return earliest
		}
		return s.after(now)
	}
	if !ok {
		return now.Add(s.interval())
	}
	return maxTime(last.Add(s.interval()), earliest)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// backupOnce writes one backup into the folder and prunes the folder.
// The archive is the one `sportello backup` writes: it goes to a
// temporary file (mode 0600), is verified against its manifest, fsynced,
// renamed into place, and the folder is fsynced, so that a crash leaves
// either the whole backup or none (a stray temporary file is removed at
// the next start).
func (s *backupScheduler) backupOnce(ctx context.Context) (string, error) {
	start := s.now()
	bctx, cancel := context.WithTimeout(ctx, backupBarrierWait)
	_, err := s.src.Barrier(bctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		// Without a leader the node's own state is the best copy there
		// is; it holds everything it applied.
		s.log.Warn("backup: no barrier (no leader?); copying the state this node has applied", "err", err)
	}
	bctx, cancel = context.WithTimeout(ctx, backupTimeout)
	defer cancel()
	pb, err := s.src.PrepareBackup(bctx)
	if err != nil {
		return "", err
	}
	defer pb.Close()
	name := s.fileName(pb.Info.Created)
	final := filepath.Join(s.cfg.Dir, name)
	if _, err := os.Lstat(final); err == nil {
		return "", fmt.Errorf("backup: %s exists already", final)
	}
	tmp := filepath.Join(s.cfg.Dir, "."+name+".tmp")
	if err := writeBackupFile(tmp, final, pb); err != nil {
		return "", err
	}
	s.lastSuccess.Set(float64(pb.Info.Created.Unix()))
	s.duration.Set(s.now().Sub(start).Seconds())
	if err := s.prune(); err != nil {
		// The backup itself is good; a folder that keeps too many is
		// worth a warning, not a failure.
		s.log.Warn("backup: pruning old backups failed", "err", err)
	}
	return final, nil
}

// writeBackupFile streams pb into tmp, verifies it, fsyncs it, renames it
// to final and fsyncs the folder. On failure tmp is removed.
func writeBackupFile(tmp, final string, pb *cluster.PreparedBackup) (err error) {
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := pb.Stream(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: write %s: %w", tmp, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := cluster.VerifyBackup(f); err != nil {
		return fmt.Errorf("backup: the written copy does not verify: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	d, err := os.Open(filepath.Dir(final))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", filepath.Dir(final), err)
	}
	return nil
}

// fileName is the name of this node's backup taken at t.
func (s *backupScheduler) fileName(t time.Time) string {
	return backupFilePrefix + s.nodeID + "-" + t.UTC().Format(backupStampLayout) + ".tar"
}

// ownBackup is one of this node's backups in the folder.
type ownBackup struct {
	name  string
	taken time.Time
}

// list returns this node's backups in the folder, oldest first. Files of
// other nodes and anything else in the folder are left alone.
func (s *backupScheduler) list() ([]ownBackup, error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, err
	}
	prefix := backupFilePrefix + s.nodeID + "-"
	var out []ownBackup
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".tar") {
			continue
		}
		t, err := time.Parse(backupStampLayout, strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".tar"))
		if err != nil {
			continue // a node ID that is a prefix of this one's
		}
		out = append(out, ownBackup{name: name, taken: t})
	}
	slices.SortFunc(out, func(a, b ownBackup) int { return a.taken.Compare(b.taken) })
	return out, nil
}

// newest returns the time of this node's newest backup in the folder.
func (s *backupScheduler) newest() (time.Time, bool) {
	l, err := s.list()
	if err != nil || len(l) == 0 {
		return time.Time{}, false
	}
	return l[len(l)-1].taken, true
}

// prune removes this node's oldest backups beyond Keep.
func (s *backupScheduler) prune() error {
	l, err := s.list()
	if err != nil {
		return err
	}
	var errs []error
	for len(l) > s.cfg.Keep {
		if err := os.Remove(filepath.Join(s.cfg.Dir, l[0].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		} else {
			s.log.Info("old backup removed", "file", l[0].name)
		}
		l = l[1:]
	}
	return errors.Join(errs...)
}

// removeStaleTemps removes this node's temporary files left by a backup
// that a crash or a kill interrupted.
func (s *backupScheduler) removeStaleTemps() {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return
	}
	prefix := "." + backupFilePrefix + s.nodeID + "-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), ".tar.tmp") {
			os.Remove(filepath.Join(s.cfg.Dir, e.Name()))
		}
	}
}
