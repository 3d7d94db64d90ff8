package loadrun

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is the outcome of one run at one concurrency.
type Result struct {
	Concurrency int `json:"concurrency"`
	// OK counts the operations that succeeded.
	OK int `json:"ok"`
	// Elapsed is the measured time, the warm-up round excluded.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Latencies are those of the successful operations, sorted.
	Latencies []time.Duration `json:"latencies_ns"`
	// Errors counts the failures by kind (an HTTP status, "net", an error code).
	Errors map[string]int `json:"errors"`
	// ByWorker holds each worker's own latencies, in the order measured,
	// so that a caller can compare groups of workers (those of one node).
	ByWorker [][]time.Duration `json:"-"`
}

// Op runs one operation for worker w (0 ≤ w < concurrency) and returns ""
// when it succeeded, or else a short name of the failure.
type Op func(ctx context.Context, w int) (failure string)

// Run keeps c workers calling op back to back for d, or until max
// operations, after a warm-up round of one call each (which, over HTTP,
// opens the connections) that is not counted.
func Run(ctx context.Context, c int, d time.Duration, max int, op Op) Result {
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() { op(ctx, w) })
	}
	wg.Wait()

	type worker struct {
		lat    []time.Duration
		errors map[string]int
	}
	workers := make([]worker, c)
	var count atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		workers[w].errors = map[string]int{}
		wg.Go(func() {
			me := &workers[w]
			for time.Now().Before(deadline) && ctx.Err() == nil && count.Add(1) <= int64(max) {
				t0 := time.Now()
				if failure := op(ctx, w); failure == "" {
					me.lat = append(me.lat, time.Since(t0))
				} else {
					me.errors[failure]++
				}
			}
		})
	}
	wg.Wait()
	r := Result{Concurrency: c, Elapsed: time.Since(start), Errors: map[string]int{}}
	for _, w := range workers {
		r.Latencies = append(r.Latencies, w.lat...)
		r.ByWorker = append(r.ByWorker, w.lat)
		for s, n := range w.errors {
			r.Errors[s] += n
		}
	}
	slices.Sort(r.Latencies)
	r.OK = len(r.Latencies)
	return r
}

// Rate is the successful operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// P returns the q-th percentile latency (nearest rank), 0 without successes.
func (r Result) P(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q/100*float64(len(r.Latencies))+0.5) - 1
	i = max(0, min(i, len(r.Latencies)-1))
	return r.Latencies[i]
}

// ErrorString lists the failures as "3×503 1×net", or "0".
func (r Result) ErrorString() string {
	if len(r.Errors) == 0 {
		return "0"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(r.Errors)) {
		parts = append(parts, fmt.Sprintf("%d×%s", r.Errors[s], s))
	}
	return strings.Join(parts, " ")
}

// FiscalCode returns a valid codice fiscale unique to i (for i below
// 26^6): the six letters of surname and name spell i in base 26, the birth
// data is fixed and the check character is computed.
func FiscalCode(i int64) string {
	var letters [6]byte
	for k := 5; k >= 0; k-- {
		letters[k] = byte('A' + i%26)
		i /= 26
	}
	base := string(letters[:]) + "85T10A562"
	return base + string(checkChar(base))
}

// checkChar computes the control character of the first 15 characters:
// odd positions (1st, 3rd, …) through the conversion table, even ones by
// value, the sum modulo 26 as a letter.
func checkChar(s string) byte {
	odd := [...]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for i := 0; i < 15; i++ {
		v := int(s[i] - 'A')
		if s[i] >= '0' && s[i] <= '9' {
			v = int(s[i] - '0')
		}
		if i%2 == 0 {
			sum += odd[v]
		} else {
			sum += v
		}
	}
	return byte('A' + sum%26)
}
