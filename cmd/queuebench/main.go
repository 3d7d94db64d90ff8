// Command queuebench measures how many Server-Sent Events clients of the
// virtual queue one node holds, and how fast an operator's call reaches
// all of them: from the call's acknowledgment to the event's arrival at
// each client (p50, p99, max), how many got it, the server's memory and
// goroutines per connection. In the same run it measures a bare net/http
// SSE broadcaster through the same harness delivering the same number of
// events (the loopback limit of this machine) and reports the queue's
// figures as ratios to it.
//
// The server is a child process (this binary, re-executed): a one-node
// cluster on a fresh data dir (real raft and SQLite) serving the queue's
// routes through queue/web's Handler as cmd/sportello wires it, with the
// API's rate limit lifted by configuration and an office whose queue
// admits any number of tickets; the operator's calls are Queue.CallNext
// in that process, since `sportello serve` lets only a logged-in
// operator call, through a form. The clients are raw TCP connections in
// this process. Two processes, because each holds one socket per stream
// and the limit of open files is per process.
//
// The run takes N×(1-boards) tickets through the API, opens one ticket
// stream per ticket and N×boards board streams, then calls -calls
// tickets one after the other (each at a new desk), waiting for each to
// reach every client (at most -timeout) and -gap more:
//
//	go run ./cmd/queuebench
//	go run ./cmd/queuebench -n 2000 -boards 0.5 -calls 10
//
// Traffic goes only to 127.0.0.1; the child stops when this process does.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags.
type options struct {
	n        int
	boards   float64
	calls    int
	gap      time.Duration
	timeout  time.Duration
	takers   int
	dialers  int
	baseline bool
}

func run(args []string, stdout, stderr io.Writer) int {
	// The children's stderr is copied into stderr by os/exec while the
	// progress lines are written to it.
	stderr = &lockedWriter{w: stderr}
	fs := flag.NewFlagSet("queuebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 10000, "concurrent SSE `clients`")
	fs.Float64Var(&o.boards, "boards", 0.1, "share of the clients that follow the office's board (the others follow one ticket each)")
	fs.IntVar(&o.calls, "calls", 20, "operator's calls to measure")
	fs.DurationVar(&o.gap, "gap", 500*time.Millisecond, "pause after a call reached every client")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Second, "longest wait for a call to reach every client")
	fs.IntVar(&o.takers, "takers", 32, "concurrent ticket takes while preparing")
	fs.IntVar(&o.dialers, "dialers", 128, "concurrent connections being opened")
	fs.BoolVar(&o.baseline, "baseline", true, "also measure the bare SSE broadcaster")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.n < 1 || o.boards < 0 || o.boards > 1 || o.calls < 1 || o.takers < 1 || o.dialers < 1 {
		fmt.Fprintln(stderr, "queuebench: -n, -calls, -takers and -dialers must be positive, -boards between 0 and 1")
		return 2
	}
	if o.calls > o.n && o.boards < 1 {
		o.calls = min(o.calls, o.n)
	}
	raiseFileLimit(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := reportInfo{When: time.Now(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), LoadBefore: loadAvg(), Opts: o}
	res, err := measure(ctx, "queue", o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "queuebench: queue: %v\n", err)
		return 1
	}
	results := []result{res}
	if o.baseline {
		base, err := measure(ctx, "baseline", o, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "queuebench: baseline: %v\n", err)
			return 1
		}
		results = append(results, base)
	}
	info.LoadAfter = loadAvg()
	report(stdout, info, results)
	return 0
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// child is a started server process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready ready
	ctl   *http.Client
}

