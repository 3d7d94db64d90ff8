package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// ClusterConfig is the [cluster] table: how a node becomes part of a
// multi-node cluster. Without it (and without an identity in
// <data_dir>/tls) the node is a one-node cluster on plain TCP.
type ClusterConfig struct {
	// Name is the cluster's name in its CA; used by Init. Default
	// "sportello".
	Name string `toml:"name"`
	// Init makes the first start create the cluster CA and this node's
	// certificate (as `sportello cluster init` does), unless the node
	// already has an identity.
	Init bool `toml:"init"`
	// JoinToken and JoinAddr make the first start join an existing cluster
	// (as `sportello cluster join` does), unless the node already has an
	// identity.
	JoinToken string `toml:"join_token"`
	JoinAddr  string `toml:"join_addr"`
	// AdvertiseAddr is the address other nodes dial, when raft_addr binds
	// all interfaces.
	AdvertiseAddr string `toml:"advertise_addr"`
	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune raft's log
	// compaction (cluster.Config; 0 keeps the defaults 8192, 2m, 10240):
	// a snapshot is taken when SnapshotThreshold entries have accumulated
	// (checked every SnapshotInterval), and TrailingLogs entries stay in
	// the log after it, so that a follower lagging by less catches up from
	// the log and one lagging by more receives the snapshot.
	SnapshotThreshold uint64        `toml:"snapshot_threshold"`
	SnapshotInterval  time.Duration `toml:"snapshot_interval"`
	TrailingLogs      uint64        `toml:"trailing_logs"`
	// PromoteAfter is how long a node that joined as a voter must stay
	// caught up before the leader promotes it from non-voter to voter
	// (cluster.Config.PromoteAfter; 0 keeps the default, three
	// heartbeats).
	PromoteAfter time.Duration `toml:"promote_after"`
}

// identitySaver returns the function the node saves a renewed identity
// with: in the data dir's tls folder, atomically (pki.SaveIdentity).
func identitySaver(dataDir string) func(*pki.Identity) error {
	return func(id *pki.Identity) error { return pki.SaveIdentity(dataDir, id) }
}

// validate adds the errors of the [cluster] table to bad.
func (c ClusterConfig) validate(bad func(string, ...any)) {
	if c.Init && c.JoinToken != "" {
		bad("cluster.init and cluster.join_token are both set: a node either starts a cluster or joins one")
	}
	if (c.JoinToken == "") != (c.JoinAddr == "") {
		bad("cluster.join_token and cluster.join_addr go together")
	}
	if c.JoinToken != "" {
		if _, err := pki.ParseToken(c.JoinToken); err != nil {
			bad("cluster.join_token: %v", err)
		}
	}
	if c.PromoteAfter < 0 {
		bad("cluster.promote_after %v: want a positive duration", c.PromoteAfter)
	}
	if c.Name != "" {
		if _, err := pki.NodeURI(c.Name, "x"); err != nil {
			bad("cluster.name %q: %v", c.Name, err)
		}
	}
	for name, addr := range map[string]string{"cluster.join_addr": c.JoinAddr, "cluster.advertise_addr": c.AdvertiseAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s %q: want host:port (%v)", name, addr, err)
		}
	}
}

// The files of a node's cluster setup, in pki.TLSDir(data dir) beside
// the identity. initCAFile holds the new CA (certificate and key, PEM)
// until the node has written it into the replicated state; joinFile the
// address and suffrage a joined node asks to be added with, until it has
// been.
const (
	initCAFile = "ca-init.pem"
	joinFile   = "join.json"
)

