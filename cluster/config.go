package cluster

import (
	"errors"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// Config configures a Node. Dir, NodeID, RaftAddr and Registry are
// required; every zero duration or count takes the default named beside it.
type Config struct {
	// Dir holds the node's state: raftlog/ (raft's log and stable store,
	// segment files; raft.db is only a note that keeps older binaries
	// out), snapshots/ and state.db (the SQLite materialised view).
	Dir string
	// NodeID is the node's stable Raft server ID.
	NodeID string
	// RaftAddr is the TCP address the Raft transport listens on, e.g.
	// "127.0.0.1:7000". A port 0 picks a free port (tests); a one-node
	// cluster restarted on a new port updates its own address.
	RaftAddr string
	// AdvertiseAddr is the address other nodes dial to reach this one, when
	// RaftAddr binds all interfaces (":7000") or sits behind a NAT. Default:
	// the listener's address, which must then be a specific IP.
	AdvertiseAddr string
	// Identity is the node's TLS identity (cluster CA, node certificate and
	// key). With it, every node-to-node connection (raft and forwarding) is
	// mutual TLS 1.3 and only nodes with a certificate of the same CA get
	// in; nil keeps plain TCP (one-node installs, tests). Its NodeID must
	// equal NodeID.
	Identity *pki.Identity
	// CertValidity is the life of the certificates this node signs: its
	// own when it renews it, and those of the nodes it admits. Default
	// one year. The node renews its own when a third of its life is left
	// (certrenew.go).
	CertValidity time.Duration
	// SaveIdentity, when set, saves a renewed identity (for example with
	// pki.SaveIdentity) before the node uses it.
	SaveIdentity func(*pki.Identity) error
	// JoinSecret, when set, returns an opaque secret every node of the
	// cluster must hold outside the replicated state (the key that seals
	// client secrets: auth.SecretsFile). An admitting node sends it to the
	// node it admits, in the join answer, over the TLS connection pinned
	// to the cluster CA and only once the join token was accepted; nil
	// sends nothing.
	JoinSecret func() ([]byte, error)
	// FaultInjection enables Node.Partition, which cuts this node off from
	// named peers at the transport: for partition tests only, never in
	// service. Off, Partition returns ErrFaultInjectionOff.
	FaultInjection bool
	// Join makes a node with no state wait to be added by the leader
	// (AddVoter) instead of bootstrapping a new one-node cluster.
	Join bool
	// Registry holds the apply functions and migrations; New freezes it.
	Registry *Registry
	// Logger receives the node's logs (and raft's), with component=cluster.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock used to stamp commands on the leader and by the
	// outbox worker. Default time.Now.
	Now func() time.Time
	// BinaryVersion is the version of the running program that the node
	// records with its capabilities and that `cluster status` and the
	// version gate's refusals show. Default: the module version from the
	// Go build information.
	BinaryVersion string

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one. Default 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks SnapshotThreshold. Default 2m.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay in the log after a snapshot, so
	// a slightly lagging follower catches up without a snapshot. Default 10240.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots are kept on disk. Default 2.
	SnapshotRetain int
	// HeartbeatTimeout is raft's heartbeat, election and leader-lease
	// timeout. Default 1s; tests of one-node clusters use less to start fast.
	HeartbeatTimeout time.Duration
	// StaleAfter is how long a follower may go without hearing from the
	// leader before Stale reports it stale. Default 3 × HeartbeatTimeout.
	StaleAfter time.Duration
	// PromoteAfter is how long a node that joined as a voter must stay
	// caught up with the leader before the leader promotes it from
	// non-voter to voter (promote.go). Default 3 × HeartbeatTimeout.
	PromoteAfter time.Duration
	// MaxAppendEntries caps how many entries raft writes (and the FSM
	// applies in one SQLite transaction) at once. Default 64, at most 1024.
	MaxAppendEntries int

	// OutboxBackoff is the delay before the second delivery attempt; it
	// doubles at each failure up to OutboxMaxBackoff. Default 10s.
	OutboxBackoff time.Duration
	// OutboxMaxBackoff caps the delay between attempts. Default 1h.
	OutboxMaxBackoff time.Duration
	// OutboxMaxAttempts is how many failed attempts mark an item failed
	// (kept for inspection, never retried). Default 10.
	OutboxMaxAttempts int
	// OutboxTimeout bounds one delivery. Default 30s.
	OutboxTimeout time.Duration
	// OutboxParallel is how many deliveries the worker runs at once (the
	// emails of one booking still go one after the other). Default 8.
	OutboxParallel int
}

// withDefaults checks the required fields and fills the defaults.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Dir == "":
		return c, errors.New("cluster: Config.Dir is required")
	case c.NodeID == "":
		return c, errors.New("cluster: Config.NodeID is required")
	case c.RaftAddr == "":
		return c, errors.New("cluster: Config.RaftAddr is required")
	case c.Registry == nil:
		return c, errors.New("cluster: Config.Registry is required")
	case c.Identity != nil && c.Identity.NodeID != c.NodeID:
		return c, errors.New("cluster: Config.Identity names node " + c.Identity.NodeID + ", not " + c.NodeID)
	case c.MaxAppendEntries > 1024:
		return c, errors.New("cluster: Config.MaxAppendEntries is at most 1024")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 2 * time.Minute
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = 2
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 3 * c.HeartbeatTimeout
	}
	if c.CertValidity == 0 {
		c.CertValidity = nodeCertValidity
	}
	if c.PromoteAfter == 0 {
		c.PromoteAfter = 3 * c.HeartbeatTimeout
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = 64
	}
	if c.OutboxBackoff == 0 {
		c.OutboxBackoff = 10 * time.Second
	}
	if c.OutboxMaxBackoff == 0 {
		c.OutboxMaxBackoff = time.Hour
	}
	if c.OutboxMaxAttempts == 0 {
		c.OutboxMaxAttempts = 10
	}
	if c.OutboxParallel <= 0 {
		c.OutboxParallel = 8
	}
	if c.OutboxTimeout == 0 {
		c.OutboxTimeout = 30 * time.Second
	}
	return c, nil
}
