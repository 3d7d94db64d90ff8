package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as "turnbench -serve", which the
// benchmark starts as a child through os.Executable.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const sample = `0: : Total connect time is 1
3: : start_mclient: msz=8, tot_send_msgs=30000, tot_recv_msgs=29000, tot_send_bytes ~ 3000000, tot_recv_bytes ~ 2900000
16: : start_mclient: tot_send_msgs=40000, tot_recv_msgs=39290
16: : start_mclient: tot_send_bytes ~ 4000000, tot_recv_bytes ~ 3929000
16: : Total transmit time is 16
16: : Total lost packets 710 (1.775000%), total send dropped 0 (0.000000%)
16: : Average round trip delay 0.618529 ms; min = 0 ms, max = 44 ms
16: : Average jitter 0.082082 ms; min = 0 ms, max = 48 ms
`

func TestParseUclient(t *testing.T) {
	r, err := ParseUclient(sample)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 40000 || r.Received != 39290 {
		t.Errorf("sent/received = %d/%d, want 40000/39290 (the final totals, not a progress line)", r.Sent, r.Received)
	}
	if r.LossPercent != 1.775 || r.RTTms != 0.618529 || r.UclientTransmitS != 16 {
		t.Errorf("loss %v rtt %v transmit %v, want 1.775, 0.618529, 16", r.LossPercent, r.RTTms, r.UclientTransmitS)
	}
	if _, err := ParseUclient("socket: Protocol not supported\n"); err == nil {
		t.Error("ParseUclient of output without a summary: no error")
	}
}

func TestParseStat(t *testing.T) {
	// comm with a space and a parenthesis, utime 150 and stime 50 ticks.
	line := "1234 (turn server) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 100 0 0\n"
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if got != 2*time.Second {
		t.Errorf("parseStat = %v, want 2s", got)
	}
	if cpu, err := processCPU(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("processCPU(self) = %v, %v", cpu, err)
	}
}

func TestTable(t *testing.T) {
	l := Load{Clients: 2, Messages: 10, Length: 100, Interval: 0, Secret: "s"}
	ours := []Result{{Server: "sportello", Sent: 20, Received: 20, Wall: time.Second, ServerCPU: 100 * time.Millisecond}}
	theirs := []Result{{Server: "coturn", Sent: 20, Received: 10, Wall: time.Second, ServerCPU: 50 * time.Millisecond}}
	out := Table(l, ours, theirs)
	for _, want := range []string{"-m 2 -n 10 -l 100 -z 0", "sportello", "coturn", "50.00", "ours/coturn", "2.00", "1.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchSmall runs both servers with a tiny load through the real
// uclient: the whole pipeline (child server, coturn config, parsing, CPU).
func TestBenchSmall(t *testing.T) {
	for _, tool := range []string{"turnutils_uclient", "turnserver"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	b := bench{
		uclient: "turnutils_uclient", coturn: "turnserver", timeout: 30 * time.Second,
		load: Load{Clients: 2, Messages: 20, Length: 100, Interval: 0, Secret: "test-secret"},
	}
	for _, server := range []string{"sportello", "coturn"} {
		r, err := b.run(context.Background(), server)
		if err != nil {
			t.Fatalf("%s: %v", server, err)
		}
		if r.Sent != 40 || r.Received == 0 || r.ServerCPU < 0 || r.Wall <= 0 {
			t.Errorf("%s: %+v, want 40 sent and some received", server, r)
		}
	}
}
