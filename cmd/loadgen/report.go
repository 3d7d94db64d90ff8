package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// reportInfo is the context printed above the tables.
type reportInfo struct {
	When         time.Time
	GoVersion    string
	CPUs         int
	OS           string
	Node         string
	DataDir      string
	Duration     time.Duration
	FsyncPerSec  float64
	FsyncSamples int
	// Drain tells whether each HTTP level waited for the previous one's
	// emails to be delivered.
	Drain bool
	// Mail is where the nodes delivered email: "smtp" or "mailbox".
	Mail string
	// Repeat is how many runs, each on a new cluster, each size had.
	Repeat int
}

// sizeRun is the results of every level on a cluster of nodes nodes:
// results holds, for each level, the run of median HTTP rate, and runs
// every run's results in the order measured (one run without -repeat).
type sizeRun struct {
	nodes   int
	results []levelResult
	runs    [][]levelResult
}

// newSizeRun picks, for each level, the run of median HTTP rate among
// runs (the lower middle one of an even count), so that the tables show
// one real run rather than figures mixed from several.
func newSizeRun(nodes int, runs [][]levelResult) sizeRun {
	sr := sizeRun{nodes: nodes, runs: runs}
	if len(runs) == 0 {
		return sr
	}
	for i := range runs[0] {
		var at []levelResult
		for _, run := range runs {
			if i < len(run) {
				at = append(at, run[i])
			}
		}
		slices.SortStableFunc(at, func(a, b levelResult) int { return cmp.Compare(a.Rate(), b.Rate()) })
		sr.results = append(sr.results, at[(len(at)-1)/2])
	}
	return sr
}

