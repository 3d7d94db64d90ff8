package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Headless starts a headless Chromium (bin, from Chromium) for a page
// test and returns its chromedp context, already started: derive a
// context with a timeout from it for each step (a timeout on the first
// step would stop the browser with it). The browser resolves every
// *.localhost name, and nothing else, to 127.0.0.1, so that a Comune's
// host reaches the node under test and nothing the browser does at
// start-up leaves the machine. The window is 1280×800 unless extra says
// otherwise. The browser closes with the test.
func Headless(t testing.TB, bin string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 800),
		// Pages negotiate their language from Accept-Language: tests see
		// the Italian of a citizen in Italy unless they ask for another
		// (extra options may set "lang" and "accept-lang" again).
		chromedp.Flag("lang", "it-IT"),
		chromedp.Flag("accept-lang", "it-IT,it"),
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to start as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	return bctx
}
