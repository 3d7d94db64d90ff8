package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster"
)

// startInternalCA makes the cluster's internal CA in the background if it
// does not exist yet (issue 7: generated at cluster init, kept in the
// replicated state), whatever the [tls] mode: a Comune on a closed network
// exports the root with `sportello tls export-root` and installs it in its
// browsers before it switches to mode internal, and the first handshake in
// that mode then finds the CA ready. Every node calls it at every start;
// once the root exists it is only read. Without secrets.key (a node that
// has not joined yet) it does nothing.
func startInternalCA(ctx context.Context, node *cluster.Node, secrets *auth.Secrets, log *slog.Logger) {
	if secrets == nil {
		return
	}
	go func() {
		s := certs.NewStorage(node, secrets, time.Now)
		if err := s.EnsureInternalCA(ctx, 5*time.Second); err != nil && ctx.Err() == nil {
			log.Warn("internal CA not available", "component", "tls", "err", err)
		}
	}()
}
