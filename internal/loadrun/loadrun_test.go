package loadrun

import (
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

func TestFiscalCodesAreValidAndDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, i := range []int64{0, 1, 25, 26, 675, 676, 17575, 17576, 99_999_999, 308_915_775} {
		fc := FiscalCode(i)
		if !booking.ValidFiscalCode(fc) {
			t.Errorf("FiscalCode(%d) = %s, not a valid codice fiscale", i, fc)
		}
		if seen[fc] {
			t.Errorf("FiscalCode(%d) = %s repeats an earlier code", i, fc)
		}
		seen[fc] = true
	}
}

func TestRunCountsSuccessesAndFailuresPerWorker(t *testing.T) {
	t.Parallel()
	// Worker 0 always fails, the others succeed; the run stops at max.
	calls := make([]int, 4)
	r := Run(context.Background(), 4, time.Minute, 400, func(_ context.Context, w int) string {
		calls[w]++
		if w == 0 {
			return "503"
		}
		return ""
	})
	if r.OK+r.Errors["503"] != 400 {
		t.Errorf("ok %d + failures %d, want 400 operations in all", r.OK, r.Errors["503"])
	}
	if r.Errors["503"] != calls[0]-1 {
		t.Errorf("failures %d, want worker 0's %d calls minus its warm-up", r.Errors["503"], calls[0]-1)
	}
	if len(r.Latencies) != r.OK || r.Concurrency != 4 || r.Elapsed <= 0 {
		t.Errorf("result %d latencies, %d ok, concurrency %d, elapsed %v", len(r.Latencies), r.OK, r.Concurrency, r.Elapsed)
	}
	for i := 1; i < len(r.Latencies); i++ {
		if r.Latencies[i] < r.Latencies[i-1] {
			t.Fatal("latencies are not sorted")
		}
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	r := Result{Elapsed: 2 * time.Second, Errors: map[string]int{"net": 1, "503": 2}}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	r.OK = len(r.Latencies)
	if r.P(50) != 50*time.Millisecond || r.P(99) != 99*time.Millisecond || r.Rate() != 50 {
		t.Errorf("p50 %v, p99 %v, rate %v; want 50ms, 99ms, 50/s", r.P(50), r.P(99), r.Rate())
	}
	if got, want := r.ErrorString(), "2×503 1×net"; got != want {
		t.Errorf("ErrorString = %q, want %q", got, want)
	}
	if (Result{}).P(99) != 0 || (Result{}).Rate() != 0 || (Result{}).ErrorString() != "0" {
		t.Error("an empty result has non-zero figures")
	}
}
