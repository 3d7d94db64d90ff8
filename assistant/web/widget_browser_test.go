package web

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// TestBrowserWidget drives the chat widget in headless Chromium on a
// 360-pixel phone, under the site's real Content Security Policy: the
// header's link opens the dialog with the focus in its field, a question
// gets its answer from the API with the service page as a link, the
// panel fits the screen, Escape closes it and gives the focus back to the
// link, and the open dialog has no WCAG 2.1 AA violation.
func TestBrowserWidget(t *testing.T) {
	bin := browsertest.Chromium(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	base := "http://" + bariHost + ":" + port
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("host-resolver-rules", "MAP "+bariHost+" 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(360, 740),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser and carries no timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
	defer cancel()

	// A phone's screen: Chromium's window cannot be narrower than 500
	// pixels, the emulated viewport can.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/servizi?lang=it")); err != nil {
		t.Fatalf("open a citizen page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('a[href="/assistente"][aria-haspopup="dialog"]')`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the widget did not take the header's link: %v", err)
	}
	// Before the panel opens, the page has no accessibility violation
	// of the widget's making (the link's ARIA attributes).
	closedVs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range closedVs {
		for _, n := range v.Nodes {
			if strings.Contains(n.HTML, "/assistente") {
				t.Errorf("accessibility before opening: %s", v)
			}
		}
	}
	// The link may sit in a collapsed menu on a phone: focus and activate
	// it as a keyboard user does.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(function(){var a=document.querySelector('a[href="/assistente"]');a.focus();a.click();})()`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement && document.activeElement.id === "sv-assistant-input"`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("the dialog did not take the focus: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#sv-assistant-input`), "cosa serve per la carta d'identità?\r")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#sv-assistant [role=log] a[href$="/servizi/cie"]') !== null`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		log, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("sv-assistant").innerText`))
		t.Fatalf("no answer with the service page: %v (panel: %q)", err, log)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("sv-assistant").getBoundingClientRect().width`))
	if err != nil || width > 360 || width < 300 {
		t.Errorf("panel width %v (%v), want the phone's width", width, err)
	}
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, n := range v.Nodes {
			if strings.Contains(strings.Join(n.Target, " "), "sv-assistant") {
				t.Errorf("accessibility: %s", v)
			}
		}
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("sv-assistant").hidden && document.activeElement.getAttribute("href") === "/assistente"`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("Escape did not close the dialog and give the focus back: %v", err)
	}

	// The page without the widget: a question through the form, then no
	// WCAG 2.1 AA violation on the conversation.
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/assistente")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#messaggio`), "certificato")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.sv-chat-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#ultima`))); err != nil {
		body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href + " " + document.body.innerText`))
		t.Fatalf("the page did not show the answer: %v (%q)", err, body)
	}
	vs, err = browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("accessibility of /assistente: %s", v)
	}
}
