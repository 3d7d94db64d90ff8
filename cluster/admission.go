package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// The built-in commands of admission: the cluster's CA, its join tokens
// and the nodes it removed, all in the replicated state (see DESIGN.md,
// "Node-to-node trust").
const (
	initType        = "cluster.init"
	tokenCreateType = "cluster.token.create"
	tokenUseType    = "cluster.token.use"
	nodeRemovedType = "cluster.node.removed"
)

var (
	// ErrAlreadyInitialised is returned by InitCluster when the state
	// already holds another CA.
	ErrAlreadyInitialised = errors.New("cluster: the cluster already has a CA")
	// ErrNotInitialised is returned when admission needs the cluster CA and
	// the state holds none (cluster init was never run).
	ErrNotInitialised = errors.New("cluster: the cluster has no CA (run cluster init)")
	// ErrTokenUnknown is returned for a join token the cluster never
	// created.
	ErrTokenUnknown = errors.New("cluster: unknown join token")
	// ErrTokenExpired is returned for a join token past its expiry.
	ErrTokenExpired = errors.New("cluster: join token expired")
	// ErrTokenUsed is returned for a join token that already admitted a
	// node: tokens are single use.
	ErrTokenUsed = errors.New("cluster: join token already used")
	// ErrTokenSecret is returned when the secret presented does not match
	// the token's.
	ErrTokenSecret = errors.New("cluster: wrong join token secret")
	// ErrNodeRemoved is returned for a node ID the cluster removed: it may
	// neither connect nor join again.
	ErrNodeRemoved = errors.New("cluster: node was removed from the cluster")
)

// admissionMigration is version 2 of the cluster component: the CA, join
// tokens and removed nodes. Times are Unix milliseconds of Command.Time.
func admissionMigration() Migration {
	return Migration{
		Component: reservedComponent,
		Version:   2,
		SQL: `
CREATE TABLE cluster_info (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	name    TEXT NOT NULL,
	ca_cert BLOB NOT NULL,
	ca_key  BLOB NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE cluster_tokens (
	id          TEXT PRIMARY KEY,
	secret_hash BLOB NOT NULL,
	voter       INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	used        INTEGER,
	used_by     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE cluster_removed (
	node_id TEXT PRIMARY KEY,
	serial  TEXT NOT NULL DEFAULT '',
	removed INTEGER NOT NULL
);`,
	}
}

// registerAdmissionErrors names the admission errors in the error codec
// so that they cross nodes.
func registerAdmissionErrors(c *errorCodec) {
	c.addSentinel("cluster.already_initialised", ErrAlreadyInitialised)
	c.addSentinel("cluster.not_initialised", ErrNotInitialised)
	c.addSentinel("cluster.token_unknown", ErrTokenUnknown)
	c.addSentinel("cluster.token_expired", ErrTokenExpired)
	c.addSentinel("cluster.token_used", ErrTokenUsed)
	c.addSentinel("cluster.token_secret", ErrTokenSecret)
	c.addSentinel("cluster.node_removed", ErrNodeRemoved)
}

// admissionBuiltins are the apply functions of admission.
func admissionBuiltins() map[string]handler {
	return map[string]handler{
		initType:        {maxVersion: 1, fn: applyInit},
		tokenCreateType: {maxVersion: 1, fn: applyTokenCreate},
		tokenUseType:    {maxVersion: 1, fn: applyTokenUse},
		nodeRemovedType: {maxVersion: 1, fn: applyNodeRemoved},
		pruneTokensType: {maxVersion: 1, fn: applyPruneTokens},
		stageType:       {maxVersion: 1, fn: applyStage},    // promote.go
		caTrustType:     {maxVersion: 1, fn: applyCATrust},  // carotate.go
		caSwitchType:    {maxVersion: 1, fn: applyCASwitch}, // carotate.go
		caDropType:      {maxVersion: 1, fn: applyCADrop},   // carotate.go
	}
}

type initPayload struct {
	Name   string `json:"name"`
	CACert []byte `json:"ca_cert"`
	CAKey  []byte `json:"ca_key"`
}

type tokenCreatePayload struct {
	ID         string    `json:"id"`
	SecretHash []byte    `json:"secret_hash"`
	Voter      bool      `json:"voter"`
	Expires    time.Time `json:"expires"`
}

// tokenUsePayload carries the SHA-256 (pki.Token.SecretHash) of the secret
// the joining node presented, never the secret itself.
type tokenUsePayload struct {
	ID         string `json:"id"`
	SecretHash []byte `json:"secret_hash"`
	NodeID     string `json:"node_id"`
}

// tokenUseResult says what the consumed token admits.
type tokenUseResult struct {
	Voter bool `json:"voter"`
}

