package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// BackupConfig is the [backup] section: backups the node writes by
// itself on a schedule into a local folder (backup_schedule.go). Every
// node of a cluster writes its own copy into its own folder; see
// backupScheduler for why.
type BackupConfig struct {
	// Dir is the folder the backups go to, an absolute path; empty (the
	// default) turns scheduled backups off. Put it on another disk than
	// data_dir, or copy it elsewhere: a backup on the disk it protects
	// does not survive that disk.
	Dir string `toml:"dir"`
	// Interval is the time between two backups, "24h". It counts from
	// the newest backup in Dir, so restarts do not postpone backups.
	Interval time.Duration `toml:"interval"`
	// At is a daily time in the machine's time zone, "02:30", instead of
	// Interval: one backup a day at that time. Set only one of the two;
	// with neither, a backup is taken every 24h.
	At string `toml:"at"`
	// Keep is how many of this node's backups Dir keeps; after each
	// backup the oldest beyond Keep are removed.
	Keep int `toml:"keep"`
}

// Bounds of [backup].
const (
	defaultBackupKeep     = 7
	defaultBackupInterval = 24 * time.Hour
	// minBackupInterval allows the short intervals of tests; a real
	// schedule is hours.
	minBackupInterval = time.Second
	maxBackupKeep     = 1000
)

// defaultBackupConfig is [backup] when the file says nothing: off, and
// seven backups kept once a dir is given.
func defaultBackupConfig() BackupConfig {
	return BackupConfig{Keep: defaultBackupKeep}
}

// on reports whether scheduled backups are configured.
func (c BackupConfig) on() bool { return c.Dir != "" }

// validate adds the [backup] section's errors, as the other sections of
// Config.Validate do.
func (c BackupConfig) validate(bad func(format string, args ...any)) {
	if !c.on() {
		if c.Interval != 0 || c.At != "" {
			bad("backup: interval or at is set but dir is empty: set dir to turn scheduled backups on")
		}
		return
	}
	if !filepath.IsAbs(c.Dir) {
		bad("backup.dir %q: want an absolute path, such as /var/lib/sportello-backups", c.Dir)
	}
	if c.Interval != 0 && c.At != "" {
		bad("backup: interval and at are both set: keep one (at = \"02:30\" is one backup a day)")
	}
	if c.Interval != 0 && c.Interval < minBackupInterval {
		bad("backup.interval %s: want at least %s", c.Interval, minBackupInterval)
	}
	if c.At != "" {
		if _, _, err := parseDailyTime(c.At); err != nil {
			bad("backup.at %q: %v", c.At, err)
		}
	}
	if c.Keep < 1 || c.Keep > maxBackupKeep {
		bad("backup.keep %d: want 1 to %d", c.Keep, maxBackupKeep)
	}
}

// parseDailyTime reads "HH:MM" (24-hour clock).
func parseDailyTime(s string) (hour, minute int, err error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, 0, fmt.Errorf("want a time of day HH:MM, such as 02:30")
	}
	return t.Hour(), t.Minute(), nil
}

// problems reports, for check-config, a backup folder the node could not
// use: a file in its place, or one this process may not look into. A
// missing folder is fine: the node creates it (with its parents, as it
// does data_dir).
func (c BackupConfig) problems() []string {
	if !c.on() {
		return nil
	}
	st, err := os.Stat(c.Dir)
	switch {
	case err == nil && !st.IsDir():
		return []string{fmt.Sprintf("backup.dir %s: not a folder", c.Dir)}
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return []string{fmt.Sprintf("backup.dir %s: %v", c.Dir, err)}
	}
	return nil
}
