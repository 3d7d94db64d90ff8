package web

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
)

// bookingTestWorker stands for tenant/site's /sw.js: it takes control at
// once and answers "remember-ticket" by sending the message back to the
// page, so the test sees what the page told the worker.
const bookingTestWorker = `self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });
self.addEventListener("message", function (e) {
  if (e.data && e.data.type === "remember-ticket" && e.source) {
    e.source.postMessage({ type: "remembered", id: e.data.id, url: e.data.url });
  }
});`

// bookingPushStub replaces the one step headless Chromium cannot take
// offline, subscribing at Google's push service: pushManager.subscribe
// answers a subscription with real keys and records the key it was
// given. Permission, worker, key route, POST, the message
// to the worker and the live region are the browser's and the server's
// own. %s is the subscription's JSON.
const bookingPushStub = `(function () {
  var sub = %s;
  window.__push = { key: null, remembered: null };
  if (!window.PushManager) { return; }
  PushManager.prototype.getSubscription = function () { return Promise.resolve(null); };
  PushManager.prototype.subscribe = function (opts) {
    window.__push.key = Array.from(new Uint8Array(opts.applicationServerKey));
    return Promise.resolve({
      endpoint: sub.endpoint, options: opts,
      toJSON: function () { return { endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }; },
      unsubscribe: function () { return Promise.resolve(true); }
    });
  };
  navigator.serviceWorker.addEventListener("message", function (e) { window.__push.remembered = e.data; });
  navigator.serviceWorker.startMessages();
})();`

// TestBrowserBookingPushButton opens a booking's page in headless
// Chromium under the real Content-Security-Policy: the reminder box
// appears (the browser can push, the server has a key) and passes axe's
// WCAG 2.1 AA rules; pressing the button subscribes with the server's
// key, posts the subscription with the manage token, tells the worker
// the page's address under "b-<code>", and the polite region says it
// worked.
func TestBrowserBookingPushButton(t *testing.T) {
	bin := browsertest.Chromium(t)
	rcv := pushtest.New(t)
	e := newPushEnv(t, rcv)
	c := e.create(t, e.bari, e.bari.InPerson, slot(4, 10, 0), "in_person", citizen(2))
	vapid, err := webpush.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := webpush.PublicKey(vapid)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write([]byte(bookingTestWorker))
	})
	// The queue's handler serves the key in production.
	mux.HandleFunc("GET /api/v1/push/key", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"public_key": pub})
	})
	mux.Handle("/", e.srv)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	base := "http://" + bariHost + ":" + port

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("host-resolver-rules", "MAP "+bariHost+" 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
		// Service workers and the Push API need a secure context.
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", base),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 40*time.Second)
	t.Cleanup(cancel)

	// A subscription with real keys on an endpoint the env's policy (the
	// receiver's) accepts; nothing is sent to it here.
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	enc := base64.RawURLEncoding
	sub, _ := json.Marshal(map[string]any{"endpoint": "https://127.0.0.1/push/browser-test",
		"keys": map[string]string{"p256dh": enc.EncodeToString(k.PublicKey().Bytes()), "auth": enc.EncodeToString(auth)}})
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: strings.Replace(bookingPushStub, "%s", string(sub), 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: base}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
	pageURL := base + "/prenotazioni/" + c.Booking.Code + "?token=" + c.ManageToken + "&lang=it"
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("open the booking page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#promemoria-notifica button`))); err != nil {
		t.Fatalf("the reminder box did not appear: %v", err)
	}
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("axe: %s", v)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#promemoria-notifica button`), chromedp.NodeVisible)); err != nil {
		t.Fatalf("press the button: %v", err)
	}
	done := pushMessages["it"]["booking_push.done"]
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("promemoria-notifica-stato").textContent === `+jsString(done),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("promemoria-notifica-stato").textContent`))
		t.Fatalf("no confirmation: %v (the region says %q)", err, state)
	}
	key, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`window.__push.key`))
	want, _ := enc.DecodeString(pub)
	if err != nil || len(key) != len(want) {
		t.Fatalf("subscribe got key %v (%v), want the server's", key, err)
	}
	for i := range want {
		if key[i] != int(want[i]) {
			t.Fatalf("applicationServerKey differs from the server's at byte %d", i)
		}
	}
	if n, err := e.book.PushSubscriptions(ctx, "bari", c.Booking.ID); err != nil || n != 1 {
		t.Errorf("%d browsers stored (%v), want 1", n, err)
	}
	remembered, err := chromedp.Run(ctx, chromedp.Poll[string](`window.__push.remembered && JSON.stringify(window.__push.remembered)`,
		chromedp.WithPollingTimeout(10*time.Second)))
	var r struct{ ID, URL string }
	if err != nil || json.Unmarshal([]byte(remembered), &r) != nil || r.ID != "b-"+c.Booking.Code || r.URL != pageURL {
		t.Errorf("the worker was told %s (%v), want b-%s and the page's address", remembered, err, c.Booking.Code)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
