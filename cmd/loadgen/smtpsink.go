package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// smtpSink stands for the Comune's mail relay: a minimal SMTP server on
// loopback that accepts every message and keeps only a count. With it the
// nodes deliver their emails as in production (a TCP connection and an
// SMTP conversation per email) instead of writing files into the demo
// mailbox, which on this VM costs more kernel time per email than the
// whole booking (a new inode per file). Its CPU is loadgen's. Nodes keep
// their connections open between messages (mail.SMTPConfig.PoolSize), as
// they would with a real relay.
type smtpSink struct {
	ln       net.Listener
	wg       sync.WaitGroup
	received atomic.Int64
	conns    atomic.Int64 // connections accepted

	mu   sync.Mutex
	open map[net.Conn]struct{}
}

func startSMTPSink() (*smtpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &smtpSink{ln: ln, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			}()
		}
	}()
	return s, nil
}

// Addr is the sink's host and port.
func (s *smtpSink) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// serve speaks just enough SMTP for a client that submits messages:
// EHLO/HELO, MAIL, RCPT, DATA (up to the lone dot), RSET, NOOP, QUIT. It
// offers PIPELINING, as a real relay does: it answers the commands of a
// pipelined group in order, reading each line from its buffer.
func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	// A reply waits in the buffer while more pipelined commands are
	// already read: the group's replies leave in one write.
	reply := func(line string) bool {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		w.WriteString(line)
		if r.Buffered() > 0 {
			return true
		}
		return w.Flush() == nil
	}
	if !reply("220 loadgen ESMTP sink\r\n") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		switch verb {
		case "EHLO":
			if !reply("250-loadgen\r\n250-PIPELINING\r\n250 8BITMIME\r\n") {
				return
			}
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			if !reply("250 OK\r\n") {
				return
			}
		case "DATA":
			if !reply("354 go ahead\r\n") {
				return
			}
			// The message is skipped a buffer at a time: ReadSlice does
			// not copy, so the sink's CPU stays off the nodes' share of
			// the machine. A line longer than the buffer comes in
			// pieces; only a piece that follows a line end can be the
			// lone dot.
			atLineStart := true
			for {
				l, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if atLineStart && (string(l) == ".\r\n" || string(l) == ".\n") {
					break
				}
				atLineStart = err == nil
			}
			s.received.Add(1)
			if !reply("250 OK queued\r\n") {
				return
			}
		case "QUIT":
			reply("221 bye\r\n")
			return
		default:
			if !reply("502 not implemented\r\n") {
				return
			}
		}
	}
}

// Close stops the sink, closes the connections still open (nodes keep
// idle ones) and waits for them.
func (s *smtpSink) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
