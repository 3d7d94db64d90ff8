package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuTimes is the CPU time used so far by loadgen itself and by the nodes
// it started (zero for a running node it did not start), with the nodes'
// writes: the bytes they sent to the disk and their write calls.
type cpuTimes struct {
	self, nodes time.Duration
	io          procIO
}

// procIO is what a process wrote, from /proc/PID/io: bytes that reached
// the block layer (write_bytes, so page cache rewrites of one page
// before writeback count once) and write system calls (syscw: write,
// pwrite, sendmsg alike).
type procIO struct {
	bytes, calls int64
}

func (a procIO) minus(b procIO) procIO { return procIO{a.bytes - b.bytes, a.calls - b.calls} }

// readCPU samples the CPU time of this process and of the nodes' processes.
func (f fleet) readCPU() cpuTimes {
	var c cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, n := range f {
		if n.cmd != nil && n.cmd.Process != nil {
			c.nodes += procCPU(n.cmd.Process.Pid)
			io := readProcIO(n.cmd.Process.Pid)
			c.io.bytes += io.bytes
			c.io.calls += io.calls
		}
	}
	return c
}

// procCPU reads the user and system time of pid from /proc (Linux); zero
// elsewhere.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces: fields are counted
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const ticksPerSecond = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / ticksPerSecond
}

// readProcIO reads write_bytes and syscw of pid from /proc (Linux, and
// only for a process of the same user); zero elsewhere.
func readProcIO(pid int) procIO {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return procIO{}
	}
	var io procIO
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "write_bytes":
			io.bytes = n
		case "syscw":
			io.calls = n
		}
	}
	return io
}

// profiler saves CPU, block and mutex profiles of the node, taken over the
// admin socket while a level runs, into dir.
type profiler struct {
	n      *node
	dir    string
	prefix string
}

// enable turns on the node's block and mutex profiles (every event).
func (p *profiler) enable(ctx context.Context) error {
	_, err := p.n.adminCall(ctx, "PUT", "/v1/debug/profile-rates?block=1&mutex=1", nil, nil)
	return err
}

// during starts profiles of d for level c and returns a function that
// waits for them to be saved.
func (p *profiler) during(ctx context.Context, c int, d time.Duration) func() {
	secs := max(1, int(d/time.Second))
	var wg sync.WaitGroup
	for _, kind := range []string{"profile", "block", "mutex"} {
		wg.Go(func() {
			base := kind
			if kind == "profile" {
				base = "cpu"
			}
			name := filepath.Join(p.dir, fmt.Sprintf("%s%s-c%d.pb.gz", p.prefix, base, c))
			if err := p.save(ctx, fmt.Sprintf("/debug/pprof/%s?seconds=%d", kind, secs), name); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: %s profile: %v\n", kind, err)
			}
		})
	}
	return wg.Wait
}

// save fetches path from the admin socket into file.
func (p *profiler) save(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://sportello"+path, nil)
	if err != nil {
		return err
	}
	client := *p.n.admin
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
