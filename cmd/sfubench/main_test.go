package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the benchmark's child process:
// runBench starts os.Executable() with -serve or -relay.
func TestMain(m *testing.M) {
	if os.Getenv("SFUBENCH_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchRuns runs a short benchmark end to end: a child SFU, a
// publisher, two subscribers, and the relay baseline.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes and WebRTC connections")
	}
	if err := runBench("2", time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestLoss(t *testing.T) {
	for _, c := range []struct {
		sent, recv uint64
		n          int
		want       float64
	}{
		{100, 200, 2, 0},
		{100, 150, 2, 0.25},
		{0, 0, 3, 0},
		{100, 400, 2, 0}, // retransmissions counted twice never give negative loss
	} {
		if got := lossOf(c.sent, c.recv, c.n); got != c.want {
			t.Errorf("lossOf(%d, %d, %d): got %v, want %v", c.sent, c.recv, c.n, got, c.want)
		}
	}
}
