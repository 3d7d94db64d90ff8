package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// Fault injection: tests cut a node off from named peers at the transport,
// as a network partition would, without leaving the process or needing
// network namespaces. It is off unless Config.FaultInjection is set; then
// Node.Partition refuses and closes every node-to-node connection (raft,
// RPC, join over mutual TLS) with the named node IDs, in both directions.
// Peers are recognised by the node ID of their certificate, so a partition
// needs mutual TLS (Config.Identity).

var (
	// ErrFaultInjectionOff is returned by Partition on a node whose
	// Config.FaultInjection is false.
	ErrFaultInjectionOff = errors.New("cluster: fault injection is off")
	// ErrPartitioned is the handshake error of a connection refused
	// because its peer is partitioned away by Partition.
	ErrPartitioned = errors.New("cluster: peer is partitioned away (fault injection)")
)

// faultState is the stream layer's fault injection: the peers cut off and
// every open connection with a known peer node ID, so that a new partition
// closes those already open (raft's pooled connections included). Its
// zero value has no partition. The cost when nothing is partitioned is a
// map insert and delete under a mutex per node-to-node connection, which
// raft and the RPC pool keep open for long.
type faultState struct {
	// on is set when the node runs with Config.FaultInjection; off, no
	// connection is checked or tracked, and the transport pays nothing.
	on      atomic.Bool
	mu      sync.Mutex
	blocked map[string]bool
	conns   map[*peerConn]struct{}
}

// peerConn is a node-to-node connection whose peer node ID is known from
// its certificate. Close forgets it.
type peerConn struct {
	net.Conn
	peer string
	f    *faultState
}

// Close closes the connection and stops tracking it; safe to call twice.
func (c *peerConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}

// check refuses a peer that is partitioned away.
func (f *faultState) check(nodeID string) error {
	if !f.on.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked[nodeID] {
		return fmt.Errorf("%w: %s", ErrPartitioned, nodeID)
	}
	return nil
}

// track wraps c, whose peer is nodeID, so that a later partition closes
// it. A peer partitioned since the handshake closes c and returns
// ErrPartitioned.
func (f *faultState) track(c net.Conn, nodeID string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked[nodeID] {
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrPartitioned, nodeID)
	}
	if f.conns == nil {
		f.conns = make(map[*peerConn]struct{})
	}
	pc := &peerConn{Conn: c, peer: nodeID, f: f}
	f.conns[pc] = struct{}{}
	return pc, nil
}

// set replaces the partitioned peers with peers and closes the open
// connections to any of them. It returns how many it closed.
func (f *faultState) set(peers []string) int {
	f.mu.Lock()
	f.blocked = make(map[string]bool, len(peers))
	for _, p := range peers {
		f.blocked[p] = true
	}
	var cut []*peerConn
	for c := range f.conns {
		if f.blocked[c.peer] {
			cut = append(cut, c)
			delete(f.conns, c)
		}
	}
	f.mu.Unlock()
	// Closing outside the lock: a TLS close may write an alert and so
	// block on a peer that stopped reading.
	for _, c := range cut {
		c.Conn.Close()
	}
	return len(cut)
}

// list returns the partitioned peers, sorted.
func (f *faultState) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.blocked))
	for p := range f.blocked {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// checkPeer is the peer check of the stream layer's TLS configurations: it
// refuses partitioned peers, then applies the node's own check (removed
// nodes).
func (s *streamLayer) checkPeer(nodeID string, cert *x509.Certificate) error {
	if err := s.faults.check(nodeID); err != nil {
		return err
	}
	if s.peerCheck != nil {
		return s.peerCheck(nodeID, cert)
	}
	return nil
}

// trackPeer registers a connection that completed its TLS handshake under
// the node ID of the peer's certificate; a connection without one (a
// joining node, plain TCP) is returned as it is.
func (s *streamLayer) trackPeer(c net.Conn) (net.Conn, error) {
	if !s.faults.on.Load() {
		return c, nil
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return c, nil
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return c, nil
	}
	id, err := pki.NodeIDOf(certs[0])
	if err != nil {
		c.Close()
		return nil, err
	}
	return s.faults.track(c, id)
}

// Partition cuts this node off from the nodes named by peers (node IDs),
// for tests of network partitions: from now on it refuses every
// node-to-node connection with them, inbound and outbound, on every tag,
// and it closes those already open. Partition(nil) heals. It replaces the
// previous set. A cut is symmetric per pair, since every connection between
// two nodes passes both handshakes: calling it on one side is enough, and a
// node naming all the others is isolated. Naming only some peers makes a
// partial partition (C cut from A but still talking to B). It needs Config.FaultInjection (ErrFaultInjectionOff
// otherwise), mutual TLS (peers are named by their certificates) and a
// started node.
func (n *Node) Partition(peers []string) error {
	if !n.cfg.FaultInjection {
		return ErrFaultInjectionOff
	}
	if n.cfg.Identity == nil {
		return errors.New("cluster: partition needs mutual TLS (Config.Identity) to know the peers")
	}
	if slices.Contains(peers, n.cfg.NodeID) {
		return fmt.Errorf("cluster: a node cannot be partitioned from itself (%s)", n.cfg.NodeID)
	}
	s := n.stream.Load()
	if s == nil {
		return ErrNotStarted
	}
	closed := s.faults.set(peers)
	n.log.Warn("fault injection: partition set", "peers", s.faults.list(), "closed_conns", closed)
	return nil
}

// Partitioned returns the node IDs this node is cut off from by Partition,
// sorted; empty when it is whole or fault injection is off.
func (n *Node) Partitioned() []string {
	s := n.stream.Load()
	if s == nil || !n.cfg.FaultInjection {
		return []string{}
	}
	return s.faults.list()
}
