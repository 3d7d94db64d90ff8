package cluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// CA rotation (see DESIGN.md, "CA rotation"). The signing CA stays in
// cluster_info, where admission reads it; the table cluster_ca_bundle
// holds at most one other CA, with its role: "next" (trusted by every
// node, not signing yet) or "previous" (still trusted, no longer
// signing). Every node trusts the signing CA and the bundle, reloaded from
// its local state by its certificate keeper (certrenew.go), and renews
// its certificate as soon as the signing CA is not the one of its
// certificate. RotateCA walks the steps, waiting at each for every member
// to have taken the previous one.

// The built-in commands of CA rotation.
const (
	caTrustType  = "cluster.ca.trust"  // add the next CA to the bundle
	caSwitchType = "cluster.ca.switch" // the next CA signs; the old one becomes previous
	caDropType   = "cluster.ca.drop"   // drop the previous CA
)

// ErrRotationInProgress is returned when a CA rotation step does not fit
// the state: another rotation is half done.
var ErrRotationInProgress = errors.New("cluster: another CA rotation is in progress")

// caBundleSchema is created by the apply functions, like the version
// gate's tables.
const caBundleSchema = `CREATE TABLE IF NOT EXISTS cluster_ca_bundle (
	fingerprint TEXT PRIMARY KEY,
	role        TEXT NOT NULL CHECK (role IN ('next', 'previous')),
	cert        BLOB NOT NULL,
	key         BLOB NOT NULL,
	added       INTEGER NOT NULL
);`

type caTrustPayload struct {
	Fingerprint string `json:"fingerprint"`
	Cert        []byte `json:"cert"`
	Key         []byte `json:"key"`
}

type caFingerprintPayload struct {
	Fingerprint string `json:"fingerprint"`
}

// signingFingerprint returns the fingerprint of the signing CA in tx.
func signingFingerprint(tx *sql.Tx) (string, []byte, []byte, error) {
	var certPEM, keyPEM []byte
	err := tx.QueryRow(`SELECT ca_cert, ca_key FROM cluster_info WHERE id = 1`).Scan(&certPEM, &keyPEM)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil, ErrNotInitialised
	}
	if err != nil {
		return "", nil, nil, err
	}
	cert, err := firstCert(certPEM)
	if err != nil {
		return "", nil, nil, err
	}
	return pki.FingerprintOf(cert), certPEM, keyPEM, nil
}

func applyCATrust(tx *sql.Tx, cmd Command) (any, error) {
	var p caTrustPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(caBundleSchema); err != nil {
		return nil, err
	}
	signing, _, _, err := signingFingerprint(tx)
	if err != nil {
		return nil, err
	}
	if p.Fingerprint == signing {
		return nil, nil // a retry after the switch
	}
	var fp, role string
	err = tx.QueryRow(`SELECT fingerprint, role FROM cluster_ca_bundle`).Scan(&fp, &role)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case fp == p.Fingerprint:
		return nil, nil // a retry
	default:
		return nil, fmt.Errorf("%w: CA %s is %s", ErrRotationInProgress, fp, role)
	}
	_, err = tx.Exec(`INSERT INTO cluster_ca_bundle (fingerprint, role, cert, key, added) VALUES (?, 'next', ?, ?, ?)`,
		p.Fingerprint, p.Cert, p.Key, cmd.Time.UnixMilli())
	return nil, err
}

