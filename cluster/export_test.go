package cluster

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// SetUnbatched makes n apply one entry per SQLite transaction (raft sees
// no BatchingFSM); call before Start. For benchmarks only.
func SetUnbatched(n *Node) { n.unbatched = true }

// FirstLogIndex opens the closed node's raft log in dir and returns its
// first index.
func FirstLogIndex(dir string) (uint64, error) {
	l, err := openLogStore(filepath.Join(dir, raftFile))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.FirstIndex()
}

// RevertLogToBolt puts the raft log of the closed node in dir back into a
// bolt raft.db, entries and stable keys, and removes the segments: the
// data folder a node of a version before them left.
func RevertLogToBolt(dir string) (entries int, err error) {
	seg, err := openSegLog(filepath.Join(dir, segLogDir))
	if err != nil {
		return 0, err
	}
	defer seg.Close()
	if err := os.Remove(filepath.Join(dir, raftFile)); err != nil {
		return 0, err
	}
	b, err := openBoltLog(filepath.Join(dir, raftFile))
	if err != nil {
		return 0, err
	}
	defer b.Close()
	first, err := seg.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := seg.LastIndex()
	if err != nil {
		return 0, err
	}
	for i := first; last > 0 && i <= last; i++ {
		l := new(raft.Log)
		if err := seg.GetLog(i, l); err != nil {
			return entries, err
		}
		if err := b.StoreLogs([]*raft.Log{l}); err != nil {
			return entries, err
		}
		entries++
	}
	for _, k := range stableKeys {
		v, err := seg.Get([]byte(k))
		if errors.Is(err, errKeyNotFound) {
			continue
		} else if err != nil {
			return entries, err
		}
		if err := b.Set([]byte(k), v); err != nil {
			return entries, err
		}
	}
	if err := b.Sync(); err != nil {
		return entries, err
	}
	return entries, os.RemoveAll(filepath.Join(dir, segLogDir))
}

// OutboxDueQuery and OutboxNextQuery are the worker's queries for one
// kind.
var (
	OutboxDueQuery  = outboxDueQuery("?")
	OutboxNextQuery = outboxNextQuery("?")
)
