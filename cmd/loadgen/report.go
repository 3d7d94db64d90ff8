package main

import (
	"fmt"
	"io"
	"time"
)

// reportInfo is the context printed above the table.
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
}

// report prints the results as Markdown, ready for cluster/DESIGN.md.
func report(w io.Writer, info reportInfo, results []levelResult) {
	fmt.Fprintf(w, "Measured %s with `go run ./cmd/loadgen` on %d CPUs (%s, %s), sportello %s,\n",
		info.When.UTC().Format("2006-01-02 15:04 MST"), info.CPUs, info.OS, info.GoVersion, info.Node)
	fmt.Fprintf(w, "one node, data in `%s`; each level runs %v.\n", info.DataDir, info.Duration)
	fmt.Fprintf(w, "Raw disk: %.0f fsyncs/s (4 KiB write + fsync, %d samples, same disk, same run).\n", info.FsyncPerSec, info.FsyncSamples)
	fmt.Fprintf(w, "HTTP: back-to-back `POST /api/v1/bookings` to the node (HTTP → raft → SQLite, each booking by a\n")
	fmt.Fprintf(w, "distinct citizen, its email queued in the same command and delivered by the node's outbox")
	if info.Drain {
		fmt.Fprintf(w, ";\neach level starts once the previous level's emails are delivered).\n")
	} else {
		fmt.Fprintf(w, ").\n")
	}
	fmt.Fprintf(w, "Store: `booking.Book.Create` in loadgen's process on a one-node cluster of its own on the same disk\n")
	fmt.Fprintf(w, "(raft log with fsync → SQLite FSM, same defaults; no HTTP, no tenant resolution, emails queued, not delivered).\n")
	fmt.Fprintf(w, "CPU: share of one core used by loadgen and by the node during the HTTP level (%d cores in all).\n\n", info.CPUs)
	fmt.Fprintln(w, "| concurrency | HTTP bookings/s | HTTP p50 | HTTP p99 | errors | store bookings/s | store p50 | store p99 | HTTP / store | store / fsync | CPU loadgen | CPU node |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		storeRate, storeP50, storeP99, httpPerStore, storePerFsync := "–", "–", "–", "–", "–"
		if s := r.store; s != nil {
			storeRate, storeP50, storeP99 = fmt.Sprintf("%.0f", s.rate()), ms(s.p(50)), ms(s.p(99))
			if s.rate() > 0 {
				httpPerStore = fmt.Sprintf("%.2f", r.rate()/s.rate())
			}
			if info.FsyncPerSec > 0 {
				storePerFsync = fmt.Sprintf("%.2f", s.rate()/info.FsyncPerSec)
			}
		}
		errs := r.errorString()
		if r.store != nil && len(r.store.errors) > 0 {
			errs += " (store " + r.store.errorString() + ")"
		}
		fmt.Fprintf(w, "| %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% |\n",
			r.concurrency, r.rate(), ms(r.p(50)), ms(r.p(99)), errs, storeRate, storeP50, storeP99,
			httpPerStore, storePerFsync, r.cpuShare(r.loadgenCPU), r.cpuShare(r.nodeCPU))
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
