package web

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// chromium returns a Chromium binary, or skips the test without one.
func chromium(t *testing.T) string { return browsertest.Chromium(t) }

// TestBrowserTicketPageFollowsTheCall: a citizen's ticket page, open in
// headless Chromium on a follower, shows "È il tuo turno: sportello 4"
// when an operator calls the ticket on the leader — through the script
// and the event stream, under the real CSP, without reloading the page.
func TestBrowserTicketPageFollowsTheCall(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	base := "http://" + e.bari.host + ":" + port

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("host-resolver-rules", "MAP "+e.bari.host+" 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser and must carry no timeout (it
	// would stop the browser with it); the steps after it get one.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
	defer cancel()

	// The citizen takes a number through the form, as from the QR code,
	// and lands on the ticket page. The Comune offers three languages and
	// headless Chromium asks for English: ?lang=it chooses Italian, which
	// the language cookie keeps for the ticket page.
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/coda/"+e.bari.office.ID+"?lang=it")); err != nil {
		t.Fatalf("open the form: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type=submit]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#numero`))); err != nil {
		loc, _ := chromedp.Run(bctx, chromedp.Location())
		body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		t.Fatalf("take a number: %v (page %s: %q)", err, loc, body)
	}
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#stato-testo`), chromedp.NodeVisible))
	if err != nil || first != "In attesa" {
		t.Fatalf("ticket page: got %q (%v), want In attesa", first, err)
	}
	// A mark the page loses if it reloads.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad = true`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "4", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("stato-testo").textContent === "È il tuo turno: sportello 4"`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("stato").textContent`))
		t.Fatalf("the page did not show the call: %v (it shows %q)", err, strings.Join(strings.Fields(got), " "))
	}
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad === true`)); err != nil || !same {
		t.Errorf("the page reloaded (%v): the update did not come from the script", err)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("lascia").hidden`)); err != nil || hidden {
		t.Errorf("a called citizen may still leave the line, but the button is hidden (%v)", err)
	}
}

// browserOn starts headless Chromium resolving host to srv (an
// httptest server) and returns a context for its steps, with timeout,
// and the base URL of host on srv. Everything stops with the test.
func browserOn(t *testing.T, srv *httptest.Server, host string, timeout time.Duration) (context.Context, string) {
	t.Helper()
	bin := chromium(t)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("host-resolver-rules", "MAP "+host+" 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser and must carry no timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	return ctx, "http://" + host + ":" + port
}

// TestBrowserFormSolvesTheProof: with a proof of work asked, the form in
// headless Chromium solves the challenge (in the script's Web Worker,
// under the real CSP) and lands on the ticket page, with no more than a
// press of the button.
func TestBrowserFormSolvesTheProof(t *testing.T) {
	chromium(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.ProofOfWork = 14 })
	srv := httptest.NewServer(e.srv)
	// Closed after the browser (cleanups run last first), whose event
	// streams would otherwise keep it open.
	t.Cleanup(srv.Close)
	ctx, base := browserOn(t, srv, e.bari.host, 30*time.Second)

	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/coda/"+e.bari.office.ID)); err != nil {
		t.Fatalf("open the form: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type=submit]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#numero`))); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		t.Fatalf("take a number with the proof: %v (page %s: %q)", err, loc, body)
	}
	line, err := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID)
	if err != nil || len(line) != 1 {
		t.Errorf("line after the form: %d tickets (%v), want 1", len(line), err)
	}
}

// TestBrowserWaitingRoomFollowsTheCall: the waiting room of a video
// appointment, opened from its join link in headless Chromium, checks
// the citizen in and shows the operator's call live, without the
// ticket's secret and without reloading. Chromium asks for English,
// which the Comune offers: the script's texts are the page's, in
// English.
func TestBrowserWaitingRoomFollowsTheCall(t *testing.T) {
	chromium(t)
	e := newClockEnv(t)
	video := e.bookAt(monday(10, 30), booking.Video, fiscalCodes[0])
	e.clock.Set(monday(10, 20))
	srv := httptest.NewServer(e.srv)
	// Closed after the browser (cleanups run last first), whose event
	// streams would otherwise keep it open.
	t.Cleanup(srv.Close)
	ctx, base := browserOn(t, srv, e.bari.host, 30*time.Second)

	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+booking.JoinPath(video.Code, video.JoinToken))); err != nil {
		t.Fatalf("open the room: %v", err)
	}
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#stato-testo`), chromedp.NodeVisible))
	if err != nil || first != "You are in the waiting room: the clerk will let you in shortly" {
		t.Fatalf("room: got %q (%v)", first, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad = true`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "2", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("stato-testo").textContent === "It is your turn: the clerk is letting you in"`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("stato").textContent`))
		t.Fatalf("the room did not show the call: %v (it shows %q)", err, strings.Join(strings.Fields(got), " "))
	}
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad === true`)); err != nil || !same {
		t.Errorf("the room reloaded (%v): the update did not come from the script", err)
	}
}
