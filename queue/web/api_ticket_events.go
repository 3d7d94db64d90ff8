package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Changes tells when the node's replicated state moves: *cluster.Node
// satisfies it. The office's hub waits on it instead of polling, so an
// operator's call made on any node reaches a citizen connected to any
// other as soon as that node applies it.
type Changes interface {
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
}

// keepAlive is how often an idle stream sends a comment: under the idle
// timeouts of common proxies (60 s). It is also how often a hub re-reads
// a quiet office, since a waiting ticket's position moves even without a
// command (an appointment becoming due moves others back).
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
	// The secret is checked once, here; the office's hub then hands the
	// stream its ticket from the office's snapshot.
	k, err := h.q.TicketWithSecret(r.Context(), t.ID, r.PathValue("id"), secret)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.follow(w, r, t, k.OfficeID, k.ID, "ticket", func(u update) (any, bool, string) {
		closed, moved := u.ends()
		return h.view(r, u.ticket, u.status, secret), closed, moved
	})
}

// follow answers with Server-Sent Events named event, fed by the hub of
// officeID: render turns each update into the event's value, says when
// the stream is over, and names the office to follow instead when the
// ticket moved. The first update comes at once (or, if the hub cannot
// read the office, the API error is the answer); then one event per
// change, with a comment every keepAlive while nothing changes, until
// render says closed, the hub fails or the client goes. Each event
// carries the whole value with the applied index it was read at as its
// id, so a reconnecting client loses nothing.
//
// The request's goroutine owns the stream and ends with the request; it
// never holds up the hub, which only leaves the newest update for it.
func (h *Handler) follow(w http.ResponseWriter, r *http.Request, t tenant.Tenant, officeID, ticketID, event string, render func(update) (any, bool, string)) {
	ctx := r.Context()
	wt := h.hubs.watch(t, officeID, ticketID)
	defer func() { wt.leave() }()
	rc := http.NewResponseController(w)
	started := false
	last := ""
	idle := time.NewTimer(keepAlive)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
			idle.Reset(keepAlive)
			if !started {
				continue
			}
			if _, err := fmt.Fprint(w, ": attesa\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			continue
		case <-wt.ready:
		}
		u := wt.take()
		if u.err != nil {
			if !started {
				h.apiError(w, r, u.err)
			}
			return
		}
		v, closed, moved := render(u)
		if !started {
			started = true
			// A stream lives longer than the server's WriteTimeout,
			// which suits ordinary answers: lift it for this one
			// (keep-alives show the client is there; a write to a gone
			// client fails and ends the loop).
			_ = rc.SetWriteDeadline(time.Time{})
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
		}
		b, _ := json.Marshal(v)
		if string(b) != last {
			last = string(b)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", u.index, event, b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			idle.Reset(keepAlive)
		}
		if closed {
			return
		}
		if moved != "" {
			wt.leave()
			officeID = moved
			wt = h.hubs.watch(t, officeID, ticketID)
		}
	}
}
