// Package leaktest checks that a component test leaves no goroutine
// behind, as Tailscale's resource check does: Check snapshots the
// goroutines when a test starts a component, and when the test's cleanups
// have closed it, waits until the goroutines the test started are gone,
// or fails listing their stacks.
//
// Tests here run in parallel, so a plain count of goroutines would blame
// one test for another's. Check counts only the goroutines the test
// itself started: Go's tracebacks name the goroutine that created each
// one ("created by ... in goroutine 7"), so a goroutine belongs to the
// test when following its creators through the live goroutines leads to
// the test's own goroutine through goroutines started after Check. A
// goroutine whose creator has already exited cannot be traced and is not
// counted, nor is one started by a goroutine that ran before Check (a
// node the test started earlier serving a request): the check may miss
// such a leak but never blames a test for a goroutine of another.
package leaktest

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Timeout is how long Check waits, by default, for goroutines to return
// after the cleanups: closing a server or a connection makes its
// goroutines exit soon after, not at once.
const Timeout = 5 * time.Second

// Check registers a cleanup that fails tb if goroutines started by the
// test after this call are still running once the cleanups registered
// after it have run (cleanups run last-registered first, so call Check
// before starting what it checks). It must be called from the test's
// goroutine. A test that already failed is not checked: its components
// may not have been closed.
func Check(tb testing.TB) {
	tb.Helper()
	CheckTimeout(tb, Timeout)
}

// CheckTimeout is Check with another wait.
func CheckTimeout(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	self := currentID()
	before := map[int]bool{}
	for _, g := range snapshot() {
		before[g.id] = true
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			return
		}
		var left []goroutine
		deadline := time.Now().Add(timeout)
		for {
			left = started(snapshot(), before, self)
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		var b strings.Builder
		for _, g := range left {
			b.WriteString("\n")
			b.WriteString(g.stack)
			b.WriteString("\n")
		}
		tb.Errorf("leaktest: %d goroutine(s) started by the test still running %v after its cleanups:%s", len(left), timeout, b.String())
	})
}

// goroutine is one goroutine of a traceback.
type goroutine struct {
	id      int
	creator int // 0 when unknown (the main goroutine, or not printed)
	stack   string
}

// snapshot returns every goroutine of the process.
func snapshot() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return parse(string(buf[:n]))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// currentID returns the ID of the calling goroutine.
func currentID() int {
	buf := make([]byte, 128)
	gs := parse(string(buf[:runtime.Stack(buf, false)]))
	if len(gs) == 0 {
		return 0
	}
	return gs[0].id
}

// parse reads runtime.Stack's output: blocks separated by blank lines,
// each beginning "goroutine N [state]:" and, for all but the main
// goroutine, ending with "created by F in goroutine M" and its file line.
func parse(dump string) []goroutine {
	var out []goroutine
	for block := range strings.SplitSeq(dump, "\n\n") {
		block = strings.TrimSpace(block)
		rest, ok := strings.CutPrefix(block, "goroutine ")
		if !ok {
			continue
		}
		idText, _, _ := strings.Cut(rest, " ")
		id, err := strconv.Atoi(idText)
		if err != nil {
			continue
		}
		g := goroutine{id: id, stack: block}
		if i := strings.LastIndex(block, "created by "); i >= 0 {
			line, _, _ := strings.Cut(block[i:], "\n")
			if j := strings.LastIndex(line, " in goroutine "); j >= 0 {
				g.creator, _ = strconv.Atoi(line[j+len(" in goroutine "):])
			}
		}
		out = append(out, g)
	}
	return out
}

// started returns the goroutines of now that did not exist in before and
// descend from the goroutine self through live goroutines that did not
// exist in before either.
func started(now []goroutine, before map[int]bool, self int) []goroutine {
	byID := make(map[int]goroutine, len(now))
	for _, g := range now {
		byID[g.id] = g
	}
	ours := func(g goroutine) bool {
		for seen := 0; seen <= len(now); seen++ {
			switch {
			case g.creator == self:
				return true
			case g.creator == 0:
				return false
			}
			parent, live := byID[g.creator]
			if !live || before[parent.id] {
				// An exited creator cannot be traced further; one that
				// ran before Check (a node the test started earlier,
				// another test's server) is not what Check watches.
				return false
			}
			g = parent
		}
		return false
	}
	var out []goroutine
	for _, g := range now {
		if g.id != self && !before[g.id] && ours(g) && !ignored(g.stack) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b goroutine) int { return a.id - b.id })
	return out
}

// ignored reports goroutines that belong to the testing package or the
// runtime rather than to the code under test: subtests the test started
// (each checks its own) and the runtime's helpers.
func ignored(stack string) bool {
	return strings.Contains(stack, "testing.tRunner(") || strings.Contains(stack, "testing.(*T).Run(") ||
		strings.Contains(stack, "runtime.ensureSigM")
}
