package cluster

// #cgo CFLAGS: -O2
// int sportello_register_wal_vfs(void);
import "C"

import "fmt"

// SQLite appends each page of a commit to the WAL with two system calls,
// one for the frame's 24-byte header and one for the page (wal.c,
// walWriteOneFrame). At 256 clients on three nodes that was about two
// pwrites in every three that the nodes made (perf stat of the
// syscalls:sys_enter_pwrite64 tracepoint by size: 5.6 headers and 5.6 pages
// per booking over the three nodes, against 3.6 pages written by the
// checkpoints), and each call costs more than the copy it makes: on this
// machine two pwrites per frame took 5.1 µs against 0.8 µs per frame in one
// pwrite of 256 frames.
//
// walVFS is the VFS of the FSM's connection. It is SQLite's default VFS
// except for the WAL file, whose frames it keeps in memory while they are
// appended and writes in one pwrite when the frame that commits is
// complete (walvfs.c). What every other connection can read is unchanged:
// a frame becomes visible to readers only once SQLite publishes its commit
// in the WAL index, after the commit frame is written, and by then the run
// is in the file. Any other use of the WAL file by the connection (a read,
// a sync, a size, a truncation, a write elsewhere) writes the run first, so
// the connection itself sees the file as if each write had gone through.
// A crash loses at most frames of a commit not yet published, which
// SQLite's recovery ignores as it ignores a torn write; the raft log
// replays the command.
const walVFS = "sportello-wal"

// registerWALVFS registers walVFS with SQLite, once per process.
func registerWALVFS() error {
	if rc := C.sportello_register_wal_vfs(); rc != 0 {
		return fmt.Errorf("cluster: register the SQLite VFS %s: code %d", walVFS, int(rc))
	}
	return nil
}
