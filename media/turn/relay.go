package turn

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errTCPRelay   = errors.New("turn: TCP relay allocations (RFC 6062) are not offered")
	errNoPort     = errors.New("turn: no free relay port in range")
	errServerDown = errors.New("turn: server closed")
)

// relays is the RelayAddressGenerator given to pion. It opens one UDP
// socket per allocation, wraps it with the owner's bandwidth bucket and
// keeps every socket it opened, so Close can release all of them itself
// instead of trusting pion's asynchronous clean-up.
type relays struct {
	bind     string
	announce net.IP
	min, max int
	now      func() time.Time
	log      *slog.Logger
	dropped  *atomic.Uint64

	mu     sync.Mutex
	closed bool
	byPort map[int]*relayConn
}

// Validate is part of pion's RelayAddressGenerator; Start validated the
// configuration already.
func (r *relays) Validate() error { return nil }

// AllocateConn refuses TCP allocations: browsers never ask for them, and a
// TCP relay would open connections into the network on a client's behalf.
func (r *relays) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errTCPRelay
}

// AllocatePacketConn opens a relay socket. requestedPort is non-zero only
// for EVEN-PORT/RESERVATION-TOKEN requests.
func (r *relays) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, nil, errServerDown
	}
	pc, err := r.listen(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	setBuffers(pc, relayBuffer)
	local := pc.LocalAddr().(*net.UDPAddr)
	rc := &relayConn{PacketConn: pc, r: r, port: local.Port}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		pc.Close()
		return nil, nil, errServerDown
	}
	r.byPort[local.Port] = rc
	r.mu.Unlock()
	return rc, &net.UDPAddr{IP: r.announce, Port: local.Port}, nil
}

func (r *relays) listen(network string, port int) (net.PacketConn, error) {
	if port != 0 || r.min == 0 {
		return net.ListenPacket(network, net.JoinHostPort(r.bind, strconv.Itoa(port)))
	}
	// Start at a random port of the range so allocations do not all probe
	// the same busy ports first, then walk the range once.
	n := r.max - r.min + 1
	start := rand.IntN(n)
	for i := range n {
		p := r.min + (start+i)%n
		pc, err := net.ListenPacket(network, net.JoinHostPort(r.bind, strconv.Itoa(p)))
		if err == nil {
			return pc, nil
		}
	}
	return nil, errNoPort
}

// attach gives the relay socket on port to its user, once pion has told us
// whose allocation it is.
func (r *relays) attach(port int, u *user) {
	r.mu.Lock()
	rc := r.byPort[port]
	r.mu.Unlock()
	if rc != nil {
		rc.owner.Store(u)
	}
}

// closeAll closes every relay socket and refuses new ones.
func (r *relays) closeAll() {
	r.mu.Lock()
	r.closed = true
	conns := make([]*relayConn, 0, len(r.byPort))
	for _, rc := range r.byPort {
		conns = append(conns, rc)
	}
	r.mu.Unlock()
	for _, rc := range conns {
		rc.Close()
	}
}

func (r *relays) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byPort)
}

// relayConn is one allocation's relay socket. Reads (peer → client) and
// writes (client → peer) both draw from the owner's bucket; over the cap a
// packet is dropped, as a congested link would, and counted. Before the
// owner is known (the instant between socket and allocation) nothing is
// relayed anyway, because no permission exists yet.
type relayConn struct {
	net.PacketConn
	r     *relays
	port  int
	owner atomic.Pointer[user]
	once  sync.Once
}

func (c *relayConn) admit(n int) bool {
	u := c.owner.Load()
	if u == nil || u.bucket == nil {
		return true
	}
	now := c.r.now()
	if u.bucket.take(n, now) {
		return true
	}
	c.r.dropped.Add(1)
	u.drops.Add(1)
	// One log line per user every ten seconds is enough to see who is
	// being capped without flooding the log at packet rate.
	if last := u.loggedDrop.Load(); now.UnixNano()-last > int64(10*time.Second) &&
		u.loggedDrop.CompareAndSwap(last, now.UnixNano()) {
		c.r.log.Warn("turn: user over bandwidth cap, dropping", "user", u.name, "dropped", u.drops.Load())
	}
	return false
}

// ReadFrom returns the next packet from a peer that fits the cap.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.admit(n) {
			return n, addr, err
		}
	}
}

// WriteTo sends to a peer, or silently drops over the cap (UDP semantics:
// the client learns of loss from its own congestion control).
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.admit(len(p)) {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// Close releases the port; pion and closeAll may both call it.
func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.PacketConn.Close()
		c.r.mu.Lock()
		if c.r.byPort[c.port] == c {
			delete(c.r.byPort, c.port)
		}
		c.r.mu.Unlock()
	})
	return err
}
