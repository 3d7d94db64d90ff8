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

// The node-to-node RPC (stream tag 2) carries forwarded commands and
// membership changes from any node to the leader. Framing: each message is
// a 4-byte big-endian length then that many bytes of JSON (written by
// hand, rpcwire.go, and read by hand, jsonscan.go, with encoding/json for
// any shape the hand decoders do not know). A connection starts in
// the one-request-at-a-time mode, request then response, reused (pooled
// by the caller, rpcPool) for the next; nodes of this version switch it
// to the multiplexed mode at once (rpcmux.go), and keep the first mode
// only with nodes of an older version. Every request is answered by the
// node that receives it; it is never forwarded again (a follower that got
// one answers "cluster.not_leader" and the caller retries with the leader
// it names).

// maxFrame bounds one RPC message; a command or result is far smaller.
const maxFrame = 16 << 20

// RPC operations.
const (
	opPropose     = "propose"
	opAddVoter    = "add_voter"
	opAddNonvoter = "add_nonvoter"
	opRemove      = "remove"
)

// rpcRequest is one request to the leader.
type rpcRequest struct {
	Op string `json:"op"`
	// Command is the command envelope (as in the log) for "propose"; the
	// leader stamps its Time.
	Command json.RawMessage `json:"command,omitempty"`
	// ID and Addr name the server of a membership change.
	ID   string `json:"id,omitempty"`
	Addr string `json:"addr,omitempty"`
	// TimeoutMS is what is left of the caller's deadline (0: none).
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// rpcResponse is the leader's answer.
type rpcResponse struct {
	Index uint64          `json:"index,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	Error *wireError      `json:"error,omitempty"`
}

// rpcRequestIn is how the leader reads an rpcRequest: the command is
// decoded with the frame, in one pass (decodeRequest, or encoding/json),
// instead of kept as raw JSON that decodeEntry would check and decode
// again.
type rpcRequestIn struct {
	Op        string   `json:"op"`
	Command   *Command `json:"command,omitempty"`
	ID        string   `json:"id,omitempty"`
	Addr      string   `json:"addr,omitempty"`
	TimeoutMS int64    `json:"timeout_ms,omitempty"`
}

// writeFrame writes v as one frame, through encoding/json (the admission
// and HTTP-forwarding streams use it; the RPC's own messages go through
// writeRequest and writeResponse).
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := frame(len(body))
	return sendFrame(w, append(buf, body...))
}

// readFrame reads one frame into v. writeRequest and writeResponse
// (rpcwire.go) write them.
func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxFrame {
		return fmt.Errorf("cluster: RPC frame of %d bytes exceeds %d", size, maxFrame)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	if err := unmarshalFrame(body, v); err != nil {
		return &frameDecodeError{err}
	}
	return nil
}

// unmarshalFrame decodes the JSON of a frame into v, a zero value, as
// json.Unmarshal does: requests and answers of the plain shapes our
// writers produce by hand (jsonscan.go), anything else through
// json.Unmarshal.
func unmarshalFrame(body []byte, v any) error {
	switch v := v.(type) {
	case *rpcRequestIn:
		if req, ok := decodeRequest(body); ok {
			*v = req
			return nil
		}
	case *rpcResponse:
		if resp, ok := decodeResponse(body); ok {
			*v = resp
			return nil
		}
	}
	return json.Unmarshal(body, v)
}

// frameDecodeError is readFrame's error for a frame read whole that does
// not decode: the connection is still in step.
type frameDecodeError struct{ err error }

func (e *frameDecodeError) Error() string { return e.err.Error() }
func (e *frameDecodeError) Unwrap() error { return e.err }

// serveRPC answers the requests of one RPC connection until it closes. It
// runs on the stream layer's goroutine of that connection; Close of the
// stream layer closes the connection and so ends it.
func (n *Node) serveRPC(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		var req rpcRequestIn
		var bad error
		if err := readFrame(br, &req); err != nil {
			var de *frameDecodeError
			var se *json.SyntaxError
			if !errors.As(err, &de) || errors.As(err, &se) {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					n.log.Debug("RPC connection ended", "remote", c.RemoteAddr().String(), "err", err)
				}
				return
			}
			// Valid JSON with a value of the wrong type (a command that
			// is not an envelope): answered with the error, as
			// decodeEntry's refusal was; the connection stays usable.
			bad = de.err
		}
		if req.Op == opMux && bad == nil && !n.refuseMux.Load() {
			// The caller speaks the multiplexed framing (rpcmux.go):
			// an empty answer, then the connection switches.
			if err := writeResponse(c, rpcResponse{}); err != nil {
				return
			}
			n.serveMux(c, br)
			return
		}
		resp := n.handleRPC(req, bad)
		if req.Op == opPropose && n.dropAnswers.Load() > 0 && n.dropAnswers.Add(-1) >= 0 {
			c.Close()
			return
		}
		if err := writeResponse(c, resp); err != nil {
			return
		}
	}
}

// handleRPC runs one request on this node, which should be the leader.
// bad is the error of a request that did not decode.
func (n *Node) handleRPC(req rpcRequestIn, bad error) rpcResponse {
	ctx, cancel := context.WithCancel(context.Background())
	if req.TimeoutMS > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), time.Duration(req.TimeoutMS)*time.Millisecond)
	}
	// Close needs no cancel here: it shuts raft down, which resolves every
	// future this request waits on.
	defer cancel()

	var resp rpcResponse
	var err error
	switch {
	case bad != nil:
		err = fmt.Errorf("cluster: RPC request %q: %w", req.Op, bad)
	case req.Op != opPropose:
		err = n.handleOther(ctx, req, &resp)
	case req.Command == nil:
		err = errors.New("cluster: forwarded command: not a JSON envelope")
	default:
		// The frame was valid JSON, so the command's payload is: the
		// leader's envelope copies it (encodeTrusted).
		cmd := *req.Command
		var res Result
		// The follower reads its own state, never this node's, after
		// a forwarded command: the answer may leave before this node's
		// commit (early.go).
		res, err = n.proposeTrusted(WithoutLocalApply(ctx), cmd, true)
		resp.Index = res.Index
		if err == nil && res.Value != nil {
			if resp.Value, err = marshalResult(res.Value); err != nil {
				err = fmt.Errorf("cluster: encode result of %s: %w", cmd.Type, err)
			}
		}
	}
	resp.Error = n.codec.encode(err)
	return resp
}

// handleOther runs the requests other than propose.
func (n *Node) handleOther(ctx context.Context, req rpcRequestIn, resp *rpcResponse) error {
	var err error
	switch req.Op {
	case opAddVoter, opAddNonvoter, opRemove, opAddStaged:
		err = n.changeMembership(ctx, req.Op, req.ID, req.Addr)
	case opReadIndex:
		resp.Index, err = n.handleReadIndex(ctx)
	case opStatus:
		resp.Value, err = n.handleStatus()
	default:
		err = fmt.Errorf("cluster: unknown RPC operation %q", req.Op)
	}
	return err
}

// rpcPool keeps idle RPC connections per address, so forwarding does not
// pay a TLS handshake per command. While a connection is idle a watcher
// goroutine reads from it: the server never sends unasked, so the read
// returns only when the peer closed the connection (a leader that stopped)
// and get then discards it instead of sending a request into it, which
// would make that request's outcome unknown. get interrupts the watcher
// with a read deadline in the past; close closes every idle connection,
// which ends their watchers, and waits for them.
type rpcPool struct {
	mu     sync.Mutex
	idle   map[string][]idleConn
	closed bool
	wg     sync.WaitGroup
}

type idleConn struct {
	c    net.Conn
	done chan error // the watcher's read result
}

// maxIdlePerAddr caps the idle connections kept per leader address.
const maxIdlePerAddr = 1024

// get returns a live idle connection to addr, or nil.
func (p *rpcPool) get(addr string) net.Conn {
	for {
		p.mu.Lock()
		l := p.idle[addr]
		if len(l) == 0 {
			p.mu.Unlock()
			return nil
		}
		ic := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		ic.c.SetReadDeadline(time.Now())
		err := <-ic.done
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			ic.c.SetReadDeadline(time.Time{})
			return ic.c
		}
		ic.c.Close()
	}
}

func (p *rpcPool) put(addr string, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[addr]) >= maxIdlePerAddr {
		c.Close()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]idleConn)
	}
	ic := idleConn{c: c, done: make(chan error, 1)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var b [1]byte
		_, err := c.Read(b[:])
		if err == nil {
			err = errors.New("cluster: unexpected data on an idle RPC connection")
		}
		ic.done <- err
	}()
	p.idle[addr] = append(p.idle[addr], ic)
}

// drop closes every idle connection to addr (after an error on one).
func (p *rpcPool) drop(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ic := range p.idle[addr] {
		ic.c.Close()
	}
	delete(p.idle, addr)
}

func (p *rpcPool) close() {
	p.mu.Lock()
	p.closed = true
	for _, l := range p.idle {
		for _, ic := range l {
			ic.c.Close()
		}
	}
	p.idle = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// call sends req to the node at addr (expected to be node id) and returns
// its answer. Errors before the request was written wrap ErrNoLeader (the
// request reached nobody); errors after wrap ErrOutcomeUnknown.
func (n *Node) call(ctx context.Context, addr, id string, req rpcRequest) (rpcResponse, error) {
	var resp rpcResponse
	if d, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(time.Until(d).Milliseconds(), 1)
	}
	s := n.stream.Load()
	if s == nil {
		return resp, ErrNotStarted
	}
	mc, err := n.mux.get(ctx, n, s, addr, id)
	if err != nil {
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, fmt.Errorf("%w: reach %s at %s: %v", ErrNoLeader, id, addr, err)
	}
	if mc != nil {
		return mc.roundTrip(ctx, id, req)
	}
	// A node of an older version: one request per connection.
	c := n.pool.get(addr)
	if c == nil {
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, max(time.Until(d), time.Millisecond))
		}
		if c, err = s.dial(addr, tagRPC, id, timeout); err != nil {
			return resp, fmt.Errorf("%w: reach %s at %s: %v", ErrNoLeader, id, addr, err)
		}
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := writeRequest(c, req); err != nil {
		c.Close()
		n.pool.drop(addr)
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, fmt.Errorf("%w: send to %s at %s: %v", ErrNoLeader, id, addr, err)
	}
	if err := readFrame(c, &resp); err != nil {
		c.Close()
		n.pool.drop(addr)
		if ctx.Err() != nil {
			return resp, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
		}
		return resp, fmt.Errorf("%w: %s at %s: %v", ErrOutcomeUnknown, id, addr, err)
	}
	if !stop() {
		// ctx ended as the answer arrived; the deadline is set, so the
		// connection cannot be reused.
		c.Close()
	} else {
		n.pool.put(addr, c)
	}
	return resp, nil
}
