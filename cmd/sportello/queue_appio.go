package main

import (
	"crypto/rand"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/queue"
)

// handleQueueAppIO registers the queue's App IO messages ("manca poco",
// "è il tuo turno") on node; call it before the node starts, after
// fair.handleOutbox. The queue's keys are sealed with the same key as
// the services' (fairWiring, appIOPurpose), bound to their office and
// service, so one secrets.key opens both; until start hands the sealer
// its key a delivery fails and the outbox retries it. The schema and
// commands come from queue.RegisterAppIO, beside queue.Register.
func (w *fairWiring) handleQueueAppIO(node *cluster.Node, cfg Config, log *slog.Logger) {
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	q := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	node.HandleOutbox(queue.AppIOOutboxKind, queue.AppIODeliverer(q, &appio.Client{BaseURL: cfg.AppIO.BaseURL},
		func() appio.Sealer {
			if s := w.appIOKey.Load(); s != nil {
				return *s
			}
			return appio.Sealer{}
		}, time.Now, log.With("component", "appio")))
}
