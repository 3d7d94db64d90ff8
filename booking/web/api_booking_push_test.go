package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// newPushEnv is newEnv with the push routes mounted, under the
// receiver's endpoint policy.
func newPushEnv(t *testing.T, rcv *pushtest.Receiver) *env {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, booking.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Book: book, Site: s, Logger: clustertest.Logger(t), Now: clk.Now, RateLimit: RateLimit{PerMinute: -1}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	h.PushRoutes(mux, PushConfig{Policy: rcv.Policy()})
	s.Routes(mux)
	e := &env{t: t, clock: clk, node: n, book: book, handler: h, srv: s.Tenant(mux)}
	e.bari = e.seed(reg, "bari", "Comune di Bari", "072006", bariHost)
	e.lecce = e.seed(reg, "lecce", "Comune di Lecce", "075035", lecceHost)
	return e
}

// pushCall sends method to the booking's push route with the token as
// a bearer and body as JSON.
func (e *env) pushCall(method, host, code, token string, body any) response {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	return e.do(method, host, "/api/v1/bookings/"+code+"/push", bytes.NewReader(raw), map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer " + token,
	})
}

// TestBookingPushAPI subscribes a browser to a booking's reminders with
// the manage token, as the partial's script does, and withdraws it; a
// wrong token or another Comune answers 404, a foreign endpoint 422, a
// cancelled booking 409.
func TestBookingPushAPI(t *testing.T) {
	t.Parallel()
	rcv := pushtest.New(t)
	e := newPushEnv(t, rcv)
	ctx := context.Background()
	c := e.create(t, e.bari, e.bari.InPerson, slot(4, 10, 0), booking.InPerson, citizen(1))
	code, token := c.Booking.Code, c.ManageToken
	// The booking's page carries the partial, hidden until its script
	// finds that the browser can subscribe.
	page := e.get(bariHost, "/prenotazioni/"+code+"?token="+token)
	for _, want := range []string{`id="promemoria-notifica"`, `data-push-url="/api/v1/bookings/` + code + `/push"`, `src="/prenotazioni/notifiche.js"`,
		"Ricevi un promemoria con una notifica"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("booking page lacks %q", want)
		}
	}
	sub := rcv.Subscribe()
	// The body is what PushSubscription.toJSON() gives.
	body := map[string]any{"endpoint": sub.Endpoint, "expirationTime": nil, "keys": map[string]string{"p256dh": sub.Keys.P256dh, "auth": sub.Keys.Auth}}
	if r := e.pushCall("POST", bariHost, code, token, body); r.Status != http.StatusNoContent {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	if n, _ := e.book.PushSubscriptions(ctx, "bari", c.Booking.ID); n != 1 {
		t.Errorf("%d browsers, want 1", n)
	}
	if r := e.pushCall("POST", bariHost, code, "wrong-token", body); r.Status != http.StatusNotFound {
		t.Errorf("wrong token: %d, want 404", r.Status)
	}
	if r := e.pushCall("POST", lecceHost, code, token, body); r.Status != http.StatusNotFound {
		t.Errorf("another Comune's host: %d, want 404", r.Status)
	}
	foreign := map[string]any{"endpoint": "https://push.evil.example/x", "keys": body["keys"]}
	if r := e.pushCall("POST", bariHost, code, token, foreign); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `"endpoint"`) {
		t.Errorf("foreign endpoint: %d %s, want 422 on endpoint", r.Status, r.Body)
	}
	if r := e.pushCall("DELETE", bariHost, code, token, map[string]string{"endpoint": sub.Endpoint}); r.Status != http.StatusNoContent {
		t.Errorf("unsubscribe: %d %s", r.Status, r.Body)
	}
	if n, _ := e.book.PushSubscriptions(ctx, "bari", c.Booking.ID); n != 0 {
		t.Errorf("%d browsers after unsubscribing, want 0", n)
	}
	if _, err := e.book.Cancel(ctx, e.bari.Tenant, code, token, "http://"+bariHost); err != nil {
		t.Fatal(err)
	}
	if r := e.pushCall("POST", bariHost, code, token, body); r.Status != http.StatusConflict || !strings.Contains(r.Body, "push_closed") {
		t.Errorf("cancelled booking: %d %s, want 409 push_closed", r.Status, r.Body)
	}
	js := e.get(bariHost, bookingPushScriptPath)
	if js.Status != http.StatusOK || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.Body, "remember-ticket") {
		t.Errorf("script: %d %s", js.Status, js.Header.Get("Content-Type"))
	}
}

// TestBookingPushPartial renders the partial as the booking's page will
// include it: hidden until the script shows it, the button's text in the
// page's language, the token only in the data attribute the script reads,
// and nothing at all for a cancelled booking.
func TestBookingPushPartial(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("templates/_booking_push.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lang, button string }{
		{"it", "Ricevi un promemoria con una notifica"},
		{"en", "Get a reminder by notification"},
		{"de", "Erinnerung per Benachrichtigung erhalten"},
	} {
		tpl := template.Must(template.New("").Funcs(template.FuncMap{
			"T": func(key string, args ...any) string { return site.Translate(messages, c.lang, key, args...) },
		}).Parse(string(src)))
		var out bytes.Buffer
		if err := tpl.ExecuteTemplate(&out, "booking_push", bookingView{Code: "BA-7K3Q9P", Token: "tok_en-1", Active: true}); err != nil {
			t.Fatal(err)
		}
		page := out.String()
		for _, want := range []string{c.button, ` hidden`, `data-push-url="/api/v1/bookings/BA-7K3Q9P/push"`, `data-push-token="tok_en-1"`,
			`data-push-ticket="b-BA-7K3Q9P"`, `role="status"`, `aria-live="polite"`, `src="/prenotazioni/notifiche.js"`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: partial lacks %q:\n%s", c.lang, want, page)
			}
		}
		if strings.Contains(page, "booking_push.") {
			t.Errorf("%s: a key shows instead of its text:\n%s", c.lang, page)
		}
		out.Reset()
		if err := tpl.ExecuteTemplate(&out, "booking_push", bookingView{Code: "BA-7K3Q9P", Token: "t"}); err != nil || strings.TrimSpace(out.String()) != "" {
			t.Errorf("%s: cancelled booking shows %q (%v)", c.lang, out.String(), err)
		}
	}
}

// TestOpenAPIPushRoutes checks that the document describes exactly the
// routes PushRoutes registers under /api/v1 (its paths are marked
// "x-owner": "booking-push", since they are mounted only with Web Push).
func TestOpenAPIPushRoutes(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	(&Handler{}).PushRoutes(mux, PushConfig{})
	s := loadSpec(t)
	for _, op := range s.operationsOf("booking-push") {
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, strings.ReplaceAll(path, "{code}", "BA-XXXXXX"), nil)
		if _, pattern := mux.Handler(req); pattern != op {
			t.Errorf("%s: the document describes it, PushRoutes serves %q", op, pattern)
		}
	}
	if got := len(s.operationsOf("booking-push")); got != 2 {
		t.Errorf("push operations in the document: got %d, want 2 (POST and DELETE)", got)
	}
}
