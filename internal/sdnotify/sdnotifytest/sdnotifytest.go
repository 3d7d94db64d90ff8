// Package sdnotifytest stands in for systemd in tests: it opens the
// datagram socket a process started as a Type=notify service would get
// in NOTIFY_SOCKET, and hands the test every notification the process
// sends, in order.
package sdnotifytest

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Socket is the manager's end of NOTIFY_SOCKET.
type Socket struct {
	conn *net.UnixConn
	path string
}

// Listen opens a socket in a fresh temporary folder of t, closed when the
// test ends. Pass Env() to the process under test (or t.Setenv it).
func Listen(t testing.TB) *Socket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("sdnotifytest: listen %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Socket{conn: conn, path: path}
}

// Path is the socket's file name, the value of NOTIFY_SOCKET.
func (s *Socket) Path() string { return s.path }

// Env is the NOTIFY_SOCKET assignment for a child process's environment.
func (s *Socket) Env() string { return "NOTIFY_SOCKET=" + s.path }

// Next returns the next notification (one datagram: newline-separated
// assignments such as "READY=1"), waiting until ctx ends.
func (s *Socket) Next(ctx context.Context) (string, error) {
	buf := make([]byte, 64*1024)
	for {
		// Short read deadlines, so that the context is looked at often
		// and a cancelled context ends the wait promptly.
		if err := s.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			return "", err
		}
		n, err := s.conn.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return "", err
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
}

// WaitFor reads notifications until one holds the assignment want (such
// as "READY=1"), and returns every notification read, that one last.
func (s *Socket) WaitFor(ctx context.Context, want string) ([]string, error) {
	var seen []string
	for {
		msg, err := s.Next(ctx)
		if err != nil {
			return seen, err
		}
		seen = append(seen, msg)
		for _, a := range strings.Split(msg, "\n") {
			if a == want {
				return seen, nil
			}
		}
	}
}
