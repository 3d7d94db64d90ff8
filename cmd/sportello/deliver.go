package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/tenant"
)

// emailDeliverer returns the outbox deliverer of booking emails: it
// decodes the Notice, fills the node's default sender when the Comune has
// none, composes the message and hands it to sender. Failures are logged
// once, by the outbox worker that retries them; a success is logged here.
func emailDeliverer(sender mailer.Sender, defaultFrom string, now func() time.Time, log *slog.Logger) cluster.Deliverer {
	return comuneEmailDeliverer(sender, defaultFrom, nil, now, log)
}

// replyToLookup returns a Comune's Reply-To address, "" for none:
// (*tenant.Registry).ReplyTo.
type replyToLookup func(ctx context.Context, id tenant.ID) (string, error)

// comuneEmailDeliverer is emailDeliverer that also gives each message the
// Comune's Reply-To address (when the office has no email), read from
// the local state when the message is sent: it is not in the notice, so
// old outbox rows get it too. A failed lookup only leaves the header out:
// a Reply-To is not worth holding back a confirmation.
func comuneEmailDeliverer(sender mailer.Sender, defaultFrom string, replyTo replyToLookup, now func() time.Time, log *slog.Logger) cluster.Deliverer {
	var fallback tenant.Sender
	if a, err := mail.ParseAddress(defaultFrom); err == nil {
		fallback = tenant.Sender{Name: a.Name, Address: a.Address}
	}
	// The Comune's Reply-To, kept for a moment: under load the leader
	// sends hundreds of emails a second for one Comune, and a query for
	// each was a tenth of its work per email. A change reaches the emails
	// replyToTTL later at most. The cache is this deliverer's own; the
	// outbox worker calls it from several goroutines.
	var (
		mu      sync.Mutex
		replies = map[tenant.ID]cachedReplyTo{}
	)
	lookup := func(ctx context.Context, id tenant.ID) (string, error) {
		at := now()
		mu.Lock()
		c, ok := replies[id]
		mu.Unlock()
		if ok && at.Sub(c.at) >= 0 && at.Sub(c.at) < replyToTTL {
			return c.addr, nil
		}
		addr, err := replyTo(ctx, id)
		if err != nil {
			return "", err
		}
		mu.Lock()
		if len(replies) >= 1024 {
			clear(replies)
		}
		replies[id] = cachedReplyTo{addr: addr, at: at}
		mu.Unlock()
		return addr, nil
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		n, err := booking.DecodeNotice(m.Payload)
		if err != nil {
			return fmt.Errorf("decode notice %s: %w", m.Key, err)
		}
		if n.Sender.Address == "" {
			n.Sender = fallback
		}
		var reply string
		// The Comune's Reply-To is used only when the office has no
		// email of its own (ComposeEmailReplyTo): otherwise the lookup,
		// a query per email on the leader, would be thrown away.
		if replyTo != nil && n.OfficeEmail == "" {
			var err error
			if reply, err = lookup(ctx, n.Tenant); err != nil {
				log.Warn("reply-to lookup failed", "tenant", m.Tenant, "err", err)
			}
		}
		from, to, msg, err := booking.ComposeEmailReplyTo(n, reply, now())
		if err != nil {
			return err
		}
		if err := sender.Send(ctx, from, []string{to}, msg); err != nil {
			return err
		}
		log.Info("email sent", "tenant", m.Tenant, "booking", n.Booking.Code,
			"notice", n.Kind, "key", m.Key, "attempt", m.Attempts+1)
		return nil
	}
}

// replyToTTL is how long comuneEmailDeliverer keeps a Comune's Reply-To.
const replyToTTL = 2 * time.Second

// cachedReplyTo is a Reply-To address and when it was read.
type cachedReplyTo struct {
	addr string
	at   time.Time
}
