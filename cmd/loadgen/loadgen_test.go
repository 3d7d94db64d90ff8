package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

func TestFiscalCodesAreValidAndDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, i := range []int64{0, 1, 25, 26, 675, 676, 17575, 17576, 99_999_999, 308_915_775} {
		fc := fiscalCode(i)
		if !booking.ValidFiscalCode(fc) {
			t.Errorf("fiscalCode(%d) = %s, not a valid codice fiscale", i, fc)
		}
		if seen[fc] {
			t.Errorf("fiscalCode(%d) = %s repeats an earlier code", i, fc)
		}
		seen[fc] = true
	}
}

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

func TestPercentilesAndReport(t *testing.T) {
	t.Parallel()
	r := levelResult{concurrency: 16, elapsed: 2 * time.Second, errors: map[int]int{0: 1, 503: 2}}
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	r.ok = len(r.latencies)
	if r.p(50) != 50*time.Millisecond || r.p(99) != 99*time.Millisecond || r.rate() != 50 {
		t.Errorf("p50 %v, p99 %v, rate %v; want 50ms, 99ms, 50/s", r.p(50), r.p(99), r.rate())
	}
	var b strings.Builder
	report(&b, reportInfo{When: time.Unix(0, 0), CPUs: 2, FsyncPerSec: 100, FsyncSamples: 10, Duration: 2 * time.Second}, []levelResult{r})
	for _, want := range []string{"| concurrency | bookings | bookings/s | p50 | p99 | errors | bookings per fsync |", "| 16 | 100 | 50 | 50.0 ms | 99.0 ms | 1×net 2×503 | 0.50 |", "100 fsyncs/s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
