package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// How long a push service keeps a notification for a browser that is
// offline. "Manca poco" is worth a little longer than the call: a desk
// calls every few minutes, and a call that reaches a phone switched on
// ten minutes later has been a no-show already.
const (
	pushNearTTL   = 15 * time.Minute
	pushCalledTTL = 10 * time.Minute
)

// pushTTL is the life of a notification of kind.
func pushTTL(kind noticeKind) time.Duration {
	if kind == noticeCalled {
		return pushCalledTTL
	}
	return pushNearTTL
}

// PushDeliverer returns the outbox deliverer of the queue's push
// notifications (PushOutboxKind). It encrypts and sends each with s
// (urgency high, the ticket as topic, so that a newer notification
// replaces an undelivered older one at the push service; TTL what is
// left of 15 minutes for "manca poco", 10 for the call, counted from the
// event, and nothing is sent once it is spent). On webpush.ErrGone it
// calls forget (Queue.ForgetPush) and is done; a push service's 429 or
// 5xx, a network error or a VAPID key not available yet return an error,
// so the outbox tries again; any other refusal is logged and dropped,
// since sending the same request again would be refused the same way.
// The lead wires it with node.HandleOutbox(queue.PushOutboxKind, …).
func PushDeliverer(s *webpush.Sender, forget func(ctx context.Context, t tenant.ID, ticketID, endpoint string) error, log *slog.Logger) cluster.Deliverer {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var it pushItem
		if err := json.Unmarshal(m.Payload, &it); err != nil {
			log.Error("queue push undecodable, dropped", "key", m.Key, "err", err)
			return nil
		}
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		left := it.At.Add(pushTTL(it.Kind)).Sub(now()).Truncate(time.Second)
		if left <= 0 {
			log.Info("queue push expired before delivery, dropped", "tenant", it.Tenant, "ticket", it.Message.Number,
				"notice", it.Kind, "key", m.Key)
			return nil
		}
		payload, err := json.Marshal(it.Message)
		if err != nil {
			return fmt.Errorf("encode push %s: %w", m.Key, err)
		}
		err = s.Send(ctx, it.Subscription, webpush.Message{
			Payload: payload, TTL: left, Urgency: "high", Topic: pushTopic(it.TicketID),
		})
		var se *webpush.SendError
		switch {
		case err == nil:
			log.Info("queue push sent", "tenant", it.Tenant, "ticket", it.Message.Number, "notice", it.Kind,
				"key", m.Key, "attempt", m.Attempts+1)
			return nil
		case errors.Is(err, webpush.ErrGone):
			log.Info("push subscription gone, forgotten", "tenant", it.Tenant, "ticket", it.Message.Number, "key", m.Key)
			if forget == nil {
				return nil
			}
			if ferr := forget(ctx, it.Tenant, it.TicketID, it.Subscription.Endpoint); ferr != nil {
				// Try again: the next attempt is told Gone again and
				// forgets then.
				return fmt.Errorf("forget gone push subscription of %s: %w", it.TicketID, ferr)
			}
			return nil
		case errors.As(err, &se) && !se.Retry,
			errors.Is(err, webpush.ErrEndpoint), errors.Is(err, webpush.ErrForbiddenAddress),
			errors.Is(err, webpush.ErrKeys), errors.Is(err, webpush.ErrTooLarge), errors.Is(err, webpush.ErrMessage):
			log.Warn("queue push refused, dropped", "tenant", it.Tenant, "ticket", it.Message.Number, "notice", it.Kind,
				"key", m.Key, "err", err)
			return nil
		}
		return fmt.Errorf("send push %s: %w", m.Key, err)
	}
}

// pushTopic is the Topic header of a ticket's notifications: the ticket
// ID is 32 hex digits, which fits the header's 32 base64url characters;
// anything longer is cut, which only makes two tickets share a topic
// if their IDs share 32 characters.
func pushTopic(ticketID string) string {
	if len(ticketID) > 32 {
		return ticketID[:32]
	}
	return ticketID
}
