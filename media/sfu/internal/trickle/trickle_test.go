package trickle

import (
	"slices"
	"testing"
)

// TestGate: messages pass at once until Hold, wait in order until
// Release, and pass at once again after it.
func TestGate(t *testing.T) {
	var g Gate[int]
	var sent []int
	send := func(v int) { sent = append(sent, v) }
	g.Pass(1, send)
	g.Hold()
	g.Pass(2, send)
	g.Pass(3, send)
	if !slices.Equal(sent, []int{1}) {
		t.Fatalf("while held: sent %v, want [1]", sent)
	}
	sent = append(sent, 100) // the description
	g.Release(send)
	g.Pass(4, send)
	g.Release(send) // a second release sends nothing again
	if want := []int{1, 100, 2, 3, 4}; !slices.Equal(sent, want) {
		t.Fatalf("sent %v, want %v", sent, want)
	}
}
