package main

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	privacyreqweb "github.com/sportello-virtuale/sportello/privacy/requests/web"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// handlePrivacyRequestsOutbox registers the deliverer of the citizen
// requests' emails (one-time links, receipts, decisions; issue 11). Like
// every HandleOutbox it must run before the node starts: in run.go,
// beside the queue's, with the same sender and default From.
func handlePrivacyRequestsOutbox(node *cluster.Node, sender mailer.Sender, defaultFrom string, log *slog.Logger) {
	node.HandleOutbox(requests.OutboxKind, requests.EmailDeliverer(sender, defaultFrom, time.Now, log.With("component", "mail")))
}

// privacyRequestsDeps are what the citizen requests need from the node's
// wiring (newHandler has them all).
type privacyRequestsDeps struct {
	Node  *cluster.Node
	Site  *site.Site
	Book  *booking.Book
	Queue *queue.Queue
	// Docs is the calls' document store (opts.calls.store); nil when
	// calls are off: exports then list no documents.
	Docs *docs.Store
	// Eraser is privacy's *Service (helper P1's wiring); nil leaves the
	// approval refused with an error, the rest works.
	Eraser requests.Eraser
	Guard  *authweb.Handler
	HTTP   HTTPConfig
	Log    *slog.Logger
}

// mountPrivacyRequests mounts /gestione/privacy (the back office's
// access and erasure requests) and /privacy/richiesta, /privacy/i-miei-dati
// (the citizen's own, verified by email) on mux, the tenant mux behind
// site.Tenant and the logins' Sessions.
func mountPrivacyRequests(d privacyRequestsDeps, mux *http.ServeMux) error {
	if d.Node == nil || d.Site == nil || d.Book == nil || d.Guard == nil {
		return errors.New("privacy requests: node, site, book and guard are required")
	}
	store := requests.NewStore(d.Node, d.Node.DB(), time.Now, rand.Reader)
	ex := &requests.Exporter{Book: d.Book, Queue: d.Queue, Store: store, DB: d.Node.DB(),
		DocURL: func(id string) string { return "/gestione/privacy/documenti/" + url.PathEscape(id) }}
	cfg := privacyreqweb.Config{Site: d.Site, Store: store, Exporter: ex, Eraser: d.Eraser, Fresh: d.Node,
		Guard: d.Guard, Logger: d.Log, TrustProxyHeaders: d.HTTP.TrustProxyHeaders}
	// A nil *docs.Store must not become a non-nil interface.
	if d.Docs != nil {
		ex.Docs = d.Docs
		cfg.Files = d.Docs
	}
	h, err := privacyreqweb.New(cfg)
	if err != nil {
		return err
	}
	h.Routes(mux)
	return nil
}

// callDocuments returns the calls' document store, nil when calls are
// off (c nil): the Docs of privacyRequestsDeps.
func callDocuments(c *calls) *docs.Store {
	if c == nil {
		return nil
	}
	return c.store
}
