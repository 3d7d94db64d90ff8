package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The performance budgets of the citizen pages (issue 10). Each page is
// loaded cold (a fresh browser context: no cache, no service worker) in
// headless Chromium emulating a mid-range phone on a slow mobile network,
// the profile Lighthouse's mobile audit uses: a 360×640 viewport at
// device scale 2, the CPU slowed four times, 1.6 Mbit/s down, 750 kbit/s
// up and 150 ms of round trip. The test measures the first contentful
// paint (the Paint Timing API), the largest contentful paint and the
// bytes transferred (Resource Timing: the document and every resource
// it loaded, headers included), and holds every page to the transfer
// budget below. The first contentful paint is measured and logged every
// run, but held to its budget only with SPORTELLO_PERF_STRICT=1, on a
// quiet machine: in the full test run the other packages' tests share
// the two cores and move it by half a second, and a timed assertion that
// depends on the neighbours' load would only teach people to ignore red
// builds (the guide: performance is shown by measurements, not timed
// tests). Lighthouse's score, which simulates the throttling instead of
// timing the machine, is TestLighthouse. docs/performance.md has the
// figures and the command.
const (
	// perfFCPBudget: Lighthouse calls 1.8 s a good first contentful
	// paint on mobile; the pages measure 1.3 to 1.8 s here on a shared
	// two-core machine, and the budget leaves them a tenth more before
	// it fails (Lighthouse itself scores them 96 to 98, see
	// TestLighthouse).
	perfFCPBudget = 2000 * time.Millisecond
	// perfTransferBudget: the pages transfer 180 to 255 KB cold (the
	// kit's CSS is 86 KB of it); the budget fails a page that starts
	// loading, say, the kit's whole JavaScript bundle and a font more.
	perfTransferBudget = 400 << 10 // bytes, cold
	perfDownBytesPerS  = 1.6e6 / 8
	perfUpBytesPerS    = 750e3 / 8
	perfRTT            = 150 // ms
	perfCPUSlowdown    = 4
	// perfRuns cold loads of each page are made; the one with the
	// median first contentful paint counts, so that a moment of load on
	// a shared machine does not decide.
	perfRuns = 3
)

// perfFigures are what one cold load measured.
type perfFigures struct {
	FCP, LCP, Load float64 // ms from the navigation's start
	Transfer       int64   // bytes
	Requests       int
}

// perfJS waits (up to five seconds) for the first contentful paint to be
// recorded and reads the figures of the page's load.
const perfJS = `new Promise(resolve => {
	let lcp = 0;
	try {
		new PerformanceObserver(l => { for (const e of l.getEntries()) lcp = Math.max(lcp, e.startTime); })
			.observe({type: "largest-contentful-paint", buffered: true});
	} catch (e) {}
	const t0 = Date.now();
	const done = () => {
		const fcp = performance.getEntriesByName("first-contentful-paint")[0];
		if (!fcp && Date.now() - t0 < 5000) { setTimeout(done, 50); return; }
		const nav = performance.getEntriesByType("navigation")[0];
		const res = performance.getEntriesByType("resource");
		resolve({
			FCP: fcp ? fcp.startTime : -1, LCP: lcp, Load: nav ? nav.loadEventEnd : -1,
			Transfer: (nav ? nav.transferSize : 0) + res.reduce((s, r) => s + r.transferSize, 0),
			Requests: 1 + res.length,
		});
	};
	setTimeout(done, 100);
})`

