package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// The end-to-end tests run the real binary, built once by TestMain with
// a version and commit stamped by -ldflags.
const (
	e2eVersion = "9.9.9-e2e"
	e2eCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// sportelloBin is the binary under test; "" when the build failed or the
// tests run with -short.
var sportelloBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if !testingShort() {
		dir, err := os.MkdirTemp("", "sportello-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "sportello")
		args := []string{"build", "-o", bin, "-ldflags", "-X main.version=" + e2eVersion + " -X main.commit=" + e2eCommit}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build sportello: %v\n", err)
			return 1
		}
		sportelloBin = bin
	}
	return m.Run()
}

// testingShort reads -test.short before testing.Short is usable (flags are
// parsed by m.Run).
func testingShort() bool {
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" {
			return true
		}
	}
	return false
}

func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() || sportelloBin == "" {
		t.Skip("end-to-end test: skipped with -short")
	}
}

// shortTempDir returns a fresh folder with a path short enough for a unix
// socket inside it (t.TempDir's paths grow with the test's name).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// proc is a running sportello process.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	dataDir  string
	stdout   *syncBuffer
	stderr   *syncBuffer
	exited   chan struct{}
	exitErr  error
	HTTPAddr string
	admin    *adminClient
	client   *http.Client
}

// syncBuffer is a bytes.Buffer safe for the process's output goroutine
// and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCLI runs the binary to completion and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sportelloBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run sportello %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// startProc starts `sportello args...` serving dataDir and waits until its
// admin socket and /healthz answer.
func startProc(t *testing.T, dataDir string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dataDir: dataDir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(sportelloBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sportello: %v", err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("sportello %v stderr (tail):\n%s", args, tail(p.stderr.String(), 40))
		}
	})

	p.admin = newAdminClient(dataDir)
	deadline := time.Now().Add(60 * time.Second)
	var st nodeStatus
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.admin.do(ctx, "GET", "/v1/status", nil, &st)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("sportello exited before serving (%v); stderr:\n%s", p.exitErr, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sportello did not serve within 60s: %v; stderr:\n%s\ngoroutines in package cluster:\n%s",
				err, p.stderr.String(), p.clusterGoroutines())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.HTTPAddr = st.HTTPAddr
	p.client = p.newClient(0)
	resp, err := p.client.Get("http://" + p.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
		t.Fatalf("GET /healthz: %d %s, want 200 ok", resp.StatusCode, body)
	}
	return p
}

// waitStdout waits until the process has printed want.
func (p *proc) waitStdout(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stdout.String(), want) {
		select {
		case <-p.exited:
			t.Fatalf("sportello exited (%v) before printing %q:\n%s", p.exitErr, want, p.stdout.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sportello did not print %q within %v:\n%s", want, timeout, p.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newClient returns a client that reaches the node whatever the URL's host
// (bari.localhost:PORT need not resolve), does not follow redirects and
// keeps up to conns connections.
func (p *proc) newClient(conns int) *http.Client {
	addr := p.HTTPAddr
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost: max(conns, 2),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("sportello did not stop within 30s of SIGTERM; stderr:\n%s", tail(p.stderr.String(), 40))
	}
	if p.exitErr != nil {
		p.t.Fatalf("sportello exited with %v after SIGTERM; stderr:\n%s", p.exitErr, tail(p.stderr.String(), 40))
	}
}

// url returns the URL of path on host, reached on the node's port.
func (p *proc) url(host, path string) string {
	_, port, _ := net.SplitHostPort(p.HTTPAddr)
	return "http://" + net.JoinHostPort(host, port) + path
}

// response is an HTTP answer read whole.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (p *proc) do(t *testing.T, method, rawURL string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (p *proc) get(t *testing.T, rawURL string) response {
	t.Helper()
	return p.do(t, "GET", rawURL, nil, nil)
}

func (p *proc) postForm(t *testing.T, rawURL string, v url.Values) response {
	t.Helper()
	return p.do(t, "POST", rawURL, strings.NewReader(v.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func (p *proc) postJSON(t *testing.T, rawURL string, v any) response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return p.do(t, "POST", rawURL, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
}

// adminDo calls the node's admin API and fails the test on error.
func (p *proc) adminDo(t *testing.T, method, path string, in, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.admin.do(ctx, method, path, in, out); err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
}

func wantStatus(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, r.Status, want, tail(r.Body, 60))
	}
}

// clusterGoroutines stops a process that does not answer with SIGQUIT,
// which makes the Go runtime print every goroutine's stack, and returns
// the stacks that pass through package cluster (where a node waits to
// join), at most 200 lines: enough to see where it is stuck.
func (p *proc) clusterGoroutines() string {
	before := len(p.stderr.String())
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		return "(no goroutine dump within 10s)"
	}
	var out []string
	for _, g := range strings.Split(p.stderr.String()[before:], "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && strings.Contains(g, "sportello/cluster.") {
			out = append(out, g)
		}
	}
	lines := strings.Split(strings.Join(out, "\n\n"), "\n")
	if len(lines) > 200 {
		lines = append(lines[:200], "…")
	}
	return strings.Join(lines, "\n")
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// The form parsing below reads the booking pages as a browser without
// JavaScript would: the form with a given action, its inputs with their
// values (checked radios and checkboxes only) and textareas.
var (
	formRE     = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputRE    = regexp.MustCompile(`<input\b[^>]*>`)
	textareaRE = regexp.MustCompile(`(?s)<textarea\b([^>]*)>(.*?)</textarea>`)
	attrRE     = regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
	tagRE      = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRE    = regexp.MustCompile(`\s+`)
)

// htmlForm is a form as a browser would submit it.
type htmlForm struct {
	Action string
	Values url.Values
	// Radios lists the values offered by each radio group.
	Radios map[string][]string
}

func tagAttrs(tag string) map[string]string {
	out := map[string]string{}
	inner := strings.TrimSuffix(strings.TrimPrefix(tag, "<"), ">")
	if i := strings.IndexByte(inner, ' '); i >= 0 {
		inner = inner[i:]
	} else {
		return out
	}
	for _, m := range attrRE.FindAllStringSubmatch(inner, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// findForm returns the form of page with action whose body contains marker.
func findForm(t *testing.T, page, action, marker string) htmlForm {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if tagAttrs("<form" + m[1] + ">")["action"] != action || !strings.Contains(m[2], marker) {
			continue
		}
		f := htmlForm{Action: action, Values: url.Values{}, Radios: map[string][]string{}}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			a := tagAttrs(in)
			name := a["name"]
			if name == "" {
				continue
			}
			_, checked := a["checked"]
			switch a["type"] {
			case "radio":
				f.Radios[name] = append(f.Radios[name], a["value"])
				if checked {
					f.Values.Set(name, a["value"])
				}
			case "checkbox":
				if checked {
					f.Values.Set(name, a["value"])
				}
			case "submit":
			default:
				f.Values.Add(name, a["value"])
			}
		}
		for _, ta := range textareaRE.FindAllStringSubmatch(m[2], -1) {
			f.Values.Set(tagAttrs("<textarea" + ta[1] + ">")["name"], html.UnescapeString(ta[2]))
		}
		return f
	}
	t.Fatalf("no form with action %q containing %q in page:\n%s", action, marker, tail(page, 80))
	return htmlForm{}
}

// pageText returns the visible text of a page, spaces collapsed.
func pageText(page string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(page, " ")), " "))
}

