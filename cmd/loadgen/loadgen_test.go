package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/loadrun"
	"github.com/sportello-virtuale/sportello/internal/mail"
)

func TestParseLevels(t *testing.T) {
	t.Parallel()
	got, err := parseLevels("1, 16,64,256")
	if err != nil || len(got) != 4 || got[0] != 1 || got[3] != 256 {
		t.Errorf("parseLevels = %v, %v; want [1 16 64 256]", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-4", "5000"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("parseLevels(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseSizes(t *testing.T) {
	t.Parallel()
	got, err := parseSizes("1, 3")
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("parseSizes = %v, %v; want [1 3]", got, err)
	}
	for _, bad := range []string{"", "0", "6", "1,x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) succeeded, want an error", bad)
		}
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	store := loadrun.Result{Concurrency: 16, Elapsed: time.Second, Errors: map[string]int{}, Latencies: []time.Duration{time.Millisecond}}
	for range 199 {
		store.Latencies = append(store.Latencies, 2*time.Millisecond)
	}
	store.OK = len(store.Latencies)
	level := func(rate int, catchUp time.Duration) levelResult {
		r := levelResult{Result: loadrun.Result{Concurrency: 16, Elapsed: 2 * time.Second, Errors: map[string]int{"net": 1, "503": 2}},
			store: &store, loadgenCPU: time.Second, nodeCPU: 3 * time.Second, catchUp: catchUp, nodeIO: procIO{bytes: 1024 * int64(rate) * 2 * 3}}
		for i := 1; i <= 2*rate; i++ {
			r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
		}
		r.OK = len(r.Latencies)
		return r
	}
	var b strings.Builder
	report(&b, reportInfo{When: time.Unix(0, 0), CPUs: 2, FsyncPerSec: 100, FsyncSamples: 10, Duration: 2 * time.Second, Drain: true},
		[]sizeRun{{nodes: 1, results: []levelResult{level(50, 0)}}, {nodes: 3, results: []levelResult{level(40, 2*time.Second)}}})
	for _, want := range []string{
		"**1 node(s)**", "**3 node(s)**",
		"| concurrency | HTTP bookings/s | HTTP p50 | HTTP p99 | errors | caught up | with catch-up | store bookings/s | store p50 | store p99 | HTTP / store | store / fsync | CPU loadgen | CPU nodes | disk per booking |",
		"| 16 | 50 | 50.0 ms | 99.0 ms | 2×503 1×net | 0.00 ms | 50 | 200 | 2.00 ms | 2.00 ms | 0.25 | 2.00 | 50% | 150% | 3.0 KiB |",
		// The followers took 2 s more to apply the 80 bookings of 2 s:
		// the rate they keep up is 20/s, and the CPU is over 4 s.
		"| 16 | 40 | 40.0 ms | 79.0 ms | 2×503 1×net | 2000 ms | 20 | 200 | 2.00 ms | 2.00 ms | 0.20 | 2.00 | 25% | 75% | 3.0 KiB |",
		"| concurrency | 3 nodes / 1 node |",
		"| 16 | 0.80 |",
		"100 fsyncs/s",
		"previous level's emails are delivered",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBodyIsTheAPIRequest(t *testing.T) {
	t.Parallel()
	b := &bench{service: booking.Service{ID: `svc-"1"`}, slots: []string{"2027-03-02T10:00:00+01:00"}, base: 7}
	var got struct {
		ServiceID       string `json:"service_id"`
		Start           string `json:"start"`
		Channel         string `json:"channel"`
		PrivacyAccepted bool   `json:"privacy_accepted"`
		Citizen         struct {
			GivenName  string `json:"given_name"`
			FamilyName string `json:"family_name"`
			FiscalCode string `json:"fiscal_code"`
			Email      string `json:"email"`
		} `json:"citizen"`
	}
	dec := json.NewDecoder(bytes.NewReader(b.body(42)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body is not the API's JSON: %v", err)
	}
	if got.ServiceID != `svc-"1"` || got.Start != b.slots[0] || got.Channel != "in_person" || !got.PrivacyAccepted ||
		got.Citizen.FamilyName != "Carico 42" || got.Citizen.FiscalCode != loadrun.FiscalCode(49) || got.Citizen.Email != "prova42@bench.localhost" {
		t.Errorf("body decodes to %+v", got)
	}
}

// TestSMTPSinkTakesWhatTheNodeSends: the node's own SMTP client submits
// messages to the sink, which counts each accepted one.
func TestSMTPSinkTakesWhatTheNodeSends(t *testing.T) {
	t.Parallel()
	sink, err := startSMTPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: sink.Addr().Port, Security: mail.NoTLS, HELOName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// A line longer than the sink's buffer (4 KiB), whose last piece is
	// ".\r\n", must not end the message early.
	long := strings.Repeat("x", 4096) + ".\r\n"
	msg := []byte("From: a@b.it\r\nTo: c@d.it\r\nSubject: prova\r\n\r\nriga uno\r\n.riga col punto\r\n" + long + "fine\r\n")
	for range 3 {
		if err := sender.Send(context.Background(), "a@b.it", []string{"c@d.it"}, msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := sink.received.Load(); got != 3 {
		t.Errorf("sink received %d messages, want 3", got)
	}
	// The sender keeps its connection: one for the three messages, and
	// Close (of the sink, deferred) does not wait for the idle one.
	if got := sink.conns.Load(); got != 1 {
		t.Errorf("sink accepted %d connections, want 1", got)
	}
}

// TestReadProcIO checks that the nodes' disk writes are read from /proc:
// this process's own count grows by what it writes and syncs.
func TestReadProcIO(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/self/io on this system")
	}
	before := readProcIO(os.Getpid())
	f, err := os.Create(filepath.Join(t.TempDir(), "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 4 {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got := readProcIO(os.Getpid()).minus(before)
	if got.calls < 4 {
		t.Errorf("write calls grew by %d, want at least 4", got.calls)
	}
	// tmpfs sends nothing to a block device; any disk gets the 256 KiB.
	if got.bytes != 0 && got.bytes < 256<<10 {
		t.Errorf("write_bytes grew by %d, want 0 (tmpfs) or at least %d", got.bytes, 256<<10)
	}
}

// TestRepeatsShowTheMedianRun: with -repeat the tables show, at each
// level, the run of median HTTP rate (a real run, not figures mixed from
// several), and a table lists every run in order with the medians.
func TestRepeatsShowTheMedianRun(t *testing.T) {
	t.Parallel()
	level := func(conc, rate int) levelResult {
		r := levelResult{Result: loadrun.Result{Concurrency: conc, Elapsed: time.Second, Errors: map[string]int{}}}
		for i := 1; i <= rate; i++ {
			r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
		}
		r.OK = len(r.Latencies)
		return r
	}
	// Two levels, three runs: at 16 clients the rates are 50, 30, 40;
	// at 64 they are 20, 60, 10.
	sr := newSizeRun(3, [][]levelResult{
		{level(16, 50), level(64, 20)},
		{level(16, 30), level(64, 60)},
		{level(16, 40), level(64, 10)},
	})
	if got := []float64{sr.results[0].Rate(), sr.results[1].Rate()}; got[0] != 40 || got[1] != 20 {
		t.Fatalf("median runs: rates %v, want [40 20]", got)
	}
	if even := newSizeRun(1, [][]levelResult{{level(16, 50)}, {level(16, 30)}}); even.results[0].Rate() != 30 {
		t.Errorf("two runs: picked %v/s, want the lower middle 30", even.results[0].Rate())
	}
	var b strings.Builder
	report(&b, reportInfo{When: time.Unix(0, 0), CPUs: 2, Duration: time.Second, Repeat: 3}, []sizeRun{sr})
	for _, want := range []string{
		"each row is the run of median HTTP rate",
		"| 16 | 40 | 20.0 ms | 40.0 ms |",
		"| 64 | 20 | 10.0 ms | 20.0 ms |",
		"| 3 | 16 | 50 at 50.0 ms, 30 at 30.0 ms, 40 at 40.0 ms | 40 | 40.0 ms |",
		"| 3 | 64 | 20 at 20.0 ms, 60 at 59.0 ms, 10 at 10.0 ms | 20 | 20.0 ms |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	var one strings.Builder
	report(&one, reportInfo{When: time.Unix(0, 0), CPUs: 2, Duration: time.Second, Repeat: 1}, []sizeRun{newSizeRun(3, [][]levelResult{{level(16, 50)}})})
	if strings.Contains(one.String(), "Every run") || strings.Contains(one.String(), "median HTTP rate") {
		t.Errorf("one run: the report speaks of repeats:\n%s", one.String())
	}
}
