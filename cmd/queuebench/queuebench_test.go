package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary be the child server too, as queuebench's
// own binary is.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

// TestEventsTellTheirCall: a client reads which call an event shows from
// the ticket's position or desk, or the board's first desk.
func TestEventsTellTheirCall(t *testing.T) {
	t.Parallel()
	ticket := &client{kind: ticketStream, p0: 7}
	board := &client{kind: boardStream}
	for _, c := range []struct {
		c    *client
		data string
		want int
	}{
		{ticket, `{"id":"x","number":"A008","position":4,"estimated_wait_minutes":40,"state":"waiting"}`, 3},
		{ticket, `{"id":"x","number":"A008","position":0,"estimated_wait_minutes":0,"state":"called","desk":"8"}`, 8},
		{ticket, `{"id":"x","number":"A008","position":0,"state":"parked","desk":"8"}`, 0},
		{board, `[{"number":"A012","desk":"12","state":"called"},{"number":"A011","desk":"11","state":"called"}]`, 12},
		{board, `[]`, -1},
		{board, `{"desk":"5","pad":"xx"}`, 5},
	} {
		if got := c.c.callOf([]byte(c.data)); got != c.want {
			t.Errorf("callOf(%s) = %d, want %d", c.data, got, c.want)
		}
	}
}

// TestSmallRun runs the whole harness on a few clients: both servers
// start, every client gets every call that concerns it, and the report
// has the table with the ratio column.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	var out, errs bytes.Buffer
	if code := run([]string{"-n", "40", "-boards", "0.25", "-calls", "3", "-gap", "10ms", "-timeout", "20s"}, &out, &errs); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errs.String())
	}
	for _, want := range []string{
		"| | queue (hub) | bare SSE broadcaster | queue / broadcaster |",
		"| clients connected | 40 of 40 (30 ticket, 10 board streams) |",
		"| deliveries (client × call) | 117 of 117 | 120 of 120 |",
		"| office reads per call (hub) | 1.00 (0 single tickets) |",
		"| hubs running with clients → after they left | 1 → 0 |",
		"| calls that missed someone within the timeout | 0 | 0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s\n%s", want, out.String(), errs.String())
		}
	}
}
