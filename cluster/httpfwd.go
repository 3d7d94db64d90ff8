package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// Forwarding HTTP to another node (see DESIGN.md, "Forwarding HTTP to
// another node"). A forwarded request travels on its own node-to-node
// connection with stream tag 4 (tagHTTP), over the same listener and the
// same mutual TLS as raft and the RPC. The forwarding node writes a header
// frame (fwdHeader, framed as the RPC's messages are) and then the request
// itself in HTTP/1.1; the receiving node serves exactly that one request
// with a real http.Server and the handler set by ServeForwardedHTTP, and
// the connection ends with the response, or, after a protocol upgrade
// (WebSocket), when either end closes.

var (
	// ErrNodeUnreachable is returned (wrapped) by ForwardHTTP when the
	// target node is not in the configuration or cannot be reached: the
	// request did not leave this node and nothing was written to the
	// client, so the caller may place the room elsewhere and try again.
	ErrNodeUnreachable = errors.New("cluster: node unreachable")

	// errForwardLoop is returned by ForwardHTTP for a request that was
	// itself forwarded here: one hop at most.
	errForwardLoop = errors.New("cluster: request already forwarded once")
)

// fwdDialTimeout bounds the dial and TLS handshake of a forwarded request
// (shortened by the request's own deadline).
const fwdDialTimeout = 5 * time.Second

// fwdLinger is how long a proxied upgraded connection stays open, after
// one side has finished sending, for the other side to finish too.
const fwdLinger = 5 * time.Second

// httpForward is the Node's part of HTTP forwarding: the handler of the
// requests forwarded here. Its zero value has no handler.
type httpForward struct {
	handler atomic.Pointer[handlerBox]
}

// handlerBox lets an http.Handler of any dynamic type sit in an
// atomic.Pointer.
type handlerBox struct{ h http.Handler }

// fwdHeader is the frame a forwarding node sends before the request.
type fwdHeader struct {
	// Client is the original client's address, r.RemoteAddr on the
	// forwarding node: the receiving node trusts it (mutual TLS).
	Client string `json:"client"`
	// From is the forwarding node's ID; with mutual TLS it must match
	// the peer's certificate.
	From string `json:"from"`
	// Hops counts the forwards so far, this one included: always 1.
	Hops int `json:"hops"`
	// TLS describes the client's own connection to the forwarding node,
	// nil when it was not TLS, so that the handler sees r.TLS as it was
	// (secure cookies, absolute URLs).
	TLS *fwdTLS `json:"tls,omitempty"`
}

type fwdTLS struct {
	Version    uint16 `json:"version"`
	ServerName string `json:"server_name,omitempty"`
}

// forwardedKey is the context key of ForwardedFrom.
type forwardedKey struct{}

// ForwardedFrom reports whether the request whose context is ctx was
// forwarded here by another node, and which one. Such a request is never
// forwarded again: ForwardHTTP refuses it.
func ForwardedFrom(ctx context.Context) (nodeID string, ok bool) {
	nodeID, ok = ctx.Value(forwardedKey{}).(string)
	return nodeID, ok
}

// ServeForwardedHTTP sets the handler for the requests other nodes forward
// here with ForwardHTTP; nil (the default) answers them 503. It may be
// called at any time, usually once before Start. The handler sees the
// request as the client sent it to the forwarding node (Host, cookies,
// Origin, Upgrade), r.RemoteAddr set to the client's address, r.TLS
// non-nil when the client used TLS, and ForwardedFrom(r.Context()) naming
// the forwarding node. It may hijack the connection (WebSocket).
func (n *Node) ServeForwardedHTTP(h http.Handler) {
	if h == nil {
		n.fwd.handler.Store(nil)
		return
	}
	n.fwd.handler.Store(&handlerBox{h})
}

