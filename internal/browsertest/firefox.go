package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Firefox is driven through WebDriver BiDi, the protocol Firefox speaks
// itself on --remote-debugging-port: geckodriver is not packaged in
// Debian, and BiDi needs nothing but a WebSocket. The client here knows
// the three commands a call test needs (navigate, evaluate, and the
// session around them); it is not a general driver.

// FirefoxRequireEnv, when set, turns a missing Firefox into a failure
// (CI sets it once firefox-esr is installed there).
const FirefoxRequireEnv = "SPORTELLO_REQUIRE_FIREFOX"

// FirefoxPathEnv names a Firefox binary to use instead of looking on PATH.
const FirefoxPathEnv = "SPORTELLO_FIREFOX"

// FirefoxBin returns the path of a Firefox binary, or skips t when there
// is none (fails it when FirefoxRequireEnv is set).
func FirefoxBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(FirefoxPathEnv); p != "" {
		return p
	}
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	why := "no Firefox found (looked on PATH for firefox-esr, firefox, and at $" + FirefoxPathEnv + ")"
	if os.Getenv(FirefoxRequireEnv) != "" {
		t.Fatalf("%s, and %s is set: install it (apt-get install firefox-esr)", why, FirefoxRequireEnv)
	}
	t.Skipf("%s: Firefox test skipped; set %s=1 to make this a failure", why, FirefoxRequireEnv)
	return ""
}

// FirefoxMediaPrefs are the preferences of a call test's profile: fake
// camera and microphone without a permission prompt, loopback ICE
// candidates (the only interface of the test's network namespace; like
// Chromium, Firefox gathers none there otherwise), plain host addresses
// instead of mDNS names, autoplay, and none of the background traffic
// a fresh profile starts with.
func FirefoxMediaPrefs() map[string]any {
	return map[string]any{
		"media.navigator.streams.fake":                      true,
		"media.navigator.permission.disabled":               true,
		"media.peerconnection.ice.loopback":                 true,
		"media.peerconnection.ice.obfuscate_host_addresses": false,
		"media.autoplay.default":                            0,
		"media.autoplay.block-webaudio":                     false,
		"media.volume_scale":                                "0.0",
		"browser.shell.checkDefaultBrowser":                 false,
		"browser.startup.homepage_override.mstone":          "ignore",
		"browser.aboutwelcome.enabled":                      false,
		"datareporting.policy.dataSubmissionEnabled":        false,
		"toolkit.telemetry.reportingpolicy.firstRun":        false,
		"app.update.disabledForTesting":                     true,
		"network.captive-portal-service.enabled":            false,
		"network.connectivity-service.enabled":              false,
		"browser.safebrowsing.malware.enabled":              false,
		"browser.safebrowsing.phishing.enabled":             false,
		"extensions.update.enabled":                         false,
		"dom.disable_open_during_load":                      false,
	}
}

// FirefoxBrowser is one headless Firefox with a fresh profile and a
// WebDriver BiDi session on its only tab. Its methods are safe for
// concurrent use.
type FirefoxBrowser struct {
	Name string
	cmd  *exec.Cmd
	conn *websocket.Conn
	// tab is the browsing context of the first tab.
	tab string

	mu      sync.Mutex
	next    int
	pending map[int]chan bidiReply
	err     error // why the connection closed
	done    chan struct{}
}

