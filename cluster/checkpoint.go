package cluster

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// SQLite copies the WAL back into the database file (a checkpoint) when a
// commit leaves the WAL longer than wal_autocheckpoint pages, and it does
// so inside that commit: on the FSM goroutine, which applies nothing else
// meanwhile. Under load that was a checkpoint every few entries, each
// writing a thousand pages and syncing the WAL and the database file (4
// to 14 ms on this machine's disk, measured with perf trace), so every
// booking in flight waited for it; without checkpoints in the FSM, three
// nodes at 256 clients booked about 3% more, with a p99 about 5 ms
// lower.
//
// So a checkpointer goroutine does it, on a connection of its own, in
// PASSIVE mode: it copies what no reader still needs without taking the
// write lock, so the FSM goes on committing meanwhile; the writer starts
// the WAL again from its beginning once everything in it is copied. The
// FSM connection keeps wal_autocheckpoint, raised to checkpointBackstop
// pages, as a backstop should the checkpointer fall behind.
const (
	// checkpointEvery is how often the checkpointer copies the WAL: at
	// full load a few hundred bookings' pages, about what the
	// autocheckpoint of 1 000 pages copied each time.
	checkpointEvery = 250 * time.Millisecond
	// checkpointBackstop is the FSM connection's wal_autocheckpoint
	// (pages of 4 KiB): 64 MiB of WAL.
	checkpointBackstop = 16384
)

// checkpointer runs PASSIVE checkpoints of one database in the
// background until close.
type checkpointer struct {
	db     *sql.DB
	log    *slog.Logger
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// startCheckpointer opens a connection to the database at path and
// checkpoints its WAL every checkpointEvery.
func startCheckpointer(path string, log *slog.Logger) (*checkpointer, error) {
	db, err := openCheckpointDB(path)
	if err != nil {
		return nil, err
	}
	c := &checkpointer{db: db, log: log, stop: make(chan struct{})}
	c.wg.Go(c.run)
	return c, nil
}

func (c *checkpointer) run() {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if err := c.once(context.Background()); err != nil {
			c.log.Warn("WAL checkpoint failed", "err", err)
		}
	}
}

// once runs one PASSIVE checkpoint.
func (c *checkpointer) once(ctx context.Context) error {
	var busy, logFrames, done int
	return c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done)
}

// close stops the goroutine and closes its connection; later calls do
// nothing.
func (c *checkpointer) close() error {
	var err error
	c.closed.Do(func() {
		close(c.stop)
		c.wg.Wait()
		err = c.db.Close()
	})
	return err
}
