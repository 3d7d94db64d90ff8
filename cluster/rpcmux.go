package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The multiplexed RPC: many requests in flight on one connection.
//
// With one request per connection, a follower under load kept one TLS
// connection per forwarded command in flight (85 at 256 clients on three
// nodes), paid a handshake on both sides for each when it first opened
// them (about 1 ms of CPU a side), one write and one read system call per
// request and per answer on each side, and a watcher goroutine per idle
// connection. Multiplexed, a follower keeps one connection per leader;
// each message is written into a shared buffer, and the caller that finds
// no write in progress writes everything queued in one call, so under
// load a system call and a TLS record carry many messages, and with none
// no message waits for a timer.
//
// Negotiation keeps rolling upgrades working: on a new RPC connection
// (tag 2) the caller first sends the request {"op":"mux"} in the old
// framing. A node of this version answers it with an empty answer and the
// connection switches; an older one answers "unknown RPC operation", and
// the caller keeps that connection, and the next ones to that address
// for muxRecheck, in the old one-request-at-a-time mode (rpc.go).
//
// Framing after the switch: a 4-byte big-endian length, then an 8-byte
// request number chosen by the caller, then the JSON of the request or
// answer as before; the length counts the number and the JSON. Answers
// come in any order and carry the number of their request. The server
// runs each request in its own goroutine (a propose waits for raft) and
// answers through the same shared-buffer writer.
//
// Failures keep forward's guarantees: a request that could not be queued
// on a live connection reached nobody (ErrNoLeader, as a failed dial);
// once queued, a broken connection or a caller's deadline leaves its
// outcome unknown (ErrOutcomeUnknown), and Propose retries it under the
// same request ID.

// opMux asks the node at the other end to switch the connection to the
// multiplexed framing.
const opMux = "mux"

// muxRecheck is how long a follower keeps using the old framing with a
// node that refused to switch before asking again (it may have been
// upgraded since).
const muxRecheck = 30 * time.Second

// muxWriteTimeout bounds one write of queued messages: a peer that reads
// nothing for that long is treated as gone.
const muxWriteTimeout = 10 * time.Second

// errMuxClosed ends the calls of a connection closed by Close.
var errMuxClosed = errors.New("cluster: RPC connection closed")

// frameWriter queues frames for one connection and writes them out, many
// per system call under load. Safe for concurrent use.
type frameWriter struct {
	c       net.Conn
	mu      sync.Mutex
	buf     []byte // queued frames, not yet handed to Write
	spare   []byte // the previous buffer, reused
	writing bool   // a sender is writing buf out
	err     error  // the first write error; nothing is queued after it
}

// send queues frame (which it does not keep) and, unless another sender
// is writing, writes out everything queued. queued reports whether the
// frame was queued: false only when the connection had already failed.
// On a write error the connection is closed, which ends its reader.
func (w *frameWriter) send(frame []byte) (queued bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, w.err
	}
	w.buf = append(w.buf, frame...)
	if w.writing {
		return true, nil
	}
	w.writing = true
	for len(w.buf) > 0 && w.err == nil {
		out := w.buf
		w.buf = w.spare[:0]
		w.mu.Unlock()
		w.c.SetWriteDeadline(time.Now().Add(muxWriteTimeout))
		_, werr := w.c.Write(out)
		w.mu.Lock()
		w.spare = out[:0]
		if werr != nil {
			w.err = werr
			w.buf = nil
			w.c.Close()
		}
	}
	w.writing = false
	return true, w.err
}

// appendMuxFrame appends the frame of body under request number id.
func appendMuxFrame(dst []byte, id uint64, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(8+len(body)))
	dst = binary.BigEndian.AppendUint64(dst, id)
	return append(dst, body...)
}

