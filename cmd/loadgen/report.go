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
}

// report prints the results as Markdown, ready for cluster/DESIGN.md.
func report(w io.Writer, info reportInfo, results []levelResult) {
	fmt.Fprintf(w, "Measured %s with `go run ./cmd/loadgen` on %d CPUs (%s, %s), sportello %s,\n",
		info.When.UTC().Format("2006-01-02 15:04 MST"), info.CPUs, info.OS, info.GoVersion, info.Node)
	fmt.Fprintf(w, "one node, data in `%s`; each level runs %v of back-to-back `POST /api/v1/bookings`\n", info.DataDir, info.Duration)
	fmt.Fprintf(w, "(HTTP → raft → SQLite, each booking by a distinct citizen, its email queued in the same command).\n")
	fmt.Fprintf(w, "Raw disk: %.0f fsyncs/s (4 KiB write + fsync, %d samples, same disk, same run).\n\n", info.FsyncPerSec, info.FsyncSamples)
	fmt.Fprintln(w, "| concurrency | bookings | bookings/s | p50 | p99 | errors | bookings per fsync |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		ratio := 0.0
		if info.FsyncPerSec > 0 {
			ratio = r.rate() / info.FsyncPerSec
		}
		fmt.Fprintf(w, "| %d | %d | %.0f | %s | %s | %s | %.2f |\n",
			r.concurrency, r.ok, r.rate(), ms(r.p(50)), ms(r.p(99)), r.errorString(), ratio)
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
