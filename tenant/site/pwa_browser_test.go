package site_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// chromiumBin returns a Chromium binary, or skips the test without one.
func chromiumBin(t *testing.T) string { return browsertest.Chromium(t) }

// TestBrowserPWA runs the app in headless Chromium on http://127.0.0.1
// (a secure context, as service workers need): the page registers the
// worker, which controls the page after a reload; Chromium reads the
// manifest without errors and finds the app installable; a push shows a
// notification; a ticket's address is remembered; and with the server
// gone, another citizen page shows the offline page, styled from the
// worker's cache. No CSP violation reaches the console.
func TestBrowserPWA(t *testing.T) {
	bin := chromiumBin(t)
	res := &comuni{m: map[string]tenant.Tenant{"127.0.0.1": lecceRed}}
	s, err := site.New(site.Options{Resolver: res, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(s.Tenant(mux))
	defer srv.Close()
	base := srv.URL // http://127.0.0.1:port

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("disable-component-update", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	// Every console message, to look for CSP violations at the end.
	var mu sync.Mutex
	var console []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	registrations := chromedp.Events(ctx, serviceworker.WorkerRegistrationUpdated)

	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	// The home page registers the worker.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	if scope := eval(`navigator.serviceWorker.ready.then(r => r.scope)`); scope != base+"/" {
		t.Fatalf("worker scope %q, want %s/", scope, base)
	}
	// After a reload (another page), the worker controls the page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/privacy")); err != nil {
		t.Fatal(err)
	}
	if ctl := eval(`navigator.serviceWorker.ready.then(() => navigator.serviceWorker.controller ? navigator.serviceWorker.controller.scriptURL : "none")`); ctl != base+"/sw.js" {
		t.Fatalf("controller %q, want %s/sw.js", ctl, base)
	}
	// The worker stored the shell when it installed.
	cached := eval(`caches.keys().then(ks => Promise.all(ks.filter(k => k.startsWith("sportello-shell-")).map(k => caches.open(k).then(c => c.keys())))).then(all => all.flat().map(r => new URL(r.url).pathname).sort().join(" "))`)
	for _, want := range []string{"/offline", "/icons/icon-192.png", "/css/site.css", "/js/sw-register.js", "bootstrap-italia.min.css"} {
		if !strings.Contains(cached, want) {
			t.Errorf("the worker's cache lacks %s: %s", want, cached)
		}
	}

	// Pages answered no-store (every page Render writes) and API answers
	// never enter the cache.
	eval(`fetch("/api/v1/prova").then(r => r.text()).then(() => "ok")`)
	for _, path := range []string{"/privacy", "/api/v1/prova"} {
		for _, p := range strings.Fields(cached + " " + eval(`caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys())))).then(all => all.flat().map(r => new URL(r.url).pathname).join(" "))`)) {
			if p == path || p == "/" {
				t.Errorf("the worker stored %s", p)
			}
		}
	}

	// The manifest, as Chromium reads it.
	man, err := chromedp.Call(ctx, page.GetAppManifest, page.GetAppManifestParams{})
	if err != nil {
		t.Fatalf("Page.getAppManifest: %v", err)
	}
	if man.URL != base+"/manifest.webmanifest" || len(man.Errors) > 0 || !strings.Contains(man.Data, "Comune di Lecce – Sportello") {
		errs, _ := json.Marshal(man.Errors)
		t.Errorf("manifest %s: errors %s, data %.200s", man.URL, errs, man.Data)
	}
	inst, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatalf("Page.getInstallabilityErrors: %v", err)
	}
	if len(inst.InstallabilityErrors) > 0 {
		errs, _ := json.Marshal(inst.InstallabilityErrors)
		t.Errorf("Chromium finds the app not installable: %s", errs)
	}

	// A page tells the worker where a ticket is; another origin's address
	// is refused.
	eval(`(navigator.serviceWorker.controller.postMessage({type: "remember-ticket", id: "0123abcd", url: "/coda/biglietto/0123abcd?secret=s3"}),
		navigator.serviceWorker.controller.postMessage({type: "remember-ticket", id: "evil", url: "https://evil.example/x"}), "ok")`)
	remembered, err := chromedp.Run(ctx, chromedp.Poll[string](`(async () => {
		const c = await caches.open("sportello-biglietti");
		const r = await c.match("/__sportello/biglietto/0123abcd");
		return r ? (await r.json()).url : null;
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || remembered != "/coda/biglietto/0123abcd?secret=s3" {
		t.Errorf("remembered ticket URL %q (%v)", remembered, err)
	}
	if evil := eval(`caches.open("sportello-biglietti").then(c => c.match("/__sportello/biglietto/evil")).then(r => r ? "stored" : "refused")`); evil != "refused" {
		t.Errorf("a cross-origin ticket URL was %s", evil)
	}

	// A push message shows a notification.
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: base,
	}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
	if _, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("ServiceWorker.enable: %v", err)
	}
	var regID serviceworker.RegistrationID
	for ev, err := range registrations {
		if err != nil {
			t.Fatalf("waiting for the worker's registration: %v", err)
		}
		for _, r := range ev.Registrations {
			if r.ScopeURL == base+"/" && !r.IsDeleted {
				regID = r.RegistrationID
			}
		}
		if regID != "" {
			break
		}
	}
	payload := `{"title":"Tocca quasi a te","body":"Mancano 2 persone prima di te.","tag":"ticket-0123abcd","ticket_id":"0123abcd","kind":"near","lang":"it"}`
	// Under load (the race detector, CI) a push delivered while the
	// worker is still settling is sometimes dropped by headless Chromium:
	// deliver again, up to three times, and judge the distinct
	// notifications shown.
	var shown []string
	for attempt := 0; attempt < 3; attempt++ {
		for _, data := range []string{payload, "non è JSON"} {
			if _, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: base, RegistrationID: regID, Data: data,
			}); err != nil {
				t.Fatalf("ServiceWorker.deliverPushMessage: %v", err)
			}
		}
		shown, err = chromedp.Run(ctx, chromedp.Poll[[]string](`navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => {
			const seen = [...new Set(ns.map(n => [n.title, n.body, n.tag, n.lang, n.icon, n.data && n.data.ticket_id].join("|")))].sort();
			return seen.length >= 2 ? seen : null;
		})`, chromedp.WithPollingTimeout(10*time.Second)))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("no notifications shown after two pushes (%v): headless Chromium may not keep them", err)
	} else {
		want := []string{"Aggiornamento dal Comune|||it|" + base + "/icons/icon-192.png|",
			"Tocca quasi a te|Mancano 2 persone prima di te.|ticket-0123abcd|it|" + base + "/icons/icon-192.png|0123abcd"}
		if strings.Join(shown, "\n") != strings.Join(want, "\n") {
			t.Errorf("notifications:\n%s\nwant:\n%s", strings.Join(shown, "\n"), strings.Join(want, "\n"))
		}
	}

	// A click on the ticket's notification picks the window already on
	// the ticket. CDP cannot click a notification, so the test runs the
	// worker's own choice inside the worker, with one tab on the ticket
	// and one elsewhere.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/coda/biglietto/0123abcd?secret=s3")); err != nil {
		t.Fatal(err)
	}
	other, cancelOther := chromedp.NewContext(bctx)
	defer cancelOther()
	if err := chromedp.Do(other, chromedp.Navigate(base+"/privacy")); err != nil {
		t.Fatal(err)
	}
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var swTarget *target.Info
	for _, in := range infos {
		if in.Type == "service_worker" && in.URL == base+"/sw.js" {
			swTarget = in
		}
	}
	if swTarget == nil {
		t.Errorf("no service worker target among %d", len(infos))
	} else {
		wctx, cancelW := chromedp.NewContext(bctx, chromedp.WithTargetID(swTarget.TargetID))
		defer cancelW()
		wctx, cancelWT := context.WithTimeout(wctx, 10*time.Second)
		defer cancelWT()
		pick := func(id string) (string, error) {
			return chromedp.Run(wctx, chromedp.Evaluate[string](`(async () => {
				const id = `+strconv.Quote(id)+`;
				const remembered = await rememberedTicket(id);
				const ws = await self.clients.matchAll({type: "window", includeUncontrolled: true});
				const hit = ws.filter((c) => isTicketWindow(c, id, remembered)).map((c) => new URL(c.url).pathname);
				return JSON.stringify({remembered, windows: ws.length, hit});
			})()`, chromedp.EvalAwaitPromise))
		}
		if got, err := pick("0123abcd"); err != nil {
			t.Errorf("run the click's choice in the worker: %v", err)
		} else if got != `{"remembered":"/coda/biglietto/0123abcd?secret=s3","windows":2,"hit":["/coda/biglietto/0123abcd"]}` {
			t.Errorf("click on the ticket's notification: %s", got)
		}
		if got, err := pick("ffff0000"); err != nil || got != `{"remembered":"","windows":2,"hit":[]}` {
			t.Errorf("click on an unknown ticket's notification: %s (%v)", got, err)
		}
	}
	cancelOther()

	// The server goes away: another citizen page shows the offline page,
	// at its own address, with the Comune's look from the cache.
	srv.CloseClientConnections()
	srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/note-legali")); err != nil {
		t.Fatalf("navigate offline: %v", err)
	}
	if h1 := eval(`document.querySelector("h1") ? document.querySelector("h1").textContent : document.body.innerText.slice(0, 200)`); h1 != "Sei offline" {
		t.Errorf("offline navigation shows %q, want the offline page", h1)
	}
	if loc := eval(`location.pathname`); loc != "/note-legali" {
		t.Errorf("offline page at %s, want the requested address", loc)
	}
	if font := eval(`getComputedStyle(document.body).fontFamily`); !strings.Contains(font, "Titillium") {
		t.Errorf("offline page without the kit's CSS (font %q)", font)
	}
	if bg := eval(`getComputedStyle(document.querySelector(".it-header-center-wrapper")).backgroundColor`); bg != "rgb(139, 30, 63)" {
		t.Errorf("offline page header %q, want Lecce's colour", bg)
	}

	// The API and the back office are left to the network: offline they
	// fail, rather than showing a stored answer or the offline page.
	if got := eval(`fetch("/api/v1/prova").then(() => "answered", () => "failed")`); got != "failed" {
		t.Errorf("offline, /api/ %s", got)
	}
	chromedp.Do(ctx, chromedp.Navigate(base+"/gestione"))
	if got := eval(`document.querySelector("h1") ? document.querySelector("h1").textContent : ""`); got == "Sei offline" {
		t.Errorf("offline, /gestione shows the citizens' offline page")
	}

	cspViolations := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var v []string
		for _, m := range console {
			if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Content-Security-Policy") {
				v = append(v, m)
			}
		}
		return v
	}
	for _, m := range cspViolations() {
		t.Errorf("console: %s", m)
	}
	// The check above would see a violation: a script from elsewhere is
	// refused, and the console says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/privacy")); err != nil {
		t.Fatal(err)
	}
	eval(`(document.head.appendChild(Object.assign(document.createElement("script"), {src: "https://evil.example/x.js"})), "ok")`)
	deadline := time.Now().Add(5 * time.Second)
	for len(cspViolations()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(cspViolations()) == 0 {
		t.Errorf("a script from another origin raised no CSP message: the console check sees nothing")
	}
	mu.Lock()
	t.Logf("console: %s", strings.Join(console, " ¶ "))
	mu.Unlock()
}
