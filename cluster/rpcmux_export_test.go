package cluster

// RefuseMultiplexedRPC makes n answer the multiplexing request as a node
// of the previous version does ("unknown RPC operation"), so that its
// callers keep the one-request-per-connection framing.
func RefuseMultiplexedRPC(n *Node) { n.refuseMux.Store(true) }

// MultiplexedRPCConns returns how many multiplexed connections n keeps
// open, and how many addresses it talks to in the old framing.
func MultiplexedRPCConns(n *Node) (mux, old int) {
	n.mux.mu.Lock()
	defer n.mux.mu.Unlock()
	for _, mc := range n.mux.conns {
		if mc.live() {
			mux++
		}
	}
	return mux, len(n.mux.old)
}