// report prints the results as Markdown, ready for cluster/DESIGN.md: one
// table per cluster size, then the bigger clusters against one node.
func report(w io.Writer, info reportInfo, runs []sizeRun) {
	fmt.Fprintf(w, "Measured %s with `go run ./cmd/loadgen` on %d CPUs (%s, %s), sportello %s;\n",
		info.When.UTC().Format("2006-01-02 15:04 MST"), info.CPUs, info.OS, info.GoVersion, info.Node)
	fmt.Fprintf(w, "every node and loadgen on this machine, data under `%s`; each level runs %v.\n", info.DataDir, info.Duration)
	fmt.Fprintf(w, "Raw disk: %.0f fsyncs/s (4 KiB write + fsync, %d samples, same disk, same run).\n", info.FsyncPerSec, info.FsyncSamples)
	fmt.Fprintf(w, "HTTP: back-to-back `POST /api/v1/bookings`, client w to node w mod N (HTTP → forward to the leader →\n")
	fmt.Fprintf(w, "raft → SQLite on every node; each booking by a distinct citizen, its email queued in the same command\n")
	fmt.Fprintf(w, "and delivered by the leader's outbox")
	switch info.Mail {
	case "smtp":
		fmt.Fprintf(w, " over SMTP to a sink in loadgen standing for the mail relay")
	case "mailbox":
		fmt.Fprintf(w, " as files into the demo mailbox")
	}
	if info.Drain {
		fmt.Fprintf(w, "; each level starts once the previous level's emails are delivered).\n")
	} else {
		fmt.Fprintf(w, ").\n")
	}
	fmt.Fprintf(w, "Store: `booking.Book.Create` in the leader's process (admin socket `POST /v1/debug/store-load`), same\n")
	fmt.Fprintf(w, "cluster, run just before the HTTP level: no HTTP, no tenant resolution, no forwarding.\n")
	fmt.Fprintf(w, "Caught up: after the HTTP level, how long until every node had applied what any node had applied at its end;\n")
	fmt.Fprintf(w, "with catch-up: the HTTP bookings over the level and that wait, the rate every node keeps up.\n")
	fmt.Fprintf(w, "CPU: share of one core used by loadgen and by all nodes together during the HTTP level and its catch-up (%d cores in all).\n", info.CPUs)
	fmt.Fprintf(w, "Disk: what all nodes together wrote to the disk (write_bytes of /proc/PID/io) per HTTP booking, catch-up included.\n")
	if info.Repeat > 1 {
		fmt.Fprintf(w, "Each size ran %d times, each time on a new cluster: each row is the run of median HTTP rate at that level; every run is listed after the tables.\n", info.Repeat)
	}
	for _, run := range runs {
		fmt.Fprintf(w, "\n**%d node(s)**\n\n", run.nodes)
		fmt.Fprintln(w, "| concurrency | HTTP bookings/s | HTTP p50 | HTTP p99 | errors | caught up | with catch-up | store bookings/s | store p50 | store p99 | HTTP / store | store / fsync | CPU loadgen | CPU nodes | disk per booking |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range run.results {
			storeRate, storeP50, storeP99, httpPerStore, storePerFsync := "–", "–", "–", "–", "–"
			if s := r.store; s != nil {
				storeRate, storeP50, storeP99 = fmt.Sprintf("%.0f", s.Rate()), ms(s.P(50)), ms(s.P(99))
				if s.Rate() > 0 {
					httpPerStore = fmt.Sprintf("%.2f", r.Rate()/s.Rate())
				}
				if info.FsyncPerSec > 0 {
					storePerFsync = fmt.Sprintf("%.2f", s.Rate()/info.FsyncPerSec)
				}
			}
			errs := r.ErrorString()
			if r.store != nil && len(r.store.Errors) > 0 {
				errs += " (store " + r.store.ErrorString() + ")"
			}
			disk := "–"
			if r.OK > 0 && r.nodeIO.bytes > 0 {
				disk = fmt.Sprintf("%.1f KiB", float64(r.nodeIO.bytes)/1024/float64(r.OK))
			}
			fmt.Fprintf(w, "| %d | %.0f | %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %s |\n",
				r.Concurrency, r.Rate(), ms(r.P(50)), ms(r.P(99)), errs, ms(r.catchUp), r.sustained(), storeRate, storeP50, storeP99,
				httpPerStore, storePerFsync, r.cpuShare(r.loadgenCPU), r.cpuShare(r.nodeCPU), disk)
		}
	}
	if info.Repeat > 1 {
		reportRepeats(w, runs)
	}
	if len(runs) < 2 || runs[0].nodes != 1 {
		return
	}
	fmt.Fprintf(w, "\nHTTP bookings/s of the bigger clusters against one node, same run:\n\n")
	fmt.Fprint(w, "| concurrency |")
	for _, run := range runs[1:] {
		fmt.Fprintf(w, " %d nodes / 1 node |", run.nodes)
	}
	fmt.Fprint(w, "\n|---:|")
	for range runs[1:] {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for i, one := range runs[0].results {
		fmt.Fprintf(w, "| %d |", one.Concurrency)
		for _, run := range runs[1:] {
			if i < len(run.results) && one.Rate() > 0 {
				fmt.Fprintf(w, " %.2f |", run.results[i].Rate()/one.Rate())
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}
}

// ms formats d in milliseconds with a precision that suits its size.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// reportRepeats lists the HTTP rate and p99 of every run of every level,
// in the order measured, with their medians.
func reportRepeats(w io.Writer, runs []sizeRun) {
	fmt.Fprintf(w, "\nEvery run, in the order measured (HTTP bookings/s at p99):\n\n")
	fmt.Fprintln(w, "| nodes | concurrency | runs | median bookings/s | median p99 |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|")
	for _, sr := range runs {
		for i, med := range sr.results {
			var each []string
			var p99s []time.Duration
			for _, run := range sr.runs {
				if i < len(run) {
					each = append(each, fmt.Sprintf("%.0f at %s", run[i].Rate(), ms(run[i].P(99))))
					p99s = append(p99s, run[i].P(99))
				}
			}
			slices.Sort(p99s)
			fmt.Fprintf(w, "| %d | %d | %s | %.0f | %s |\n", sr.nodes, med.Concurrency, strings.Join(each, ", "), med.Rate(), ms(p99s[(len(p99s)-1)/2]))
		}
	}
}
