package cluster

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// MeasureFsync appends n blocks of 4 KiB to a temporary file in dir,
// fsyncing after each, and returns the rate in fsyncs per second. It is the
// ceiling of a durable log that syncs each write alone, and the baseline
// that benchmarks of Propose are reported against (commands per fsync).
func MeasureFsync(dir string, n int) (perSecond float64, err error) {
	if n <= 0 {
		return 0, errors.New("cluster: MeasureFsync needs n > 0")
	}
	f, err := os.CreateTemp(dir, "fsync-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("cluster: measure fsync: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	for i := range block {
		block[i] = byte(i)
	}
	start := time.Now()
	for range n {
		if _, err := f.Write(block); err != nil {
			return 0, fmt.Errorf("cluster: measure fsync: %w", err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("cluster: measure fsync: %w", err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
