// Command loadgen measures bookings per second and latency through the
// whole write path of Sportello (HTTP → raft → SQLite, and the outbox that
// follows each booking) at several concurrencies, on a one-node and on a
// three-node loopback cluster of real `sportello serve` processes. In the
// same run it measures the raw fsync rate of the disk and, before each
// HTTP level, the direct-to-store ceiling: booking.Book.Create called in
// the leader's own process (admin socket POST /v1/debug/store-load), the
// same cluster, no HTTP. It prints Markdown tables for cluster/DESIGN.md
// with the ratios between the three.
//
// Over HTTP, client w of a level sends its bookings to node w mod N, so
// the load spreads over every node (followers forward to the leader).
// Before each HTTP level it waits until the cluster has delivered the
// emails of the previous one (-drain 0 turns that off). With -profile it
// saves each node's CPU, block and mutex profiles of each level.
//
// It builds the sportello binary, starts the nodes on fresh data dirs on
// 127.0.0.1 (no rate limit, email kept in the nodes' mailbox), seeds a
// Comune "bench" through the admin socket and stops the nodes at the end:
//
//	go run ./cmd/loadgen
//	go run ./cmd/loadgen -nodes 3 -levels 1,16,64,256 -duration 10s -dir /var/tmp
//
// With -data it targets one node already running on that data dir instead
// (its rate limit must allow the load; it gets the Comune "bench"):
//
//	go run ./cmd/loadgen -data ./sportello-data
//
// Every booking is made by a distinct citizen. Traffic goes only to the
// nodes' loopback addresses, and every level stops by itself.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/loadrun"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		levelsFlag = flag.String("levels", "1,16,64,256", "comma-separated `concurrencies` to measure")
		nodesFlag  = flag.String("nodes", "1,3", "comma-separated cluster `sizes` to measure, each on its own new cluster")
		duration   = flag.Duration("duration", 5*time.Second, "how long each level runs")
		maxPer     = flag.Int("max-bookings", 200000, "stop a level after this many bookings")
		dataDir    = flag.String("data", "", "target the node running on this data `dir` instead of starting clusters")
		dir        = flag.String("dir", "", "parent `dir` of the started nodes' data (the disk measured); default the system's temp dir")
		bin        = flag.String("sportello", "", "sportello `binary` to start; default: built with `go build`")
		fsyncN     = flag.Int("fsync-samples", 500, "fsyncs of the raw disk measurement")
		keep       = flag.Bool("keep", false, "keep the started nodes' data dirs")
		profDir    = flag.String("profile", "", "save each node's CPU, block and mutex profiles of each level into `dir`")
		timeline   = flag.String("timeline", "", "write every HTTP booking of every level as a CSV line (nodes, concurrency, node, start ms, latency ms) into `file`")
		store      = flag.Bool("store", true, "also measure the direct-to-store ceiling (Book.Create in the leader's process)")
		mailTo     = flag.String("mail", "smtp", "where the nodes deliver email: `smtp` (a sink in loadgen standing for the mail relay) or mailbox (files in each node's data dir)")
		repeat     = flag.Int("repeat", 1, "measure each cluster size this many `times`, each on its own new cluster; the tables show the run of median HTTP rate at each level, and a table lists every run (the host's speed moves from run to run)")
		drain      = flag.Duration("drain", 2*time.Minute, "before each HTTP level, wait at most this long for the cluster to deliver the emails of the previous one (0: do not wait)")
	)
	flag.Parse()
	levels, err := parseLevels(*levelsFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: -levels: %v\n", err)
		return 2
	}
	if *mailTo != "smtp" && *mailTo != "mailbox" {
		fmt.Fprintf(os.Stderr, "loadgen: -mail: want smtp or mailbox\n")
		return 2
	}
	sizes, err := parseSizes(*nodesFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: -nodes: %v\n", err)
		return 2
	}
	if *repeat < 1 || *repeat > 100 {
		fmt.Fprintf(os.Stderr, "loadgen: -repeat: want 1 to 100\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	parent := *dir
	if parent == "" {
		parent = os.TempDir()
	}
	work, err := os.MkdirTemp(parent, "loadgen-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	// The fsync baseline first, on the nodes' disk, while nothing runs.
	fsyncs, err := cluster.MeasureFsync(work, *fsyncN)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "loadgen: raw disk %.0f fsyncs/s\n", fsyncs)
	if *dataDir == "" {
		if *bin, err = buildSportello(ctx, *bin, work); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 1
		}
	} else {
		sizes = []int{1}
	}

	smtpPort := 0
	if *mailTo == "smtp" && *dataDir == "" {
		sink, err := startSMTPSink()
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: SMTP sink: %v\n", err)
			return 1
		}
		defer func() {
			sink.Close()
			fmt.Fprintf(os.Stderr, "loadgen: the SMTP sink received %d emails over %d connections\n", sink.received.Load(), sink.conns.Load())
		}()
		smtpPort = sink.Addr().Port
	}
	info := reportInfo{
		When: time.Now(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		DataDir: work, Duration: *duration, FsyncPerSec: fsyncs, FsyncSamples: *fsyncN, Drain: *drain > 0,
		Mail: *mailTo,
	}
	if *dataDir != "" {
		*repeat = 1 // one running node: nothing to start afresh
	}
	info.Repeat = *repeat
	var runs []sizeRun
	for _, size := range sizes {
		var reps [][]levelResult
		for rep := range *repeat {
			var f fleet
			if *dataDir != "" {
				n, err := targetNode(ctx, *dataDir)
				if err != nil {
					fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
					return 1
				}
				f = fleet{n}
			} else if f, err = startCluster(ctx, *bin, work, size, smtpPort, *keep); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: %d nodes: %v\n", size, err)
				return 1
			}
			if *repeat > 1 {
				fmt.Fprintf(os.Stderr, "loadgen: %d node(s), run %d of %d\n", size, rep+1, *repeat)
			}
			// Profiles and the timeline are of the last run.
			results, err := measure(ctx, f, levels, options{
				duration: *duration, maxPer: *maxPer, store: *store, drain: *drain, profDir: *profDir, timeline: *timeline,
			})
			info.Node = f[0].status.Version
			f.Close()
			if err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: %d nodes: %v\n", size, err)
				return 1
			}
			reps = append(reps, results)
			if ctx.Err() != nil {
				fmt.Fprintln(os.Stderr, "loadgen: interrupted")
				return 1
			}
		}
		runs = append(runs, newSizeRun(size, reps))
	}
	report(os.Stdout, info, runs)
	return 0
}