type bidiReply struct {
	Type    string          `json:"type"` // "success" | "error" | "event"
	ID      int             `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// listening is how Firefox announces its BiDi endpoint on stderr.
var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// StartFirefox starts bin headless with a fresh profile holding prefs
// (user.js), opens a BiDi session and returns the browser, closed with
// the test. Starting takes a few seconds; timeout bounds it.
func StartFirefox(t testing.TB, bin, name string, prefs map[string]any, timeout time.Duration) *FirefoxBrowser {
	t.Helper()
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(prefs))
	for k := range prefs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var js strings.Builder
	for _, k := range keys {
		v, err := json.Marshal(prefs[k])
		if err != nil {
			t.Fatalf("pref %s: %v", k, err)
		}
		fmt.Fprintf(&js, "user_pref(%q, %s);\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(js.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port=0", "--remote-allow-hosts=localhost,127.0.0.1", "about:blank")
	// Firefox writes caches and sockets under HOME; a private one keeps
	// tests apart and works as root.
	cmd.Env = append(os.Environ(), "HOME="+dir, "MOZ_HEADLESS=1", "MOZ_CRASHREPORTER_DISABLE=1",
		"XDG_RUNTIME_DIR="+dir, "MOZ_DISABLE_CONTENT_SANDBOX=1")
	// Its own process group, so that closing ends the content processes
	// Firefox starts too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Firefox %s: %v", bin, err)
	}
	b := &FirefoxBrowser{Name: name, cmd: cmd, pending: map[int]chan bidiReply{}, done: make(chan struct{})}
	t.Cleanup(b.close)

	// Read stderr for the endpoint, then keep draining it (a full pipe
	// would block Firefox); the last lines go into failure messages.
	found := make(chan string, 1)
	var logMu sync.Mutex
	var tail []string
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			logMu.Lock()
			tail = append(tail, line)
			if len(tail) > 30 {
				tail = tail[1:]
			}
			logMu.Unlock()
		}
	}()
	stderrTail := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(tail, "\n")
	}
	var endpoint string
	select {
	case endpoint = <-found:
	case <-time.After(timeout):
		t.Fatalf("Firefox did not announce WebDriver BiDi within %v; its stderr:\n%s", timeout, stderrTail())
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.TrimSuffix(endpoint, "/")+"/session", nil)
	if err != nil {
		t.Fatalf("connect to Firefox's BiDi endpoint %s: %v\n%s", endpoint, err, stderrTail())
	}
	conn.SetReadLimit(16 << 20)
	b.conn = conn
	go b.read()
	if _, err := b.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		t.Fatalf("Firefox BiDi session.new: %v", err)
	}
	res, err := b.call(ctx, "browsingContext.getTree", map[string]any{})
	if err != nil {
		t.Fatalf("Firefox BiDi getTree: %v", err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(res, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("Firefox BiDi getTree: no tab in %s (%v)", res, err)
	}
	b.tab = tree.Contexts[0].Context
	return b
}

// read dispatches the replies to their callers until the socket closes.
func (b *FirefoxBrowser) read() {
	var err error
	for {
		var data []byte
		_, data, err = b.conn.Read(context.Background())
		if err != nil {
			break
		}
		var r bidiReply
		if json.Unmarshal(data, &r) != nil || r.Type == "event" {
			continue
		}
		b.mu.Lock()
		ch := b.pending[r.ID]
		delete(b.pending, r.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
	close(b.done)
}

// call sends one command and waits for its reply.
func (b *FirefoxBrowser) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan bidiReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("%s: the BiDi connection closed: %v", method, b.err)
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Navigate loads url in the tab and waits for the load event.
func (b *FirefoxBrowser) Navigate(ctx context.Context, url string) error {
	_, err := b.call(ctx, "browsingContext.navigate", map[string]any{"context": b.tab, "url": url, "wait": "complete"})
	return err
}

// EvalJSON evaluates expression in the tab, awaits it when it is a
// promise, and returns its value as JSON (JSON.stringify in the page,
// "null" for undefined). A thrown exception is an error.
func (b *FirefoxBrowser) EvalJSON(ctx context.Context, expression string) (string, error) {
	wrapped := "Promise.resolve((" + expression + ")).then(v => v === undefined ? 'null' : JSON.stringify(v))"
	res, err := b.call(ctx, "script.evaluate", map[string]any{
		"expression": wrapped, "target": map[string]any{"context": b.tab},
		"awaitPromise": true, "resultOwnership": "none",
	})
	if err != nil {
		return "", err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return "", fmt.Errorf("script.evaluate: %s: %w", res, err)
	}
	if r.Type == "exception" {
		return "", errors.New("script.evaluate: " + r.ExceptionDetails.Text)
	}
	s, ok := r.Result.Value.(string)
	if !ok {
		return "", fmt.Errorf("script.evaluate: unexpected result %s", res)
	}
	return s, nil
}

// close ends the session and the browser.
func (b *FirefoxBrowser) close() {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = b.call(ctx, "browser.close", map[string]any{})
		cancel()
		_ = b.conn.CloseNow()
	}
	if b.cmd.Process != nil {
		exited := make(chan struct{})
		go func() { _ = b.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// Whatever content process outlived the parent goes too.
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// TestInterfaceAddr is the address AddTestInterface gives the network
// namespace (198.18.0.0/15 is set aside for benchmarks, RFC 2544, so it
// names nothing anywhere).
const TestInterfaceAddr = "198.18.0.1"

// AddTestInterface adds to the test's private network namespace (made
// by RunInNetns; call it only where InNetns is true) a pair of veth
// interfaces, both ends inside it, the first with TestInterfaceAddr.
// Firefox gathers no ICE candidate on loopback, whatever
// media.peerconnection.ice.loopback says, so in a namespace that has
// nothing else it cannot make a call; the pair gives it an address of
// its own, and no packet can leave the namespace through it (both ends
// are in it; the kernel delivers packets to its own address locally).
// Firefox also gathers nothing without a default route, so the default
// route points at the pair: a packet to any other address goes to the
// peer end, inside the namespace, which forwards nothing. The dummy
// interface type would do as well, but its module is often missing.
func AddTestInterface(t testing.TB) string {
	t.Helper()
	if os.Getenv(NetnsEnv) != "1" {
		t.Fatal("AddTestInterface outside the test's network namespace")
	}
	ip := "/usr/sbin/ip"
	if p, err := exec.LookPath("ip"); err == nil {
		ip = p
	}
	for _, args := range [][]string{
		{"link", "add", "svtest0", "type", "veth", "peer", "name", "svtest1"},
		{"addr", "add", TestInterfaceAddr + "/32", "dev", "svtest0"},
		{"link", "set", "svtest0", "up"},
		{"link", "set", "svtest1", "up"},
		{"route", "add", "default", "dev", "svtest0"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return TestInterfaceAddr
}
