package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// status is the part of the admin API's GET /v1/status loadgen needs.
type status struct {
	NodeID     string `json:"node_id"`
	Version    string `json:"version"`
	HTTPAddr   string `json:"http_addr"`
	BaseDomain string `json:"base_domain"`
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
	resp, err := n.admin.Do(req)
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

// startNode starts `sportello serve` on a new data dir under parent, with
// no rate limit and email kept in the node's mailbox, and waits until it
// serves.
func startNode(ctx context.Context, bin, parent string, keep bool) (*node, error) {
	n := &node{}
	dataDir, err := os.MkdirTemp(parent, "sportello-bench-")
	if err != nil {
		return nil, err
	}
	n.dataDir = dataDir
	if !keep {
		n.cleanup = append(n.cleanup, func() { os.RemoveAll(dataDir) })
	} else {
		fmt.Fprintf(os.Stderr, "loadgen: keeping %s\n", dataDir)
	}
	if bin == "" {
		bin = filepath.Join(dataDir, "sportello")
		fmt.Fprintln(os.Stderr, "loadgen: building sportello")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sportello-virtuale/sportello/cmd/sportello")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			n.Close()
			return nil, fmt.Errorf("build sportello (or pass -sportello): %w", err)
		}
	}
	cfg := filepath.Join(dataDir, "sportello.toml")
	data := filepath.Join(dataDir, "data")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = %q
node_id = "bench1"
listen = "127.0.0.1:0"
raft_addr = "127.0.0.1:0"
base_domain = "localhost"
[log]
level = "warn"
[rate_limit]
bookings_per_minute = -1
[mail]
delivery = "mailbox"
`, data)), 0o600); err != nil {
		n.Close()
		return nil, err
	}
	log, err := os.Create(filepath.Join(dataDir, "sportello.log"))
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
			return nil, fmt.Errorf("sportello exited at start (%v); see %s", err, log.Name())
		case <-ctx.Done():
			n.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.Close()
			return nil, errors.New("sportello did not start within 60s")
		}
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
