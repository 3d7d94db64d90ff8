package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// status is the part of the admin API's GET /v1/status loadgen needs.
type status struct {
	NodeID string `json:"node_id"`
	Leader bool   `json:"leader"`
	// AppliedIndex is the last raft index applied to the node's SQLite.
	AppliedIndex uint64 `json:"applied_index"`
	Version      string `json:"version"`
	HTTPAddr     string `json:"http_addr"`
	BaseDomain   string `json:"base_domain"`
}

// node is the sportello node under load: started by loadgen (cmd set) or
// already running.
type node struct {
	dataDir string
	status  status
	admin   *http.Client
	cmd     *exec.Cmd
	exited  chan error
	cleanup []func()
}

// adminHTTP returns a client of the admin socket of dataDir.
func adminHTTP(dataDir string) *http.Client {
	sock := filepath.Join(dataDir, "admin.sock")
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
}

// adminCall sends in as JSON to the admin API and decodes the answer into
// out; an answer of 300 or more is an error carrying its body.
func (n *node) adminCall(ctx context.Context, method, path string, in, out any) (int, error) {
	return n.adminCallTimeout(ctx, 30*time.Second, method, path, in, out)
}

// adminCallTimeout is adminCall with its own timeout.
func (n *node) adminCallTimeout(ctx context.Context, timeout time.Duration, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sportello"+path, body)
	if err != nil {
		return 0, err
	}
	client := *n.admin
	client.Timeout = timeout
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("admin %s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("admin %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// targetNode connects to the node running on dataDir.
func targetNode(ctx context.Context, dataDir string) (*node, error) {
	n := &node{dataDir: dataDir, admin: adminHTTP(dataDir)}
	if _, err := n.adminCall(ctx, "GET", "/v1/status", nil, &n.status); err != nil {
		return nil, fmt.Errorf("no node answers on %s: %w", filepath.Join(dataDir, "admin.sock"), err)
	}
	return n, nil
}

// buildSportello builds the sportello binary into dir unless bin names one.
func buildSportello(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "sportello")
	fmt.Fprintln(os.Stderr, "loadgen: building sportello")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sportello-virtuale/sportello/cmd/sportello")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build sportello (or pass -sportello): %w", err)
	}
	return bin, nil
}

// nodeConfig is the configuration of bench node id: no rate limit, a
// fixed raft address (other nodes dial it), email to the SMTP server at
// smtpPort (0: kept in the node's mailbox) and clusterTable appended (the
// [cluster] table, or "").
func nodeConfig(dataDir, id, raftAddr string, smtpPort int, clusterTable string) string {
	mail := "[mail]\ndelivery = \"mailbox\"\n"
	if smtpPort > 0 {
		mail = fmt.Sprintf("[mail]\ndelivery = \"smtp\"\n[smtp]\nhost = \"127.0.0.1\"\nport = %d\nsecurity = \"none\"\n", smtpPort)
	}
	return fmt.Sprintf(`data_dir = %q
node_id = %q
listen = "127.0.0.1:0"
raft_addr = %q
base_domain = "localhost"
[log]
level = "warn"
[rate_limit]
bookings_per_minute = -1
%s%s`, dataDir, id, raftAddr, mail, clusterTable)
}

