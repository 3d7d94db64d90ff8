package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultGCPercent is the collector's target when GOGC is not set: the
// heap may grow to five times the live data between collections. A node's
// live heap is small (a few MB to tens of MB: caches, connections,
// requests in flight) and nearly everything a booking allocates is
// request, JSON and SQL-argument garbage that dies within the request or
// the batch, so a collection costs mostly its fixed part (stacks of a few
// hundred goroutines, globals) and fewer collections cost less. Measured
// with BenchmarkCreate at 256 clients (20 000 bookings, process CPU per
// booking): GOGC 100 157 µs, 200 141 µs, 400 135 µs; the live heap stayed
// near 2 MB, the heap goal near 17 MB at 400.
//
// The alternatives measured the same way (27 November 2026, process CPU,
// minor page faults and peak RSS per run of 20 000 bookings, three runs
// each, after the raft log store stopped growing a fresh buffer per
// entry): GOGC 400 133 µs, 0.77 faults per booking, 76 MB; 400 with
// GODEBUG=madvdontneed=0 (freed memory handed back lazily, MADV_FREE) 135
// µs, 0.71, 76 MB; GOGC off with GOMEMLIMIT 64 MiB 134 µs, 0.85, 87 MB,
// with 128 MiB 134 µs, 1.62, 146 MB; GOGC 100 148 µs, 0.71, 52 MB. None
// beats 400 by more than the noise, so it stays, bounded by the cgroup's
// limit. Before the log store's change, MADV_FREE halved the page faults
// (most came from the Go heap handing back, then faulting in again, the
// large buffers each log entry grew) and saved about 4% of the CPU; that
// source is gone. madvdontneed could not be set here in any case: the
// runtime reads it only from the environment at start.
const defaultGCPercent = 400

// gcPlan is what the node asks of the Go collector at start: percent is
// the GOGC to set (-1: keep the environment's), limit the soft memory
// limit in bytes (0: keep the environment's, or none).
type gcPlan struct {
	percent int
	limit   int64
}

// planGC decides the collector's settings. An operator's GOGC or
// GOMEMLIMIT wins: the runtime has applied them already. Without GOMEMLIMIT
// and with a memory cap on the node's cgroup (systemd MemoryMax, a
// container's limit), the soft limit is nine tenths of the cap: the larger
// GOGC lets the heap grow faster than the live data, and the limit makes
// the collector run earlier as the heap nears the cap instead of the
// kernel killing the node. cgroupMax returns 0 when there is no cap.
func planGC(getenv func(string) string, cgroupMax func() int64) gcPlan {
	p := gcPlan{percent: -1}
	if getenv("GOGC") == "" {
		p.percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		if max := cgroupMax(); max > 0 {
			p.limit = max / 10 * 9
		}
	}
	return p
}

// tuneGCMemory applies planGC's settings to this process. main calls it
// first, before any allocation of note.
func tuneGCMemory() {
	p := planGC(os.Getenv, cgroupMemoryMax)
	if p.percent >= 0 {
		debug.SetGCPercent(p.percent)
	}
	if p.limit > 0 {
		debug.SetMemoryLimit(p.limit)
	}
}

// cgroupMemoryMax returns the memory cap of this process's cgroup (v2) in
// bytes, or 0 when there is none or it cannot be read: cgroup v1, no
// /proc, "max".
func cgroupMemoryMax() int64 {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	path, ok := cgroupV2Path(data)
	if !ok {
		return 0
	}
	raw, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", filepath.Clean("/"+path), "memory.max"))
	if err != nil {
		return 0
	}
	return parseMemoryMax(raw)
}

// cgroupV2Path returns the cgroup v2 path in the contents of
// /proc/self/cgroup: the line "0::/system.slice/sportello.service".
func cgroupV2Path(data []byte) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return rest, true
		}
	}
	return "", false
}

// parseMemoryMax reads a memory.max file: a number of bytes, or "max".
func parseMemoryMax(raw []byte) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
