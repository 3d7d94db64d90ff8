package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// kind is what a client follows.
type kind int

const (
	// ticketStream follows one ticket: call c reaches it as its position
	// dropping to p0-c, or as its own call to desk c.
	ticketStream kind = iota
	// boardStream follows the office's board: call c reaches it as the
	// list headed by desk c. The baseline's stream reads the same way.
	boardStream
)

// client is one SSE connection of the parent.
type client struct {
	kind   kind
	target string
	// p0 is the ticket's position at its first event.
	p0 int
	// seen is the latest call this client has received.
	seen int
}

// recorder keeps, for every call and client, when the call's change
// arrived (nanoseconds since base; 0 when it has not).
type recorder struct {
	base     time.Time
	arrivals [][]int64 // [call][client]
	got      []atomic.Int64
	first    atomic.Int64 // clients that got their first event
	failed   atomic.Int64 // clients whose stream failed or ended early
	errMu    sync.Mutex
	firstErr error
}

func newRecorder(calls, clients int) *recorder {
	r := &recorder{base: time.Now(), arrivals: make([][]int64, calls+1), got: make([]atomic.Int64, calls+1)}
	for i := range r.arrivals {
		r.arrivals[i] = make([]int64, clients)
	}
	return r
}

func (r *recorder) fail(err error) {
	r.failed.Add(1)
	r.errMu.Lock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.errMu.Unlock()
}

// callOf tells which call an event's data shows for client c (0 for the
// first view or none), reading the JSON fields by hand: the parent
// parses up to 10,000 events per call on the same two cores as the
// server.
func (c *client) callOf(data []byte) int {
	switch c.kind {
	case boardStream:
		return fieldInt(data, `"desk":"`)
	default:
		if bytes.Contains(data, []byte(`"state":"called"`)) {
			return fieldInt(data, `"desk":"`)
		}
		if p := fieldInt(data, `"position":`); p >= 0 && bytes.Contains(data, []byte(`"state":"waiting"`)) {
			return c.p0 - p
		}
		return 0
	}
}

// fieldInt is the integer following the first key in data, or -1.
func fieldInt(data []byte, key string) int {
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return -1
	}
	rest := data[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return -1
	}
	return n
}

// run connects client i to addr as host, reads its stream and records
// each call it shows, until ctx ends. Connections are raw TCP with one
// small buffer: 10,000 http.Client connections would each carry a
// Transport's two goroutines and buffers, measuring the harness more than
// the server.
func (c *client) run(ctx context.Context, i int, addr, host string, rec *recorder, connected chan<- error) {
	var d net.Dialer
	var conn net.Conn
	var err error
	for attempt := 0; ; attempt++ {
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err == nil || attempt == 20 || ctx.Err() != nil {
			break
		}
		// A full accept backlog refuses a burst of dials: back off.
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	if err != nil {
		connected <- err
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", c.target, host); err != nil {
		connected <- err
		return
	}
	br := bufio.NewReaderSize(conn, 2048)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		connected <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		connected <- fmt.Errorf("%s: %s", c.target, resp.Status)
		return
	}
	connected <- nil
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1024), 64<<10)
	first := true
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		now := int64(time.Since(rec.base))
		if first {
			first = false
			if c.kind == ticketStream {
				c.p0 = fieldInt(data, `"position":`)
			}
			rec.first.Add(1)
			continue
		}
		k := c.callOf(data)
		if k >= len(rec.arrivals) {
			k = len(rec.arrivals) - 1
		}
		// A client that was slow got only the newest view: it carries
		// every call up to k, so they all arrive now.
		for ; c.seen < k; c.seen++ {
			rec.arrivals[c.seen+1][i] = now
			rec.got[c.seen+1].Add(1)
		}
	}
	if ctx.Err() == nil {
		if err := sc.Err(); err != nil {
			rec.fail(err)
		} else if c.kind == boardStream {
			rec.fail(fmt.Errorf("%s: stream ended", c.target))
		}
	}
}

// expects reports whether call k (1-based) changes what client c sees:
// every call changes the board; a ticket until its own call.
func (c *client) expects(k int) bool {
	return c.kind == boardStream || c.p0 >= k-1
}
