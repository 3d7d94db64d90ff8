package certs

import (
	"context"
	"errors"
	"time"
)

// EnsureInternalCA makes the cluster's internal CA if it does not exist
// yet, so that it exists from the cluster's first start (issue 7: "an
// internal CA generated at cluster init") and `sportello tls export-root`
// only reads it. At a first start the cluster may have no leader for a
// moment, so a failed attempt is retried every `every` until one succeeds
// or ctx ends; a missing or wrong secrets key is not retried, since
// waiting does not fix it. Every node may call it at every start: once
// the root exists it is only read, and of roots proposed at once the
// cluster keeps the first (InternalCA).
func (s *Storage) EnsureInternalCA(ctx context.Context, every time.Duration) error {
	for {
		_, _, err := s.InternalCA(ctx)
		if err == nil || errors.Is(err, ErrNoSecretsKey) || errors.Is(err, ErrSealed) {
			return err
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