// options are the flags measure needs.
type options struct {
	duration time.Duration
	maxPer   int
	store    bool
	drain    time.Duration
	profDir  string
	timeline string
}

// measure runs every level on the cluster f: the direct-to-store level on
// the leader, then the HTTP level through every node.
func measure(ctx context.Context, f fleet, levels []int, o options) ([]levelResult, error) {
	b, err := newBench(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(os.Stderr, "loadgen: %d node(s); service %q has %d slots of %d places\n",
		len(f), b.service.Name, len(b.slots), b.service.Capacity)

	var profs []*profiler
	if o.profDir != "" {
		if err := os.MkdirAll(o.profDir, 0o750); err != nil {
			return nil, err
		}
		for _, n := range f {
			p := &profiler{n: n, dir: o.profDir, prefix: fmt.Sprintf("n%d-%s-", len(f), n.status.NodeID)}
			if err := p.enable(ctx); err != nil {
				return nil, fmt.Errorf("enable profiles: %w", err)
			}
			profs = append(profs, p)
		}
	}

	var results []levelResult
	for _, c := range levels {
		if ctx.Err() != nil {
			break
		}
		var sr *loadrun.Result
		if o.store {
			leader := f.leader(ctx)
			if leader == nil {
				return nil, errors.New("no leader for the store level")
			}
			r, err := b.storeLevel(ctx, leader, c, o.duration, o.maxPer)
			if err != nil {
				return nil, fmt.Errorf("store level %d: %w", c, err)
			}
			fmt.Fprintf(os.Stderr, "loadgen: %d node(s), store on %s, concurrency %d: %d bookings in %v, %.0f/s, p50 %v, p99 %v, errors %v\n",
				len(f), leader.status.NodeID, c, r.OK, r.Elapsed.Round(time.Millisecond), r.Rate(), r.P(50), r.P(99), r.ErrorString())
			sr = &r
		}
		var drained time.Duration
		if o.drain > 0 {
			if drained, err = f[0].waitOutboxDrained(ctx, o.drain); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: %v; measuring anyway\n", err)
			}
		}
		var waits []func()
		for _, p := range profs {
			waits = append(waits, p.during(ctx, c, o.duration))
		}
		before := f.readCPU()
		r := b.runLevel(ctx, c, o.duration, o.maxPer)
		if r.catchUp, r.lag, err = f.waitCaughtUp(ctx, 2*time.Minute); err != nil {
			return nil, fmt.Errorf("level %d: %w", c, err)
		}
		after := f.readCPU()
		r.loadgenCPU, r.nodeCPU = after.self-before.self, after.nodes-before.nodes
		r.nodeIO = after.io.minus(before.io)
		r.store, r.drainedBefore = sr, drained
		for _, w := range waits {
			w()
		}
		// The nodes' CPU per booking is the steadier figure on a shared
		// machine, where the rate follows whatever else runs.
		var perBooking time.Duration
		var kbPerBooking, callsPerBooking float64
		if r.OK > 0 {
			perBooking = r.nodeCPU / time.Duration(r.OK)
			kbPerBooking = float64(r.nodeIO.bytes) / 1024 / float64(r.OK)
			callsPerBooking = float64(r.nodeIO.calls) / float64(r.OK)
		}
		fmt.Fprintf(os.Stderr, "loadgen: %d node(s), HTTP, concurrency %d: %d bookings in %v, %.0f/s, p50 %v, p99 %v, errors %v, every node caught up %v later (%d entries behind; %.0f/s counting it), CPU loadgen %.0f%% nodes %.0f%% (%v per booking; all nodes wrote %.1f KiB to disk in %.1f write calls per booking; emails of the previous level drained in %v)\n",
			len(f), c, r.OK, r.Elapsed.Round(time.Millisecond), r.Rate(), r.P(50), r.P(99), r.ErrorString(),
			r.catchUp.Round(time.Millisecond), r.lag, r.sustained(),
			r.cpuShare(r.loadgenCPU), r.cpuShare(r.nodeCPU), perBooking.Round(time.Microsecond), kbPerBooking, callsPerBooking, drained.Round(time.Millisecond))
		if o.timeline != "" {
			if err := writeTimeline(o.timeline, len(f), c, r.Result); err != nil {
				return nil, err
			}
		}
		if len(f) > 1 {
			fmt.Fprintf(os.Stderr, "loadgen: %d node(s), HTTP, concurrency %d, by node the clients reached: %s\n", len(f), c, byNode(r.Result, len(f)))
		}
		results = append(results, r)
	}
	return results, nil
}