type joinMarker struct {
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// clusterSetup is what run needs to start the node as part of a cluster.
type clusterSetup struct {
	identity *pki.Identity // nil: plain TCP
	initCA   *pki.CA       // not nil: propose cluster.init after Start
	join     *joinMarker   // not nil: ask to be added, during Start
	dir      string        // pki.TLSDir
}

// prepareCluster loads the node's identity from its data dir, first
// creating it when the configuration asks for init or join.
func prepareCluster(ctx context.Context, cfg Config) (*clusterSetup, error) {
	s := &clusterSetup{dir: pki.TLSDir(cfg.DataDir)}
	_, err := os.Stat(filepath.Join(s.dir, pki.NodeKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		switch {
		case cfg.Cluster.Init:
			if err := initCluster(cfg); err != nil {
				return nil, err
			}
		case cfg.Cluster.JoinToken != "":
			if err := joinCluster(ctx, cfg, cfg.Cluster.JoinToken, cfg.Cluster.JoinAddr); err != nil {
				return nil, err
			}
		default:
			return s, nil
		}
	}
	if s.identity, err = pki.LoadIdentity(cfg.DataDir); err != nil {
		return nil, err
	}
	if s.identity.NodeID != cfg.NodeID {
		return nil, fmt.Errorf("%w: node_id %q, but the certificate in %s names %q", errConfig, cfg.NodeID, s.dir, s.identity.NodeID)
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, initCAFile)); err == nil {
		if s.initCA, err = pki.LoadCA(b, b); err != nil {
			return nil, fmt.Errorf("%s: %w", initCAFile, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, joinFile)); err == nil {
		s.join = new(joinMarker)
		if err := json.Unmarshal(b, s.join); err != nil {
			return nil, fmt.Errorf("%s: %w", joinFile, err)
		}
	}
	return s, nil
}

// start starts node as the setup says and finishes what is pending: a
// joined node asks to be added while it starts, a new cluster's CA goes
// into the replicated state once the node leads.
func (s *clusterSetup) start(ctx context.Context, node *cluster.Node, log *slog.Logger) error {
	joined := make(chan error, 1)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.join != nil {
		go func() { joined <- node.JoinCluster(jctx, s.join.Addr, s.join.Voter) }()
	}
	if err := node.Start(ctx); err != nil {
		return err
	}
	if s.join != nil {
		if err := <-joined; err != nil {
			return err
		}
		os.Remove(filepath.Join(s.dir, joinFile))
		log.Info("joined the cluster", "component", "main", "via", s.join.Addr, "voter", s.join.Voter)
	}
	if s.initCA != nil {
		if err := node.InitCluster(ctx, s.initCA); err != nil {
			return err
		}
		os.Remove(filepath.Join(s.dir, initCAFile))
		log.Info("cluster initialised: its CA is in the replicated state", "component", "main", "cluster", s.initCA.ClusterName())
	}
	return nil
}

// hostsFor returns the hosts of the node's cluster addresses, for its
// certificate.
func hostsFor(cfg Config) []string {
	var hosts []string
	for _, a := range []string{cfg.Cluster.AdvertiseAddr, cfg.RaftAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" && net.ParseIP(h) != nil && !net.ParseIP(h).IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// initCluster creates the CA and this node's identity in the data dir.
func initCluster(cfg Config) error {
	name := cfg.Cluster.Name
	if name == "" {
		name = "sportello"
	}
	dir := pki.TLSDir(cfg.DataDir)
	if _, err := os.Stat(filepath.Join(dir, pki.NodeKeyFile)); err == nil {
		return fmt.Errorf("%w: %s already holds a node identity", errExists, dir)
	}
	ca, id, err := cluster.NewClusterCA(name, cfg.NodeID, hostsFor(cfg), time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, initCAFile), append(ca.CertPEM(), ca.KeyPEM()...), 0o600); err != nil {
		return err
	}
	// The key that seals client secrets is made with the cluster; joining
	// nodes receive it in the join answer (joinSecret).
	if _, err := auth.CreateSecrets(filepath.Join(cfg.DataDir, auth.SecretsFile)); err != nil {
		return err
	}
	return pki.SaveIdentity(cfg.DataDir, id)
}

// joinSecret is the cluster.Config.JoinSecret of a node: its secrets key
// file, sent to the nodes it admits; nil when it has none (a node that
// joined before keys were shipped).
func joinSecret(dataDir string) func() ([]byte, error) {
	return func() ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dataDir, auth.SecretsFile))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
}

// keepJoinSecret writes the cluster's secrets key received at join. A
// different key already in the data dir (a wiped node's leftover, or one
// made by hand) is kept aside as secrets.key.old rather than lost.
func keepJoinSecret(dataDir string) func([]byte) error {
	return func(b []byte) error {
		path := filepath.Join(dataDir, auth.SecretsFile)
		if old, err := os.ReadFile(path); err == nil {
			if bytes.Equal(old, b) {
				return nil
			}
			if err := os.Rename(path, path+".old"); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return err
		}
		return pki.WriteFileAtomic(path, b, 0o600)
	}
}

// joinCluster runs the join handshake and saves the identity and the
// marker that makes the next start ask to be added.
func joinCluster(ctx context.Context, cfg Config, token, addr string) error {
	dir := pki.TLSDir(cfg.DataDir)
	if _, err := os.Stat(filepath.Join(dir, pki.NodeKeyFile)); err == nil {
		return fmt.Errorf("%w: %s already holds a node identity", errExists, dir)
	}
	advertise := cfg.Cluster.AdvertiseAddr
	if advertise == "" {
		advertise = cfg.RaftAddr
	}
	// The other nodes keep dialling the address they were given: it must
	// be a fixed port.
	if _, port, _ := net.SplitHostPort(advertise); port == "0" {
		return fmt.Errorf("%w: raft_addr %q: a node of a cluster needs a fixed port (or set cluster.advertise_addr)", errConfig, advertise)
	}
	id, voter, err := cluster.Join(ctx, cluster.JoinOptions{Token: token, Addr: addr, NodeID: cfg.NodeID, AdvertiseAddr: advertise,
		OnSecret: keepJoinSecret(cfg.DataDir)})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(joinMarker{Addr: addr, Voter: voter})
	if err := pki.WriteFileAtomic(filepath.Join(dir, joinFile), b, 0o600); err != nil {
		return err
	}
	return pki.SaveIdentity(cfg.DataDir, id)
}

// errExists marks a cluster init or join on a node that has an identity.
var errExists = errors.New("already set up")

// cmdCluster runs the cluster subcommands.
func cmdCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		clusterUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "init":
		return clusterInit(args[1:], stdout, stderr)
	case "join":
		return clusterJoin(args[1:], stdout, stderr)
	case "token":
		return clusterToken(args[1:], stdout, stderr)
	case "status":
		return clusterStatus(args[1:], stdout, stderr)
	case "leave":
		return clusterAdminPost(args[1:], "leave", stdout, stderr)
	case "remove":
		return clusterAdminPost(args[1:], "remove", stdout, stderr)
	case "snapshot":
		return clusterAdminPost(args[1:], "snapshot", stdout, stderr)
	case "renew-cert":
		return clusterAdminPost(args[1:], "renew-cert", stdout, stderr)
	case "rotate-ca":
		return clusterRotateCA(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		clusterUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "sportello cluster: unknown command %q\n\n", args[0])
	clusterUsage(stderr)
	return exitUsage
}

func clusterUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  sportello cluster init --config FILE [--name NAME]     before the first serve: create the cluster CA
  sportello cluster join --config FILE --token T ADDR    before the first serve: join the cluster at ADDR
  sportello cluster token [--data DIR] [--ttl 1h] [--nonvoter]
  sportello cluster status [--data DIR] [--json]
  sportello cluster leave [--data DIR]
  sportello cluster remove [--data DIR] NODE
  sportello cluster snapshot [--data DIR]
  sportello cluster renew-cert [--data DIR]
  sportello cluster rotate-ca [--data DIR]

leave takes the node out of the configuration (a leader first hands its
leadership over) and stops it; to bring it back, empty its data dir and
join again with a new token. snapshot makes the node snapshot its state
now and compact its log down to cluster.trailing_logs entries.
renew-cert issues the node a new certificate (one year, same key) from
the cluster CA, saves it and uses it at once, without a restart. Every
node also renews its own certificate by itself when a third of its life
is left.

rotate-ca replaces the cluster CA without stopping anything: every node
first trusts a new CA, then renews its certificate under it, then the old
CA is dropped. It waits for every member at each step; if a member is
down it stops with its name, and running it again resumes.

A node that joins as a voter is first a non-voter: the leader promotes it
once it has caught up (cluster.promote_after), and its serve reports
ready from then on. status shows it as "nonvoter (catching up, promotes
to voter)" meanwhile.

