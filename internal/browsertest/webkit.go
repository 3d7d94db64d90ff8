package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// WebKit, Safari's engine, is driven through WebKitGTK's WebKitWebDriver
// (Debian package webkit2gtk-driver), which speaks classic W3C WebDriver
// over HTTP and starts the GTK MiniBrowser in automation mode. Safari
// itself runs only on Apple systems; WebKitGTK is the nearest engine a
// Linux machine has. The MiniBrowser is a GTK window with no headless
// mode, so it gets a private Xvfb display. Like the Firefox client, this
// knows only what a page test needs: a session, navigation, evaluation.

// WebKitRequireEnv, when set, turns a missing WebKit into a failure.
const WebKitRequireEnv = "SPORTELLO_REQUIRE_WEBKIT"

// WebKitDriverEnv and WebKitBrowserEnv name a WebKitWebDriver and the
// browser it starts, instead of the Debian paths.
const (
	WebKitDriverEnv  = "SPORTELLO_WEBKIT_DRIVER"
	WebKitBrowserEnv = "SPORTELLO_WEBKIT_BROWSER"
)

// webkitBrowsers are where Debian's WebKitGTK packages put MiniBrowser.
var webkitBrowsers = []string{
	"/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
	"/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
	"/usr/lib/x86_64-linux-gnu/webkitgtk-6.0/MiniBrowser",
	"/usr/lib/aarch64-linux-gnu/webkitgtk-6.0/MiniBrowser",
}

// WebKitBins returns the paths of WebKitWebDriver and of the MiniBrowser
// it drives, or skips t when either (or a display to show it on) is
// missing; it fails t instead when WebKitRequireEnv is set.
func WebKitBins(t testing.TB) (driver, browser string) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv(WebKitRequireEnv) != "" {
			t.Fatalf("%s, and %s is set: install it (apt-get install webkit2gtk-driver xvfb)", why, WebKitRequireEnv)
		}
		t.Skipf("%s: WebKit test skipped; set %s=1 to make this a failure", why, WebKitRequireEnv)
	}
	driver = os.Getenv(WebKitDriverEnv)
	if driver == "" {
		p, err := exec.LookPath("WebKitWebDriver")
		if err != nil {
			missing("no WebKitWebDriver on PATH (nor at $" + WebKitDriverEnv + ")")
		}
		driver = p
	}
	browser = os.Getenv(WebKitBrowserEnv)
	for _, p := range webkitBrowsers {
		if browser != "" {
			break
		}
		if _, err := os.Stat(p); err == nil {
			browser = p
		}
	}
	if browser == "" {
		missing("no WebKitGTK MiniBrowser (looked in " + strings.Join(webkitBrowsers, ", ") + " and at $" + WebKitBrowserEnv + ")")
	}
	if _, err := exec.LookPath("Xvfb"); err != nil && os.Getenv("DISPLAY") == "" {
		missing("no Xvfb and no $DISPLAY for WebKit's window")
	}
	return driver, browser
}

// WebKitMediaArgs are the MiniBrowser arguments of a call test: the mock
// camera and microphone (WebKit's, which grant access without a prompt
// in automation mode), MediaStream and WebRTC switched on, and autoplay.
func WebKitMediaArgs() []string {
	return []string{
		"--enable-media-stream=true",
		"--enable-mock-capture-devices=true",
		"--enable-webrtc=true",
		"--autoplay-policy=allow",
	}
}

// WebKitBrowser is one MiniBrowser under WebKitWebDriver, on its own
// Xvfb display, with one WebDriver session. Its methods are safe for
// concurrent use (WebDriver queues commands of a session).
type WebKitBrowser struct {
	Name string
	// Version is the engine's, as the session reports it ("2.50.6").
	Version string

	base    string // http://127.0.0.1:port/session/id
	client  *http.Client
	procs   []*exec.Cmd
	mu      sync.Mutex
	closing bool
}

