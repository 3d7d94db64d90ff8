package main

import (
	"fmt"
	"io"
	"time"
)

// reportInfo is the run's context, printed above the table.
type reportInfo struct {
	When                  time.Time
	GoVersion             string
	CPUs                  int
	LoadBefore, LoadAfter string
	Opts                  options
}

// report prints the results as Markdown for queue/DESIGN.md: the queue
// server, the bare broadcaster and their ratio.
func report(w io.Writer, info reportInfo, rs []result) {
	o := info.Opts
	fmt.Fprintf(w, "queuebench, %s, %s, %d CPUs; load average %s before, %s after\n\n",
		info.When.UTC().Format("2006-01-02 15:04 MST"), info.GoVersion, info.CPUs, info.LoadBefore, info.LoadAfter)
	fmt.Fprintf(w, "`go run ./cmd/queuebench -n %d -boards %g -calls %d -gap %v -timeout %v`\n\n", o.n, o.boards, o.calls, o.gap, o.timeout)
	type row struct {
		name  string
		val   func(r result) string
		num   func(r result) float64
		ratio bool
	}
	ms := func(d time.Duration) string {
		if d < 10*time.Millisecond {
			return fmt.Sprintf("%.2f ms", float64(d)/1e6)
		}
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	perConn := func(r result, b int64) float64 {
		if r.connected == 0 {
			return 0
		}
		return float64(b) / float64(r.connected)
	}
	rows := []row{
		{name: "clients connected", val: func(r result) string {
			return fmt.Sprintf("%d of %d (%d ticket, %d board streams)", r.connected, r.clients, r.tickets, r.boards)
		}},
		{name: "time to connect all (first event each)", val: func(r result) string { return ms(r.connTime) }},
		{name: "deliveries (client × call)", val: func(r result) string {
			return fmt.Sprintf("%d of %d", r.delivered, r.expected)
		}},
		{name: "delay p50 (call acknowledged → event at client)", val: func(r result) string { return ms(pct(r.delays, 50)) },
			num: func(r result) float64 { return float64(pct(r.delays, 50)) }, ratio: true},
		{name: "delay p99", val: func(r result) string { return ms(pct(r.delays, 99)) },
			num: func(r result) float64 { return float64(pct(r.delays, 99)) }, ratio: true},
		{name: "delay max", val: func(r result) string { return ms(pct(r.delays, 100)) },
			num: func(r result) float64 { return float64(pct(r.delays, 100)) }, ratio: true},
		{name: "time until the last client got a call, p50 / max over calls", val: func(r result) string {
			return ms(pct(r.toAll, 50)) + " / " + ms(pct(r.toAll, 100))
		}, num: func(r result) float64 { return float64(pct(r.toAll, 50)) }, ratio: true},
		{name: "calls that missed someone within the timeout", val: func(r result) string { return fmt.Sprint(r.timeouts) }},
		{name: "operator's call round trip p50 / max", val: func(r result) string { return ms(r.ackP50) + " / " + ms(r.ackMax) }},
		{name: "server RSS idle → connected → after calls", val: func(r result) string {
			return fmt.Sprintf("%.0f → %.0f → %.0f MiB", mib(r.rssIdle), mib(r.rssConn), mib(r.rssAfter))
		}},
		{name: "server RSS after the calls, after a full GC (per connection over idle)", val: func(r result) string {
			return fmt.Sprintf("%.0f MiB (%.1f KiB)", mib(r.rssAfterGC), perConn(r, r.rssAfterGC-r.rssIdle)/1024)
		}},
		{name: "server RSS per connection", val: func(r result) string {
			return fmt.Sprintf("%.1f KiB", perConn(r, r.rssConn-r.rssIdle)/1024)
		}, num: func(r result) float64 { return perConn(r, r.rssConn-r.rssIdle) }, ratio: true},
		{name: "server goroutines idle → connected (per connection)", val: func(r result) string {
			return fmt.Sprintf("%d → %d (%.2f)", r.goIdle, r.goConn, perConn(r, int64(r.goConn-r.goIdle)))
		}},
		{name: "server CPU per call", val: func(r result) string {
			return ms(r.cpuCalls / time.Duration(max(r.calls, 1)))
		}, num: func(r result) float64 { return float64(r.cpuCalls) }, ratio: true},
		{name: "office reads per call (hub)", val: func(r result) string {
			if r.mode != "queue" {
				return "–"
			}
			return fmt.Sprintf("%.2f (%d single tickets)", float64(r.reads)/float64(max(r.calls, 1)), r.lookups)
		}},
		{name: "hubs running with clients → after they left", val: func(r result) string {
			if r.mode != "queue" {
				return "–"
			}
			return fmt.Sprintf("%d → %d", r.hubsRunning, r.hubsEnd)
		}},
		{name: "load average at the end of the calls", val: func(r result) string { return r.loadDuring }},
		{name: "streams failed", val: func(r result) string {
			if r.firstErr != nil {
				return fmt.Sprintf("%d (%v)", r.failed, r.firstErr)
			}
			return fmt.Sprint(r.failed)
		}},
	}
	fmt.Fprint(w, "| | queue (hub) |")
	if len(rs) > 1 {
		fmt.Fprint(w, " bare SSE broadcaster | queue / broadcaster |")
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "| --- | --- |")
	if len(rs) > 1 {
		fmt.Fprint(w, " --- | --- |")
	}
	fmt.Fprintln(w)
	for _, rw := range rows {
		fmt.Fprintf(w, "| %s | %s |", rw.name, rw.val(rs[0]))
		if len(rs) > 1 {
			ratio := "–"
			if rw.ratio {
				if b := rw.num(rs[1]); b > 0 {
					ratio = fmt.Sprintf("%.1f×", rw.num(rs[0])/b)
				}
			}
			fmt.Fprintf(w, " %s | %s |", rw.val(rs[1]), ratio)
		}
		fmt.Fprintln(w)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
