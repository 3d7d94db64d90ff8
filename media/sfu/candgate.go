package sfu

import "sync"

// candGate keeps a peer connection's local ICE candidates from reaching
// the browser before the description that carries their ICE credentials.
//
// pion starts gathering for an ICE restart inside CreateOffer (the sub
// connection's offer) and inside SetRemoteDescription (a pub offer that
// restarts): earlier than a browser, which gathers from
// setLocalDescription. A candidate of the new generation sent before the
// offer or answer naming its ufrag is dropped by the browser
// (addIceCandidate refuses an unknown ufrag), and when each side loses
// its candidates that way the restarted connection never finds a pair.
// So from just before such a call until the description is queued, the
// candidates wait here, and then follow it in their order.
type candGate struct {
	mu   sync.Mutex
	held bool
	buf  [][]byte
}

// hold makes the candidates wait until release.
func (g *candGate) hold() {
	g.mu.Lock()
	g.held = true
	g.mu.Unlock()
}

// release sends the waiting candidates with send and lets the next ones
// through at once.
func (g *candGate) release(send func([]byte)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.buf {
		send(b)
	}
	g.buf, g.held = nil, false
}

// pass sends candidate message b now, or keeps it until release.
func (g *candGate) pass(b []byte, send func([]byte)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		g.buf = append(g.buf, b)
		return
	}
	send(b)
}