// startNode starts `sportello serve` with the configuration config in a
// new folder under parent and waits until its admin socket answers.
func startNode(ctx context.Context, bin, parent, id string, config func(dataDir string) string) (*node, error) {
	dir, err := os.MkdirTemp(parent, "sportello-bench-"+id+"-")
	if err != nil {
		return nil, err
	}
	n := &node{cleanup: []func(){func() { os.RemoveAll(dir) }}}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "sportello.toml")
	if err := os.WriteFile(cfg, []byte(config(data)), 0o600); err != nil {
		n.Close()
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "sportello.log"))
	if err != nil {
		n.Close()
		return nil, err
	}
	n.cmd = exec.Command(bin, "serve", "--config", cfg)
	n.cmd.Stdout, n.cmd.Stderr = log, log
	if err := n.cmd.Start(); err != nil {
		log.Close()
		n.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n.exited = make(chan error, 1)
	go func() { n.exited <- n.cmd.Wait(); log.Close() }()
	n.dataDir = data
	n.admin = adminHTTP(data)

	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := n.adminCall(ctx, "GET", "/v1/status", nil, &n.status); err == nil {
			return n, nil
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			n.Close()
			return nil, fmt.Errorf("sportello %s exited at start (%v); see %s", id, err, log.Name())
		case <-ctx.Done():
			n.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.Close()
			return nil, fmt.Errorf("sportello %s did not start within 60s", id)
		}
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startCluster starts size nodes under parent: the first creates the
// cluster, the others join it with a token each, as voters; they send
// email to the SMTP server on smtpPort (0: to their mailbox). It waits
// until every node is a voter and knows the leader.
func startCluster(ctx context.Context, bin, parent string, size, smtpPort int, keep bool) (_ fleet, err error) {
	var f fleet
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	var first string
	for i := 1; i <= size; i++ {
		id := fmt.Sprintf("bench%d", i)
		raftAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		table := "[cluster]\ninit = true\nname = \"bench\"\n"
		if i > 1 {
			var tok struct {
				Token string `json:"token"`
			}
			if _, err := f[0].adminCall(ctx, "POST", "/v1/cluster/tokens", map[string]any{"ttl": "10m", "voter": true}, &tok); err != nil {
				return nil, fmt.Errorf("join token: %w", err)
			}
			table = fmt.Sprintf("[cluster]\njoin_token = %q\njoin_addr = %q\n", tok.Token, first)
		} else {
			first = raftAddr
		}
		n, err := startNode(ctx, bin, parent, id, func(data string) string { return nodeConfig(data, id, raftAddr, smtpPort, table) })
		if err != nil {
			return nil, err
		}
		if keep {
			n.cleanup = nil
			fmt.Fprintf(os.Stderr, "loadgen: keeping %s\n", filepath.Dir(n.dataDir))
		}
		f = append(f, n)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		for _, n := range f {
			var st struct {
				LeaderID string
				Servers  []struct{ Voter bool }
			}
			_, err := n.adminCall(ctx, "GET", "/v1/cluster/status", nil, &st)
			voters := 0
			for _, s := range st.Servers {
				if s.Voter {
					voters++
				}
			}
			ready = ready && err == nil && st.LeaderID != "" && voters == size
		}
		if ready {
			return f, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the %d nodes did not form a cluster within 60s", size)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fleet is the nodes of one cluster under load.
type fleet []*node

// leader returns the node that leads now (nil if none answers so).
func (f fleet) leader(ctx context.Context) *node {
	for _, n := range f {
		var st status
		if _, err := n.adminCall(ctx, "GET", "/v1/status", nil, &st); err == nil && st.Leader {
			return n
		}
	}
	return nil
}

// waitCaughtUp waits, at most timeout, until every node has applied what
// the most advanced one had applied when it was called, and returns how
// long that took and the largest gap in log entries it saw at the start.
// A follower applies after the leader has answered, so at the end of a
// level it may still hold work of the level: the level is not over, for
// the CPU and for the rate, until that work is done.
func (f fleet) waitCaughtUp(ctx context.Context, timeout time.Duration) (time.Duration, uint64, error) {
	start := time.Now()
	applied := func() ([]uint64, error) {
		out := make([]uint64, len(f))
		for i, n := range f {
			var st status
			if _, err := n.adminCall(ctx, "GET", "/v1/status", nil, &st); err != nil {
				return nil, fmt.Errorf("status of node %d: %w", i+1, err)
			}
			out[i] = st.AppliedIndex
		}
		return out, nil
	}
	first, err := applied()
	if err != nil {
		return 0, 0, err
	}
	target := slices.Max(first)
	lag := target - slices.Min(first)
	for cur := first; slices.Min(cur) < target; {
		if time.Since(start) > timeout {
			return time.Since(start), lag, fmt.Errorf("a node is still behind index %d after %v", target, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), lag, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if cur, err = applied(); err != nil {
			return time.Since(start), lag, err
		}
	}
	return time.Since(start), lag, nil
}

// Close stops every node.
func (f fleet) Close() {
	for _, n := range f {
		n.Close()
	}
}

// Close stops a node loadgen started (SIGTERM, then kill after 30s) and
// removes its files unless asked to keep them.
func (n *node) Close() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		n.cmd = nil
	}
	for i := len(n.cleanup) - 1; i >= 0; i-- {
		n.cleanup[i]()
	}
	n.cleanup = nil
}

// waitOutboxDrained waits until the node has no pending outbox item (every
// email of the bookings made so far delivered), at most timeout, and
// returns how long it waited. A level that starts while the node still
// delivers the emails of the previous one shares the CPU with that work.
func (n *node) waitOutboxDrained(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		var out struct {
			Items []json.RawMessage `json:"items"`
		}
		if _, err := n.adminCall(ctx, "GET", "/v1/outbox?status=pending&limit=1", nil, &out); err != nil {
			return time.Since(start), err
		}
		if len(out.Items) == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("outbox still has pending items after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
