// Package push keeps the cluster's VAPID key pair (RFC 8292) in the
// replicated state, so that every node signs Web Push messages with the
// same key: the key the browsers were given as applicationServerKey when
// they subscribed, whichever node served the page.
//
// The key is made on first use by the node that needs it, its private
// half sealed with AES-256-GCM under a key derived from the node's
// secrets key (auth.Secrets.Derive("push.vapid")), and proposed as the
// command "push.vapid.ensure"; the first such command applied wins and
// every later one gets the stored pair back. The raft log, the snapshots
// and the backups therefore never hold the private key in clear.
//
// Encryption and sending live in internal/webpush; which subscriptions
// to push to belongs to their owners (the queue's tickets).
package push
