package cluster

// SetUnbatched makes n apply one entry per SQLite transaction (raft sees
// no BatchingFSM); call before Start. For benchmarks only.
func SetUnbatched(n *Node) { n.unbatched = true }
