package cluster

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// Certificate renewal. Every node renews its own certificate when a third
// of its lifetime is left, with the CA held in the replicated state (as
// `cluster renew-cert` does), saves it through Config.SaveIdentity and
// swaps it into the transport's pki.CertHolder, which every later
// handshake, inbound and outbound, reads: no restart. See DESIGN.md,
// "Certificate renewal".

// Identity returns the TLS identity this node presents now: the one it
// started with, or the last one it renewed. nil on plain TCP.
func (n *Node) Identity() *pki.Identity {
	if s := n.stream.Load(); s != nil && s.certs != nil {
		return s.certs.Identity()
	}
	return n.cfg.Identity
}

// RenewCertificate issues this node a new certificate (valid
// Config.CertValidity from now, same key, node ID and host names) signed
// by the cluster CA held in the replicated state, saves it with
// Config.SaveIdentity when set, and uses it from the next handshake on,
// without a restart. It returns the new identity. Keeping the key means
// that saving replaces only the certificate file, atomically.
func (n *Node) RenewCertificate(ctx context.Context) (*pki.Identity, error) {
	id := n.Identity()
	if id == nil {
		return nil, errors.New("cluster: renew certificate: this node runs without a TLS identity (plain TCP)")
	}
	s := n.stream.Load()
	if s == nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", ErrNotStarted)
	}
	if err := n.waitStateCA(ctx); err != nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", err)
	}
	ca, err := n.loadCA(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", err)
	}
	// The signing CA is this node's own, or the new one of a CA rotation
	// (carotate.go), which every node trusts before it signs.
	if s.certs != nil && !s.certs.Trusts(ca.Fingerprint()) {
		n.refreshTrust(ctx, nil)
	}
	if s.certs != nil && !s.certs.Trusts(ca.Fingerprint()) {
		return nil, errors.New("cluster: renew certificate: the CA in the replicated state is not one this node trusts")
	}
	key, ok := id.Certificate.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("cluster: renew certificate: the node key cannot sign")
	}
	csr, err := pki.CSR(key, n.cfg.NodeID)
	if err != nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", err)
	}
	var hosts []string
	if leaf := id.Certificate.Leaf; leaf != nil {
		for _, ip := range leaf.IPAddresses {
			hosts = append(hosts, ip.String())
		}
		hosts = append(hosts, leaf.DNSNames...)
	}
	certPEM, err := ca.SignNode(csr, n.cfg.NodeID, hosts, n.cfg.Now(), n.cfg.CertValidity)
	if err != nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", err)
	}
	renewed, err := pki.ParseIdentity(certPEM, id.KeyPEM, ca.CertPEM())
	if err != nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", err)
	}
	// On disk first: a node that swapped a certificate it could not save
	// would start again with the old one, maybe expired by then.
	if n.cfg.SaveIdentity != nil {
		if err := n.cfg.SaveIdentity(renewed); err != nil {
			return nil, fmt.Errorf("cluster: renew certificate: save: %w", err)
		}
	}
	if s.certs == nil {
		return nil, errors.New("cluster: renew certificate: the transport has no certificate holder")
	}
	if err := s.certs.Swap(renewed); err != nil {
		return nil, fmt.Errorf("cluster: renew certificate: %w", err)
	}
	n.log.Info("certificate renewed and in use", "serial", renewed.Certificate.Leaf.SerialNumber.String(),
		"not_after", renewed.Certificate.Leaf.NotAfter, "previous_not_after", id.Certificate.Leaf.NotAfter)
	return renewed, nil
}

// startRenewer runs runRenewer until the returned stop is called.
func (n *Node) startRenewer() func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.runRenewer(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// renewDue returns when a certificate should be renewed: when a third of
// its lifetime is left, earlier by up to a twentieth of it (jitter, in
// [0, 1)), so that nodes whose certificates were issued together do not
// all renew in the same instant.
func renewDue(id *pki.Identity, jitter float64) time.Time {
	leaf := id.Certificate.Leaf
	life := pki.Lifetime(leaf)
	return leaf.NotAfter.Add(-life/3 - time.Duration(jitter*float64(life)/20))
}

// renewBackoff is the wait before attempt number failures+1 after that
// many failures: from a second, doubling, at most a tenth of the
// certificate's lifetime (so that a short-lived certificate is tried
// again several times before it expires) and at most ten minutes.
func renewBackoff(failures int, life time.Duration) time.Duration {
	ceiling := min(max(life/10, time.Second), 10*time.Minute)
	d := time.Second << min(failures-1, 20)
	return min(d, ceiling)
}

// keeperInterval is how often the certificate keeper reloads the
// trusted CAs and checks whether the certificate is due: at most a
// second, and a heartbeat in tests with short ones.
func (n *Node) keeperInterval() time.Duration {
	return min(time.Second, max(n.cfg.HeartbeatTimeout, 50*time.Millisecond))
}

// runRenewer is the certificate keeper, until ctx ends. At each tick it
// reloads the trusted CAs from the local state (a CA rotation changes
// them) and renews the certificate when it is due (a third of its life
// left, jittered) or when the signing CA is no longer the one of the
// certificate (a rotation switched it). A failed renewal is logged and
// tried again with backoff; a renewal that does not move the expiry (the
// CA itself expires first) is a failure too, so that the node does not
// renew in a loop.
func (n *Node) runRenewer(ctx context.Context) {
	log := n.log.With("worker", "cert-keeper")
	tick := time.NewTicker(n.keeperInterval())
	defer tick.Stop()
	var (
		trust    *trustState
		failures int
		retryAt  time.Time
		jitter   = rand.Float64()
	)
	for {
		trust = n.refreshTrust(ctx, trust)
		id := n.Identity()
		if id == nil || id.Certificate.Leaf == nil {
			return
		}
		leaf := id.Certificate.Leaf
		switched := trust != nil && pki.FingerprintOf(trust.signing) != pki.FingerprintOf(id.CA)
		now := time.Now()
		var reason string
		switch {
		case failures > 0 && now.Before(retryAt):
		case switched:
			reason = "the cluster CA was rotated"
		case !now.Before(renewDue(id, jitter)):
			reason = "a third of its life is left"
		case failures > 0:
			reason = "retry"
		}
		if reason != "" {
			renewed, err := n.RenewCertificate(ctx)
			if err == nil && !switched && !renewed.Certificate.Leaf.NotAfter.After(leaf.NotAfter) {
				err = fmt.Errorf("the new certificate expires no later than the old one (%s): the cluster CA expires first, rotate it",
					leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				failures++
				wait := renewBackoff(failures, pki.Lifetime(leaf))
				retryAt = now.Add(wait)
				log.Warn("automatic certificate renewal failed: retrying", "attempt", failures,
					"retry_in", wait.String(), "not_after", leaf.NotAfter, "err", err)
			default:
				failures = 0
				jitter = rand.Float64()
				log.Info("certificate renewed automatically", "because", reason, "not_after", renewed.Certificate.Leaf.NotAfter)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
