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
// it started (zero for a running node it did not start).
type cpuTimes struct {
	self, nodes time.Duration
}

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
