package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen opens a unixgram socket as systemd does for NOTIFY_SOCKET and
// points the environment at it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

// receive reads one datagram, failing the test after a few seconds.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func() error
		want string
	}{
		{"ready", Ready, "READY=1"},
		{"stopping", Stopping, "STOPPING=1"},
		{"watchdog", Watchdog, "WATCHDOG=1"},
		{"status", func() error { return Status("leader node1,\napplied 42") }, "STATUS=leader node1, applied 42"},
		{"several", func() error { return Notify("READY=1", "STATUS=pronto") }, "READY=1\nSTATUS=pronto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
			if err := tc.send(); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := receive(t, conn); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@sportello-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn := listen(t, name)
	if err := Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
}

func TestUnsetIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	for name, f := range map[string]func() error{"Ready": Ready, "Stopping": Stopping, "Watchdog": Watchdog} {
		if err := f(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: got %v, want nil", name, err)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Run("nobody listens", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent.sock"))
		if err := Ready(); err == nil {
			t.Fatal("Ready to a missing socket: got nil, want an error")
		}
	})
	t.Run("vsock", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
		if err := Ready(); !errors.Is(err, ErrUnsupportedSocket) {
			t.Fatalf("got %v, want ErrUnsupportedSocket", err)
		}
	})
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		ok              bool
	}{
		{"off", "", "", 0, false},
		{"30s for us", "30000000", me, 30 * time.Second, true},
		{"no pid given", "500000", "", 500 * time.Millisecond, true},
		{"for another process", "30000000", "1", 0, false},
		{"zero", "0", me, 0, false},
		{"garbage", "30s", me, 0, false},
		{"negative", "-5", me, 0, false},
		{"bad pid", "30000000", "x", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, ok := WatchdogInterval()
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got (%v, %v), want (%v, %v)", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRunWatchdog(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	t.Setenv("WATCHDOG_USEC", "40000") // 40ms: a ping every 20ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	healthy := make(chan bool, 1)
	healthy <- true
	isHealthy := func() bool {
		h := <-healthy
		healthy <- h
		return h
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWatchdog(ctx, isHealthy)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// Healthy: pings arrive.
	for range 3 {
		if got := receive(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}

	// Unhealthy: no ping for several intervals. A ping already sent
	// before the switch may still be queued; drain it first.
	<-healthy
	healthy <- false
	time.Sleep(30 * time.Millisecond)
	drain(conn)
	if err := conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("unhealthy node pinged: got %q, want nothing", buf[:n])
	}

	// Healthy again: pings resume.
	<-healthy
	healthy <- true
	if got := receive(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("after recovery got %q, want WATCHDOG=1", got)
	}

	// Cancelling ends it.
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return after cancel")
	}
}

func TestRunWatchdogOff(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWatchdog(context.Background(), func() bool { return true })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog without a watchdog did not return at once")
	}
}

// drain discards the datagrams already queued on conn.
func drain(conn *net.UnixConn) {
	buf := make([]byte, 64)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

func TestProgress(t *testing.T) {
	leader, applied := "", uint64(10)
	healthy := Progress(func() string { return leader }, func() uint64 { return applied })
	steps := []struct {
		name    string
		leader  string
		applied uint64
		want    bool
	}{
		{"first look", "", 10, true},
		{"no leader, no progress", "", 10, false},
		{"no leader, applied moved", "", 11, true},
		{"leader known, idle cluster", "node1", 11, true},
		{"leader lost", "", 11, false},
		{"leader back", "node2", 11, true},
	}
	for _, s := range steps {
		leader, applied = s.leader, s.applied
		if got := healthy(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
}