init and join work offline on the node's data dir (the [cluster] table of
the configuration does the same at the first start); the other commands
talk to the node running on --data through its admin socket.
`)
}

// offlineFlags parses --config for init and join.
func offlineFlags(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, []string, int) {
	fs := flag.NewFlagSet("cluster "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML configuration `file` of the node (required)")
	extra(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return Config{}, nil, exitCodeOf(err)
	}
	if *path == "" {
		fmt.Fprintf(stderr, "sportello cluster %s: --config is required\n", name)
		return Config{}, nil, exitUsage
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "sportello: %v\n", err)
		return Config{}, nil, exitUsage
	}
	return cfg, pos, -1
}

func clusterInit(args []string, stdout, stderr io.Writer) int {
	var name *string
	cfg, pos, code := offlineFlags("init", args, stderr, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "cluster `name` (default: cluster.name or sportello)")
	})
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		clusterUsage(stderr)
		return exitUsage
	}
	if *name != "" {
		cfg.Cluster.Name = *name
	}
	if err := initCluster(cfg); err != nil {
		fmt.Fprintf(stderr, "sportello cluster init: %v\n", err)
		if errors.Is(err, errExists) {
			return exitConflict
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "cluster CA and the certificate of %s are in %s; start the node with serve, then run `sportello cluster token`\n",
		cfg.NodeID, pki.TLSDir(cfg.DataDir))
	return exitOK
}

func clusterJoin(args []string, stdout, stderr io.Writer) int {
	var token *string
	cfg, pos, code := offlineFlags("join", args, stderr, func(fs *flag.FlagSet) {
		token = fs.String("token", "", "join `token` printed by `sportello cluster token` (required)")
	})
	if code >= 0 {
		return code
	}
	if len(pos) != 1 || *token == "" {
		clusterUsage(stderr)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := joinCluster(ctx, cfg, *token, pos[0]); err != nil {
		fmt.Fprintf(stderr, "sportello cluster join: %v\n", err)
		if errors.Is(err, errExists) {
			return exitConflict
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s is admitted; start it with serve\n", cfg.NodeID)
	return exitOK
}

// adminFlags parses --data (and --json) for the online subcommands.
func adminFlags(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*adminClient, []string, int) {
	fs := flag.NewFlagSet("cluster "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", defaultConfig().DataDir, "data `dir` of the running node")
	if extra != nil {
		extra(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, exitCodeOf(err)
	}
	return newAdminClient(*dataDir), pos, -1
}

func clusterToken(args []string, stdout, stderr io.Writer) int {
	var ttl *time.Duration
	var nonvoter *bool
	c, pos, code := adminFlags("token", args, stderr, func(fs *flag.FlagSet) {
		ttl = fs.Duration("ttl", time.Hour, "how long the token is valid")
		nonvoter = fs.Bool("nonvoter", false, "admit a non-voter (receives the log, does not vote)")
	})
	if code >= 0 {
		return code
	}
	if len(pos) > 0 || *ttl <= 0 {
		clusterUsage(stderr)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var out tokenAnswer
	if err := c.do(ctx, http.MethodPost, "/v1/cluster/tokens", tokenRequest{TTL: ttl.String(), Voter: !*nonvoter}, &out); err != nil {
		fmt.Fprintf(stderr, "sportello cluster token: %v\n", err)
		return exitCodeFor(err)
	}
	fmt.Fprintln(stdout, out.Token)
	return exitOK
}

func clusterStatus(args []string, stdout, stderr io.Writer) int {
	var asJSON *bool
	c, pos, code := adminFlags("status", args, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print JSON instead of text")
	})
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		clusterUsage(stderr)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var st clusterStatusView
	if err := c.do(ctx, http.MethodGet, "/v1/cluster/status", nil, &st); err != nil {
		fmt.Fprintf(stderr, "sportello cluster status: %v\n", err)
		return exitCodeFor(err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	printClusterStatus(stdout, st)
	return exitOK
}

// clusterStatusView is the admin socket's GET /v1/cluster/status: this
// node's view, and every member as it reports itself.
type clusterStatusView struct {
	cluster.Status
	Members []cluster.MemberStatus
	// CertificateNotAfter is when this node's certificate expires (zero
	// on plain TCP).
	CertificateNotAfter time.Time `json:",omitzero"`
}

// printClusterStatus writes the status as a table: one line per member,
// with its role, term, applied index, lag behind the highest commit index,
// last contact with its leader, and binary.
func printClusterStatus(w io.Writer, st clusterStatusView) {
	leader := st.LeaderID
	if leader == "" {
		leader = "none known"
	}
	fmt.Fprintf(w, "This node: %s (%s, term %d). Leader: %s.\n\n", st.NodeID, strings.ToLower(st.State), st.Term, leader)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSUFFRAGE\tROLE\tTERM\tAPPLIED\tLAG\tLAST CONTACT\tBINARY")
	for _, m := range st.Members {
		suffrage := "nonvoter"
		switch {
		case m.Voter:
			suffrage = "voter"
		case m.Staged:
			suffrage = "nonvoter (catching up, promotes to voter)"
		}
		id := m.ID
		if m.IsSelf {
			id += " *"
		}
		if !m.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t%s\tunreachable\t-\t-\t-\t-\t%s\n", id, m.Addr, suffrage, dash(m.Binary))
			continue
		}
		contact := "-"
		if m.State != "Leader" && m.LastContact >= 0 {
			contact = m.LastContact.Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", id, m.Addr, suffrage, strings.ToLower(m.State),
			m.Term, m.AppliedIndex, m.Lag, contact, dash(m.Binary))
	}
	tw.Flush()
	if !st.CertificateNotAfter.IsZero() {
		left := time.Until(st.CertificateNotAfter)
		fmt.Fprintf(w, "\nThis node's certificate is valid until %s (%d days).", st.CertificateNotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
		// The node renews by itself with a third of the life left (four
		// months of a year): less than that means renewal keeps failing.
		if left < 120*24*time.Hour {
			fmt.Fprint(w, " Automatic renewal is overdue: see the node's log, or renew it now with sportello cluster renew-cert.")
		}
		fmt.Fprintln(w)
	}
	for _, m := range st.Members {
		if !m.Reachable {
			fmt.Fprintf(w, "\n%s: %s\n", m.ID, m.Error)
		}
	}
}

// dash is s, or "-" when empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clusterAdminPost(args []string, op string, stdout, stderr io.Writer) int {
	c, pos, code := adminFlags(op, args, stderr, nil)
	if code >= 0 {
		return code
	}
	path := "/v1/cluster/" + op
	if op == "remove" {
		if len(pos) != 1 {
			clusterUsage(stderr)
			return exitUsage
		}
		path = "/v1/cluster/nodes/" + pos[0] + "/remove"
	} else if len(pos) > 0 {
		clusterUsage(stderr)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := c.do(ctx, http.MethodPost, path, struct{}{}, nil); err != nil {
		fmt.Fprintf(stderr, "sportello cluster %s: %v\n", op, err)
		return exitCodeFor(err)
	}
	fmt.Fprintf(stdout, "%s: done\n", op)
	return exitOK
}

// rotateTimeout bounds one rotate-ca request on the node, under the admin
// server's write timeout; a rotation that needs longer (a member down)
// stops, and running the command again resumes it.
const rotateTimeout = 50 * time.Second

// rotateAnswer is the answer of POST /v1/cluster/rotate-ca.
type rotateAnswer struct {
	Steps []string `json:"steps"`
}

func clusterRotateCA(args []string, stdout, stderr io.Writer) int {
	c, pos, code := adminFlags("rotate-ca", args, stderr, nil)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		clusterUsage(stderr)
		return exitUsage
	}
	// The node bounds the rotation (rotateTimeout); this only waits.
	c.http.Timeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), rotateTimeout+10*time.Second)
	defer cancel()
	var out rotateAnswer
	err := c.do(ctx, http.MethodPost, "/v1/cluster/rotate-ca", struct{}{}, &out)
	for _, s := range out.Steps {
		fmt.Fprintln(stdout, s)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sportello cluster rotate-ca: %v\n", err)
		return exitCodeFor(err)
	}
	fmt.Fprintln(stdout, "rotate-ca: done")
	return exitOK
}

// snapshotAnswer is the answer of POST /v1/cluster/snapshot.
type snapshotAnswer struct {
	SnapshotIndex uint64 `json:"snapshot_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	LastLogIndex  uint64 `json:"last_log_index"`
}

