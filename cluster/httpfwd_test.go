package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/leaktest"
)

// echoed is what the test handler on the receiving node saw.
type echoed struct {
	Method, Host, Path, Cookie, Origin, UserAgent string
	RemoteAddr                                    string
	From                                          string
	Forwarded                                     bool
	TLS                                           bool
	BodyLen                                       int
	BodySHA                                       string
	ContentLength                                 int64
}

// front is the public server of a forwarding node: it forwards every
// request to the node named in X-To and reports ForwardHTTP's outcome on
// errs (and answers 599 itself when nothing was written).
type front struct {
	srv  *httptest.Server
	errs chan error
}

func newFront(t *testing.T, n *cluster.Node) *front {
	f := &front{errs: make(chan error, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Front-Remote", r.RemoteAddr)
		err := n.ForwardHTTP(w, r, r.Header.Get("X-To"))
		if err != nil && errors.Is(err, cluster.ErrNodeUnreachable) {
			http.Error(w, err.Error(), 599)
		}
		f.errs <- err
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// outcome waits for the next ForwardHTTP outcome of the front.
func (f *front) outcome(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ForwardHTTP did not return")
		return nil
	}
}

// backend is the handler for forwarded requests of a receiving node.
type backend struct {
	node      *cluster.Node
	sseGo     chan struct{} // closed by the test: the SSE handler sends its second event
	wsDone    chan error    // each WebSocket handler's end
	loopErr   chan error    // what a forward from a forwarded request gave
	forwarded atomic.Int32  // requests served
}

func newBackend(n *cluster.Node) *backend {
	b := &backend{node: n, sseGo: make(chan struct{}), wsDone: make(chan error, 4), loopErr: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		from, ok := cluster.ForwardedFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", n.Config().NodeID)
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "yes"})
		json.NewEncoder(w).Encode(echoed{
			Method: r.Method, Host: r.Host, Path: r.URL.RequestURI(), Cookie: r.Header.Get("Cookie"),
			Origin: r.Header.Get("Origin"), UserAgent: r.UserAgent(), RemoteAddr: r.RemoteAddr,
			From: from, Forwarded: ok, TLS: r.TLS != nil,
			BodyLen: len(body), BodySHA: hex.EncodeToString(sum[:]), ContentLength: r.ContentLength,
		})
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-b.sseGo:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: two\n\n")
	})
	mux.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) {
		// Answers before reading the body, as a size limit does.
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		err := n.ForwardHTTP(w, r, "node3")
		b.loopErr <- err
		if err != nil {
			http.Error(w, "not again", http.StatusLoopDetected)
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"comune.example"}})
		if err != nil {
			b.wsDone <- err
			return
		}
		b.wsDone <- b.echoWS(r.Context(), c)
	})
	n.ServeForwardedHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.forwarded.Add(1)
		mux.ServeHTTP(w, r)
	}))
	return b
}

// echoWS greets at once (bytes that follow the 101 immediately), then
// echoes every message with a prefix; "quit" makes it close the socket.
func (b *backend) echoWS(ctx context.Context, c *websocket.Conn) error {
	defer c.CloseNow()
	from, _ := cluster.ForwardedFrom(ctx)
	if err := c.Write(ctx, websocket.MessageText, []byte("hello from "+b.node.Config().NodeID+" via "+from)); err != nil {
		return err
	}
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if string(msg) == "quit" {
			return c.Close(websocket.StatusGoingAway, "bye")
		}
		if err := c.Write(ctx, typ, append([]byte("echo: "), msg...)); err != nil {
			return err
		}
	}
}

