package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// Stream tags: the first byte a dialler writes on a node-to-node
// connection, after the TLS handshake when the node has an identity. One
// listener carries both kinds of traffic.
const (
	tagRaft byte = 1 // raft's NetworkTransport protocol
	tagRPC  byte = 2 // forwarding and membership requests (rpc.go)
	tagJoin byte = 3 // a joining node's request (join.go); the only tag allowed without a client certificate
	tagHTTP byte = 4 // one forwarded HTTP request (httpfwd.go)
)

// handshakeTimeout bounds the TLS handshake and the tag byte of an
// incoming connection, so a peer that connects and says nothing does not
// hold a goroutine.
const handshakeTimeout = 10 * time.Second

// errStreamClosed is returned by Accept once the stream layer is closed.
var errStreamClosed = errors.New("cluster: transport closed")

// streamLayer is the raft.StreamLayer of a node: one TCP listener, wrapped
// in mutual TLS when the node has a pki.Identity (plain TCP otherwise), and
// a one-byte tag after the handshake that sends the connection either to
// raft (Accept) or to serveRPC.
//
// Goroutines: acceptLoop (one, until Close) and one short-lived goroutine
// per incoming connection for its handshake; serveRPC runs on that same
// goroutine for the connection's lifetime. Close closes the listener and
// every open RPC connection and waits for all of them.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config     // nil: plain TCP
	id        *pki.Identity   // as started
	certs     *pki.CertHolder // the current certificate and trusted CAs (nil: plain TCP)
	log       *slog.Logger
	serveRPC  func(net.Conn)
	serveJoin func(net.Conn)
	serveHTTP func(net.Conn)
	peerCheck func(nodeID string, cert *x509.Certificate) error

	raftCh  chan net.Conn
	closing chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // open RPC and forwarded-HTTP connections

	faults faultState // Node.Partition's cut peers and open connections (faults.go)
}

// newStreamLayer listens on bindAddr. advertise, when not "", is the
// address other nodes dial; otherwise the listener's own address, which
// must then be a specific IP (not 0.0.0.0).
//
// serveJoin serves the join tag; peerCheck (may be nil) refuses peers,
// removed nodes, on both the listener and the dialler, after the fault
// injection's partition (faults.go), which is checked and tracked only
// with faultInjection.
func newStreamLayer(bindAddr, advertise string, id *pki.Identity, log *slog.Logger, serveRPC, serveJoin, serveHTTP func(net.Conn),
	peerCheck func(nodeID string, cert *x509.Certificate) error, faultInjection bool) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, err
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			ln.Close()
			return nil, fmt.Errorf("advertise address %q: %w", advertise, err)
		}
	}
	if ta, ok := adv.(*net.TCPAddr); !ok || ta.IP == nil || ta.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("address %s is not one other nodes can dial: set Config.AdvertiseAddr", adv)
	}
	s := &streamLayer{
		ln:        ln,
		advertise: adv,
		id:        id,
		log:       log,
		serveRPC:  serveRPC,
		serveJoin: serveJoin,
		serveHTTP: serveHTTP,
		peerCheck: peerCheck,
		raftCh:    make(chan net.Conn),
		closing:   make(chan struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	if id != nil {
		// A joining node has no certificate yet: the listener lets a
		// client without one through, and handle allows it only the join
		// tag. The node's own certificate comes from the holder at each
		// handshake, so that a renewed one is used without a restart.
		s.certs = pki.NewCertHolder(id)
		s.server = pki.WithCertHolder(pki.WithPeerCheck(pki.JoinServerConfig(id.Pool, id.Certificate), s.checkPeer), s.certs)
	}
	s.faults.on.Store(faultInjection)
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// acceptLoop accepts connections until the listener closes and hands each
// to its own goroutine.
func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

// handle completes the handshake of an incoming connection, reads its tag
// and dispatches it.
func (s *streamLayer) handle(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(handshakeTimeout))
	c := raw
	hasCert := false
	if s.server != nil {
		tc := tls.Server(raw, s.server)
		if err := tc.Handshake(); err != nil {
			s.log.Warn("refused a node-to-node connection", "remote", raw.RemoteAddr().String(), "err", err)
			raw.Close()
			return
		}
		hasCert = len(tc.ConnectionState().PeerCertificates) > 0
		c = tc
	}
	var tag [1]byte
	var err error
	if _, err = c.Read(tag[:]); err != nil {
		c.Close()
		return
	}
	// Without a client certificate (a node that is joining) only the join
	// tag is allowed; without TLS at all there is no CA to join, and every
	// tag but join is allowed (plain TCP: loopback and tests only).
	if (s.server != nil && !hasCert && tag[0] != tagJoin) || (s.server == nil && tag[0] == tagJoin) {
		s.log.Warn("refused a stream without a client certificate", "remote", raw.RemoteAddr().String(), "tag", tag[0])
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	if c, err = s.trackPeer(c); err != nil {
		return
	}
	switch tag[0] {
	case tagRaft:
		select {
		case s.raftCh <- c:
		case <-s.closing:
			c.Close()
		}
	case tagRPC, tagHTTP:
		if !s.track(c) {
			c.Close()
			return
		}
		defer s.untrack(c)
		if tag[0] == tagHTTP {
			s.serveHTTP(c)
			return
		}
		s.serveRPC(c)
	case tagJoin:
		if s.serveJoin == nil || !s.track(c) {
			c.Close()
			return
		}
		defer s.untrack(c)
		s.serveJoin(c)
	default:
		s.log.Warn("unknown stream tag", "remote", raw.RemoteAddr().String(), "tag", tag[0])
		c.Close()
	}
}

func (s *streamLayer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *streamLayer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// dial opens a connection to another node's listener carrying tag. With an
// identity the server must present a certificate of the cluster CA naming
// expectNodeID (any node of the cluster when "").
func (s *streamLayer) dial(addr string, tag byte, expectNodeID string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := raw
	if s.id != nil {
		cfg := pki.WithCertHolder(pki.WithPeerCheck(pki.ClientConfig(s.certs.Pool(), s.id.Certificate, expectNodeID), s.checkPeer), s.certs)
		tc := tls.Client(raw, cfg)
		raw.SetDeadline(time.Now().Add(max(timeout, time.Second)))
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		raw.SetDeadline(time.Time{})
		if c, err = s.trackPeer(tc); err != nil {
			return nil, err
		}
	}
	if _, err := c.Write([]byte{tag}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Dial implements raft.StreamLayer. Raft dials by address; the server's
// certificate must be of the cluster CA (any node ID: raft's address book
// is the raft configuration, not the certificates).
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(address), tagRaft, "", timeout)
}

// Accept implements net.Listener for raft: it returns the connections that
// carried the raft tag.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftCh:
		return c, nil
	case <-s.closing:
		return nil, errStreamClosed
	}
}

// Close stops accepting, closes every open RPC connection and waits for
// the stream layer's goroutines. Raft's NetworkTransport calls it from its
// own Close; it is safe to call twice.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Addr is the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }
