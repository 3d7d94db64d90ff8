package booking

import (
	"context"
	"log/slog"
	"time"
)

// whileLeading runs scan every `every` while isLeader says this node leads
// (nil: always), until ctx ends: the loop of the leader-only workers
// (reminders, waiting lists, fair access). A failed scan is logged as
// what and retried at the next tick; apply decides each effect once, so a
// scan repeated by a new leader changes nothing twice.
func whileLeading(ctx context.Context, every time.Duration, isLeader func() bool, log *slog.Logger, what string,
	scan func(context.Context) error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if isLeader == nil || isLeader() {
			if err := scan(ctx); err != nil && ctx.Err() == nil {
				log.Warn(what+": scan", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