// parseSizes reads -nodes: cluster sizes from 1 to 5.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 5 {
			return nil, fmt.Errorf("%q: want cluster sizes from 1 to 5", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 || c > 4096 {
			return nil, fmt.Errorf("%q: want integers from 1 to 4096", f)
		}
		out = append(out, c)
	}
	return out, nil
}

// byNode describes the latencies of the clients of each node (worker w
// books through node w mod nodes): on a cluster the leader's own clients
// skip the forwarding hop, and the gap between the groups is where the
// tail of the whole comes from.
func byNode(r loadrun.Result, nodes int) string {
	var parts []string
	for n := range nodes {
		g := loadrun.Result{Elapsed: r.Elapsed}
		for w := n; w < len(r.ByWorker); w += nodes {
			g.Latencies = append(g.Latencies, r.ByWorker[w]...)
		}
		slices.Sort(g.Latencies)
		g.OK = len(g.Latencies)
		parts = append(parts, fmt.Sprintf("node %d: %.0f/s p50 %v p99 %v", n+1, g.Rate(), g.P(50).Round(time.Millisecond), g.P(99).Round(time.Millisecond)))
	}
	return strings.Join(parts, "; ")
}

// writeTimeline appends the bookings of r to the CSV file path, one line
// each: cluster size, concurrency, the node the client reached, the
// booking's start and its latency in milliseconds. A worker books back to
// back, so a booking starts when the worker's previous one ended: the
// timeline shows whether the slow bookings come together (a stall of the
// whole cluster) or spread out (queueing).
func writeTimeline(path string, nodes, c int, r loadrun.Result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for wk, lat := range r.ByWorker {
		var at time.Duration
		for _, l := range lat {
			fmt.Fprintf(w, "%d,%d,%d,%.3f,%.3f\n", nodes, c, wk%nodes+1, at.Seconds()*1000, l.Seconds()*1000)
			at += l
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