type tokenRequest struct {
	TTL   string `json:"ttl"`
	Voter bool   `json:"voter"`
}

type tokenAnswer struct {
	Token   string `json:"token"`
	TokenID string `json:"token_id"`
}

// clusterRoutes adds the cluster endpoints of the admin API.
func (a *adminServer) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/cluster/status", func(w http.ResponseWriter, r *http.Request) {
		view := clusterStatusView{Status: a.node.Status(), Members: a.node.Members(r.Context())}
		if id := a.node.Identity(); id != nil && id.Certificate.Leaf != nil {
			view.CertificateNotAfter = id.Certificate.Leaf.NotAfter
		}
		writeJSON(w, http.StatusOK, view)
	})
	mux.HandleFunc("POST /v1/cluster/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req tokenRequest
		if !a.decode(w, r, &req) {
			return
		}
		ttl, err := time.ParseDuration(req.TTL)
		if err != nil || ttl <= 0 {
			writeJSON(w, http.StatusBadRequest, adminError{Error: adminErrorBody{Code: "invalid", Message: "ttl: want a positive duration"}})
			return
		}
		tok, err := a.node.CreateToken(r.Context(), ttl, req.Voter)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, tokenAnswer{Token: tok.String(), TokenID: tok.ID})
	})
	mux.HandleFunc("POST /v1/cluster/leave", func(w http.ResponseWriter, r *http.Request) {
		if err := a.node.Leave(r.Context()); err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Info("left the cluster: stopping", "node", a.node.Config().NodeID)
		writeJSON(w, http.StatusOK, struct{}{})
		// The node no longer receives the log: serving would mean serving
		// an ageing copy. The process stops as on SIGTERM, after this
		// answer has gone out (the shutdown waits for admin requests).
		if a.shutdown != nil {
			a.shutdown()
		}
	})
	mux.HandleFunc("POST /v1/cluster/renew-cert", func(w http.ResponseWriter, r *http.Request) {
		// The node saves the certificate (Config.SaveIdentity) before it
		// uses it, from the next handshake on.
		id, err := a.node.RenewCertificate(r.Context())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if a.node.Config().SaveIdentity == nil {
			if err := pki.SaveIdentity(a.status().DataDir, id); err != nil {
				a.fail(w, r, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, struct {
			NotAfter time.Time `json:"not_after"`
		}{id.Certificate.Leaf.NotAfter})
	})
	mux.HandleFunc("POST /v1/cluster/rotate-ca", func(w http.ResponseWriter, r *http.Request) {
		var steps []string
		ctx, cancel := context.WithTimeout(r.Context(), rotateTimeout)
		defer cancel()
		if err := a.node.RotateCA(ctx, func(s string) { steps = append(steps, s) }); err != nil {
			a.log.Warn("CA rotation stopped", "steps", fmt.Sprint(steps), "err", err)
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rotateAnswer{Steps: steps})
	})
	mux.HandleFunc("POST /v1/cluster/snapshot", func(w http.ResponseWriter, r *http.Request) {
		// Nothing applied since the last snapshot is not a failure: the
		// newest snapshot is already what the operator asked for.
		if err := a.node.Snapshot(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			a.fail(w, r, err)
			return
		}
		st := a.node.Status()
		a.log.Info("snapshot taken on request", "snapshot_index", st.SnapshotIndex, "applied", st.AppliedIndex)
		writeJSON(w, http.StatusOK, snapshotAnswer{SnapshotIndex: st.SnapshotIndex, AppliedIndex: st.AppliedIndex, LastLogIndex: st.LastLogIndex})
	})
	mux.HandleFunc("POST /v1/cluster/nodes/{id}/remove", func(w http.ResponseWriter, r *http.Request) {
		if err := a.node.RemoveNode(r.Context(), r.PathValue("id")); err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	})
}
