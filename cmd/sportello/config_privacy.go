package main

import "time"

// PrivacyConfig is the [privacy] section: how often the leader applies
// each Comune's retention and how often a node may compact its files
// after an erasure (package privacy). The periods of each data class are
// not here: every Comune sets them on /gestione/comune/privacy-dati.
type PrivacyConfig struct {
	// RetentionEvery is the time between two retention passes of the
	// leader, "1h" by default. Data is kept at most this long past its
	// period.
	RetentionEvery time.Duration `toml:"retention_every"`
	// CompactEvery is the least time between two compactions of one node
	// after erasures, "10m" by default. Each compaction writes a full
	// snapshot and rewrites the Raft log file; erased data stays on the
	// node's disk at most this long (plus CompactPoll).
	CompactEvery time.Duration `toml:"compact_every"`
	// CompactPoll is how often a node looks for new erasures, "10s" by
	// default.
	CompactPoll time.Duration `toml:"compact_poll"`
}

// Defaults and bounds of [privacy].
const (
	defaultPrivacyRetentionEvery = time.Hour
	defaultPrivacyCompactEvery   = 10 * time.Minute
	defaultPrivacyCompactPoll    = 10 * time.Second
	// minPrivacyPeriod allows the short periods of tests.
	minPrivacyPeriod = time.Second
)

// defaultPrivacyConfig is [privacy] when the file says nothing.
func defaultPrivacyConfig() PrivacyConfig {
	return PrivacyConfig{
		RetentionEvery: defaultPrivacyRetentionEvery,
		CompactEvery:   defaultPrivacyCompactEvery,
		CompactPoll:    defaultPrivacyCompactPoll,
	}
}

// validate adds the [privacy] section's errors, as the other sections of
// Config.Validate do.
func (c PrivacyConfig) validate(bad func(format string, args ...any)) {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"retention_every", c.RetentionEvery}, {"compact_every", c.CompactEvery}, {"compact_poll", c.CompactPoll}} {
		if f.d < minPrivacyPeriod {
			bad("privacy: %s %s is shorter than %s", f.name, f.d, minPrivacyPeriod)
		}
	}
}
