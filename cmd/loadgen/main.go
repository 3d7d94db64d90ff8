// Command loadgen measures bookings per second and latency through the
// whole write path of a Sportello node (HTTP → raft → SQLite, and the
// outbox that follows each booking) at several concurrencies. In the same
// run it measures the raw fsync rate of the node's data disk and the store
// ceiling under the HTTP path (booking.Book.Create called in process on a
// one-node cluster of its own, on the same disk), and prints a Markdown
// table for cluster/DESIGN.md with the ratios between the three.
//
// Before each HTTP level it waits until the node has delivered the emails
// of the previous one, so that each level measures bookings, not the
// previous level's email backlog (-drain 0 turns that off). With -profile
// it saves the node's CPU, block and mutex profiles of each level.
//
// By default it builds the sportello binary, starts one node on a fresh
// data dir on 127.0.0.1 (no rate limit, email kept in the node's mailbox),
// seeds a Comune "bench" through the admin socket and stops the node at the
// end:
//
//	go run ./cmd/loadgen
//	go run ./cmd/loadgen -levels 1,16,64,256 -duration 10s -dir /var/tmp
//
// With -data it targets a node already running on that data dir instead
// (its rate limit must allow the load; it gets the Comune "bench"):
//
//	go run ./cmd/loadgen -data ./sportello-data
//
// Every booking is made by a distinct citizen. Traffic goes only to the
// node's own loopback address, and every level stops by itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		levelsFlag = flag.String("levels", "1,16,64,256", "comma-separated `concurrencies` to measure")
		duration   = flag.Duration("duration", 5*time.Second, "how long each level runs")
		maxPer     = flag.Int("max-bookings", 200000, "stop a level after this many bookings")
		dataDir    = flag.String("data", "", "target the node running on this data `dir` instead of starting one")
		dir        = flag.String("dir", "", "parent `dir` of the started node's data (the disk measured); default the system's temp dir")
		bin        = flag.String("sportello", "", "sportello `binary` to start; default: built with `go build`")
		fsyncN     = flag.Int("fsync-samples", 500, "fsyncs of the raw disk measurement")
		keep       = flag.Bool("keep", false, "keep the started node's data dir")
		profDir    = flag.String("profile", "", "save the node's CPU, block and mutex profiles of each level into `dir`")
		store      = flag.Bool("store", true, "also measure the store ceiling: Book.Create in process, no HTTP")
		drain      = flag.Duration("drain", 2*time.Minute, "before each HTTP level, wait at most this long for the node to deliver the emails of the previous one (0: do not wait)")
	)
	flag.Parse()
	levels, err := parseLevels(*levelsFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: -levels: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var n *node
	storeParent := *dir
	if *dataDir != "" {
		n, err = targetNode(ctx, *dataDir)
	} else {
		n, err = startNode(ctx, *bin, *dir, *keep)
		if err == nil {
			storeParent = filepath.Dir(n.dataDir) // the started node's own folder: same disk
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	defer n.Close()

	b, err := newBench(ctx, n)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: seed: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "loadgen: node %s at %s, data %s; service %q has %d slots of %d places\n",
		n.status.NodeID, n.status.HTTPAddr, n.dataDir, b.service.Name, len(b.slots), b.service.Capacity)

	// The fsync baseline is measured first, on the node's disk, while the
	// node idles.
	fsyncDir := filepath.Join(n.dataDir, "cluster")
	if _, err := os.Stat(fsyncDir); err != nil {
		fsyncDir = n.dataDir
	}
	fsyncs, err := cluster.MeasureFsync(fsyncDir, *fsyncN)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "loadgen: raw disk %.0f fsyncs/s\n", fsyncs)

	var sb *storeBench
	if *store {
		if sb, err = newStoreBench(ctx, storeParent); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: store ceiling: %v\n", err)
			return 1
		}
		defer sb.Close()
	}

	var prof *profiler
	if *profDir != "" {
		if err := os.MkdirAll(*profDir, 0o750); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 1
		}
		prof = &profiler{n: n, dir: *profDir}
		if err := prof.enable(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: enable profiles: %v\n", err)
			return 1
		}
	}

	var results []levelResult
	for _, c := range levels {
		if ctx.Err() != nil {
			break
		}
		var sr *levelResult
		if sb != nil {
			before := n.readCPU()
			r := sb.runLevel(ctx, c, *duration, *maxPer)
			after := n.readCPU()
			r.loadgenCPU, r.nodeCPU = after.self-before.self, after.node-before.node
			fmt.Fprintf(os.Stderr, "loadgen: store, concurrency %d: %d bookings in %v, %.0f/s, p50 %v, p99 %v, errors %v, CPU loadgen %.0f%%\n",
				c, r.ok, r.elapsed.Round(time.Millisecond), r.rate(), r.p(50), r.p(99), r.errors, r.cpuShare(r.loadgenCPU))
			if err := sb.err(); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: store, first error: %v\n", err)
			}
			sr = &r
		}
		var drained time.Duration
		if *drain > 0 {
			if drained, err = n.waitOutboxDrained(ctx, *drain); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: %v; measuring anyway\n", err)
			}
		}
		wait := func() {}
		if prof != nil {
			wait = prof.during(ctx, c, *duration)
		}
		before := n.readCPU()
		r := b.runLevel(ctx, c, *duration, *maxPer)
		after := n.readCPU()
		r.loadgenCPU, r.nodeCPU = after.self-before.self, after.node-before.node
		r.store, r.drainedBefore = sr, drained
		wait()
		fmt.Fprintf(os.Stderr, "loadgen: HTTP, concurrency %d: %d bookings in %v, %.0f/s, p50 %v, p99 %v, errors %v, CPU loadgen %.0f%% node %.0f%% (emails of the previous level drained in %v)\n",
			c, r.ok, r.elapsed.Round(time.Millisecond), r.rate(), r.p(50), r.p(99), r.errors,
			r.cpuShare(r.loadgenCPU), r.cpuShare(r.nodeCPU), drained.Round(time.Millisecond))
		results = append(results, r)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "loadgen: interrupted")
		return 1
	}
	report(os.Stdout, reportInfo{
		When: time.Now(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Node: n.status.Version, DataDir: fsyncDir, Duration: *duration, FsyncPerSec: fsyncs, FsyncSamples: *fsyncN,
		Drain: *drain > 0,
	}, results)
	return 0
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
