// Package clustertest starts real one-node clusters for tests of other
// packages: a cluster.Node with real raft (TCP on 127.0.0.1:0) and real
// SQLite in t.TempDir(), closed by t.Cleanup. No mocks: a test that
// proposes through it exercises the same path as production.
package clustertest
