package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
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
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var n booking.Notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return fmt.Errorf("decode notice %s: %w", m.Key, err)
		}
		if n.Sender.Address == "" {
			n.Sender = fallback
		}
		var reply string
		if replyTo != nil {
			var err error
			if reply, err = replyTo(ctx, n.Tenant); err != nil {
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