// ForwardHTTP proxies r to node nodeID over the node-to-node link (mutual
// TLS when the node has an identity, pinned to nodeID's certificate) and
// copies the answer to w: status, headers and the body, flushed as it
// arrives (server-sent events work). A WebSocket (any protocol upgrade)
// is relayed in both directions until either side closes, r's context
// ends or one of the two nodes closes; w's connection is hijacked for it.
//
// Errors: when nodeID is not a member or cannot be reached, the error
// matches ErrNodeUnreachable and nothing was written to w. A request that
// was itself forwarded here (ForwardedFrom) and a nodeID naming this node
// are refused with an error, nothing written either. Any other error
// comes after the request left: ForwardHTTP has then answered the client
// itself (502 when the other node sent no answer, or a cut connection),
// or the client is gone, and the error is only for the log.
func (n *Node) ForwardHTTP(w http.ResponseWriter, r *http.Request, nodeID string) error {
	if from, ok := ForwardedFrom(r.Context()); ok {
		return fmt.Errorf("cluster: forward HTTP to %s: forwarded here by %s: %w", nodeID, from, errForwardLoop)
	}
	if nodeID == n.cfg.NodeID {
		return fmt.Errorf("cluster: forward HTTP to %s: that is this node", nodeID)
	}
	s := n.stream.Load()
	if s == nil {
		return fmt.Errorf("cluster: forward HTTP to %s: %w: %w", nodeID, ErrNodeUnreachable, ErrNotStarted)
	}
	addr, err := n.memberAddr(nodeID)
	if err != nil {
		return fmt.Errorf("cluster: forward HTTP to %s: %w: %v", nodeID, ErrNodeUnreachable, err)
	}
	timeout := fwdDialTimeout
	if d, ok := r.Context().Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), time.Millisecond))
	}
	c, err := s.dial(addr, tagHTTP, nodeID, timeout)
	if err != nil {
		return fmt.Errorf("cluster: forward HTTP to %s at %s: %w: %v", nodeID, addr, ErrNodeUnreachable, err)
	}
	// Tracked, the connection is closed by the node's Close, which ends
	// a relayed WebSocket too.
	if !s.track(c) {
		c.Close()
		return fmt.Errorf("cluster: forward HTTP to %s: %w: %w", nodeID, ErrNodeUnreachable, ErrClosed)
	}
	defer s.untrack(c)
	hdr := fwdHeader{Client: r.RemoteAddr, From: n.cfg.NodeID, Hops: 1}
	if r.TLS != nil {
		hdr.TLS = &fwdTLS{Version: r.TLS.Version, ServerName: r.TLS.ServerName}
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	if err := writeFrame(c, hdr); err != nil {
		return fmt.Errorf("cluster: forward HTTP to %s at %s: %w: %v", nodeID, addr, ErrNodeUnreachable, err)
	}
	c.SetWriteDeadline(time.Time{})

	out := r.Clone(r.Context())
	// This node's server already answered (or will answer) the client's
	// "Expect: 100-continue" as it reads the body; the other node must
	// not send a second interim answer.
	out.Header.Del("Expect")
	if _, ok := out.Header["User-Agent"]; !ok {
		// Request.Write would add Go's own User-Agent.
		out.Header["User-Agent"] = []string{""}
	}
	f := &forwarding{w: w, r: r, out: out, c: c, br: bufio.NewReader(c), to: nodeID}
	if isUpgrade(r.Header) {
		return f.upgrade()
	}
	return f.plain()
}

// forwarding is one request on its way to another node.
type forwarding struct {
	w   http.ResponseWriter
	r   *http.Request // as received
	out *http.Request // as sent
	c   net.Conn      // to the other node
	br  *bufio.Reader // reads c
	to  string
}

func (f *forwarding) errorf(format string, args ...any) error {
	return fmt.Errorf("cluster: forward HTTP to %s: "+format, append([]any{f.to}, args...)...)
}