func wantText(t *testing.T, what, page string, wants ...string) {
	t.Helper()
	txt := pageText(page)
	for _, w := range wants {
		if !strings.Contains(txt, w) {
			t.Errorf("%s: page lacks %q; text:\n%s", what, w, txt)
		}
	}
}

// fiscalCode returns the i-th of a family of valid codici fiscali (same
// name, distinct birth dates), with the check character computed as the
// Agenzia delle Entrate specifies.
func fiscalCode(i int) string {
	const months = "ABCDEHLMPRST"
	year := 40 + i/(12*28)%60
	month := months[i/28%12]
	day := 1 + i%28
	base := fmt.Sprintf("RSSMRA%02d%c%02dA662", year, month, day)
	return base + string(checkChar(base))
}

// checkChar is the control character of the first 15 characters.
func checkChar(s string) byte {
	odd := [...]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for i := 0; i < 15; i++ {
		c := s[i]
		var v int
		if c >= '0' && c <= '9' {
			v = int(c - '0')
		} else {
			v = int(c - 'A')
		}
		if i%2 == 0 { // 1st, 3rd, ... character: the "odd" table
			sum += odd[v]
		} else {
			sum += v
		}
	}
	return byte('A' + sum%26)
}

// nodeDigest is the answer of the admin socket's GET /v1/digest.
type nodeDigest struct {
	Node         string `json:"node"`
	AppliedIndex uint64 `json:"applied_index"`
	SHA256       string `json:"sha256"`
}

// waitIdentical waits until every node has applied the same index and
// then requires their replicated state (SQLite contents) to be identical.
// Nodes keep applying while we ask (the outbox marks its deliveries), so
// it asks again until one round finds every index equal.
func waitIdentical(t *testing.T, timeout time.Duration, procs ...*proc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds := make([]nodeDigest, len(procs))
		same := true
		for i, q := range procs {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := q.admin.do(ctx, "GET", "/v1/digest", nil, &ds[i])
			cancel()
			if err != nil {
				t.Fatalf("digest of node %d: %v", i, err)
			}
			same = same && ds[i].AppliedIndex == ds[0].AppliedIndex
		}
		if same {
			for i, d := range ds {
				if d.SHA256 != ds[0].SHA256 {
					t.Fatalf("nodes diverged at index %d: %s has %s, %s has %s", d.AppliedIndex, ds[0].Node, ds[0].SHA256, ds[i].Node, d.SHA256)
				}
			}
			t.Logf("%d nodes identical at index %d (sha256 %s)", len(ds), ds[0].AppliedIndex, ds[0].SHA256[:12])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes did not reach the same index within %v: %+v", timeout, ds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seedBari creates, through node p (whose data dir is dir), the Comune di
// Bari with an Anagrafe open every day and its identity-card service with
// the given capacity per slot and one active booking per citizen.
func seedBari(t *testing.T, p *proc, dir string, capacity int) booking.Service {
	t.Helper()
	if out, errOut, code := runCLI(t, "tenant", "create", "--data", dir, "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--sender", "Comune di Bari <noreply@bari.localhost>"); code != exitOK {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var office booking.Office
	p.adminDo(t, "POST", "/v1/tenants/bari/offices", booking.Office{
		Name: "Anagrafe", Address: "Largo Chiurlia, 27 – 70122 Bari", Phone: "080 577 2250", Hours: everyDay(),
	}, &office)
	var svc booking.Service
	p.adminDo(t, "POST", "/v1/tenants/bari/services", booking.Service{
		OfficeID: office.ID, Name: "Rilascio carta d'identità elettronica", Description: "Richiesta della CIE.",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: capacity,
		MinNotice: time.Hour, HorizonDays: 30, MaxActivePerCitizen: 1,
	}, &svc)
	return svc
}
