package lincheck

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// longRun selects the long form of the end-to-end check, for manual runs:
// go test ./internal/lincheck -run E2E -lincheck.long -v
var longRun = flag.Bool("lincheck.long", false, "run the end-to-end linearizability check for a minute with more clients and slots")

// demoHost is the Host of the demo Comune.
const demoHost = "bari.localhost"

// lockedBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
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

// buildSportello builds the sportello binary from the module's source into
// a temporary directory.
func buildSportello(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "sportello")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sportello")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sportello: %v\n%s", err, b)
	}
	return bin
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startDemo runs `sportello demo` and returns its base URL once /healthz
// answers; the process is stopped with SIGTERM at cleanup.
func startDemo(t *testing.T, bin string) string {
	t.Helper()
	addr := freeAddr(t)
	var logs lockedBuffer
	cmd := exec.Command(bin, "demo", "--data", filepath.Join(t.TempDir(), "data"), "--listen", addr, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sportello demo: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sportello demo output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("sportello demo exited before serving:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sportello demo did not answer /healthz within 30s (%v):\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getJSON decodes GET base+path, with the demo Comune's Host, into v.
func getJSON(t *testing.T, base, path string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = demoHost
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d, want 200", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// demoTargets picks n free slots of one day of the in-person service with
// the fewest desks (so that slots fill up), or with the most when most is
// set (so that slots stay bookable after unknown creates took places for
// good), at least three days ahead (past the cancellation deadline).
func demoTargets(t *testing.T, base string, n int, most bool) []Target {
	t.Helper()
	var offices struct {
		Offices []struct {
			Services []struct {
				ID       string   `json:"id"`
				Channels []string `json:"channels"`
			} `json:"services"`
		} `json:"offices"`
	}
	getJSON(t, base, "/api/v1/offices", &offices)
	from := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	to := time.Now().AddDate(0, 0, 20).Format(time.DateOnly)
	var best []Target
	bestCap := 0
	for _, o := range offices.Offices {
		for _, s := range o.Services {
			if !slices.Contains(s.Channels, "in_person") {
				continue
			}
			var list struct {
				Slots []struct {
					Start     string `json:"start"`
					Remaining int    `json:"remaining"`
				} `json:"slots"`
			}
			getJSON(t, base, "/api/v1/services/"+s.ID+"/slots?from="+from+"&to="+to, &list)
			byDay := map[string][]Target{}
			var days []string
			for _, sl := range list.Slots {
				if sl.Remaining <= 0 {
					continue
				}
				day := sl.Start[:10]
				if byDay[day] == nil {
					days = append(days, day)
				}
				byDay[day] = append(byDay[day], Target{ServiceID: s.ID, Start: sl.Start, Capacity: sl.Remaining})
			}
			for _, day := range days {
				ts := byDay[day]
				if len(ts) < n {
					continue
				}
				c := ts[0].Capacity
				if best == nil || (!most && c < bestCap) || (most && c > bestCap) {
					best, bestCap = ts[:n], c
				}
				break
			}
		}
	}
	if best == nil {
		t.Fatalf("no in-person service of the demo has %d free slots on one day between %s and %s", n, from, to)
	}
	return best
}

// lossyProxy forwards requests to base and loses about one answer in
// eight after the node has handled the request: it answers 502 or cuts the
// connection. Clients see unknown outcomes of requests that took effect.
func lossyProxy(t *testing.T, base string) string {
	t.Helper()
	var (
		mu  sync.Mutex
		rnd = rand.New(rand.NewPCG(7, 7))
	)
	client := &http.Client{Timeout: 30 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Host = r.Host
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		mu.Lock()
		fault := rnd.IntN(16)
		mu.Unlock()
		switch {
		case err != nil || fault == 0:
			http.Error(w, "lost answer", http.StatusBadGateway)
			return
		case fault == 1:
			panic(http.ErrAbortHandler) // the connection closes without an answer
		}
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestE2EDemoLinearizable books through a real one-node sportello demo
// from many clients and checks the history with porcupine. The short form
// (~300 operations) runs in CI; -lincheck.long runs for a minute.
func TestE2EDemoLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sportello binary")
	}
	t.Parallel()
	cfg := DriveConfig{Clients: 16, Ops: 300, RequestTimeout: 10 * time.Second, Seed: 1}
	slots, checkTimeout := 3, 60*time.Second
	if *longRun {
		cfg = DriveConfig{Clients: 32, Duration: time.Minute, RequestTimeout: 10 * time.Second, Seed: uint64(time.Now().UnixNano()),
			// The demo allows 100 creates a second from one address;
			// the pauses keep the clients under it.
			Think: 300 * time.Millisecond,
			// Unknown creates that took effect hold their citizens for
			// good: more citizens keep the slots in play.
			CitizensPerSlot: 12}
		slots, checkTimeout = 6, 5*time.Minute
	}
	base := startDemo(t, buildSportello(t))
	// Half of the requests go through a proxy that loses answers, so the
	// history has unknown outcomes of requests that did take effect.
	cfg.BaseURLs = []string{base, lossyProxy(t, base)}
	cfg.Host = demoHost
	cfg.Targets = demoTargets(t, base, slots, *longRun)
	for _, tg := range cfg.Targets {
		t.Logf("target %s %s capacity %d", tg.ServiceID, tg.Start, tg.Capacity)
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+2*time.Minute)
	defer cancel()
	rec, err := Drive(ctx, cfg)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	res, info, err := rec.Check(checkTimeout, t.TempDir())
	if err != nil {
		t.Error(err)
	}
	t.Logf("%d operations in %d partitions checked in %v: %v", info.Operations, info.Partitions, info.Elapsed, info.Stats)
	switch res {
	case porcupine.Illegal:
		t.Fatalf("history is not linearizable; visualization: %s", info.Visualization)
	case porcupine.Unknown:
		t.Logf("porcupine found no violation within %v but did not finish", checkTimeout)
	}
	if *longRun {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("lincheck-long-%d.html", time.Now().Unix()))
		if err := rec.Visualize(info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
	}

	// The history must have exercised the rules, or it proves little.
	st := info.Stats
	for _, want := range []struct {
		kind   string
		result Result
	}{{"create", Created}, {"create", SlotFull}, {"cancel", CancelOK}, {"get", Active}} {
		if st[want.kind][want.result] == 0 {
			t.Errorf("stats: no %s answered %s (%v)", want.kind, want.result, st)
		}
	}
	if st["create"][Unknown] == 0 {
		t.Errorf("stats: no create of unknown outcome (%v)", st)
	}

	// The check must have teeth on this very history: a booking whose
	// creation was acknowledged and then read as active, read instead as
	// not found, is a lost booking.
	history := rec.History()
	for i, op := range history {
		if op.Output.(Output).Result == Active {
			history[i].Output = Output{Result: NotFound}
			if porcupine.CheckOperations(NewModel(rec.Spec()), history) {
				t.Errorf("history with a lost booking (%v read as not found): linearizable, want not", op.Input)
			}
			break
		}
	}
}
