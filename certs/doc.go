// Package certs gives Sportello its TLS certificates: certmagic's storage
// on the replicated state (Storage: certificates, private keys sealed under
// the cluster secrets, the ACME account, challenge tokens and locks, shared
// by every node), the internal CA for closed networks, and the manager that
// decides, obtains and renews certificates (see DESIGN.md).
package certs
