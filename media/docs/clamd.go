package docs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Clamd scans through a ClamAV clamd socket with the INSTREAM command.
// Network is "unix" or "tcp", Addr the socket's path or host:port.
// Timeout bounds the whole scan (connection, upload and verdict; 30 s
// when zero). Every failure to get a verdict is ErrScan: the store then
// refuses the file, never lets it through unscanned.
type Clamd struct {
	Network, Addr string
	Timeout       time.Duration
}

// clamdChunk is the size of one INSTREAM chunk. clamd refuses a stream
// longer than its StreamMaxLength (25 MB by default, above our 20 MiB).
const clamdChunk = 64 << 10

// maxReply bounds clamd's answer ("stream: <signature> FOUND").
const maxReply = 4096

// Scan sends r's bytes to clamd and returns nil for "stream: OK", an
// error wrapping ErrInfected and naming the signature for "stream: <sig>
// FOUND", and an error wrapping ErrScan for anything else (no socket,
// timeout, ctx ended, an "ERROR" reply, a reply of another form).
func (c Clamd) Scan(ctx context.Context, r io.Reader) error {
	err := c.scan(ctx, r)
	if err != nil && !errors.Is(err, ErrInfected) && !errors.Is(err, ErrScan) {
		err = fmt.Errorf("%w: %w", ErrScan, err)
	}
	return err
}

func (c Clamd) scan(ctx context.Context, r io.Reader) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := c.Network
	if network == "" {
		network = "unix"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, c.Addr)
	if err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	// Closing the connection is what interrupts a blocked read or write
	// when ctx ends before the deadline (a caller's cancellation).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// The "z" prefix makes clamd end its reply with NUL rather than a
	// newline, so a signature name cannot cut the reply short.
	w := bufio.NewWriterSize(conn, clamdChunk+4)
	if _, err := w.WriteString("zINSTREAM\x00"); err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	buf := make([]byte, clamdChunk)
	var size [4]byte
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			binary.BigEndian.PutUint32(size[:], uint32(n))
			w.Write(size[:])
			if _, err := w.Write(buf[:n]); err != nil {
				// clamd closes the stream when it is over its limit; its
				// reply says why, so read it before giving up.
				return c.verdict(conn, fmt.Errorf("clamd: send: %w", err))
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("clamd: read file: %w", rerr)
		}
	}
	binary.BigEndian.PutUint32(size[:], 0)
	w.Write(size[:])
	if err := w.Flush(); err != nil {
		return c.verdict(conn, fmt.Errorf("clamd: send: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	return c.verdict(conn, nil)
}

// verdict reads clamd's reply and interprets it; sendErr, when not nil,
// is reported if the reply does not say more.
func (c Clamd) verdict(conn net.Conn, sendErr error) error {
	// The reply ends with NUL; clamd may keep the connection open after
	// it, so read up to the NUL, not to the end of the stream.
	br := bufio.NewReader(io.LimitReader(conn, maxReply))
	reply, err := br.ReadBytes(0)
	if err == nil || (err == io.EOF && len(reply) > 0) {
		reply, err = bytes.TrimSuffix(reply, []byte{0}), nil
	}
	if err != nil || len(reply) == 0 {
		if sendErr != nil {
			return sendErr
		}
		if err == nil {
			err = errors.New("empty reply")
		}
		return fmt.Errorf("clamd: read reply: %w", err)
	}
	text := strings.TrimSpace(string(reply))
	rest, ok := strings.CutPrefix(text, "stream: ")
	switch {
	case ok && rest == "OK" && sendErr == nil:
		return nil
	case ok && strings.HasSuffix(rest, " FOUND"):
		sig := strings.TrimSpace(strings.TrimSuffix(rest, " FOUND"))
		return fmt.Errorf("%w: %s", ErrInfected, sig)
	}
	return fmt.Errorf("%w: clamd replied %q", ErrScan, text)
}