// TestPerformanceBudgets loads each citizen page cold on the emulated
// phone and network and checks it against the budgets; with -v it logs a
// table of the figures (the one in docs/performance.md).
func TestPerformanceBudgets(t *testing.T) {
	needBinary(t)
	t.Parallel()
	e := startA11yDemo(t)
	bctx := a11yBrowser(t)
	// A ticket, for the ticket's page.
	ticket := perfTicketPath(t, e)
	pages := []struct{ name, path string }{
		{"home", "/"},
		{"offices", "/uffici"},
		{"services", "/servizi"},
		{"service", "/servizi/rilascio-carta-d-identita-elettronica"},
		{"booking, step 1", "/prenota"},
		{"take a number", "/coda/urp"},
		{"ticket", ticket},
		{"display board", "/coda/urp/tabellone"},
		{"offline page", "/offline"},
	}
	// The median of perfRuns loads is for the figures: the FCP budget
	// (strict) and the table (-v, or a file). Otherwise one load a page
	// tells what the test holds it to: it paints, and its transfer, which
	// does not depend on the machine. Each throttled load is seconds of
	// waiting, in the package that takes longest in CI.
	runs := 1
	if os.Getenv("SPORTELLO_PERF_STRICT") == "1" || os.Getenv("SPORTELLO_PERF_TABLE") != "" || testing.Verbose() {
		runs = perfRuns
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| page | path | FCP (ms) | LCP (ms) | load (ms) | transferred (KB) | requests |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, pg := range pages {
		f, err := perfMedian(bctx, e.base+pg.path, runs)
		if err != nil {
			t.Errorf("%s (%s): %v", pg.name, pg.path, err)
			continue
		}
		shown := pg.path
		if pg.name == "ticket" {
			shown = "/coda/biglietto/…"
		}
		fmt.Fprintf(&table, "| %s | `%s` | %.0f | %.0f | %.0f | %.1f | %d |\n", pg.name, shown, f.FCP, f.LCP, f.Load, float64(f.Transfer)/1024, f.Requests)
		switch {
		case f.FCP < 0:
			t.Errorf("%s (%s): no first contentful paint within five seconds of the load", pg.name, pg.path)
		case os.Getenv("SPORTELLO_PERF_STRICT") == "1" && time.Duration(f.FCP*float64(time.Millisecond)) > perfFCPBudget:
			t.Errorf("%s (%s): first contentful paint %.0f ms, budget %v", pg.name, pg.path, f.FCP, perfFCPBudget)
		}
		if f.Transfer > perfTransferBudget {
			t.Errorf("%s (%s): %d bytes transferred cold, budget %d", pg.name, pg.path, f.Transfer, perfTransferBudget)
		}
	}
	t.Logf("median of %d cold loads, 360×640 @2x, CPU ×%d, %.1f Mbit/s down, %d ms RTT:\n%s", runs, perfCPUSlowdown, perfDownBytesPerS*8/1e6, perfRTT, table.String())
	if out := os.Getenv("SPORTELLO_PERF_TABLE"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// perfTicketPath takes a ticket of the URP's queue through the API and
// returns its page's path (with its secret).
func perfTicketPath(t *testing.T, e *a11yEnv) string {
	t.Helper()
	r := e.p.postJSON(t, e.p.url(e.host, "/api/v1/offices/urp/tickets"), map[string]string{"channel": "in_person"})
	var k struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &k); err != nil || k.ID == "" {
		t.Fatalf("take a ticket: %d %s", r.Status, tail(r.Body, 5))
	}
	u, err := url.Parse(k.StatusURL)
	if err != nil || u.Query().Get("secret") == "" {
		t.Fatalf("ticket's status URL %q: %v", k.StatusURL, err)
	}
	return "/coda/biglietto/" + url.PathEscape(k.ID) + "?secret=" + url.QueryEscape(u.Query().Get("secret"))
}

// perfMedian loads rawURL cold runs times and returns the figures of the
// load with the median first contentful paint.
func perfMedian(bctx context.Context, rawURL string, runs int) (perfFigures, error) {
	var all []perfFigures
	for range runs {
		f, err := perfMeasure(bctx, rawURL)
		if err != nil {
			return perfFigures{}, err
		}
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].FCP < all[j].FCP })
	return all[len(all)/2], nil
}

// perfMeasure loads rawURL cold in a fresh browser context under the
// emulated phone and network, and returns what the page measured.
func perfMeasure(bctx context.Context, rawURL string) (perfFigures, error) {
	tctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancel()
	// The first action opens the tab, without a timeout (see
	// chromedp.Run); the others get one.
	if err := chromedp.Do(tctx, chromedp.Navigate("about:blank")); err != nil {
		return perfFigures{}, err
	}
	ctx, cancelStep := context.WithTimeout(tctx, 60*time.Second)
	defer cancelStep()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 360, Height: 640, DeviceScaleFactor: 2, Mobile: true,
	}); err != nil {
		return perfFigures{}, fmt.Errorf("Emulation.setDeviceMetricsOverride: %w", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: perfCPUSlowdown}); err != nil {
		return perfFigures{}, fmt.Errorf("Emulation.setCPUThrottlingRate: %w", err)
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{
			Latency: perfRTT, DownloadThroughput: perfDownBytesPerS, UploadThroughput: perfUpBytesPerS,
			ConnectionType: network.ConnectionTypeCellular4g,
		}},
	}); err != nil {
		return perfFigures{}, fmt.Errorf("Network.emulateNetworkConditionsByRule: %w", err)
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(rawURL))
	if err != nil {
		return perfFigures{}, err
	}
	if resp == nil || resp.Status != 200 {
		return perfFigures{}, fmt.Errorf("answered %v", resp)
	}
	return chromedp.Run(ctx, chromedp.Evaluate[perfFigures](perfJS, chromedp.EvalAwaitPromise))
}
