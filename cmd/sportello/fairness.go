package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Fair access to scarce slots and the waiting list (issue 11): the
// leader's workers that release unconfirmed appointments and offer freed
// seats to the waiting list, the waiting list's emails, and App IO as a
// notification channel of the services that turned it on.

// appIOPurpose and bookingChallengePurpose name the keys derived from
// secrets.key: the same on every node, so a sealed App IO key opens and
// a proof-of-work challenge verifies on any of them.
const (
	appIOPurpose            = "booking.appio"
	bookingChallengePurpose = "booking.challenge"
)

// fairWiring holds the App IO sealer, known only once secrets.key is
// read (after the node started), while its deliverer must be registered
// before: until then a delivery fails and the outbox retries it.
type fairWiring struct {
	appIOKey atomic.Pointer[appio.Sealer]
}

// handleOutbox registers the waiting list's emails and the App IO
// messages on node; call it before the node starts.
func (w *fairWiring) handleOutbox(node *cluster.Node, sender booking.MailSender, cfg Config, log *slog.Logger) {
	node.HandleOutbox(booking.WaitlistOutboxKind, booking.WaitlistEmailDeliverer(sender, cfg.Mail.DefaultFrom, time.Now,
		log.With("component", "mail")))
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	node.HandleOutbox(booking.AppIOOutboxKind, booking.AppIODeliverer(book, &appio.Client{BaseURL: cfg.AppIO.BaseURL},
		func() appio.Sealer {
			if s := w.appIOKey.Load(); s != nil {
				return *s
			}
			return appio.Sealer{}
		}, log.With("component", "appio")))
}

// start hands the sealer its key and runs the two leader-only workers
// until ctx ends: the waiting list's offers and expiries, and the release
// of appointments not confirmed in time, whose freed seats go to the
// waiting list.
func (w *fairWiring) start(ctx context.Context, node *cluster.Node, secrets *auth.Secrets, tenants *tenant.Registry, book *booking.Book, log *slog.Logger) {
	w.appIOKey.Store(&appio.Sealer{Key: secrets.Derive(appIOPurpose)})
	wl := &booking.WaitlistWorker{Book: book, IsLeader: node.IsLeader, Tenants: tenants.List, Log: log.With("component", "waitlist")}
	go wl.Run(ctx)
	fw := &booking.FairWorker{Book: book, IsLeader: node.IsLeader, Tenants: tenants.List, Listener: wl, Log: log.With("component", "fair")}
	go fw.Run(ctx)
}
