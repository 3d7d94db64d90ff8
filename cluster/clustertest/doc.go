// Package clustertest starts real clusters for tests of other packages:
// Node gives a one-node cluster, Cluster several nodes in one process
// joined over mutual TLS under a CA made for the test; each node has real
// raft (TCP on 127.0.0.1:0) and real SQLite in t.TempDir(), closed by
// t.Cleanup. No mocks and no package globals: a test that proposes through
// it exercises the same path as production, forwarding included.
package clustertest
