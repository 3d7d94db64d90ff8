package web

import (
	"context"
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

	"github.com/sportello-virtuale/sportello/internal/webpush"
)

// testWorker stands for W3's /sw.js in this package's browser test: it
// takes control at once and answers "remember-ticket" by sending the
// message back to the page, so the test sees what the page told it.
const testWorker = `self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });
self.addEventListener("message", function (e) {
  if (e.data && e.data.type === "remember-ticket" && e.source) {
    e.source.postMessage({ type: "remembered", id: e.data.id, url: e.data.url });
  }
});`

// pushStub replaces the one step headless Chromium cannot take offline:
// subscribing at the browser's push service (Google's FCM for
// Chromium). pushManager.subscribe answers a subscription with real
// keys on an FCM endpoint and records what it was asked; everything
// else (permission, worker registration, the key route, the POST, the
// message to the worker, the live region) is the browser's and the
// server's own. %s is the subscription's JSON.
const pushStub = `(function () {
  var sub = %s;
  window.__push = { asked: null, remembered: null };
  if (!window.PushManager) { return; }
  PushManager.prototype.getSubscription = function () { return Promise.resolve(null); };
  PushManager.prototype.subscribe = function (opts) {
    window.__push.asked = { userVisibleOnly: opts.userVisibleOnly, key: Array.from(new Uint8Array(opts.applicationServerKey)) };
    return Promise.resolve({
      endpoint: sub.endpoint, options: opts,
      toJSON: function () { return { endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }; },
      unsubscribe: function () { return Promise.resolve(true); }
    });
  };
  navigator.serviceWorker.addEventListener("message", function (e) { window.__push.remembered = e.data; });
  navigator.serviceWorker.startMessages();
})();`

// TestBrowserPushButton: on a ticket page in headless Chromium, under
// the real CSP, the button appears (the browser can push and the server
// has a key); pressing it asks the permission, registers the worker,
// subscribes with the server's key, posts the subscription with the
// ticket's secret and tells the worker the page's URL, and the polite
// region says it worked. With notifications blocked it says so, and
// nothing is stored.
func TestBrowserPushButton(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	vapid, err := webpush.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := webpush.PublicKey(vapid)
	e.handler.pushKey = func(context.Context) (string, error) { return pub, nil }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write([]byte(testWorker))
	})
	mux.Handle("/", e.srv)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	base := "http://" + e.bari.host + ":" + port

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("host-resolver-rules", "MAP "+e.bari.host+" 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
		// Service workers and the Push API need a secure context: the
		// Comune's site is https in production, http on the test server.
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

	sub := subscriptionJSON(t, "https://fcm.googleapis.com/fcm/send/browser-test", "it")
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: strings.Replace(pushStub, "%s", sub, 1)}); err != nil {
		t.Fatal(err)
	}
	permit := func(setting browser.PermissionSetting) {
		t.Helper()
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: setting, Origin: base}); err != nil {
			t.Fatalf("set the notification permission: %v", err)
		}
	}
	ticketPage := func() (id, url string) {
		t.Helper()
		k := e.take(e.bari, `{"channel":"in_person"}`)
		status := path(t, k.Ticket.StatusURL)
		// Headless Chromium asks for English, which the Comune offers:
		// lang=it keeps the page, and the texts push.js shows, Italian.
		return k.Ticket.ID, base + "/coda/biglietto/" + k.Ticket.ID + status[strings.Index(status, "?"):] + "&lang=it"
	}
	stateText := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("avvisi-stato").textContent`))
		return s
	}

	permit(browser.PermissionSettingGranted)
	id, url := ticketPage()
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open the ticket page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#avvisi button`), chromedp.NodeVisible)); err != nil {
		t.Fatalf("the button did not appear: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("avvisi-stato").textContent.indexOf("Fatto: ti avviseremo") === 0`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("no confirmation: %v (the region says %q)", err, stateText())
	}
	asked, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.__push.asked)`))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		UserVisibleOnly bool  `json:"userVisibleOnly"`
		Key             []int `json:"key"`
	}
	want, _ := base64.RawURLEncoding.DecodeString(pub)
	if err := json.Unmarshal([]byte(asked), &a); err != nil || !a.UserVisibleOnly || len(a.Key) != len(want) {
		t.Fatalf("subscribe was asked %s, want userVisibleOnly and the server's 65-byte key", asked)
	}
	for i := range want {
		if a.Key[i] != int(want[i]) {
			t.Fatalf("applicationServerKey differs from the server's at byte %d", i)
		}
	}
	if n, err := e.q.PushSubscriptions(ctx, e.bari.tenant.ID, id); err != nil || n != 1 {
		t.Errorf("%d subscriptions stored (%v), want 1", n, err)
	}
	remembered, err := chromedp.Run(ctx, chromedp.Poll[string](`window.__push.remembered && JSON.stringify(window.__push.remembered)`,
		chromedp.WithPollingTimeout(10*time.Second)))
	var r struct{ Type, ID, URL string }
	if err != nil || json.Unmarshal([]byte(remembered), &r) != nil || r.ID != id || r.URL != url {
		t.Errorf("the worker was told %s (%v), want the ticket %s and the page's URL", remembered, err, id)
	}
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#avvisi button").hidden`)); !hidden {
		t.Error("the button stays after it worked")
	}

	// Blocked: the page says so politely, and nothing is stored.
	permit(browser.PermissionSettingDenied)
	id, url = ticketPage()
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open the second ticket page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#avvisi button`), chromedp.NodeVisible)); err != nil {
		t.Fatalf("the button did not appear: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("avvisi-stato").textContent.indexOf("Le notifiche sono bloccate") === 0`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("blocked notifications: the region says %q", stateText())
	}
	if n, _ := e.q.PushSubscriptions(ctx, e.bari.tenant.ID, id); n != 0 {
		t.Errorf("%d subscriptions stored with notifications blocked", n)
	}
}