// StartWebKit starts Xvfb (unless there is no Xvfb and $DISPLAY is set),
// WebKitWebDriver, and through it the MiniBrowser browser with args
// (--automation is added), and returns the session, closed with the
// test. timeout bounds the start.
func StartWebKit(t testing.TB, driver, browser, name string, args []string, timeout time.Duration) *WebKitBrowser {
	t.Helper()
	dir := t.TempDir()
	b := &WebKitBrowser{Name: name, client: &http.Client{}}
	t.Cleanup(b.close)
	env := append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "XDG_CACHE_HOME="+dir+"/cache",
		"XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config", "NO_AT_BRIDGE=1")
	if _, err := exec.LookPath("Xvfb"); err == nil {
		display, err := b.startXvfb(timeout)
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, "DISPLAY="+display, "WAYLAND_DISPLAY=")
	}

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--host=local")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group: the browser and the web processes it starts
	// go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", driver, err)
	}
	b.procs = append(b.procs, cmd)
	root := "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := b.do(ctx, http.MethodGet, root+"/status", nil, &st); err == nil && st.Ready {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("WebKitWebDriver not ready within %v: %s", timeout, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"webkitgtk:browserOptions": map[string]any{"binary": browser, "args": append([]string{"--automation"}, args...)},
		"timeouts":                 map[string]any{"script": 120000, "pageLoad": 60000},
	}}}
	var sess struct {
		SessionID    string `json:"sessionId"`
		Capabilities struct {
			BrowserVersion string `json:"browserVersion"`
		} `json:"capabilities"`
	}
	if err := b.do(ctx, http.MethodPost, root+"/session", caps, &sess); err != nil {
		t.Fatalf("WebKit new session: %v\n%s", err, logs.String())
	}
	b.base = root + "/session/" + sess.SessionID
	b.Version = sess.Capabilities.BrowserVersion
	return b
}

// startXvfb starts a private X display and returns its name; Xvfb picks
// a free display number itself and writes it to -displayfd.
func (b *WebKitBrowser) startXvfb(timeout time.Duration) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return "", fmt.Errorf("start Xvfb: %w", err)
	}
	w.Close()
	b.procs = append(b.procs, cmd)
	got := make(chan string, 1)
	go func() {
		// Xvfb writes the number and a newline once it accepts clients;
		// if it dies first, the read ends empty.
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case d := <-got:
		if d == "" {
			return "", errors.New("Xvfb exited without a display")
		}
		return ":" + d, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("Xvfb gave no display within %v", timeout)
	}
}

// do sends one WebDriver request and decodes the "value" of its answer
// into out; a WebDriver error is an error.
func (b *WebKitBrowser) do(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s %s: %s: %w", method, url, data, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(r.Value, &e)
		return fmt.Errorf("%s %s: %s: %s", method, url, e.Error, e.Message)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Value, out)
}

// Navigate loads url and waits for the load event.
func (b *WebKitBrowser) Navigate(ctx context.Context, url string) error {
	return b.do(ctx, http.MethodPost, b.base+"/url", map[string]any{"url": url}, nil)
}

// EvalJSON evaluates expression in the page, awaits it when it is a
// promise, and returns its value as JSON (JSON.stringify in the page,
// "null" for undefined). A thrown exception or a rejection is an error.
func (b *WebKitBrowser) EvalJSON(ctx context.Context, expression string) (string, error) {
	// An asynchronous script ends when it calls its last argument; the
	// outcome travels as an object so that an exception in the page is
	// told apart from a value.
	script := `const done = arguments[arguments.length - 1];
Promise.resolve().then(() => (` + expression + `)).then(
  v => done({ok: v === undefined ? "null" : JSON.stringify(v)}),
  e => done({err: String(e && e.stack ? e + "\n" + e.stack : e)}));`
	var r struct {
		OK  *string `json:"ok"`
		Err string  `json:"err"`
	}
	if err := b.do(ctx, http.MethodPost, b.base+"/execute/async", map[string]any{"script": script, "args": []any{}}, &r); err != nil {
		return "", err
	}
	if r.OK == nil {
		return "", errors.New("script: " + r.Err)
	}
	return *r.OK, nil
}

// close ends the session (which closes the browser), the driver and
// Xvfb.
func (b *WebKitBrowser) close() {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	b.closing = true
	b.mu.Unlock()
	if b.base != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.do(ctx, http.MethodDelete, b.base, nil, nil)
		cancel()
	}
	// The driver first, then the display its browser drew on: the
	// reverse of the start.
	for i := len(b.procs) - 1; i >= 0; i-- {
		cmd := b.procs[i]
		if cmd.Process == nil {
			continue
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// freePort returns a TCP port on loopback that was free a moment ago:
// WebKitWebDriver takes a port number, not a listener.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer keeps the driver's stdout and stderr for failure
// messages; the driver writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
