// Package trickle holds a peer connection's local ICE candidates back
// until the description that carries their ICE credentials has been sent.
//
// pion starts gathering for an ICE restart inside CreateOffer (an offer
// that restarts) and inside SetRemoteDescription (a remote offer that
// restarts): earlier than a browser, which gathers from
// setLocalDescription. A candidate of the new generation sent before the
// offer or answer naming its ufrag is dropped by the other side
// (addIceCandidate refuses an unknown ufrag), and when each side loses
// its candidates that way the restarted connection never finds a pair.
// So from just before such a call until the description is queued, the
// candidates wait in a Gate, and then follow it in their order. The SFU
// uses it for its side, the test client (sfutest) for the browser's.
package trickle

import "sync"

// Gate holds candidate messages of type T while held. The zero value
// lets every message through.
type Gate[T any] struct {
	mu   sync.Mutex
	held bool
	buf  []T
}

// Hold makes the next messages wait until Release.
func (g *Gate[T]) Hold() {
	g.mu.Lock()
	g.held = true
	g.mu.Unlock()
}

// Release sends the waiting messages with send, in order, and lets the
// next ones through at once. Releasing a gate not held does nothing.
func (g *Gate[T]) Release(send func(T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, v := range g.buf {
		send(v)
	}
	g.buf, g.held = nil, false
}

// Pass sends v with send now, or keeps it until Release.
func (g *Gate[T]) Pass(v T, send func(T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		g.buf = append(g.buf, v)
		return
	}
	send(v)
}
