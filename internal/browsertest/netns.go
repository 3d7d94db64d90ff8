package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// NetnsEnv is set in a test process that RunInNetns started inside a
// private network namespace.
const NetnsEnv = "SPORTELLO_TEST_NETNS"

// InNetns reports whether this test process runs inside the private
// network namespace RunInNetns made; there it brings loopback up first.
func InNetns(t testing.TB) bool {
	t.Helper()
	if os.Getenv(NetnsEnv) != "1" {
		return false
	}
	ip := "/usr/sbin/ip"
	if p, err := exec.LookPath("ip"); err == nil {
		ip = p
	}
	if out, err := exec.Command(ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	return true
}

// RunInNetns runs the test named name again, in this test binary, inside
// a new network namespace (unshare -n as root, unshare -rn otherwise),
// with args added to its command line and env to its environment, and
// reports its outcome on t. Only loopback exists in there, so no packet of
// a call can leave the machine and Chromium's WebRTC has no other
// interface to try. The inner process finds itself with InNetns.
func RunInNetns(t testing.TB, name string, args []string, env ...string) {
	t.Helper()
	flag := "-rn"
	if os.Geteuid() == 0 {
		flag = "-n"
	}
	if out, err := exec.Command("unshare", flag, "true").CombinedOutput(); err != nil {
		SkipOrFail(t, fmt.Sprintf("cannot make a network namespace (unshare %s: %v: %s)", flag, err, bytes.TrimSpace(out)))
	}
	argv := append([]string{flag, os.Args[0], "-test.run=^" + name + "$", "-test.count=1"}, args...)
	if testing.Verbose() {
		argv = append(argv, "-test.v")
	}
	cmd := exec.Command("unshare", argv...)
	cmd.Env = append(append(os.Environ(), NetnsEnv+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Log("inside the network namespace:\n" + out.String())
	switch {
	case err != nil:
		t.Fatalf("the test failed inside the network namespace: %v", err)
	case strings.Contains(out.String(), "--- SKIP"):
		t.Skip("skipped inside the network namespace")
	}
}

// MediaBrowser starts a headless Chromium with a fake camera and
// microphone and the flags a loopback-only namespace needs: without
// --allow-loopback-in-peer-connection it gathers no ICE candidate at all,
// not even relay ones. The context it returns runs the steps after the
// start, each bounded by timeout; the browser closes with the test.
func MediaBrowser(t testing.TB, bin string, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1024, 768),
		// Pages negotiate their language from Accept-Language: tests see
		// the Italian of a citizen in Italy unless they ask for another
		// (extra options may set "lang" and "accept-lang" again).
		chromedp.Flag("lang", "it-IT"),
		chromedp.Flag("accept-lang", "it-IT,it"),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser and must carry no timeout (it
	// would stop the browser with it); the steps after it get one.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	return ctx
}
