package cluster

import "path/filepath"

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
