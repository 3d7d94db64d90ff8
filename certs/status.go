package certs

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

// The states of CertStatus.State.
const (
	StateValid   = "valid"
	StatePending = "pending"
	StateFailed  = "failed"
	StateNone    = "none"
)

// statusRecord is the last attempt for a name, kept in Storage under
// statusKey so that every node's status page shows what any node tried.
type statusRecord struct {
	Issuer      string    `json:"issuer"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt"`
	Done        bool      `json:"done"` // the attempt ended (obtained or failed)
}

// statusKey is where the status record of a normalised name lives. The
// prefix is outside certmagic's key space ("certificates/", "acme/",
// "ocsp/", locks) and outside Storage's reserved "sportello/".
func statusKey(name string) string { return "status/" + name + ".json" }

// recordTimeout bounds the write of a status record.
const recordTimeout = 10 * time.Second

// onEvent is certmagic's event callback for both configurations. It logs
// obtained and failed certificates in lines an operator can act on, and
// records the attempt in Storage for Status. certmagic calls it
// synchronously while it obtains; the record is one small proposal.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	if name == "" {
		return nil
	}
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		m.record(ctx, name, statusRecord{Issuer: m.issuer, LastAttempt: time.Now()})
	case "cert_obtained":
		issuer, _ := data["issuer"].(string)
		m.log.Info("certificate obtained", "name", name, "issuer", issuer, "renewal", renewal)
		m.record(ctx, name, statusRecord{Issuer: issuer, LastAttempt: time.Now(), Done: true})
	case "cert_failed":
		err, _ := data["error"].(error)
		msg := "unknown error"
		if err != nil {
			msg = err.Error()
		}
		attrs := []any{"name", name, "issuer", m.issuer, "renewal", renewal, "err", msg}
		if n, ok := ctx.Value(certmagic.AttemptsCtxKey).(*int); ok {
			attrs = append(attrs, "attempt", *n+1)
		}
		attrs = append(attrs, "next_attempt", m.nextAttempt(name))
		m.log.Error("certificate not obtained", attrs...)
		m.record(ctx, name, statusRecord{Issuer: m.issuer, LastError: msg, LastAttempt: time.Now(), Done: true})
	}
	return nil
}

// nextAttempt says, for the log, when the failed name is tried again:
// certmagic owns the schedule and does not expose it.
func (m *Manager) nextAttempt(name string) string {
	m.managedMu.Lock()
	managed := m.managed[name]
	m.managedMu.Unlock()
	if managed {
		return "retried in the background with growing backoff (minutes, up to a day)"
	}
	return "on a later TLS handshake for the name, after certmagic's backoff"
}

// record stores the status record of name; a failure is logged, never
// returned, since it must not stop the issuance it describes.
func (m *Manager) record(ctx context.Context, name string, rec statusRecord) {
	// The handshake that triggered the attempt may be gone; the record is
	// still wanted, but not at the price of blocking issuance when the
	// cluster has no leader.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	b, err := json.Marshal(rec)
	if err == nil {
		err = m.cfg.Storage.Store(ctx, statusKey(name), b)
	}
	if err != nil {
		m.log.Warn("record certificate status", "name", name, "err", err)
	}
}

// Status returns the certificate state of name as this node serves it
// (from the cache, or from Storage when this node has not loaded it), with
// the last attempt any node recorded. A name no certificate can be issued
// for gives an error wrapping ErrRefused.
func (m *Manager) Status(ctx context.Context, name string) (CertStatus, error) {
	h, err := NormalizeName(name)
	if err != nil {
		return CertStatus{Name: name, State: StateNone}, err
	}
	st := CertStatus{Name: h, State: StateNone}
	var leaf *x509.Certificate
	switch m.cfg.Mode {
	case ModeOff:
		return st, nil
	case ModeFiles:
		if fc := m.file.Load(); fc != nil {
			leaf = fc.cert.Leaf
			if err := leaf.VerifyHostname(h); err != nil {
				// Served anyway (it is the only one), but browsers refuse it.
				st.State, st.Issuer, st.LastError = StateFailed, leaf.Issuer.CommonName, "the certificate of cert_file does not cover this name"
				st.NotBefore, st.NotAfter = leaf.NotBefore, leaf.NotAfter
				return st, nil
			}
		}
	default:
		leaf, err = m.leaf(ctx, h)
		if err != nil {
			return st, err
		}
		rec, err := m.loadRecord(ctx, h)
		if err != nil {
			return st, err
		}
		st.Issuer, st.LastError, st.LastAttempt = rec.Issuer, rec.LastError, rec.LastAttempt
		switch {
		case rec.LastError != "":
			st.State = StateFailed
		case !rec.LastAttempt.IsZero() && !rec.Done:
			st.State = StatePending
		}
	}
	if leaf != nil {
		st.NotBefore, st.NotAfter = leaf.NotBefore, leaf.NotAfter
		if leaf.Issuer.CommonName != "" {
			st.Issuer = leaf.Issuer.CommonName
		}
		if now := time.Now(); now.After(leaf.NotBefore) && now.Before(leaf.NotAfter) {
			st.State = StateValid
		}
	}
	return st, nil
}

// leaf returns the newest certificate for name in the cache, or else in
// Storage, or nil.
func (m *Manager) leaf(ctx context.Context, name string) (*x509.Certificate, error) {
	var best *x509.Certificate
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && (best == nil || c.Leaf.NotAfter.After(best.NotAfter)) {
			best = c.Leaf
		}
	}
	if best != nil {
		return best, nil
	}
	b, err := m.cfg.Storage.Load(ctx, certmagic.StorageKeys.SiteCert(m.issuer, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certs: status of %s: %w", name, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || !strings.Contains(blk.Type, "CERTIFICATE") {
		return nil, fmt.Errorf("certs: status of %s: stored certificate is not PEM", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: status of %s: %w", name, err)
	}
	return c, nil
}

func (m *Manager) loadRecord(ctx context.Context, name string) (statusRecord, error) {
	var rec statusRecord
	b, err := m.cfg.Storage.Load(ctx, statusKey(name))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("certs: status of %s: %w", name, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("certs: status of %s: %w", name, err)
	}
	return rec, nil
}
