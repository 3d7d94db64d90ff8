// Package pki holds the cryptography of node-to-node trust in a Sportello
// cluster: the cluster certificate authority, node keys, certificate
// signing requests and node certificates, the mutual-TLS configurations the
// Raft transport and leader forwarding use, join tokens, and the files a
// node keeps in <data dir>/tls.
//
// Identity. A node is named by the URI SAN
// sportello://<cluster name>/node/<node ID> in its certificate, never by
// host name: nodes are addressed by IP, and peers check who they talk to
// with NodeIDOf, not with the address they dialled. The cluster CA carries a
// critical name constraint that permits only URIs whose host is the cluster
// name (crypto/x509 also lets subdomains through; NodeIDOf refuses them), so
// its certificates cannot vouch for another cluster's nodes, and a path
// length of zero, so it cannot create intermediate CAs.
//
// Determinism. Nothing here may run inside an FSM apply function: keys,
// serial numbers and signatures are random. The node that admits a joining
// node signs its certificate, and only the result (or the token's hash) goes
// into a command.
//
// The package uses only the standard library's crypto, holds no mutable
// package state, and its CA and Identity values are immutable once built,
// so they are safe for concurrent use. It imports nothing of the cluster
// package and does no network I/O of its own; the cluster package owns
// listeners, the join protocol and the replicated state that stores the CA
// and token hashes.
package pki
