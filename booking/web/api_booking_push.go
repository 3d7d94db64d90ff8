package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Web Push of bookings (issue 10): on the booking's page the citizen may
// ask for the reminders as notifications too. The partial "booking_push"
// (templates/_booking_push.html) shows a button only where script can
// subscribe; its script (static/booking_push.js) asks for the cluster's
// VAPID key at GET /api/v1/push/key (served by the queue's handler),
// subscribes the browser and hands the subscription to
// POST /api/v1/bookings/{code}/push with the manage token, as the manage
// page proves itself. Package booking keeps the subscriptions and sends
// the reminders (push.go, reminders.go).

// bookingPushScriptPath is where the partial's script is served: under
// /prenotazioni, same origin as the page, so the Content-Security-Policy's
// script-src 'self' admits it.
const bookingPushScriptPath = "/prenotazioni/notifiche.js"

//go:embed static/booking_push.js
var bookingPushJS []byte

// bookingPushJSTag is the script's ETag: the page links it without a
// version, so it is revalidated on each load.
var bookingPushJSTag = func() string {
	sum := sha256.Sum256(bookingPushJS)
	return `"` + hex.EncodeToString(sum[:6]) + `"`
}()

// PushConfig configures the booking's push routes.
type PushConfig struct {
	// Policy is the node's endpoint policy, the one the queue's
	// subscriptions and the sender use (the zero value is production's).
	Policy webpush.EndpointPolicy
	// PerMinute and Burst limit subscriptions per client address; zero
	// means 20 a minute, burst 10.
	PerMinute float64
	Burst     int
}

// pushRoutes holds what the push routes need besides the Handler.
type pushRoutes struct {
	h       *Handler
	policy  webpush.EndpointPolicy
	limiter *ratelimit.Limiter
}

// PushRoutes registers the booking's Web Push routes on mux, next to
// Routes: the subscription API and the partial's script. The lead mounts
// it only where Web Push is configured; without it the partial's script
// finds no route and the button stays hidden.
func (h *Handler) PushRoutes(mux *http.ServeMux, cfg PushConfig) {
	if cfg.PerMinute <= 0 {
		cfg.PerMinute = 20
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	p := &pushRoutes{h: h, policy: cfg.Policy, limiter: ratelimit.New(cfg.PerMinute, cfg.Burst, 10000)}
	for _, rt := range []route{
		{"POST", "/api/v1/bookings/{code}/push", true, p.subscribe},
		{"DELETE", "/api/v1/bookings/{code}/push", true, p.unsubscribe},
	} {
		mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
	}
	mux.HandleFunc("GET "+bookingPushScriptPath, serveBookingPushScript)
}

// serveBookingPushScript serves static/booking_push.js.
func serveBookingPushScript(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/javascript; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", bookingPushJSTag)
	http.ServeContent(w, r, "notifiche.js", time.Time{}, strings.NewReader(string(bookingPushJS)))
}

// apiPushSubscription is the body of POST /api/v1/bookings/{code}/push:
// what PushSubscription.toJSON() gives. The notifications are in the
// booking's own language, so no "lang" is taken.
type apiPushSubscription struct {
	Endpoint string `json:"endpoint"`
	// ExpirationTime is in toJSON()'s answer; the push service's 410
	// tells the same, so it is accepted and ignored.
	ExpirationTime json.RawMessage `json:"expirationTime"`
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// apiPushEndpoint is the body of DELETE /api/v1/bookings/{code}/push.
type apiPushEndpoint struct {
	Endpoint string `json:"endpoint"`
}

// allow applies the rate limit.
func (p *pushRoutes) allow(w http.ResponseWriter, r *http.Request) bool {
	if ok, wait := p.limiter.Allow(p.h.clientIP(r), p.h.now()); !ok {
		p.h.apiError(w, r, &rateLimitError{RetryAfter: wait})
		return false
	}
	return true
}

// fail answers the push routes' own errors, then the API's.
func (p *pushRoutes) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, booking.ErrPushClosed) || errors.Is(err, booking.ErrCancelled) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusConflict, errorBody{Error: errorDetail{Code: "push_closed",
			Message: apiLang(r.Context()).T("booking_push.closed")}})
		return
	}
	p.h.apiError(w, r, err)
}

// subscribe answers POST /api/v1/bookings/{code}/push (Authorization:
// Bearer <manage token>, or ?token=): 204 once the browser is subscribed;
// 404 for a wrong token or another Comune's code, 409 for a cancelled
// or begun appointment, 422 for a subscription refused.
func (p *pushRoutes) subscribe(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if !p.allow(w, r) {
		return
	}
	token, err := bearerToken(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var in apiPushSubscription
	if err := decodeJSON(r, &in); err != nil {
		p.fail(w, r, err)
		return
	}
	sub := webpush.Subscription{Endpoint: strings.TrimSpace(in.Endpoint), Keys: webpush.Keys{P256dh: in.Keys.P256dh, Auth: in.Keys.Auth}}
	if err := p.h.book.SubscribePush(r.Context(), t.ID, r.PathValue("code"), token, sub, p.policy); err != nil {
		p.fail(w, r, err)
		return
	}
	p.h.log.Info("booking push subscribed", "tenant", t.ID, "booking", booking.NormalizeCode(r.PathValue("code")))
	pushNoContent(w)
}

// unsubscribe answers DELETE /api/v1/bookings/{code}/push with
// {"endpoint"}: 204, also when that browser was not subscribed.
func (p *pushRoutes) unsubscribe(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if !p.allow(w, r) {
		return
	}
	token, err := bearerToken(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var in apiPushEndpoint
	if err := decodeJSON(r, &in); err != nil {
		p.fail(w, r, err)
		return
	}
	if err := p.h.book.UnsubscribePush(r.Context(), t.ID, r.PathValue("code"), token, in.Endpoint); err != nil {
		p.fail(w, r, err)
		return
	}
	pushNoContent(w)
}

// pushNoContent answers 204, never cached.
func pushNoContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