func applyCASwitch(tx *sql.Tx, cmd Command) (any, error) {
	var p caFingerprintPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(caBundleSchema); err != nil {
		return nil, err
	}
	signing, oldCert, oldKey, err := signingFingerprint(tx)
	if err != nil {
		return nil, err
	}
	if signing == p.Fingerprint {
		return nil, nil // a retry
	}
	var cert, key []byte
	err = tx.QueryRow(`SELECT cert, key FROM cluster_ca_bundle WHERE fingerprint = ? AND role = 'next'`, p.Fingerprint).Scan(&cert, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: CA %s is not the next one", ErrRotationInProgress, p.Fingerprint)
	}
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`DELETE FROM cluster_ca_bundle WHERE fingerprint = ?`, p.Fingerprint); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`INSERT INTO cluster_ca_bundle (fingerprint, role, cert, key, added) VALUES (?, 'previous', ?, ?, ?)`,
		signing, oldCert, oldKey, cmd.Time.UnixMilli()); err != nil {
		return nil, err
	}
	_, err = tx.Exec(`UPDATE cluster_info SET ca_cert = ?, ca_key = ? WHERE id = 1`, cert, key)
	return nil, err
}

func applyCADrop(tx *sql.Tx, cmd Command) (any, error) {
	var p caFingerprintPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(caBundleSchema); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`DELETE FROM cluster_ca_bundle WHERE fingerprint = ? AND role = 'previous'`, p.Fingerprint)
	return nil, err
}

// firstCert parses the first certificate of a PEM text.
func firstCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("cluster: no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// trustState is the CA part of this node's state: the signing CA and the
// bundle.
type trustState struct {
	signing  *x509.Certificate
	next     *x509.Certificate // nil: none
	previous *x509.Certificate // nil: none
	raw      []byte            // the PEM texts, to see whether anything changed
}

// all returns every trusted CA.
func (t trustState) all() []*x509.Certificate {
	out := []*x509.Certificate{t.signing}
	for _, c := range []*x509.Certificate{t.next, t.previous} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// readTrust reads the trust state from this node's state. prev, when its
// raw texts are the same, is returned as is (no parsing).
func (n *Node) readTrust(ctx context.Context, prev *trustState) (*trustState, error) {
	var signingPEM []byte
	if err := n.readDB.QueryRowContext(ctx, `SELECT ca_cert FROM cluster_info WHERE id = 1`).Scan(&signingPEM); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotInitialised
		}
		return nil, err
	}
	raw := slices.Clone(signingPEM)
	type row struct {
		role string
		cert []byte
	}
	var rows []row
	rs, err := n.readDB.QueryContext(ctx, `SELECT role, cert FROM cluster_ca_bundle ORDER BY fingerprint`)
	if err == nil {
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.role, &r.cert); err != nil {
				rs.Close()
				return nil, err
			}
			rows = append(rows, r)
			raw = append(append(raw, r.role...), r.cert...)
		}
		rs.Close()
	}
	if prev != nil && bytes.Equal(prev.raw, raw) {
		return prev, nil
	}
	t := &trustState{raw: raw}
	if t.signing, err = firstCert(signingPEM); err != nil {
		return nil, err
	}
	for _, r := range rows {
		c, err := firstCert(r.cert)
		if err != nil {
			return nil, err
		}
		if r.role == "next" {
			t.next = c
		} else {
			t.previous = c
		}
	}
	return t, nil
}

// refreshTrust makes the transport trust what the state says. It returns
// the trust state read (nil on plain TCP or before cluster init).
func (n *Node) refreshTrust(ctx context.Context, prev *trustState) *trustState {
	s := n.stream.Load()
	if s == nil || s.certs == nil {
		return nil
	}
	t, err := n.readTrust(ctx, prev)
	if err != nil {
		return prev
	}
	if t != prev {
		s.certs.SetTrust(t.all())
		n.log.Info("trusted CAs loaded from the replicated state", "trusted", fmt.Sprint(s.certs.TrustedFingerprints()))
	}
	return t
}