type nodeRemovedPayload struct {
	NodeID string `json:"node_id"`
	Serial string `json:"serial,omitempty"`
}

// applyInit stores the cluster name and CA. A second init with the same
// CA certificate is a no-op (a retried proposal); with another, refused.
func applyInit(tx *sql.Tx, cmd Command) (any, error) {
	var p initPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	var have []byte
	err := tx.QueryRow(`SELECT ca_cert FROM cluster_info WHERE id = 1`).Scan(&have)
	switch {
	case err == nil:
		if string(have) == string(p.CACert) {
			return nil, nil
		}
		return nil, ErrAlreadyInitialised
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	_, err = tx.Exec(`INSERT INTO cluster_info (id, name, ca_cert, ca_key, created) VALUES (1, ?, ?, ?, ?)`,
		p.Name, p.CACert, p.CAKey, cmd.Time.UnixMilli())
	return nil, err
}

func applyTokenCreate(tx *sql.Tx, cmd Command) (any, error) {
	var p tokenCreatePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if len(p.SecretHash) != sha256.Size || p.ID == "" {
		return nil, fmt.Errorf("cluster: token.create: invalid token %q", p.ID)
	}
	_, err := tx.Exec(`INSERT INTO cluster_tokens (id, secret_hash, voter, created, expires) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.SecretHash, p.Voter, cmd.Time.UnixMilli(), p.Expires.UnixMilli())
	return nil, err
}

// applyTokenUse consumes a token: here, in apply, so that of two joins
// racing with one token exactly one wins.
func applyTokenUse(tx *sql.Tx, cmd Command) (any, error) {
	var p tokenUsePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	var (
		hash    []byte
		voter   bool
		expires int64
		used    sql.NullInt64
	)
	err := tx.QueryRow(`SELECT secret_hash, voter, expires, used FROM cluster_tokens WHERE id = ?`, p.ID).
		Scan(&hash, &voter, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrTokenUnknown
	case err != nil:
		return nil, err
	case subtle.ConstantTimeCompare(hash, p.SecretHash) != 1:
		return nil, ErrTokenSecret
	case used.Valid:
		return nil, ErrTokenUsed
	case cmd.Time.UnixMilli() >= expires:
		return nil, ErrTokenExpired
	}
	var removed int
	if err := tx.QueryRow(`SELECT count(*) FROM cluster_removed WHERE node_id = ?`, p.NodeID).Scan(&removed); err != nil {
		return nil, err
	}
	if removed > 0 {
		return nil, ErrNodeRemoved
	}
	if _, err := tx.Exec(`UPDATE cluster_tokens SET used = ?, used_by = ? WHERE id = ?`,
		cmd.Time.UnixMilli(), p.NodeID, p.ID); err != nil {
		return nil, err
	}
	return tokenUseResult{Voter: voter}, nil
}

func applyNodeRemoved(tx *sql.Tx, cmd Command) (any, error) {
	var p nodeRemovedPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`INSERT INTO cluster_removed (node_id, serial, removed) VALUES (?, ?, ?)
		ON CONFLICT (node_id) DO NOTHING`, p.NodeID, p.Serial, cmd.Time.UnixMilli())
	return nil, err
}

// NewClusterCA creates the CA of a new cluster and the identity of its
// first node, nodeID (hosts go into its certificate as SANs). The caller
// saves the identity (pki.SaveIdentity), starts the node with it and then
// calls InitCluster with the CA, which writes the CA into the replicated
// state.
func NewClusterCA(clusterName, nodeID string, hosts []string, now time.Time) (*pki.CA, *pki.Identity, error) {
	ca, err := pki.NewCA(clusterName, now)
	if err != nil {
		return nil, nil, err
	}
	id, err := issueIdentity(ca, nodeID, hosts, now)
	if err != nil {
		return nil, nil, err
	}
	return ca, id, nil
}

// issueIdentity makes a key and a certificate for nodeID signed by ca.
func issueIdentity(ca *pki.CA, nodeID string, hosts []string, now time.Time) (*pki.Identity, error) {
	key, err := pki.NewNodeKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CSR(key, nodeID)
	if err != nil {
		return nil, err
	}
	certPEM, err := ca.SignNode(csr, nodeID, hosts, now, nodeCertValidity)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return pki.ParseIdentity(certPEM, keyPEM, ca.CertPEM())
}

// nodeCertValidity is the life of a node certificate.
const nodeCertValidity = 365 * 24 * time.Hour

// InitCluster writes the cluster name and ca (certificate and key) into
// the replicated state, so that every node can admit new nodes. Running it
// again with the same CA is a no-op; with another, ErrAlreadyInitialised.
func (n *Node) InitCluster(ctx context.Context, ca *pki.CA) error {
	cmd, err := NewCommand(initType, 1, "", initPayload{Name: ca.ClusterName(), CACert: ca.CertPEM(), CAKey: ca.KeyPEM()})
	if err != nil {
		return err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		return fmt.Errorf("cluster: init: %w", err)
	}
	return nil
}

// loadCA reads the CA from this node's state.
func (n *Node) loadCA(ctx context.Context) (*pki.CA, error) {
	var certPEM, keyPEM []byte
	err := n.readDB.QueryRowContext(ctx, `SELECT ca_cert, ca_key FROM cluster_info WHERE id = 1`).Scan(&certPEM, &keyPEM)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotInitialised
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: read CA: %w", err)
	}
	return pki.LoadCA(certPEM, keyPEM)
}

// CreateToken creates a join token valid for ttl that admits one node, as
// a voter or a non-voter. Only the SHA-256 of its secret is replicated;
// the returned token (pki.Token.String) is shown to the operator once.
func (n *Node) CreateToken(ctx context.Context, ttl time.Duration, voter bool) (pki.Token, error) {
	if err := n.waitStateCA(ctx); err != nil {
		return pki.Token{}, err
	}
	ca, err := n.loadCA(ctx)
	if err != nil {
		return pki.Token{}, err
	}
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		return pki.Token{}, err
	}
	cmd, err := NewCommand(tokenCreateType, 1, "", tokenCreatePayload{
		ID: tok.ID, SecretHash: tok.SecretHash(), Voter: voter, Expires: n.cfg.Now().Add(ttl).UTC(),
	})
	if err != nil {
		return pki.Token{}, err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		return pki.Token{}, fmt.Errorf("cluster: create token: %w", err)
	}
	n.log.Info("join token created", "token", tok, "ttl", ttl.String(), "voter", voter)
	// Tokens are made here only, so pruning here bounds their table to
	// about a week of them.
	if pruned, err := n.PruneTokens(ctx); err != nil {
		n.log.Warn("old join tokens not pruned", "err", err)
	} else if pruned > 0 {
		n.log.Info("old join tokens pruned", "count", pruned)
	}
	return tok, nil
}

// waitStateCA makes sure this node has applied what the leader had
// committed when asked, by proposing nothing: it waits for the node to be
// ready. (Reads of the CA are local; a node that just started may lag.)
func (n *Node) waitStateCA(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RemoveNode removes node id from the cluster for good: it records the
// node (and the serial of the certificate it presented last, when known)
// as removed, so every node refuses its connections from then on, and
// removes it from the raft configuration.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	cmd, err := NewCommand(nodeRemovedType, 1, "", nodeRemovedPayload{NodeID: id})
	if err != nil {
		return err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		return fmt.Errorf("cluster: remove %s: %w", id, err)
	}
	n.removed.invalidate()
	return n.RemoveServer(ctx, id)
}

// removedCache answers "was this node removed?" from the local state for
// the TLS handshakes, reloading at most once per removedCacheTTL (and at
// once after RemoveNode on this node).
type removedCache struct {
	mu     sync.Mutex
	loaded time.Time
	ids    map[string]bool
}

const removedCacheTTL = time.Second

func (c *removedCache) invalidate() {
	c.mu.Lock()
	c.loaded = time.Time{}
	c.mu.Unlock()
}

// peerCheckTimeout bounds peerCheck's read of the removed nodes.
const peerCheckTimeout = time.Second

// peerCheck is the pki.WithPeerCheck function of the node's listener and
// dialler: it refuses removed nodes.
func (n *Node) peerCheck(nodeID string, _ *x509.Certificate) error {
	c := &n.removed
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.loaded) > removedCacheTTL {
		ids := make(map[string]bool)
		// Every handshake waits here: the read is bounded (see the
		// switch below for what a failed one does).
		ctx, cancel := context.WithTimeout(context.Background(), peerCheckTimeout)
		defer cancel()
		rows, err := n.readDB.QueryContext(ctx, `SELECT node_id FROM cluster_removed`)
		if err == nil {
			for rows.Next() {
				var id string
				if rows.Scan(&id) == nil {
					ids[id] = true
				}
			}
			err = rows.Err()
			rows.Close()
		}
		// Before the migration the table does not exist: nobody is
		// removed. Another error keeps the list read before; with none
		// read yet, the handshake is refused (the peer dials again).
		switch {
		case err == nil || isNoSuchTable(err):
			c.ids = ids
			c.loaded = time.Now()
		case c.ids == nil:
			return fmt.Errorf("cluster: read the removed nodes: %w", err)
		}
	}
	if c.ids[nodeID] {
		return fmt.Errorf("%w: %s", ErrNodeRemoved, nodeID)
	}
	return nil
}
