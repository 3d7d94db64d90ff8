package docs

import (
	"context"
	"time"
)

// DefaultExpireEvery is how often Maintain erases expired documents.
// Reads hide a document as soon as it expires, so the period only
// decides how long its bytes stay on disk after that.
const DefaultExpireEvery = 10 * time.Minute

// Maintain runs the erasure until ctx ends: while this node leads, it
// calls Expire at once and then every `every` (DefaultExpireEvery when
// zero or less). Every node may run it; only the leader acts, so the
// command is proposed once per period. The caller owns the goroutine it
// runs in; Maintain returns when ctx ends. A failure is logged and tried
// again at the next tick.
func (s *Store) Maintain(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultExpireEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if s.node.IsLeader() {
			if n, err := s.Expire(ctx); err != nil && ctx.Err() == nil {
				s.logger().Warn("docs: erase expired documents", "err", err)
			} else if n > 0 {
				s.logger().Info("docs: expired documents and abandoned uploads erased", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
