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
		from, to, msg, err := booking.ComposeEmail(n, now())
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
