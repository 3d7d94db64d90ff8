package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Changes tells when the node's replicated state moves: *cluster.Node
// satisfies it. The event stream waits on it instead of polling, so an
// operator's call made on any node reaches a citizen connected to any
// other as soon as that node applies it.
type Changes interface {
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
}

// keepAlive is how often an idle stream sends a comment: under the idle
// timeouts of common proxies (60 s), and the moment a waiting ticket's
// position is recomputed even without a command (an appointment becoming
// due moves others back).
const keepAlive = 25 * time.Second

// apiTicketEvents answers GET /api/v1/tickets/{id}/events?secret=… with
// Server-Sent Events: one "ticket" event with the current view at once,
// then one at every change of state, desk, position or estimate, until
// the ticket is closed or the client goes. Each event carries the whole
// view, so a client that reconnects loses nothing: its first event is
// the current state (Last-Event-ID is not needed).
func (h *Handler) apiTicketEvents(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	secret, err := ticketSecret(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	id := r.PathValue("id")
	h.stream(w, r, "ticket", func(ctx context.Context) (any, bool, error) {
		return h.current(ctx, r, t, id, secret)
	})
}

// stream answers with Server-Sent Events named event: read's value at
// once (or, if that first read fails, the API error), then again after
// every command the node applies that changes it, with a comment every
// keepAlive while nothing does, until read says closed, a later read
// fails, or the client goes. Each event carries the whole value with the
// applied index as its id, so a reconnecting client loses nothing.
//
// The request's goroutine owns the stream and ends with the request.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, event string, read func(context.Context) (any, bool, error)) {
	ctx := r.Context()
	v, closed, err := read(ctx)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	// A stream lives longer than the server's WriteTimeout, which suits
	// ordinary answers: lift it for this one (keep-alives show the
	// client is there; a write to a gone client fails and ends the loop).
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	idx := h.changes.AppliedIndex()
	last := ""
	for {
		b, _ := json.Marshal(v)
		if string(b) != last {
			last = string(b)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", idx, event, b); err != nil {
				return
			}
		} else if _, err := fmt.Fprint(w, ": attesa\n\n"); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if closed {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, keepAlive)
		err := h.changes.WaitApplied(wctx, idx+1)
		cancel()
		if ctx.Err() != nil || (err != nil && !errors.Is(err, context.DeadlineExceeded)) {
			return
		}
		idx = h.changes.AppliedIndex()
		if v, closed, err = read(ctx); err != nil {
			return
		}
	}
}

// current is the ticket's view now and whether it is closed for good.
func (h *Handler) current(ctx context.Context, r *http.Request, t tenant.Tenant, id, secret string) (apiTicket, bool, error) {
	k, err := h.q.TicketWithSecret(ctx, t.ID, id, secret)
	if err != nil {
		return apiTicket{}, false, err
	}
	st, err := h.q.Status(ctx, t.ID, k.ID)
	if err != nil {
		return apiTicket{}, false, err
	}
	closed := k.State == queue.Served || k.State == queue.NoShow || k.State == queue.Cancelled
	return h.view(r, k, st, secret), closed, nil
}