// startChild re-executes this binary as the server of mode.
func startChild(ctx context.Context, mode string, stderr io.Writer) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: exec.Command(self), ctl: &http.Client{Timeout: time.Minute}}
	c.cmd.Env = append(os.Environ(), childEnv+"="+mode)
	c.cmd.Stderr = stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	line := make(chan error, 1)
	go func() {
		// Owned by startChild; ends at the child's first line or exit.
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			line <- fmt.Errorf("the %s server exited before serving", mode)
			return
		}
		line <- json.Unmarshal(sc.Bytes(), &c.ready)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err = <-line:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(3 * time.Minute):
		err = fmt.Errorf("the %s server did not start in 3 minutes", mode)
	}
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// stop ends the child (its stdin closes, then SIGTERM, then kill).
func (c *child) stop() {
	c.stdin.Close()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// stats asks the child for its counters.
func (c *child) stats() (childStats, error) {
	var st childStats
	resp, err := c.ctl.Get("http://" + c.ready.Control + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// freeMemory has the child collect its garbage and return it to the
// system before an RSS reading.
func (c *child) freeMemory() error {
	resp, err := c.ctl.Post("http://"+c.ready.Control+"/gc", "", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// call is the operator's call at desk k; it returns once acknowledged.
func (c *child) call(k int) error {
	resp, err := c.ctl.PostForm("http://"+c.ready.Control+"/call", url.Values{"desk": {strconv.Itoa(k)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("call %d: %d %s", k, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// takeTickets takes n tickets through the API with the given
// concurrency and returns the path of each one's event stream.
func takeTickets(ctx context.Context, c *child, n, workers int) ([]string, error) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	target := "http://" + c.ready.HTTP + "/api/v1/offices/" + c.ready.Office + "/tickets"
	out := make([]string, n)
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				p, err := takeOne(ctx, client, target)
				if err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
					return
				}
				out[i] = p
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, ctx.Err()
}

// cmp keeps the first error.
func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// takeOne takes a ticket and returns its event stream's path.
func takeOne(ctx context.Context, client *http.Client, target string) (string, error) {
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, "POST", target, strings.NewReader(`{"channel":"in_person"}`))
		req.Host = benchHost
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 10 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusCreated {
			return "", fmt.Errorf("take: %d %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		var k struct {
			StatusURL string `json:"status_url"`
		}
		if err := json.Unmarshal(body, &k); err != nil {
			return "", err
		}
		u, err := url.Parse(k.StatusURL)
		if err != nil {
			return "", err
		}
		return u.Path + "/events?" + u.RawQuery, nil
	}
}

// result is one server's measurement.
type result struct {
	mode                 string
	clients, connected   int
	tickets, boards      int
	takeTime, connTime   time.Duration
	calls                int
	expected, delivered  int
	delays               []time.Duration // every delivery, from the acknowledgment
	toAll                []time.Duration // per call, until the last client got it
	rssIdle, rssConn     int64           // bytes
	rssAfter, rssAfterGC int64
	goIdle, goConn       int
	cpuCalls             time.Duration // the server's CPU time during the calls
	reads, lookups       int64         // the hubs' reads during the calls
	failed               int64
	firstErr             error
	callsElapsed         time.Duration
	ackP50, ackMax       time.Duration // operator's call round trip
	loadDuring           string
	timeouts             int
	hubsRunning, hubsEnd int
}

// measure runs one server (mode "queue" or "baseline") through the
// whole harness.
func measure(ctx context.Context, mode string, o options, stderr io.Writer) (result, error) {
	r := result{mode: mode, clients: o.n, calls: o.calls}
	c, err := startChild(ctx, mode, stderr)
	if err != nil {
		return r, err
	}
	defer c.stop()
	pid := c.cmd.Process.Pid
	clients := make([]*client, o.n)
	if mode == "queue" {
		r.boards = int(float64(o.n) * o.boards)
		r.tickets = o.n - r.boards
		start := time.Now()
		paths, err := takeTickets(ctx, c, r.tickets, o.takers)
		if err != nil {
			return r, err
		}
		r.takeTime = time.Since(start)
		fmt.Fprintf(stderr, "queuebench: %s: took %d tickets in %v\n", mode, r.tickets, r.takeTime.Round(time.Millisecond))
		for i := range clients {
			if i < r.tickets {
				clients[i] = &client{kind: ticketStream, target: paths[i], p0: -1}
			} else {
				clients[i] = &client{kind: boardStream, target: "/api/v1/offices/" + c.ready.Office + "/queue/events"}
			}
		}
	} else {
		r.boards = o.n
		for i := range clients {
			clients[i] = &client{kind: boardStream, target: "/sse"}
		}
	}
	runtime.GC()
	time.Sleep(time.Second)
	r.rssIdle = vmRSS(pid)
	st, err := c.stats()
	if err != nil {
		return r, err
	}
	r.goIdle = st.Goroutines

	// Connect every client, o.dialers at a time.
	rec := newRecorder(o.calls, o.n)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sem := make(chan struct{}, o.dialers)
	connected := make(chan error, o.n)
	start := time.Now()
	for i, cl := range clients {
		sem <- struct{}{}
		done := make(chan error, 1)
		wg.Go(func() { cl.run(cctx, i, c.ready.HTTP, benchHost, rec, done) })
		go func() {
			// Owned by measure: frees the dial slot once client i
			// connected (or failed), and forwards the outcome.
			err := <-done
			<-sem
			connected <- err
		}()
	}
	var connErr error
	for range o.n {
		if err := <-connected; err != nil {
			connErr = cmp(connErr, err)
		} else {
			r.connected++
		}
	}
	if connErr != nil {
		fmt.Fprintf(stderr, "queuebench: %s: %d of %d clients connected; first error: %v\n", mode, r.connected, o.n, connErr)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for int(rec.first.Load()) < r.connected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.connTime = time.Since(start)
	fmt.Fprintf(stderr, "queuebench: %s: %d clients connected, %d got their first event, in %v\n",
		mode, r.connected, rec.first.Load(), r.connTime.Round(time.Millisecond))
	time.Sleep(time.Second)
	r.rssConn = vmRSS(pid)
	if st, err = c.stats(); err != nil {
		return r, err
	}
	r.goConn, r.hubsRunning = st.Goroutines, st.Hubs
	reads0, lookups0 := st.Reads, st.Lookups

	// The operator calls; each call waits until it reached everyone.
	cpu0 := cpuTime(pid)
	acks := make([]time.Duration, o.calls+1)
	var roundTrips []time.Duration
	callsStart := time.Now()
	for k := 1; k <= o.calls; k++ {
		want := 0
		for _, cl := range clients {
			if cl.expects(k) {
				want++
			}
		}
		press := time.Now()
		if err := c.call(k); err != nil {
			return r, err
		}
		acks[k] = time.Since(rec.base)
		roundTrips = append(roundTrips, time.Since(press))
		wait := time.Now().Add(o.timeout)
		for int(rec.got[k].Load()) < min(want, int(rec.first.Load())) && time.Now().Before(wait) {
			time.Sleep(time.Millisecond)
		}
		if int(rec.got[k].Load()) < want {
			r.timeouts++
		}
		fmt.Fprintf(stderr, "queuebench: %s: call %d reached %d of %d clients\n", mode, k, rec.got[k].Load(), want)
		time.Sleep(o.gap)
	}
	r.callsElapsed = time.Since(callsStart)
	r.cpuCalls = cpuTime(pid) - cpu0
	r.loadDuring = loadAvg()
	r.rssAfter = vmRSS(pid)
	if err := c.freeMemory(); err != nil {
		return r, err
	}
	r.rssAfterGC = vmRSS(pid)
	if st, err = c.stats(); err != nil {
		return r, err
	}
	r.reads, r.lookups = st.Reads-reads0, st.Lookups-lookups0
	cancel()
	wg.Wait()
	r.failed = rec.failed.Load()
	r.firstErr = rec.firstErr
	// The hubs stop once their clients went.
	time.Sleep(500 * time.Millisecond)
	if st, err := c.stats(); err == nil {
		r.hubsEnd = st.Hubs
	}

	for k := 1; k <= o.calls; k++ {
		var last time.Duration
		all := true
		for i, cl := range clients {
			if !cl.expects(k) || cl.p0 < 0 && cl.kind == ticketStream {
				continue
			}
			r.expected++
			at := rec.arrivals[k][i]
			if at == 0 {
				all = false
				continue
			}
			r.delivered++
			d := max(time.Duration(at)-acks[k], 0)
			r.delays = append(r.delays, d)
			last = max(last, d)
		}
		if all {
			r.toAll = append(r.toAll, last)
		}
	}
	slices.Sort(r.delays)
	slices.Sort(r.toAll)
	slices.Sort(roundTrips)
	r.ackP50, r.ackMax = pct(roundTrips, 50), pct(roundTrips, 100)
	return r, nil
}

// pct is the q-th percentile of sorted ds (nearest rank).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*q/100+0.5) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// raiseFileLimit lifts the soft limit of open files to the hard one; the
// child inherits it.
func raiseFileLimit(stderr io.Writer) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			fmt.Fprintf(stderr, "queuebench: raise the open files limit: %v\n", err)
		}
	}
}

// vmRSS is the resident memory of process pid in bytes (0 if unknown).
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the user and system CPU time process pid used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields follow its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// Clock ticks are 1/100 s on Linux.
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// loadAvg is the machine's 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