// RotateCA replaces the cluster CA without downtime: it makes a new CA
// (same cluster name) and has every node trust it, then makes it the
// signing CA, which every node renews its certificate with, then drops
// the old CA once every member presents a certificate of the new one.
// Between the steps it waits until every member of the configuration
// reports the previous step done, so it waits for (and names, in ctx's
// error) members that are down. Run it again after an interruption: it
// resumes from the state. progress, when not nil, receives each step.
func (n *Node) RotateCA(ctx context.Context, progress func(step string)) error {
	say := func(step string) {
		n.log.Info("CA rotation: "+step, "worker", "rotate-ca")
		if progress != nil {
			progress(step)
		}
	}
	if n.Identity() == nil {
		return errors.New("cluster: rotate CA: this node runs without a TLS identity (plain TCP)")
	}
	if err := n.waitStateCA(ctx); err != nil {
		return fmt.Errorf("cluster: rotate CA: %w", err)
	}
	// Apply what the leader has, so that the bundle read here is current.
	if _, err := n.Barrier(ctx); err != nil {
		return fmt.Errorf("cluster: rotate CA: %w", err)
	}
	t, err := n.readTrust(ctx, nil)
	if err != nil {
		return fmt.Errorf("cluster: rotate CA: %w", err)
	}
	if t.previous == nil {
		next := t.next
		if next == nil {
			cur, err := n.loadCA(ctx)
			if err != nil {
				return fmt.Errorf("cluster: rotate CA: %w", err)
			}
			ca, err := pki.NewCA(cur.ClusterName(), n.cfg.Now())
			if err != nil {
				return fmt.Errorf("cluster: rotate CA: %w", err)
			}
			if err := n.proposeCA(ctx, caTrustType, caTrustPayload{Fingerprint: ca.Fingerprint(), Cert: ca.CertPEM(), Key: ca.KeyPEM()}); err != nil {
				return err
			}
			next = ca.Certificate()
			say("new CA " + ca.Fingerprint() + " added to the trusted CAs")
		} else {
			say("resuming with the next CA " + pki.FingerprintOf(next))
		}
		fp := pki.FingerprintOf(next)
		if err := n.waitMembers(ctx, "trust the new CA", func(m MemberStatus) bool { return slices.Contains(m.TrustedCAs, fp) }); err != nil {
			return err
		}
		say("every member trusts the new CA")
		if err := n.proposeCA(ctx, caSwitchType, caFingerprintPayload{Fingerprint: fp}); err != nil {
			return err
		}
		say("the new CA signs; every node renews its certificate")
		if t, err = n.readTrust(ctx, nil); err != nil {
			return fmt.Errorf("cluster: rotate CA: %w", err)
		}
	}
	if t.previous == nil {
		say("no old CA left: rotation done")
		return nil
	}
	newFP, oldFP := pki.FingerprintOf(t.signing), pki.FingerprintOf(t.previous)
	if err := n.waitMembers(ctx, "present a certificate of the new CA", func(m MemberStatus) bool { return m.CAFingerprint == newFP }); err != nil {
		return err
	}
	say("every member presents a certificate of the new CA")
	if err := n.proposeCA(ctx, caDropType, caFingerprintPayload{Fingerprint: oldFP}); err != nil {
		return err
	}
	if err := n.waitMembers(ctx, "drop the old CA", func(m MemberStatus) bool { return !slices.Contains(m.TrustedCAs, oldFP) }); err != nil {
		return err
	}
	say("old CA " + oldFP + " dropped: rotation done")
	return nil
}

// proposeCA proposes one rotation command.
func (n *Node) proposeCA(ctx context.Context, typ string, payload any) error {
	cmd, err := NewCommand(typ, 1, "", payload)
	if err != nil {
		return err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		return fmt.Errorf("cluster: rotate CA: %s: %w", typ, err)
	}
	return nil
}

// waitMembers waits until every member of the configuration answers and
// ok holds for it.
func (n *Node) waitMembers(ctx context.Context, what string, ok func(MemberStatus) bool) error {
	for {
		var behind []string
		for _, m := range n.Members(ctx) {
			if !m.Reachable || !ok(m) {
				behind = append(behind, m.ID)
			}
		}
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: rotate CA: waiting for %v to %s (run it again to resume): %w", behind, what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
