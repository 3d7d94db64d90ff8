// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): it tells the service manager that the node is ready,
// that it is stopping, what it is doing, and that it is still alive
// (the watchdog).
//
// The protocol is one datagram of newline-separated VARIABLE=value
// assignments sent to the AF_UNIX datagram socket named by the
// NOTIFY_SOCKET environment variable; a name starting with '@' is a
// socket in the abstract namespace. When NOTIFY_SOCKET is unset or empty
// the process was not started by systemd as Type=notify (a shell, a test,
// `sportello demo`), and every function here does nothing and returns nil,
// as sd_notify does. The variable is read on every call and never unset:
// the node starts no child processes that could inherit it and send in its
// name, and reading it each time keeps the package free of state.
//
// It is written here rather than taken from go-systemd because the whole
// protocol is a few lines, and the dependency would bring D-Bus and
// journal code the node never uses.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The environment variables systemd sets for the service's main process.
const (
	envSocket      = "NOTIFY_SOCKET"
	envWatchdogSec = "WATCHDOG_USEC"
	envWatchdogPID = "WATCHDOG_PID"
)

// Notify sends the given assignments ("READY=1", "STATUS=…") in one
// datagram to $NOTIFY_SOCKET. It does nothing when NOTIFY_SOCKET is unset.
func Notify(assignments ...string) error {
	addr := os.Getenv(envSocket)
	if addr == "" {
		return nil
	}
	return send(addr, strings.Join(assignments, "\n"))
}

// Ready tells systemd that start-up is finished: `systemctl start`
// returns, and units ordered after this one start. Send it once the node
// can serve (it knows a leader and its HTTP listener accepts).
func Ready() error { return Notify("READY=1") }

// Stopping tells systemd that the service is shutting down on its own
// initiative or on a signal, so that a slow shutdown is shown as
// "deactivating" rather than mistaken for a hang.
func Stopping() error { return Notify("STOPPING=1") }

// Status sets the one-line status `systemctl status` shows. A newline
// would end the assignment early, so newlines become spaces.
func Status(s string) error {
	return Notify("STATUS=" + strings.ReplaceAll(s, "\n", " "))
}

// Watchdog tells systemd the service is alive. With WatchdogSec= set in
// the unit, systemd kills and (with Restart=on-failure) restarts a
// service that has not sent this within the interval.
func Watchdog() error { return Notify("WATCHDOG=1") }

// WatchdogInterval returns the watchdog interval systemd expects pings
// within, and whether the watchdog is on for this process: WATCHDOG_USEC
// set to a positive number of microseconds and WATCHDOG_PID, when set,
// naming this process (a child that inherited the variables is not
// watched). Ping at half the interval, as sd_watchdog_enabled(3) advises.
func WatchdogInterval() (time.Duration, bool) {
	usec, err := strconv.ParseUint(os.Getenv(envWatchdogSec), 10, 63)
	if err != nil || usec == 0 {
		return 0, false
	}
	if p := os.Getenv(envWatchdogPID); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	// time.Duration is int64 nanoseconds: 292 years. A larger value
	// (systemd's "infinity" is never passed) is clamped rather than
	// wrapped into a negative interval.
	const maxUsec = uint64(1<<63-1) / uint64(time.Microsecond)
	if usec > maxUsec {
		usec = maxUsec
	}
	return time.Duration(usec) * time.Microsecond, true
}

// RunWatchdog pings the watchdog every half interval while healthy
// returns true, until ctx ends. It returns at once when the watchdog is
// off. A node that is not healthy stops pinging, so systemd restarts it
// once the interval passes without a ping: healthy must say whether the
// node is making progress (for instance, its applied index advanced or it
// knows a leader), not merely that the process runs. Send errors are
// ignored: the socket belongs to systemd, and a failed ping leads to the
// same restart as a missed one. The caller owns the goroutine running it.
func RunWatchdog(ctx context.Context, healthy func() bool) {
	interval, ok := WatchdogInterval()
	if !ok {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy() {
				_ = Watchdog()
			}
		}
	}
}

// Progress returns a health function for RunWatchdog from two probes of
// a raft node: healthy while the node knows a leader, or while its
// applied index moved since the previous call. A node cut off from its
// cluster for longer than the watchdog interval is therefore restarted,
// which is harmless (it starts, finds no leader, waits) and recovers a
// node whose raft goroutines are stuck. The returned function keeps the
// last index it saw and must be called from one goroutine, as
// RunWatchdog does.
func Progress(leader func() string, applied func() uint64) func() bool {
	var last uint64
	first := true
	return func() bool {
		idx := applied()
		moved := first || idx != last
		first, last = false, idx
		return moved || leader() != ""
	}
}

// ErrUnsupportedSocket is returned for a NOTIFY_SOCKET that is not an
// AF_UNIX socket (systemd 253 and later may pass "vsock:CID:PORT" to a
// virtual machine; a node does not run as one).
var ErrUnsupportedSocket = errors.New("sdnotify: NOTIFY_SOCKET is not a unix socket")

// sendTimeout bounds one send.
const sendTimeout = 2 * time.Second

// send writes state as one datagram to the socket at addr: a path, or
// "@name" for the abstract namespace (Go's net package turns the leading
// '@' into the NUL byte Linux expects).
func send(addr, state string) error {
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("%w: %q", ErrUnsupportedSocket, addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", addr, err)
	}
	defer conn.Close()
	// A datagram socket whose reader has stopped reading blocks the
	// writer once its buffer is full; a stuck manager must not hold up the
	// node's shutdown.
	_ = conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", addr, err)
	}
	return nil
}
