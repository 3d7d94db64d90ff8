package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/stun/v3"
)

// Load is what turnutils_uclient is asked to do, the same for both servers.
type Load struct {
	Clients, Messages, Length, Interval int
	Secret                              string
}

// args are the uclient flags: -y client-to-client (each client relays to
// another client's allocation, so every packet crosses the server twice:
// into one relay and out of another), -c no RTCP allocations, REST
// credentials from the secret (-u user, -W secret).
func (l Load) args(port int) []string {
	return []string{
		"-y", "-c",
		"-m", strconv.Itoa(l.Clients),
		"-n", strconv.Itoa(l.Messages),
		"-l", strconv.Itoa(l.Length),
		"-z", strconv.Itoa(l.Interval),
		"-u", "bench", "-W", l.Secret,
		"-p", strconv.Itoa(port),
		"127.0.0.1",
	}
}

// Result is one uclient run against one server.
type Result struct {
	Server           string
	Sent, Received   int
	LossPercent      float64
	RTTms            float64
	Wall             time.Duration // the uclient run, connect included
	ServerCPU        time.Duration // user + system time of the server during the run
	UclientTransmitS int           // uclient's own "Total transmit time" (whole seconds)
}

// PacketsPerSecond is received packets over the wall time of the run.
func (r Result) PacketsPerSecond() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Received) / r.Wall.Seconds()
}

// PacketsPerCPUSecond is received packets per second of server CPU.
func (r Result) PacketsPerCPUSecond() float64 {
	if r.ServerCPU <= 0 {
		return 0
	}
	return float64(r.Received) / r.ServerCPU.Seconds()
}

type bench struct {
	uclient, coturn string
	load            Load
	timeout         time.Duration
}

// run starts one server, waits until it answers STUN, runs the uclient
// against it and stops it.
func (b bench) run(ctx context.Context, server string) (Result, error) {
	port, err := freePort()
	if err != nil {
		return Result{}, err
	}
	dir, err := os.MkdirTemp("", "turnbench-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)

	var cmd *exec.Cmd
	switch server {
	case "sportello":
		self, err := os.Executable()
		if err != nil {
			return Result{}, err
		}
		cmd = exec.Command(self, "-serve", "-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "-secret", b.load.Secret)
	case "coturn":
		conf := filepath.Join(dir, "turnserver.conf")
		if err := os.WriteFile(conf, []byte(coturnConfig(port, b.load.Secret, dir)), 0o600); err != nil {
			return Result{}, err
		}
		cmd = exec.Command(b.coturn, "-c", conf)
	default:
		return Result{}, fmt.Errorf("unknown server %q", server)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return Result{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start %s: %w", server, err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitSTUN(ctx, port, 10*time.Second); err != nil {
		log, _ := os.ReadFile(logf.Name())
		return Result{}, fmt.Errorf("%s did not answer: %w\n%s", server, err, log)
	}

	cpu0, err := processCPU(cmd.Process.Pid)
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	uc := exec.CommandContext(runCtx, b.uclient, b.load.args(port)...)
	t0 := time.Now()
	out, err := uc.CombinedOutput()
	wall := time.Since(t0)
	if err != nil {
		return Result{}, fmt.Errorf("turnutils_uclient against %s: %w\n%s", server, err, tail(out, 20))
	}
	cpu1, err := processCPU(cmd.Process.Pid)
	if err != nil {
		return Result{}, err
	}
	r, err := ParseUclient(string(out))
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w\n%s", server, err, tail(out, 20))
	}
	r.Server, r.Wall, r.ServerCPU = server, wall, cpu1-cpu0
	return r, nil
}

// coturnConfig is coturn's configuration for the benchmark: REST
// credentials with the shared secret, UDP and TCP on one loopback port, no
// TLS/DTLS, loopback peers allowed (as our -serve mode does), no CLI, logs
// in the run's directory.
func coturnConfig(port int, secret, dir string) string {
	return strings.Join([]string{
		"listening-ip=127.0.0.1",
		"listening-port=" + strconv.Itoa(port),
		"relay-ip=127.0.0.1",
		"realm=bench",
		"use-auth-secret",
		"static-auth-secret=" + secret,
		"no-tls",
		"no-dtls",
		"no-tcp-relay",
		"allow-loopback-peers",
		"no-cli",
		"no-stdout-log",
		"simple-log",
		"log-file=" + filepath.Join(dir, "coturn.log"),
		"pidfile=" + filepath.Join(dir, "coturn.pid"),
		"userdb=" + filepath.Join(dir, "turndb"),
		"",
	}, "\n")
}

// freePort finds a loopback port free for both UDP and TCP (both servers
// listen on both).
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both UDP and TCP")
}

// waitSTUN sends Binding requests until the server answers.
func waitSTUN(ctx context.Context, port int, limit time.Duration) error {
	conn, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(limit)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := conn.Write(req.Raw); err == nil {
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := conn.Read(buf); err == nil && stun.IsMessage(buf[:n]) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("no STUN answer")
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTick = 100

// processCPU returns the user + system CPU time of pid, all threads.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted after its last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+st) * time.Second / clockTick, nil
}

func tail(b []byte, lines int) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
