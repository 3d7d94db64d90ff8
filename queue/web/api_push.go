package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Web Push of tickets: the pages' script (static/push.js) asks for the
// cluster's VAPID key, subscribes the browser and hands the subscription
// to the ticket (with its secret) or to the waiting room (with the join
// token). The queue decides and sends the notifications (package queue,
// push*.go).

// pushScriptPath is where push.js is served: under /coda like queue.js,
// through the Tenant middleware, so same-origin for script-src 'self'.
const pushScriptPath = "/coda/push.js"

//go:embed static/push.js
var pushJS []byte

// pushJSTag is the ETag of push.js. The pages link it without a version
// (their data has no field for one), so it is revalidated on each load:
// a 304 of a few hundred bytes.
var pushJSTag = func() string {
	sum := sha256.Sum256(pushJS)
	return `"` + hex.EncodeToString(sum[:6]) + `"`
}()

// servePushScript serves push.js.
func servePushScript(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", pushJSTag)
	http.ServeContent(w, r, "push.js", time.Time{}, strings.NewReader(string(pushJS)))
}

// apiPushRequest is the body of POST /api/v1/tickets/{id}/push: what
// PushSubscription.toJSON() gives, and the language of the
// notifications.
type apiPushRequest struct {
	Endpoint string `json:"endpoint"`
	// ExpirationTime is in toJSON()'s answer (null, or a time the
	// browser may drop the subscription); the push service's 410 tells
	// the same, so it is accepted and ignored.
	ExpirationTime json.RawMessage `json:"expirationTime"`
	Keys           apiPushKeys     `json:"keys"`
	Lang           string          `json:"lang"`
}

type apiPushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// subscription is the request's webpush.Subscription.
func (in apiPushRequest) subscription() webpush.Subscription {
	return webpush.Subscription{Endpoint: strings.TrimSpace(in.Endpoint), Keys: webpush.Keys{P256dh: in.Keys.P256dh, Auth: in.Keys.Auth}}
}

// apiPushUnsubscribeRequest is the body of DELETE
// /api/v1/tickets/{id}/push.
type apiPushUnsubscribeRequest struct {
	Endpoint string `json:"endpoint"`
}

// apiPushKeyView is the answer of GET /api/v1/push/key.
type apiPushKeyView struct {
	PublicKey string `json:"public_key"`
}

// errPushOff answers the push routes of a node without a VAPID key.
var errPushOff = errors.New("web push not configured")

// pushError answers the errors of the push routes: their own, then
// the API's (apiError).
func (h *Handler) pushError(w http.ResponseWriter, r *http.Request, err error) {
	var rle *rateLimitError
	switch {
	case errors.Is(err, errPushOff):
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Code: "push_unavailable",
			Message: "Le notifiche non sono disponibili su questo sportello."}})
	case errors.Is(err, queue.ErrTicketClosed):
		writeJSON(w, http.StatusConflict, errorBody{Error: errorDetail{Code: "ticket_closed",
			Message: "Il biglietto non è più attivo: non ci sono più avvisi da mandare."}})
	case errors.As(err, &rle):
		w.Header().Set("Retry-After", strconv.Itoa(max(int(rle.RetryAfter.Seconds()+0.999), 1)))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: errorDetail{Code: "rate_limited",
			Message: "Troppe richieste da questo indirizzo: riprova tra qualche minuto."}})
	default:
		h.apiError(w, r, err)
	}
}

// pushAllowed checks that Web Push is on and the client under its rate
// limit.
func (h *Handler) pushAllowed(r *http.Request) error {
	if h.pushKey == nil {
		return errPushOff
	}
	if ok, wait := h.pushLimiter.Allow(h.clientIP(r), h.now()); !ok {
		return &rateLimitError{RetryAfter: wait}
	}
	return nil
}

// apiPushKey answers GET /api/v1/push/key: the applicationServerKey the
// browser subscribes with, or 404 when the node has none (the page then
// keeps the button hidden).
func (h *Handler) apiPushKey(w http.ResponseWriter, r *http.Request, _ tenant.Tenant) {
	if h.pushKey == nil {
		h.pushError(w, r, errPushOff)
		return
	}
	key, err := h.pushKey(r.Context())
	if err != nil {
		h.pushError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiPushKeyView{PublicKey: key})
}

// apiPushSubscribe answers POST /api/v1/tickets/{id}/push?secret=… (or
// Authorization: Bearer): 204 once the browser is subscribed; 404 for a
// wrong secret or another Comune's ticket, 409 for a closed ticket, 422
// for a subscription refused.
func (h *Handler) apiPushSubscribe(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := h.pushAllowed(r); err != nil {
		h.pushError(w, r, err)
		return
	}
	secret, err := ticketSecret(r)
	if err != nil {
		h.pushError(w, r, err)
		return
	}
	var in apiPushRequest
	if err := decodeJSON(r, &in); err != nil {
		h.pushError(w, r, err)
		return
	}
	if err := h.q.SubscribePush(r.Context(), t.ID, r.PathValue("id"), secret, in.subscription(), lang(in.Lang)); err != nil {
		h.pushError(w, r, err)
		return
	}
	h.log.Info("ticket push subscribed", "tenant", t.ID, "ticket", r.PathValue("id"))
	noContent(w)
}

// apiPushUnsubscribe answers DELETE /api/v1/tickets/{id}/push with
// {"endpoint"}: 204, also when that browser was not subscribed.
func (h *Handler) apiPushUnsubscribe(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := h.pushAllowed(r); err != nil {
		h.pushError(w, r, err)
		return
	}
	secret, err := ticketSecret(r)
	if err != nil {
		h.pushError(w, r, err)
		return
	}
	var in apiPushUnsubscribeRequest
	if err := decodeJSON(r, &in); err != nil {
		h.pushError(w, r, err)
		return
	}
	if err := h.q.UnsubscribePush(r.Context(), t.ID, r.PathValue("id"), secret, strings.TrimSpace(in.Endpoint)); err != nil {
		h.pushError(w, r, err)
		return
	}
	noContent(w)
}

// waitingPushSubscribe answers POST /chiamata/{code}/notifiche?t=<join
// token>: the waiting room's subscription, for the ticket its booking
// checked in with (404 before the check-in). The body and answers are
// those of apiPushSubscribe.
func (h *Handler) waitingPushSubscribe(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := h.pushAllowed(r); err != nil {
		h.pushError(w, r, err)
		return
	}
	var in apiPushRequest
	if err := decodeJSON(r, &in); err != nil {
		h.pushError(w, r, err)
		return
	}
	id, err := h.q.SubscribePushWithJoin(r.Context(), t.ID, r.PathValue("code"), r.URL.Query().Get("t"), in.subscription(), lang(in.Lang))
	if err != nil {
		h.pushError(w, r, err)
		return
	}
	h.log.Info("waiting room push subscribed", "tenant", t.ID, "ticket", id)
	noContent(w)
}

// noContent answers 204, never cached.
func noContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
