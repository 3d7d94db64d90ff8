package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// The uclient summary lines ParseUclient reads, e.g.
//
//	16: : start_mclient: tot_send_msgs=40000, tot_recv_msgs=39290
//	16: : Total transmit time is 16
//	16: : Total lost packets 710 (1.775000%), total send dropped 0 (0.000000%)
//	16: : Average round trip delay 0.618529 ms; min = 0 ms, max = 44 ms
var (
	reTotals   = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$`)
	reTransmit = regexp.MustCompile(`Total transmit time is (\d+)`)
	reLoss     = regexp.MustCompile(`Total lost packets \d+ \(([\d.]+)%\)`)
	reRTT      = regexp.MustCompile(`Average round trip delay ([\d.]+) ms`)
)

// ParseUclient reads the final summary of a turnutils_uclient run.
func ParseUclient(out string) (Result, error) {
	var r Result
	found := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := reTotals.FindStringSubmatch(line); m != nil {
			r.Sent, _ = strconv.Atoi(m[1])
			r.Received, _ = strconv.Atoi(m[2])
			found = true
		}
		if m := reTransmit.FindStringSubmatch(line); m != nil {
			r.UclientTransmitS, _ = strconv.Atoi(m[1])
		}
		if m := reLoss.FindStringSubmatch(line); m != nil {
			r.LossPercent, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := reRTT.FindStringSubmatch(line); m != nil {
			r.RTTms, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	if !found {
		return r, errors.New("no uclient summary (tot_send_msgs/tot_recv_msgs) in the output")
	}
	return r, nil
}

// sum adds up the rounds of one server.
func sum(rs []Result) Result {
	var t Result
	for _, r := range rs {
		t.Server = r.Server
		t.Sent += r.Sent
		t.Received += r.Received
		t.Wall += r.Wall
		t.ServerCPU += r.ServerCPU
		t.RTTms += r.RTTms / float64(len(rs))
	}
	if t.Sent > 0 {
		t.LossPercent = 100 * float64(t.Sent-t.Received) / float64(t.Sent)
	}
	return t
}

// Table formats the comparison.
func Table(l Load, ours, theirs []Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "turnutils_uclient %s (rounds: %d)\n\n",
		strings.Join(l.args(0)[:len(l.args(0))-3], " ")+" -p <port> 127.0.0.1", len(ours))
	o, c := sum(ours), sum(theirs)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "server\tsent\treceived\tloss %\trtt ms\twall s\tpackets/s\tserver CPU s\tpackets/CPU-s\t")
	for _, r := range []Result{o, c} {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.0f\t%.2f\t%.0f\t\n", r.Server, r.Sent, r.Received,
			r.LossPercent, r.RTTms, r.Wall.Seconds(), r.PacketsPerSecond(), r.ServerCPU.Seconds(), r.PacketsPerCPUSecond())
	}
	fmt.Fprintf(w, "ours/coturn\t\t\t\t\t\t%s\t%s\t%s\t\n",
		ratio(o.PacketsPerSecond(), c.PacketsPerSecond()),
		ratio(o.ServerCPU.Seconds(), c.ServerCPU.Seconds()),
		ratio(o.PacketsPerCPUSecond(), c.PacketsPerCPUSecond()))
	w.Flush()
	return b.String()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}
