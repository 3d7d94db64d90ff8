package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// bookConn is one load worker's own keep-alive HTTP/1.1 connection to a
// node, written and read by that worker alone. loadgen shares the nodes'
// two cores, and net/http's client spent about 0.1 ms of CPU per booking:
// two goroutines per connection handing each request and answer over
// channels, the idle pool's lock shared by 256 workers, a request object
// and its headers built and copied per booking. Here the request is
// appended to a buffer and written in one call, and the answer is read
// with http.ReadResponse in the worker's goroutine. Every answer is still
// read whole and its status checked.
type bookConn struct {
	all    *bookConns
	addr   string // the node's HTTP address
	prefix []byte // the request line and headers up to Content-Length
	c      net.Conn
	br     *bufio.Reader
	buf    []byte
}

// requestTimeout bounds one booking's request and answer, as the
// http.Client's Timeout did.
const requestTimeout = 60 * time.Second

func newBookConn(all *bookConns, addr, host, path string) *bookConn {
	p := "POST " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: sportello-loadgen\r\nContent-Type: application/json\r\nContent-Length: "
	return &bookConn{all: all, addr: addr, prefix: []byte(p)}
}

// post sends body and returns the answer's status, or "net" on a
// transport failure (the connection is then dialled again next time).
func (bc *bookConn) post(ctx context.Context, body []byte) string {
	status, err := bc.roundTrip(ctx, body)
	if err != nil {
		bc.close()
		return "net"
	}
	if status == http.StatusCreated {
		return ""
	}
	return strconv.Itoa(status)
}

func (bc *bookConn) roundTrip(ctx context.Context, body []byte) (int, error) {
	if bc.c == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", bc.addr)
		if err != nil {
			return 0, err
		}
		if !bc.all.add(c) {
			return 0, net.ErrClosed
		}
		bc.c, bc.br = c, bufio.NewReaderSize(c, 4096)
	}
	bc.c.SetDeadline(time.Now().Add(requestTimeout))
	b := append(bc.buf[:0], bc.prefix...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	bc.buf = b
	if _, err := bc.c.Write(b); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bc.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.Close {
		bc.close()
	}
	return resp.StatusCode, nil
}

func (bc *bookConn) close() {
	if bc.c != nil {
		bc.c.Close()
		bc.c, bc.br = nil, nil
	}
}

// bookConns are the connections of one level's workers.
type bookConns struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// add records c, or closes it and returns false after closeAll.
func (bs *bookConns) add(c net.Conn) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.closed {
		c.Close()
		return false
	}
	bs.conns = append(bs.conns, c)
	return true
}

// closeAll closes every connection: at the end of the level, or when the
// run is interrupted (which also ends a request in flight).
func (bs *bookConns) closeAll() {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.closed = true
	for _, c := range bs.conns {
		c.Close()
	}
	bs.conns = nil
}