// readMuxFrame reads one multiplexed frame; body is its JSON.
func readMuxFrame(r io.Reader) (id uint64, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < 8 || size > maxFrame+8 {
		return 0, nil, fmt.Errorf("cluster: multiplexed RPC frame of %d bytes", size)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint64(buf), buf[8:], nil
}

// muxReply is what a caller waiting on a multiplexed request gets.
type muxReply struct {
	resp rpcResponse
	err  error // the connection broke, or the answer did not decode
}

// muxConn is the caller's side of one multiplexed connection.
type muxConn struct {
	c    net.Conn
	addr string
	w    frameWriter

	mu     sync.Mutex
	calls  map[uint64]chan muxReply // requests awaiting their answer
	nextID uint64
	err    error // set when the connection broke; it takes no new request
}

// live reports whether the connection still takes requests.
func (mc *muxConn) live() bool {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.err == nil
}

// roundTrip sends req and waits for its answer. Its errors wrap
// ErrNoLeader when the request was not queued, ErrOutcomeUnknown after.
func (mc *muxConn) roundTrip(ctx context.Context, id string, req rpcRequest) (rpcResponse, error) {
	if err := ctx.Err(); err != nil {
		return rpcResponse{}, err // sent nothing
	}
	ch := make(chan muxReply, 1)
	mc.mu.Lock()
	if mc.err != nil {
		err := mc.err
		mc.mu.Unlock()
		return rpcResponse{}, fmt.Errorf("%w: send to %s at %s: %v", ErrNoLeader, id, mc.addr, err)
	}
	mc.nextID++
	num := mc.nextID
	mc.calls[num] = ch
	mc.mu.Unlock()

	if d, ok := ctx.Deadline(); ok {
		// What is left now, after a dial the caller may have waited for.
		req.TimeoutMS = max(time.Until(d).Milliseconds(), 1)
	}
	body := appendRequest(make([]byte, 0, 12+64+len(req.Command)), req)
	frame := appendMuxFrame(nil, num, body)
	if queued, err := mc.w.send(frame); !queued {
		mc.forget(num)
		return rpcResponse{}, fmt.Errorf("%w: send to %s at %s: %v", ErrNoLeader, id, mc.addr, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return rpcResponse{}, fmt.Errorf("%w: %s at %s: %v", ErrOutcomeUnknown, id, mc.addr, r.err)
		}
		return r.resp, nil
	case <-ctx.Done():
		mc.forget(num)
		return rpcResponse{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

// forget drops the wait for request num; a late answer is discarded.
func (mc *muxConn) forget(num uint64) {
	mc.mu.Lock()
	delete(mc.calls, num)
	mc.mu.Unlock()
}

// read delivers the answers until the connection fails, then fails every
// request still waiting.
func (mc *muxConn) read() {
	br := bufio.NewReaderSize(mc.c, 32<<10)
	for {
		num, body, err := readMuxFrame(br)
		if err != nil {
			mc.fail(err)
			return
		}
		var r muxReply
		if err := unmarshalFrame(body, &r.resp); err != nil {
			r.err = fmt.Errorf("cluster: RPC answer: %w", err)
		}
		mc.mu.Lock()
		ch := mc.calls[num]
		delete(mc.calls, num)
		mc.mu.Unlock()
		if ch != nil {
			ch <- r // buffered, and each number is answered once
		}
	}
}

// fail marks the connection broken, closes it and ends every wait.
func (mc *muxConn) fail(err error) {
	mc.c.Close()
	mc.mu.Lock()
	if mc.err == nil {
		mc.err = err
	}
	calls := mc.calls
	mc.calls = map[uint64]chan muxReply{}
	mc.mu.Unlock()
	for _, ch := range calls {
		ch <- muxReply{err: err}
	}
}

// muxPool keeps one multiplexed connection per node address, and
// remembers the addresses whose node speaks only the old framing.
type muxPool struct {
	mu      sync.Mutex
	conns   map[string]*muxConn
	dialing map[string]*muxDial
	old     map[string]time.Time // address → until when to use the old framing
	closed  bool
	wg      sync.WaitGroup // the connections' readers
}

// muxDial is one dial in progress; the callers that need the same
// address meanwhile wait for it instead of dialling too.
type muxDial struct {
	done chan struct{}
	mc   *muxConn
	err  error
}

// get returns the multiplexed connection to addr (node id), dialling it
// if needed; nil without error when that node speaks only the old
// framing (then the caller uses rpcPool). Connections are kept per
// address and expected node ID, so that each keeps the certificate check
// its callers asked for.
func (p *muxPool) get(ctx context.Context, n *Node, s *streamLayer, addr, id string) (*muxConn, error) {
	key := id + "@" + addr
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errMuxClosed
	}
	if until, ok := p.old[key]; ok {
		if time.Now().Before(until) {
			p.mu.Unlock()
			return nil, nil
		}
		delete(p.old, key)
	}
	if mc := p.conns[key]; mc != nil && mc.live() {
		p.mu.Unlock()
		return mc, nil
	}
	d := p.dialing[key]
	if d == nil {
		// One dial per address, in its own goroutine: every caller,
		// the first included, waits for it only as long as its own
		// context allows, and a short deadline does not fail the
		// others' dial.
		d = &muxDial{done: make(chan struct{})}
		if p.dialing == nil {
			p.dialing = make(map[string]*muxDial)
		}
		p.dialing[key] = d
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.finishDial(n, s, key, addr, id, d)
		}()
	}
	p.mu.Unlock()
	select {
	case <-d.done:
		return d.mc, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// finishDial dials for get and files the outcome.
func (p *muxPool) finishDial(n *Node, s *streamLayer, key, addr, id string, d *muxDial) {
	mc, old, err := p.dial(n, s, addr, id)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.dialing, key)
	switch {
	case err != nil:
	case old:
		if p.old == nil {
			p.old = make(map[string]time.Time)
		}
		p.old[key] = time.Now().Add(muxRecheck)
	case p.closed:
		mc.c.Close()
		mc, err = nil, errMuxClosed
	default:
		if p.conns == nil {
			p.conns = make(map[string]*muxConn)
		}
		p.conns[key] = mc
		p.wg.Add(1) // this dial's count is still held, so not from zero
		go func() {
			defer p.wg.Done()
			mc.read()
		}()
	}
	d.mc, d.err = mc, err
	close(d.done)
}

// dial opens an RPC connection to addr and asks it to switch. A node that
// refuses (an older version) gets the connection back in the old mode,
// handed to n.pool for the next request, and old is true.
func (p *muxPool) dial(n *Node, s *streamLayer, addr, id string) (mc *muxConn, old bool, err error) {
	const timeout = 5 * time.Second
	c, err := s.dial(addr, tagRPC, id, timeout)
	if err != nil {
		return nil, false, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	var resp rpcResponse
	if err := writeRequest(c, rpcRequest{Op: opMux}); err != nil {
		c.Close()
		return nil, false, err
	}
	if err := readFrame(c, &resp); err != nil {
		c.Close()
		return nil, false, err
	}
	c.SetDeadline(time.Time{})
	if resp.Error != nil {
		n.pool.put(addr, c)
		return nil, true, nil
	}
	return &muxConn{c: c, addr: addr, w: frameWriter{c: c}, calls: map[uint64]chan muxReply{}}, false, nil
}

// close closes every connection and waits for their readers, which fail
// the requests still waiting.
func (p *muxPool) close() {
	p.mu.Lock()
	p.closed = true
	for _, mc := range p.conns {
		mc.c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// serveMux answers the multiplexed requests of connection c (whose
// reader is br) until it closes; each request runs in its own goroutine.
// It returns once they have all ended, as serveRPC did after its one
// request: Close shuts raft down, which resolves what they wait for.
func (n *Node) serveMux(c net.Conn, br *bufio.Reader) {
	w := &frameWriter{c: c}
	var wg sync.WaitGroup
	defer func() {
		c.Close()
		wg.Wait()
	}()
	for {
		num, body, err := readMuxFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.log.Debug("RPC connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		var req rpcRequestIn
		var bad error
		if err := unmarshalFrame(body, &req); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				n.log.Debug("RPC connection ended", "remote", c.RemoteAddr().String(), "err", err)
				return
			}
			bad = err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := n.handleRPC(req, bad)
			if req.Op == opPropose && n.dropAnswers.Load() > 0 && n.dropAnswers.Add(-1) >= 0 {
				c.Close()
				return
			}
			frame := appendMuxFrame(make([]byte, 0, 12+32+len(resp.Value)), num, nil)
			frame, err := appendResponse(frame, resp)
			if err != nil {
				n.log.Error("encode RPC answer", "err", err)
				c.Close()
				return
			}
			// Fix the length now that the body is in place.
			binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
			w.send(frame) // a failed write closes c, which ends the loop
		}()
	}
}