func get(t *testing.T, f *front, path, to string, mod func(*http.Request)) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-To", to)
	if mod != nil {
		mod(req)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeEcho(t *testing.T, resp *http.Response) echoed {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var e echoed
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

// spyWriter is a ResponseWriter that records whether anything was
// written to it.
type spyWriter struct {
	h       http.Header
	touched bool
}

func (s *spyWriter) Header() http.Header {
	if s.h == nil {
		s.h = http.Header{}
	}
	return s.h
}
func (s *spyWriter) Write(p []byte) (int, error) { s.touched = true; return len(p), nil }
func (s *spyWriter) WriteHeader(int)             { s.touched = true }

func wsURL(f *front) string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func dialWS(t *testing.T, f *front, to string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("X-To", to)
	h.Set("Origin", "https://comune.example")
	c, _, err := websocket.Dial(ctx, wsURL(f)+"/ws", &websocket.DialOptions{HTTPHeader: h, Host: "comune.example"})
	if err != nil {
		t.Fatalf("dial the WebSocket through the forward: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readWS(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(msg)
}

func writeWS(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not end", what)
		return nil
	}
}

// TestForwardHTTP forwards from node1 to node2 of a three-node cluster
// with mutual TLS: ordinary requests, a stream, WebSockets, the loop rule
// and unreachable nodes; closing node2 ends a relayed WebSocket.
func TestForwardHTTP(t *testing.T) {
	leaktest.Check(t)
	nodes := clustertest.Cluster(t, 3)
	a, b := nodes[0], nodes[1]
	be := newBackend(b)
	f := newFront(t, a)

	t.Run("GET keeps Host, cookies and the client address", func(t *testing.T) {
		resp := get(t, f, "/echo?x=1", "node2", func(r *http.Request) {
			r.Host = "comune.example"
			r.Header.Set("Cookie", "sess=abc; lang=it")
			r.Header.Set("Origin", "https://comune.example")
			r.Header.Set("User-Agent", "citizen-browser")
		})
		e := decodeEcho(t, resp)
		want := echoed{Method: "GET", Host: "comune.example", Path: "/echo?x=1", Cookie: "sess=abc; lang=it",
			Origin: "https://comune.example", UserAgent: "citizen-browser", RemoteAddr: resp.Header.Get("X-Front-Remote"),
			From: "node1", Forwarded: true, BodySHA: e.BodySHA}
		if e != want {
			t.Errorf("the handler saw\n%+v\nwant\n%+v", e, want)
		}
		if resp.Header.Get("X-Served-By") != "node2" || resp.Header.Get("Set-Cookie") != "seen=yes" {
			t.Errorf("answer headers not copied: %v", resp.Header)
		}
		if resp.Close {
			t.Error("the other node's Connection: close reached the client")
		}
		if err := f.outcome(t); err != nil {
			t.Errorf("ForwardHTTP: %v", err)
		}
	})

	t.Run("POST streams the body", func(t *testing.T) {
		body := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB
		sum := sha256.Sum256(body)
		for _, chunked := range []bool{false, true} {
			var rd io.Reader = bytes.NewReader(body)
			if chunked {
				rd = io.MultiReader(rd) // unknown length: chunked
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/echo", rd)
			req.Header.Set("X-To", "node2")
			if !chunked {
				// This node's server answers the interim 100; the other
				// node must not send a second one.
				req.Header.Set("Expect", "100-continue")
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			e := decodeEcho(t, resp)
			resp.Body.Close()
			if e.Method != "POST" || e.BodyLen != len(body) || e.BodySHA != hex.EncodeToString(sum[:]) {
				t.Errorf("chunked=%v: the handler got %s %d bytes (sha %s)", chunked, e.Method, e.BodyLen, e.BodySHA)
			}
			if wantCL := map[bool]int64{false: int64(len(body)), true: -1}[chunked]; e.ContentLength != wantCL {
				t.Errorf("chunked=%v: content length %d, want %d", chunked, e.ContentLength, wantCL)
			}
			if err := f.outcome(t); err != nil {
				t.Errorf("ForwardHTTP: %v", err)
			}
		}
	})
	f.drain()

	t.Run("one client connection carries request after request", func(t *testing.T) {
		// The forward once ended its request writer with a read deadline
		// on the client's connection even when the writer was not reading
		// from it; net/http then cancels the connection's context, and the
		// next request on the connection found itself "gone" and got an
		// empty 200.
		conns := map[string]bool{}
		for i := range 200 {
			resp := get(t, f, "/echo", "node2", nil)
			e := decodeEcho(t, resp)
			resp.Body.Close()
			if e.Method != "GET" {
				t.Fatalf("request %d: %+v", i, e)
			}
			if err := f.outcome(t); err != nil {
				t.Fatalf("request %d: ForwardHTTP: %v", i, err)
			}
			conns[resp.Header.Get("X-Front-Remote")] = true
		}
		if len(conns) != 1 {
			t.Errorf("the client used %d connections, want 1 (keep-alive)", len(conns))
		}
	})

	t.Run("an answer before the whole body closes the client's connection", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/early", pr)
		req.Header.Set("X-To", "node2")
		go pw.Write(bytes.Repeat([]byte("x"), 64<<10)) // then the body stays open
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Errorf("got %d, close %v; want 413 with the connection closed", resp.StatusCode, resp.Close)
		}
		pw.Close()
		f.outcome(t)
		// The next request works, on a new connection.
		e := decodeEcho(t, get(t, f, "/echo", "node2", nil))
		if e.Method != "GET" {
			t.Errorf("next request: %+v", e)
		}
		if err := f.outcome(t); err != nil {
			t.Errorf("next request: ForwardHTTP: %v", err)
		}
	})
	f.drain()

	t.Run("server-sent events stream through", func(t *testing.T) {
		resp := get(t, f, "/sse", "node2", nil)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "data: one\n" {
			t.Fatalf("first event before the answer ended: %q, %v", line, err)
		}
		close(be.sseGo)
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "\ndata: two\n\n" {
			t.Fatalf("rest %q, %v", rest, err)
		}
		if err := f.outcome(t); err != nil {
			t.Errorf("ForwardHTTP: %v", err)
		}
	})

	t.Run("WebSocket echoes both ways; the client closes", func(t *testing.T) {
		c := dialWS(t, f, "node2")
		if got := readWS(t, c); got != "hello from node2 via node1" {
			t.Fatalf("greeting %q", got)
		}
		for i := range 3 {
			msg := fmt.Sprintf("message %d", i)
			writeWS(t, c, msg)
			if got := readWS(t, c); got != "echo: "+msg {
				t.Fatalf("got %q", got)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := waitErr(t, be.wsDone, "the handler on node2"); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("handler ended with %v", err)
		}
		if err := f.outcome(t); err != nil {
			t.Errorf("ForwardHTTP: %v", err)
		}
	})

	t.Run("WebSocket: the client vanishes", func(t *testing.T) {
		c := dialWS(t, f, "node2")
		readWS(t, c)
		c.CloseNow()
		if err := waitErr(t, be.wsDone, "the handler on node2"); err == nil {
			t.Error("handler ended without error")
		}
		f.outcome(t)
	})

	t.Run("WebSocket: the handler closes", func(t *testing.T) {
		c := dialWS(t, f, "node2")
		readWS(t, c)
		writeWS(t, c, "quit")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := c.Read(ctx)
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("client read %v, want the handler's close", err)
		}
		if err := waitErr(t, be.wsDone, "the handler on node2"); err != nil {
			t.Errorf("handler: %v", err)
		}
		if err := f.outcome(t); err != nil {
			t.Errorf("ForwardHTTP: %v", err)
		}
	})

	t.Run("WebSocket refused: the answer is copied", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h := http.Header{}
		h.Set("X-To", "node2")
		h.Set("Origin", "https://evil.example")
		_, resp, err := websocket.Dial(ctx, wsURL(f)+"/ws", &websocket.DialOptions{HTTPHeader: h})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("dial from a foreign origin: %v, %v", resp, err)
		}
		waitErr(t, be.wsDone, "the handler on node2")
		if err := f.outcome(t); err != nil {
			t.Errorf("ForwardHTTP: %v", err)
		}
	})

	t.Run("a forwarded request is not forwarded again", func(t *testing.T) {
		before := be.forwarded.Load()
		resp := get(t, f, "/loop", "node2", nil)
		if resp.StatusCode != http.StatusLoopDetected {
			t.Errorf("status %d", resp.StatusCode)
		}
		err := waitErr(t, be.loopErr, "the loop handler")
		if err == nil || errors.Is(err, cluster.ErrNodeUnreachable) {
			t.Errorf("forwarding again: %v", err)
		}
		if got := be.forwarded.Load() - before; got != 1 {
			t.Errorf("%d requests served on node2, want 1", got)
		}
		f.outcome(t)
	})

	t.Run("a node without a handler answers 503", func(t *testing.T) {
		resp := get(t, f, "/echo", "node3", nil)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d", resp.StatusCode)
		}
		f.outcome(t)
	})

	t.Run("unknown node and itself: nothing written", func(t *testing.T) {
		for _, to := range []string{"node9", "node1"} {
			w := &spyWriter{}
			err := a.ForwardHTTP(w, httptest.NewRequest(http.MethodGet, "/echo", nil), to)
			if to == "node9" && !errors.Is(err, cluster.ErrNodeUnreachable) || err == nil {
				t.Errorf("to %s: %v", to, err)
			}
			if w.touched || len(w.h) > 0 {
				t.Errorf("to %s: something was written", to)
			}
		}
	})

	t.Run("a client on TLS: r.TLS is set on the other node", func(t *testing.T) {
		tf := &front{errs: make(chan error, 4)}
		tf.srv = httptest.NewUnstartedServer(f.srv.Config.Handler)
		tf.srv.StartTLS()
		t.Cleanup(tf.srv.Close)
		e := decodeEcho(t, get(t, tf, "/echo", "node2", nil))
		if !e.TLS || e.From != "node1" {
			t.Errorf("the handler saw %+v", e)
		}
		f.outcome(t)
	})

	t.Run("the HTTP tag needs a client certificate", func(t *testing.T) {
		before := be.forwarded.Load()
		c, err := tls.Dial("tcp", b.RaftAddr(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		frame, _ := json.Marshal(map[string]any{"client": "192.0.2.1:1234", "from": "node1", "hops": 1})
		var msg bytes.Buffer
		msg.WriteByte(4) // tagHTTP
		msg.Write([]byte{0, 0, byte(len(frame) >> 8), byte(len(frame))})
		msg.Write(frame)
		msg.WriteString("GET /echo HTTP/1.1\r\nHost: comune.example\r\n\r\n")
		c.Write(msg.Bytes())
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if len(got) > 0 || (err != nil && errors.Is(err, os.ErrDeadlineExceeded)) {
			t.Errorf("a client without certificate got %q, %v", got, err)
		}
		if be.forwarded.Load() != before {
			t.Error("its request was served")
		}
	})

	t.Run("closing the receiving node ends a relayed WebSocket", func(t *testing.T) {
		c := dialWS(t, f, "node2")
		readWS(t, c)
		closed := make(chan error, 1)
		go func() { closed <- b.Close() }()
		if err := waitErr(t, closed, "node2's Close"); err != nil {
			t.Errorf("close node2: %v", err)
		}
		if err := waitErr(t, be.wsDone, "the handler on node2"); err == nil {
			t.Error("handler ended without error")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
			t.Errorf("client read after node2 closed: %v", err)
		}
		f.outcome(t)
	})

	t.Run("stopped node: ErrNodeUnreachable, nothing written", func(t *testing.T) {
		w := &spyWriter{}
		err := a.ForwardHTTP(w, httptest.NewRequest(http.MethodGet, "/echo", nil), "node2")
		if !errors.Is(err, cluster.ErrNodeUnreachable) {
			t.Errorf("to a stopped node: %v", err)
		}
		if w.touched || len(w.h) > 0 {
			t.Error("something was written")
		}
	})
}

// drain forgets outcomes already reported.
func (f *front) drain() {
	for {
		select {
		case <-f.errs:
		default:
			return
		}
	}
}

// TestForwardHTTPPlainTCP forwards between two nodes without identities
// (plain TCP, as one-machine test clusters run), and checks that closing
// the forwarding node ends a relayed WebSocket too.
func TestForwardHTTPPlainTCP(t *testing.T) {
	leaktest.Check(t)
	n1 := clustertest.New(t, cluster.Config{NodeID: "node1", HeartbeatTimeout: 300 * time.Millisecond})
	clustertest.Start(t, n1)
	n2 := clustertest.New(t, cluster.Config{NodeID: "node2", Join: true, HeartbeatTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- n2.Start(ctx) }()
	for n2.RaftAddr() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	if err := n1.AddVoter(ctx, "node2", n2.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	be := newBackend(n2)
	f := newFront(t, n1)

	e := decodeEcho(t, get(t, f, "/echo", "node2", func(r *http.Request) { r.Host = "comune.example" }))
	if e.From != "node1" || e.Host != "comune.example" || e.TLS {
		t.Errorf("the handler saw %+v", e)
	}
	if err := f.outcome(t); err != nil {
		t.Errorf("ForwardHTTP: %v", err)
	}

	c := dialWS(t, f, "node2")
	readWS(t, c)
	writeWS(t, c, "x")
	if got := readWS(t, c); got != "echo: x" {
		t.Fatalf("got %q", got)
	}
	// Closing the forwarding node ends the relay: both ends see it.
	if err := n1.Close(); err != nil {
		t.Errorf("close node1: %v", err)
	}
	if err := waitErr(t, be.wsDone, "the handler on node2"); err == nil {
		t.Error("handler ended without error")
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if _, _, err := c.Read(rctx); err == nil || rctx.Err() != nil {
		t.Errorf("client read after node1 closed: %v", err)
	}
	f.outcome(t)
}

// BenchmarkForwardHTTP measures a small GET forwarded from node1 to node2
// (mutual TLS, one connection and handshake per request), against the
// same GET served by node1's front server itself.
func BenchmarkForwardHTTP(b *testing.B) {
	nodes := clustertest.Cluster(b, 2)
	nodes[1].ServeForwardedHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/local" {
			io.WriteString(w, "ok")
			return
		}
		if err := nodes[0].ForwardHTTP(w, r, "node2"); err != nil {
			b.Error(err)
		}
	}))
	defer srv.Close()
	for _, path := range []string{"/local", "/forwarded"} {
		b.Run(path[1:], func(b *testing.B) {
			for b.Loop() {
				resp, err := srv.Client().Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "ok" {
					b.Fatalf("body %q", body)
				}
			}
		})
	}
}
