package leaktest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB whose cleanups run when the test says and
// whose failures are recorded, not reported.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Failed() bool     { r.mu.Lock(); defer r.mu.Unlock(); return len(r.errors) > 0 }
func (r *recorder) Errorf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(f, a...))
}

func (r *recorder) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

//go:noinline
func leakyWorker(stop <-chan struct{}) { <-stop }

func TestCheck(t *testing.T) {
	t.Parallel()
	t.Run("goroutine stopped by a cleanup", func(t *testing.T) {
		r := &recorder{TB: t}
		CheckTimeout(r, time.Second)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { leakyWorker(stop); close(done) }()
		r.Cleanup(func() { close(stop); <-done })
		r.runCleanups()
		if len(r.errors) != 0 {
			t.Errorf("got failures %q, want none", r.errors)
		}
	})
	t.Run("goroutine that ends soon after the cleanups", func(t *testing.T) {
		r := &recorder{TB: t}
		CheckTimeout(r, 2*time.Second)
		stop := make(chan struct{})
		go leakyWorker(stop)
		r.Cleanup(func() { time.AfterFunc(100*time.Millisecond, func() { close(stop) }) })
		r.runCleanups()
		if len(r.errors) != 0 {
			t.Errorf("got failures %q, want none", r.errors)
		}
	})
	t.Run("leaked goroutine and its children", func(t *testing.T) {
		r := &recorder{TB: t}
		CheckTimeout(r, 200*time.Millisecond)
		stop := make(chan struct{})
		defer close(stop)
		started := make(chan struct{})
		go func() {
			go leakyWorker(stop) // a grandchild of the test's goroutine
			close(started)
			leakyWorker(stop)
		}()
		<-started
		r.runCleanups()
		if len(r.errors) != 1 {
			t.Fatalf("got failures %q, want one", r.errors)
		}
		msg := r.errors[0]
		if !strings.Contains(msg, "2 goroutine(s)") || !strings.Contains(msg, "leaktest.leakyWorker") {
			t.Errorf("failure %q: want the two goroutines and their stacks", msg)
		}
	})
	t.Run("goroutine of another goroutine is not blamed", func(t *testing.T) {
		// A goroutine that existed before Check (as another parallel
		// test's would) starts a worker while the test runs.
		stop := make(chan struct{})
		defer close(stop)
		spawn := make(chan struct{})
		spawned := make(chan struct{})
		go func() {
			<-spawn
			go leakyWorker(stop)
			close(spawned)
			leakyWorker(stop)
		}()
		r := &recorder{TB: t}
		CheckTimeout(r, 200*time.Millisecond)
		close(spawn)
		<-spawned
		r.runCleanups()
		if len(r.errors) != 0 {
			t.Errorf("got failures %q, want none", r.errors)
		}
	})
	t.Run("a failed test is not checked", func(t *testing.T) {
		r := &recorder{TB: t}
		CheckTimeout(r, 100*time.Millisecond)
		stop := make(chan struct{})
		defer close(stop)
		go leakyWorker(stop)
		r.Errorf("the test failed")
		r.runCleanups()
		if len(r.errors) != 1 {
			t.Errorf("got failures %q, want only the test's own", r.errors)
		}
	})
}

func TestParse(t *testing.T) {
	t.Parallel()
	dump := "goroutine 7 [running]:\nmain.f()\n\t/x.go:1 +0x1\ncreated by main.g in goroutine 3\n\t/x.go:2 +0x2\n\n" +
		"goroutine 1 [chan receive]:\nmain.main()\n\t/x.go:3 +0x3\n"
	gs := parse(dump)
	if len(gs) != 2 || gs[0].id != 7 || gs[0].creator != 3 || gs[1].id != 1 || gs[1].creator != 0 {
		t.Errorf("parse = %+v, want goroutine 7 created in 3, then 1 with no creator", gs)
	}
}
