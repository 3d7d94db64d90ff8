package main

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	bookingweb "github.com/sportello-virtuale/sportello/booking/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Reminders before appointments (issue 10): the leader's worker proposes
// each reminder due (package booking, reminders*.go), the outbox sends
// the email through the booking deliverer already wired and the browser
// notifications through booking.PushDeliverer, signed with the cluster's
// VAPID key as the queue's are.
//
// The lead's hookups, in run.go:
//
//	rem := &reminderWiring{}
//	if err := rem.handleOutbox(node, cfg, pw, log.With("component", "push")); err != nil { return err } // before setup.start
//	rem.start(ctx, node, tenants, book, log.With("component", "reminders"))                       // after book := booking.NewBook(…)
//
// and in newHandler, after web.Routes(tenantMux):
//
//	mountBookingPush(web, tenantMux, cfg)

// reminderWiring holds the node's Book once the node has started: the
// push deliverer is registered before (HandleOutbox must precede Start)
// and may run as soon as the node leads, so it reads the Book through
// this holder and the outbox retries until it is there.
type reminderWiring struct {
	book atomic.Pointer[booking.Book]
}

// handleOutbox registers the deliverer of booking.PushOutboxKind on
// node: the same client, endpoint policy and VAPID key source as the
// queue's (push.go).
func (w *reminderWiring) handleOutbox(node *cluster.Node, cfg Config, pw *pushWiring, log *slog.Logger) error {
	client, err := cfg.Push.client()
	if err != nil {
		return err
	}
	sender := &webpush.Sender{Client: client, Policy: cfg.Push.policy(), VAPID: pw.VAPID, Now: time.Now}
	node.HandleOutbox(booking.PushOutboxKind, booking.PushDeliverer(sender, w.forget, log))
	return nil
}

// forget drops a booking's subscription the push service says is gone.
func (w *reminderWiring) forget(ctx context.Context, t tenant.ID, bookingID, endpoint string) error {
	b := w.book.Load()
	if b == nil {
		return errPushNotReady
	}
	return b.ForgetPush(ctx, t, bookingID, endpoint)
}

// start runs the reminder worker until ctx ends. Every node runs it;
// only the leader's scans (cluster.Node.IsLeader), and apply queues each
// reminder once whichever node proposed it.
func (w *reminderWiring) start(ctx context.Context, node *cluster.Node, tenants *tenant.Registry, book *booking.Book, log *slog.Logger) {
	w.book.Store(book)
	worker := &booking.ReminderWorker{Book: book, IsLeader: node.IsLeader, Tenants: tenants.List, Log: log}
	go worker.Run(ctx)
}

// mountBookingPush mounts the booking's push subscription routes when
// Web Push is on; off, the page's script finds no key at
// /api/v1/push/key and keeps the button hidden.
func mountBookingPush(web *bookingweb.Handler, mux *http.ServeMux, cfg Config) {
	if cfg.Push.Enabled {
		web.PushRoutes(mux, bookingweb.PushConfig{Policy: cfg.Push.policy()})
	}
}
