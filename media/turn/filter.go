package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v3"
	pturn "github.com/pion/turn/v4"
)

// inspect looks at every frame a client sends before pion does. It
// authenticates requests that carry MESSAGE-INTEGRITY against all the
// current secrets (see authenticator) and answers CreatePermission and
// ChannelBind towards a forbidden peer with 403 Forbidden itself: pion
// v4.1.4's PermissionHandler refuses them too, but with an error response
// that has no error code (CreatePermission) or with 401 (ChannelBind), and
// RFC 8656 asks for 403. The PermissionHandler stays as a second line.
//
// It returns pass=false when the frame must not reach pion, with the reply
// to send back (nil for none). Data (ChannelData, Send indications) only
// costs the header check.
func (s *Server) inspect(b []byte, src net.Addr) (reply []byte, pass bool) {
	// STUN starts with two zero bits; ChannelData (0x40-0x7f) is relayed
	// data, even if its payload happens to hold the magic cookie.
	if !stun.IsMessage(b) || b[0]&0xc0 != 0 {
		return nil, true
	}
	var t stun.MessageType
	t.ReadValue(uint16(b[0])<<8 | uint16(b[1]))
	if t.Class != stun.ClassRequest {
		return nil, true
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || !m.Contains(stun.AttrMessageIntegrity) {
		return nil, true
	}
	key := s.auth.verify(m, src)
	if key == nil {
		return nil, true
	}
	if t.Method != stun.MethodCreatePermission && t.Method != stun.MethodChannelBind {
		return nil, true
	}
	forbidden, refused := false, ""
	_ = m.ForEach(stun.AttrXORPeerAddress, func(m *stun.Message) error {
		var peer stun.XORMappedAddress
		if err := peer.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
			return nil // pion answers 400 for what it cannot parse
		}
		if a, ok := netip.AddrFromSlice(peer.IP); !ok || !s.peers.allowed(a) {
			forbidden, refused = true, peer.IP.String()
			return errForbiddenPeer
		}
		return nil
	})
	if !forbidden {
		return nil, true
	}
	// pion never sees this request, so the key verify kept for it is
	// dropped here.
	s.auth.forget(src)
	var username stun.Username
	_ = username.GetFrom(m)
	s.log.Warn("turn: relay to internal peer refused",
		"user", userPart(username.String()), "client", src.String(),
		"peer", refused, "method", t.Method.String())
	resp, err := stun.Build(
		&stun.Message{TransactionID: m.TransactionID},
		stun.NewType(t.Method, stun.ClassErrorResponse),
		stun.CodeForbidden,
		stun.MessageIntegrity(key),
		stun.Fingerprint,
	)
	if err != nil {
		return nil, false
	}
	return resp.Raw, false
}

// errForbiddenPeer stops the walk over a request's peer addresses at the
// first forbidden one.
var errForbiddenPeer = errors.New("turn: forbidden peer")

// userPart returns the user of a REST username, for logs and quotas.
func userPart(username string) string {
	_, u, ok := strings.Cut(username, ":")
	if !ok {
		return username
	}
	return u
}

// packetConn is the UDP listener as pion sees it: every datagram passes
// inspect first.
type packetConn struct {
	net.PacketConn
	s *Server
}

func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		reply, pass := c.s.inspect(p[:n], addr)
		if pass {
			return n, addr, nil
		}
		if reply != nil {
			_, _ = c.PacketConn.WriteTo(reply, addr)
		}
	}
}

// listener is a TCP or TLS listener as pion sees it. It keeps the
// connections it accepted so Close can end them: pion closes the listener
// but leaves accepted connections to their clients.
type listener struct {
	net.Listener
	s *Server

	mu     sync.Mutex
	closed bool
	conns  map[*streamConn]bool
}

func newListener(l net.Listener, s *Server) *listener {
	return &listener{Listener: l, s: s, conns: make(map[*streamConn]bool)}
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &streamConn{Conn: c, l: l, frames: pturn.NewSTUNConn(c), buf: make([]byte, maxFrame)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[sc] = true
	l.mu.Unlock()
	return sc, nil
}

// closeConns ends every accepted connection and refuses new ones.
func (l *listener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*streamConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// maxFrame holds the largest STUN message or padded ChannelData frame a
// 16-bit length allows.
const maxFrame = 65535 + 20 + 4

// handshakeTimeout bounds a TLS handshake, so a client that opens a
// connection and says nothing does not hold a goroutine forever.
const handshakeTimeout = 10 * time.Second

// streamConn is one TCP or TLS connection. It splits the stream into TURN
// frames (RFC 8656 section 5.1 framing) to inspect each, and hands pion the
// bytes of the frames that pass, unchanged; pion frames them again.
//
// Read is called only from pion's read goroutine for this connection;
// Write is called by pion from that goroutine and from relay goroutines,
// and each call writes whole frames (net.TCPConn and tls.Conn serialise
// concurrent writes per call).
type streamConn struct {
	net.Conn
	l         *listener
	frames    *pturn.STUNConn
	buf       []byte
	pending   []byte
	handshake bool
	once      sync.Once
}

func (c *streamConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if tc, ok := c.Conn.(*tls.Conn); ok && !c.handshake {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
		c.handshake = true
	}
	for {
		n, _, err := c.frames.ReadFrom(c.buf)
		if err != nil {
			return 0, err
		}
		frame := c.buf[:n]
		reply, pass := c.l.s.inspect(frame, c.Conn.RemoteAddr())
		if pass {
			k := copy(p, frame)
			c.pending = append(c.pending[:0], frame[k:]...)
			return k, nil
		}
		if reply != nil {
			if _, err := c.Conn.Write(reply); err != nil {
				return 0, err
			}
		}
	}
}

func (c *streamConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