// plain forwards an ordinary request: the request (with its body) is
// written while the answer is read, as an HTTP client does, so an answer
// that comes before the whole body was sent (413) gets through.
func (f *forwarding) plain() error {
	rc := http.NewResponseController(f.w)
	// Reading the body while the answer is written needs full duplex on
	// HTTP/1 (otherwise the server discards what is left of the body
	// when the answer starts).
	rc.EnableFullDuplex()
	stop := context.AfterFunc(f.r.Context(), func() { f.c.Close() })
	defer stop()
	// body tells whether the writer is done with the client's body: until
	// then it may be blocked reading it from the client.
	var body *watchedBody
	if f.out.Body != nil && f.out.Body != http.NoBody {
		body = &watchedBody{ReadCloser: f.out.Body}
		f.out.Body = body
	}
	bodyPending := func() bool { return body != nil && !body.done.Load() }
	wrote := make(chan error, 1)
	go func() { wrote <- f.out.Write(f.c) }()
	// finish stops the request writer and waits for it. Closing the
	// other node's connection ends a write to it; a writer still
	// reading the client's body is woken by a read deadline on the
	// client's connection. That deadline makes net/http cancel the
	// connection's context, and with it every later request on the
	// connection, so it is set only for a body not read to its end, and
	// such an answer closes the connection (see copyResponse).
	finish := func() {
		select {
		case <-wrote:
			return
		default:
		}
		f.c.Close()
		if bodyPending() {
			rc.SetReadDeadline(time.Now())
		}
		<-wrote
	}
	resp, err := readResponse(f.br, f.out)
	if err != nil {
		finish()
		if cerr := f.r.Context().Err(); cerr != nil {
			return f.errorf("client gone: %w", cerr)
		}
		http.Error(f.w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return f.errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	// An answer that comes before the whole body was read (413) ends the
	// client's connection: what is left of the body is never read.
	err = copyResponse(f.w, resp, bodyPending())
	finish()
	if err != nil {
		abort(f.w)
		return f.errorf("copy the answer: %w", err)
	}
	return nil
}

// upgrade forwards a request that asks for a protocol upgrade (WebSocket).
// Its answer, when not 101, is copied as an ordinary one; after a 101 the
// client's connection is hijacked and relayed to the other node's.
func (f *forwarding) upgrade() error {
	stop := context.AfterFunc(f.r.Context(), func() { f.c.Close() })
	defer stop()
	if err := f.out.Write(f.c); err != nil {
		if cerr := f.r.Context().Err(); cerr != nil {
			return f.errorf("client gone: %w", cerr)
		}
		http.Error(f.w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return f.errorf("send the request: %w", err)
	}
	resp, err := readResponse(f.br, f.out)
	if err != nil {
		if cerr := f.r.Context().Err(); cerr != nil {
			return f.errorf("client gone: %w", cerr)
		}
		http.Error(f.w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return f.errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		if err := copyResponse(f.w, resp, false); err != nil {
			abort(f.w)
			return f.errorf("copy the answer: %w", err)
		}
		return nil
	}
	cc, brw, err := http.NewResponseController(f.w).Hijack()
	if err != nil {
		http.Error(f.w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return f.errorf("hijack the client's connection: %w", err)
	}
	defer cc.Close()
	// The server may have left deadlines on the connection; a relayed
	// WebSocket has none while it is open.
	cc.SetDeadline(time.Time{})
	// The 101 goes to the client as the other node wrote it (Upgrade,
	// Connection, Sec-WebSocket-Accept, Sec-WebSocket-Protocol).
	fmt.Fprintf(brw.Writer, "HTTP/1.1 101 %s\r\n", http.StatusText(http.StatusSwitchingProtocols))
	resp.Header.Write(brw.Writer)
	brw.Writer.WriteString("\r\n")
	if err := brw.Writer.Flush(); err != nil {
		return f.errorf("write the upgrade to the client: %w", err)
	}
	stop()
	// From here r's context ending or either node closing closes both
	// connections, which ends both copies.
	stopAll := context.AfterFunc(f.r.Context(), func() {
		cc.Close()
		f.c.Close()
	})
	defer stopAll()
	// Bytes already buffered on either side (the client's first frames,
	// the other node's first message right after its 101) are relayed
	// first: both copies read through the buffered readers. However the
	// relay ends (a close, a cut connection) is its normal end.
	relay(cc, brw.Reader, f.c, f.br)
	return nil
}

// relay copies client ↔ node (reading each through its buffered reader)
// until the relayed connection is over. When the client finishes sending
// (EOF), the node's write half is closed (half-close) and the node gets
// fwdLinger to finish its side: the last frames of a closing handshake
// still reach the client. When the node's side ends, or either direction
// fails, both connections close at once: the room's node is done with
// the session and nothing the client sends afterwards would be read.
func relay(client net.Conn, cr io.Reader, node net.Conn, nr io.Reader) {
	type end struct {
		fromClient bool
		err        error
	}
	ends := make(chan end, 2)
	go func() {
		_, err := io.Copy(node, cr)
		ends <- end{fromClient: true, err: err}
	}()
	go func() {
		_, err := io.Copy(client, nr)
		ends <- end{err: err}
	}()
	first := <-ends
	if first.fromClient && first.err == nil {
		closeWrite(node)
		t := time.NewTimer(fwdLinger)
		defer t.Stop()
		select {
		case <-ends:
			return
		case <-t.C:
		}
	}
	client.Close()
	node.Close()
	<-ends
}

// closeWrite closes c's write half when it has one (TCP, TLS), so that
// the other end reads EOF while it may still send; otherwise it does
// nothing.
func closeWrite(c net.Conn) error {
	if pc, ok := c.(*peerConn); ok {
		c = pc.Conn
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// readResponse reads the other node's answer, skipping interim (1xx)
// answers other than 101.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
}

// hopHeaders are the connection's own headers (RFC 9110, 7.6.1): they are
// not copied from the other node's answer, whose connection ends with it.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// watchedBody is a forwarded request's body that says when its reader is
// done with it (the end, or an error).
type watchedBody struct {
	io.ReadCloser
	done atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done.Store(true)
	}
	return n, err
}

// copyResponse copies resp to w: headers without the hop-by-hop ones,
// status, then the body, flushing after each read so that a stream
// (server-sent events) reaches the client as it is written. closeConn
// asks the client's connection to close after the answer.
func copyResponse(w http.ResponseWriter, resp *http.Response, closeConn bool) error {
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = append([]string(nil), vv...)
	}
	for _, v := range resp.Header.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	if closeConn {
		h.Set("Connection", "close")
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		nr, rerr := resp.Body.Read(buf)
		if nr > 0 {
			if _, err := w.Write(buf[:nr]); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// abort cuts the client's connection after a partly copied answer, so the
// client sees it incomplete rather than a shorter body that looks whole
// (a chunked answer would otherwise end cleanly).
func abort(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
	}
}

// isUpgrade reports whether a request asks for a protocol upgrade
// (Connection: upgrade and an Upgrade header).
func isUpgrade(h http.Header) bool {
	if h.Get("Upgrade") == "" {
		return false
	}
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// memberAddr returns the raft address of node id from the current
// configuration.
func (n *Node) memberAddr(id string) (string, error) {
	r := n.raft.Load()
	if r == nil {
		return "", ErrNotStarted
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return "", fmt.Errorf("read configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return string(s.Address), nil
		}
	}
	return "", fmt.Errorf("%q is not a member of the cluster", id)
}

// serveForwarded serves the one request of a tagHTTP connection: it reads
// the header frame and runs an http.Server on that connection alone. It
// runs on the stream layer's goroutine of the connection, which closes the
// connection afterwards and on Close; it returns once the request is done
// (the answer sent, or the handler of a hijacked connection returned).
func (n *Node) serveForwarded(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReader(c)
	var hdr fwdHeader
	if err := readFrame(br, &hdr); err != nil {
		n.log.Debug("forwarded HTTP request: no header", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	if hdr.Hops != 1 || hdr.From == "" || hdr.From == n.cfg.NodeID {
		n.log.Warn("refused a forwarded HTTP request", "from", hdr.From, "hops", hdr.Hops)
		return
	}
	if peer := peerNodeID(c); peer != "" && peer != hdr.From {
		n.log.Warn("refused a forwarded HTTP request naming another node", "from", hdr.From, "peer", peer)
		return
	}
	var h http.Handler
	if b := n.fwd.handler.Load(); b != nil {
		h = b.h
	}
	done := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(done) }) }
	var hijacked atomic.Bool
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A hijacked connection is the handler's until it returns;
			// then the request is done.
			defer func() {
				if hijacked.Load() {
					finish()
				}
			}()
			if hdr.TLS != nil {
				r.TLS = &tls.ConnectionState{Version: hdr.TLS.Version, ServerName: hdr.TLS.ServerName, HandshakeComplete: true}
			}
			if h == nil {
				http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		}),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, forwardedKey{}, hdr.From)
		},
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateHijacked:
				hijacked.Store(true)
			case http.StateClosed:
				finish()
			}
		},
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	// One request per connection: the server closes it after the answer.
	srv.SetKeepAlivesEnabled(false)
	srv.Serve(&oneConnListener{c: &fwdConn{Conn: c, r: br, remote: fwdAddr(hdr.Client)}, done: done})
}

// peerNodeID is the node ID of c's peer certificate ("" on plain TCP).
func peerNodeID(c net.Conn) string {
	if pc, ok := c.(*peerConn); ok {
		return pc.peer
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return ""
	}
	id, err := pki.NodeIDOf(certs[0])
	if err != nil {
		return ""
	}
	return id
}

// fwdConn is a forwarded request's connection as the receiving http.Server
// sees it: reads go through the reader that read the header frame (it may
// hold the start of the request), and the remote address is the original
// client's. It is not a *tls.Conn, so the server does not describe the
// node-to-node TLS in r.TLS.
type fwdConn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

func (c *fwdConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *fwdConn) RemoteAddr() net.Addr       { return c.remote }
func (c *fwdConn) CloseWrite() error          { return closeWrite(c.Conn) }

// fwdAddr is the original client's address as the forwarding node saw it.
type fwdAddr string

func (a fwdAddr) Network() string { return "tcp" }
func (a fwdAddr) String() string  { return string(a) }

// oneConnListener hands its connection to http.Server once; the next
// Accept waits until the request is done and then ends Serve.
type oneConnListener struct {
	c     net.Conn
	taken bool // Serve calls Accept from one goroutine
	done  <-chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.taken {
		l.taken = true
		return l.c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }
