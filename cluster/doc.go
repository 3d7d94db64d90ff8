// Package cluster is the replicated store of Sportello: a hashicorp/raft
// node whose FSM applies typed commands to a SQLite database, one file per
// node. Every durable write of every package is a Command proposed through
// Node.Propose and applied by an ApplyFunc registered in a Registry; reads
// go to the local read-only pool. The package also owns snapshots, schema
// migrations run as commands, and the leader-only outbox worker that
// delivers email, and admission of nodes: the cluster CA in the replicated
// state, single-use join tokens, the join handshake and removed nodes
// (admission.go, join.go). It imports no domain package. See DESIGN.md for why it is
// built this way.
package cluster
