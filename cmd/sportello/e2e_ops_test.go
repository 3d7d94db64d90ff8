package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// The operational end-to-end tests of the cluster: a node that was down
// catches up by snapshot, a node whose disk was wiped joins again, nodes
// leave, and a rolling upgrade to a build that knows one command more.
// Each starts three real processes on loopback (see TestCluster).

// opsCluster is a three-node loopback cluster of real processes with one
// Comune (bari) and one service, and the bookings made on it.
type opsCluster struct {
	t        *testing.T
	ids      []string
	dirs     []string
	cfgs     []string
	raft     []string
	procs    []*proc
	host     string
	svc      string
	citizen  int
	bookings []opsBooking
}

type opsBooking struct{ code, token string }

// startOpsCluster starts node1 with [cluster] init and joins node2 and
// node3 with `cluster token` and `cluster join`; knobs go into every
// node's [cluster] table.
func startOpsCluster(t *testing.T, knobs string) *opsCluster {
	t.Helper()
	return startOpsClusterBin(t, sportelloBin, knobs)
}

// startOpsClusterBin is startOpsCluster with the nodes running bin.
func startOpsClusterBin(t *testing.T, bin, knobs string) *opsCluster {
	t.Helper()
	c := &opsCluster{t: t, ids: []string{"node1", "node2", "node3"}, host: "bari.localhost", citizen: 1}
	c.dirs, c.cfgs, c.raft, c.procs = make([]string, 3), make([]string, 3), make([]string, 3), make([]*proc, 3)
	for i, id := range c.ids {
		c.dirs[i] = shortTempDir(t)
		c.raft[i] = freeAddr(t)
		table := "\n[cluster]\n" + knobs + "\n"
		if i == 0 {
			table += "init = true\nname = \"e2e\"\n"
		}
		c.cfgs[i] = clusterNodeConfig(t, c.dirs[i], id, c.raft[i], table)
	}
	c.procs[0] = startProcBin(t, bin, c.dirs[0], "serve", "--config", c.cfgs[0])
	for i := 1; i < 3; i++ {
		c.join(i, c.raft[0])
		c.procs[i] = startProcBin(t, bin, c.dirs[i], "serve", "--config", c.cfgs[i])
	}
	p := c.procs[0]
	svc := seedBari(t, p, c.dirs[0], 200)
	c.svc = svc.ID
	return c
}

// join runs `cluster token` on a running node and `cluster join` for node
// i against seed.
func (c *opsCluster) join(i int, seed string) {
	c.t.Helper()
	tok := c.token()
	if out, errOut, code := runCLI(c.t, "cluster", "join", "--config", c.cfgs[i], "--token", tok, seed); code != exitOK {
		c.t.Fatalf("cluster join %s: exit %d, stdout %q, stderr %q", c.ids[i], code, out, errOut)
	}
}

// token creates a join token on the first running node.
func (c *opsCluster) token() string {
	c.t.Helper()
	for i, p := range c.procs {
		if p == nil || !p.running() {
			continue
		}
		out, errOut, code := runCLI(c.t, "cluster", "token", "--data", c.dirs[i], "--ttl", "10m")
		tok := strings.TrimSpace(out)
		if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
			c.t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		return tok
	}
	c.t.Fatal("cluster token: no node runs")
	return ""
}

// running tells whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// status returns `cluster status --json` of node i, retrying until it
// names a leader.
func (c *opsCluster) status(i int) clusterStatusView {
	c.t.Helper()
	var st clusterStatusView
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, errOut, code := runCLI(c.t, "cluster", "status", "--data", c.dirs[i], "--json")
		if code == exitOK {
			st = clusterStatusView{}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				c.t.Fatalf("status JSON: %v\n%s", err, out)
			}
			if st.LeaderID != "" {
				return st
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster status of %s: exit %d, no leader: %s %s", c.ids[i], code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leader returns the index of the leader as node i sees it.
func (c *opsCluster) leader(i int) int {
	c.t.Helper()
	id := c.status(i).LeaderID
	for j, x := range c.ids {
		if x == id {
			return j
		}
	}
	c.t.Fatalf("leader %q is none of %v", id, c.ids)
	return -1
}

// book books one appointment through node i, retrying for a while (503
// during an election or while the node catches up).
func (c *opsCluster) book(i int) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, tok, status := clusterBook(c.t, c.procs[i], c.host, c.svc, c.citizen)
		if status == http.StatusCreated {
			c.bookings = append(c.bookings, opsBooking{code, tok})
			c.citizen++
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("booking through %s: status %d", c.ids[i], status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serveAll requires node i to serve every booking made so far.
func (c *opsCluster) serveAll(i int) {
	c.t.Helper()
	q := c.procs[i]
	for _, b := range c.bookings {
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := q.get(c.t, q.url(c.host, "/api/v1/bookings/"+b.code+"?token="+b.token))
			if r.Status == http.StatusOK && strings.Contains(r.Body, b.code) {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s: booking %s: status %d %s", c.ids[i], b.code, r.Status, r.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// running returns the processes that run, for waitIdentical.
func (c *opsCluster) running() []*proc {
	var ps []*proc
	for _, p := range c.procs {
		if p != nil && p.running() {
			ps = append(ps, p)
		}
	}
	return ps
}

// stopAll stops every running process cleanly.
func (c *opsCluster) stopAll() {
	for _, p := range c.running() {
		p.stop()
	}
}

// follower returns a node that does not lead.
func (c *opsCluster) follower(leader int) int { return (leader + 1) % 3 }

// snapshotOn runs `cluster snapshot` on node i.
func (c *opsCluster) snapshotOn(i int) snapshotAnswer {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, errOut, code := runCLI(c.t, "cluster", "snapshot", "--data", c.dirs[i]); code != exitOK {
		c.t.Fatalf("cluster snapshot on %s: exit %d, stdout %q, stderr %q", c.ids[i], code, out, errOut)
	}
	var st clusterStatusView
	if err := c.procs[i].admin.do(ctx, "GET", "/v1/cluster/status", nil, &st); err != nil {
		c.t.Fatal(err)
	}
	return snapshotAnswer{SnapshotIndex: st.SnapshotIndex, AppliedIndex: st.AppliedIndex, LastLogIndex: st.LastLogIndex}
}

// selfStatus is node i's own raft view through its admin socket.
func (c *opsCluster) selfStatus(i int) cluster.Status {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st clusterStatusView
	if err := c.procs[i].admin.do(ctx, "GET", "/v1/cluster/status", nil, &st); err != nil {
		c.t.Fatal(err)
	}
	return st.Status
}

// snapshotKnobs keep few entries after a snapshot, so that a node that
// missed more than that must receive the snapshot.
const snapshotKnobs = "trailing_logs = 4"

// TestOpsSnapshotCatchUp stops a follower, books while it is down, makes
// the leader snapshot and compact its log past what the follower has,
// restarts the follower and requires that it installed the leader's
// snapshot and serves every booking.
func TestOpsSnapshotCatchUp(t *testing.T) {
	needBinary(t)
	t.Parallel()
	start := time.Now()
	c := startOpsCluster(t, snapshotKnobs)
	for i := range c.procs {
		c.book(i)
	}
	leader := c.leader(0)
	f := c.follower(leader)
	other := 3 - leader - f
	waitIdentical(t, 20*time.Second, c.procs...)
	before := c.selfStatus(f)
	if before.SnapshotIndex != 0 {
		t.Fatalf("%s holds a snapshot at %d before the test made one", c.ids[f], before.SnapshotIndex)
	}
	c.procs[f].stop()

	for n := 0; n < 20; n++ {
		c.book([]int{leader, other}[n%2])
	}
	snap := c.snapshotOn(leader)
	if again := c.snapshotOn(leader); again.SnapshotIndex < snap.SnapshotIndex {
		t.Fatalf("second snapshot: got index %d, want at least %d", again.SnapshotIndex, snap.SnapshotIndex)
	}
	// After the snapshot the leader's log starts at LastLogIndex-4+1 at
	// the earliest: far past what the stopped follower has.
	if first := snap.LastLogIndex - 4 + 1; snap.SnapshotIndex == 0 || first <= before.AppliedIndex+1 {
		t.Fatalf("leader snapshot %+v does not compact past the follower's index %d", snap, before.AppliedIndex)
	}

	c.procs[f] = startProc(t, c.dirs[f], "serve", "--config", c.cfgs[f])
	after := c.selfStatus(f)
	if after.SnapshotIndex < snap.SnapshotIndex {
		t.Errorf("%s after restart: snapshot index %d, want at least the leader's %d (installed from the leader)",
			c.ids[f], after.SnapshotIndex, snap.SnapshotIndex)
	}
	if !strings.Contains(c.procs[f].stderr.String(), "Installed remote snapshot") {
		t.Errorf("%s's log does not show a snapshot install:\n%s", c.ids[f], tail(c.procs[f].stderr.String(), 30))
	}
	c.serveAll(f)
	c.book(f)
	waitIdentical(t, 20*time.Second, c.procs...)

	// Certificate renewal: a new certificate for the same key, used at
	// once and from the next start; the node talks to the others with it.
	old, err := pki.LoadIdentity(c.dirs[f])
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "cluster", "renew-cert", "--data", c.dirs[f]); code != exitOK {
		t.Fatalf("cluster renew-cert: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	renewed, err := pki.LoadIdentity(c.dirs[f])
	if err != nil {
		t.Fatal(err)
	}
	if o, n := old.Certificate.Leaf, renewed.Certificate.Leaf; o.SerialNumber.Cmp(n.SerialNumber) == 0 || n.NotAfter.Before(o.NotAfter) ||
		string(old.KeyPEM) != string(renewed.KeyPEM) {
		t.Errorf("renewed certificate: serial %v → %v, not after %v → %v, same key %v; want a new serial, a later expiry, the same key",
			o.SerialNumber, n.SerialNumber, o.NotAfter, n.NotAfter, string(old.KeyPEM) == string(renewed.KeyPEM))
	}
	// In use at once, without a restart: a new handshake with the node
	// (as another node of the cluster) gets the renewed certificate.
	peer, err := pki.LoadIdentity(c.dirs[other])
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tls.Dial("tcp", c.raft[f], pki.ClientConfig(peer.Pool, peer.Certificate, c.ids[f]))
	if err != nil {
		t.Fatalf("handshake with %s after renew-cert: %v", c.ids[f], err)
	}
	if got := tc.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(renewed.Certificate.Leaf.SerialNumber) != 0 {
		t.Errorf("%s presents serial %v after renew-cert, want the renewed %v", c.ids[f], got, renewed.Certificate.Leaf.SerialNumber)
	}
	tc.Close()
	c.book(f)

	// CA rotation, driven from the leader: every node ends on a
	// certificate of the new CA, trusting only it, saved on disk (the
	// restart below starts from it), and still books.
	if out, errOut, code := runCLI(t, "cluster", "rotate-ca", "--data", c.dirs[leader]); code != exitOK || !strings.Contains(out, "rotation done") {
		t.Fatalf("cluster rotate-ca: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	st := c.status(leader)
	newCA := ""
	for _, m := range st.Members {
		if newCA == "" {
			newCA = m.CAFingerprint
		}
		if m.CAFingerprint == pki.FingerprintOf(old.CA) || m.CAFingerprint != newCA || len(m.TrustedCAs) != 1 || m.TrustedCAs[0] != newCA {
			t.Errorf("after rotate-ca, %s presents CA %s and trusts %v; want the new CA only", m.ID, m.CAFingerprint, m.TrustedCAs)
		}
	}
	for i := range c.procs {
		saved, err := pki.LoadIdentity(c.dirs[i])
		if err != nil {
			t.Fatal(err)
		}
		if pki.FingerprintOf(saved.CA) != newCA {
			t.Errorf("%s saved a certificate of CA %s, want the new %s", c.ids[i], pki.FingerprintOf(saved.CA), newCA)
		}
		c.book(i)
	}
	c.procs[f].stop()
	c.procs[f] = startProc(t, c.dirs[f], "serve", "--config", c.cfgs[f])
	c.book(f)
	out, _, _ := runCLI(t, "cluster", "status", "--data", c.dirs[f])
	if !strings.Contains(out, "certificate is valid until "+renewed.Certificate.Leaf.NotAfter.UTC().Format(time.DateOnly)) {
		t.Errorf("cluster status does not show the renewed certificate's expiry:\n%s", out)
	}
	waitIdentical(t, 20*time.Second, c.procs...)
	c.stopAll()
	t.Logf("wall %v", time.Since(start).Round(time.Millisecond))
}

// TestOpsWipedNodeRejoins kills a follower, deletes its data dir, books
// and compacts the leader's log, and brings the node back under the same
// ID and address with a fresh `cluster join`: the leader replaces its
// membership entry, the node receives a snapshot and serves everything.
func TestOpsWipedNodeRejoins(t *testing.T) {
	needBinary(t)
	t.Parallel()
	start := time.Now()
	c := startOpsCluster(t, snapshotKnobs)
	for i := range c.procs {
		c.book(i)
	}
	leader := c.leader(0)
	f := c.follower(leader)
	other := 3 - leader - f
	c.procs[f].cmd.Process.Signal(syscall.SIGKILL)
	<-c.procs[f].exited
	entries, err := os.ReadDir(c.dirs[f])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(c.dirs[f], e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < 10; n++ {
		c.book([]int{leader, other}[n%2])
	}
	c.snapshotOn(leader)

	// The operator's procedure: a new token, `cluster join` with the same
	// configuration (node ID, raft address), then serve.
	c.join(f, c.raft[other])
	before := len(c.procs[leader].stderr.String())
	c.procs[f] = startProc(t, c.dirs[f], "serve", "--config", c.cfgs[f])
	if !strings.Contains(c.procs[leader].stderr.String(), "known node joins again") {
		t.Errorf("the leader's log does not show the rejoin of %s:\n%s", c.ids[f], tail(c.procs[leader].stderr.String(), 20))
	}
	// The rejoin is staged: the wiped node, empty, is demoted to a
	// non-voter, catches up, and only then is promoted again; its serve
	// reports ready once it votes.
	rejoin := c.procs[leader].stderr.String()[before:]
	staged, promoted := strings.Index(rejoin, "node staged: added as a non-voter"), strings.Index(rejoin, "staged node promoted to voter")
	if staged < 0 || promoted < staged || !strings.Contains(rejoin[staged:], `"server":"`+c.ids[f]+`"`) {
		t.Errorf("the leader's log since the rejoin does not show %s staged, then promoted:\n%s", c.ids[f], tail(rejoin, 20))
	}
	if log := c.procs[f].stderr.String(); !strings.Contains(log, "added as a non-voter") || !strings.Contains(log, `"msg":"promoted to voter"`) {
		t.Errorf("%s's log does not show it was staged, then promoted:\n%s", c.ids[f], tail(log, 30))
	}
	if !strings.Contains(c.procs[f].stderr.String(), "Installed remote snapshot") {
		t.Errorf("%s's log does not show a snapshot install:\n%s", c.ids[f], tail(c.procs[f].stderr.String(), 30))
	}
	st := c.status(f)
	voters := 0
	for _, m := range st.Members {
		if !m.Reachable {
			t.Errorf("member %s unreachable: %s", m.ID, m.Error)
		}
		if m.Voter {
			voters++
		}
	}
	if len(st.Members) != 3 || voters != 3 {
		t.Errorf("after the rejoin: %d members, %d voters, want 3 and 3: %+v", len(st.Members), voters, st.Members)
	}
	c.serveAll(f)
	c.book(f)
	c.book(f)
	waitIdentical(t, 20*time.Second, c.procs...)
	c.stopAll()
	t.Logf("wall %v", time.Since(start).Round(time.Millisecond))
}

// healthzOf reads the public /healthz of p.
func healthzOf(t *testing.T, p *proc) map[string]any {
	t.Helper()
	r := p.get(t, "http://"+p.HTTPAddr+"/healthz")
	if r.Status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", r.Status, r.Body)
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(r.Body), &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, r.Body)
	}
	return h
}

// TestOpsLeave has a follower leave (it stops, the others no longer list
// it, the remaining two book), then the leader leave (it hands its
// leadership over first; the last node books alone). It also reads
// /healthz, which names the leader and says whether the node is stale,
// and takes a --consistent backup on a follower.
func TestOpsLeave(t *testing.T) {
	needBinary(t)
	t.Parallel()
	start := time.Now()
	c := startOpsCluster(t, "")
	for i := range c.procs {
		c.book(i)
	}
	leader := c.leader(0)
	f := c.follower(leader)
	other := 3 - leader - f

	h := healthzOf(t, c.procs[f])
	if h["leader"] != c.ids[leader] || h["stale"] != false || h["is_leader"] != false || h["node"] != c.ids[f] {
		t.Errorf("/healthz of follower %s: got %v, want leader %s, stale false, is_leader false", c.ids[f], h, c.ids[leader])
	}

	// A consistent backup on the follower holds every write the leader
	// had applied when it was asked.
	c.book(leader)
	var ls nodeStatus
	c.procs[leader].adminDo(t, "GET", "/v1/status", nil, &ls)
	out, errOut, code := runCLI(t, "backup", "--consistent", "--json", "--data", c.dirs[f], filepath.Join(t.TempDir(), "b.tar"))
	if code != exitOK {
		t.Fatalf("backup --consistent: exit %d, stderr %q", code, errOut)
	}
	var info cluster.BackupInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("backup manifest: %v\n%s", err, out)
	}
	if info.AppliedIndex < ls.AppliedIndex {
		t.Errorf("backup --consistent on %s: applied index %d, want at least the leader's %d", c.ids[f], info.AppliedIndex, ls.AppliedIndex)
	}

	if out, errOut, code := runCLI(t, "cluster", "leave", "--data", c.dirs[f]); code != exitOK {
		t.Fatalf("cluster leave on %s: exit %d, stdout %q, stderr %q", c.ids[f], code, out, errOut)
	}
	select {
	case <-c.procs[f].exited:
		if c.procs[f].exitErr != nil {
			t.Errorf("%s exited with %v after leaving", c.ids[f], c.procs[f].exitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still runs 30s after leaving", c.ids[f])
	}
	for _, i := range []int{leader, other} {
		st := c.status(i)
		for _, m := range st.Members {
			if m.ID == c.ids[f] {
				t.Errorf("%s still lists %s after it left: %+v", c.ids[i], c.ids[f], st.Members)
			}
		}
		if len(st.Members) != 2 {
			t.Errorf("%s lists %d members, want 2", c.ids[i], len(st.Members))
		}
	}
	c.book(leader)
	c.book(other)
	waitIdentical(t, 20*time.Second, c.procs[leader], c.procs[other])

	// The leader leaves: leadership moves to the last node first.
	if out, errOut, code := runCLI(t, "cluster", "leave", "--data", c.dirs[leader]); code != exitOK {
		t.Fatalf("cluster leave on the leader %s: exit %d, stdout %q, stderr %q", c.ids[leader], code, out, errOut)
	}
	select {
	case <-c.procs[leader].exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still runs 30s after leaving", c.ids[leader])
	}
	if !strings.Contains(c.procs[leader].stderr.String(), "leadership handed over") {
		t.Errorf("the old leader's log does not mention a leadership transfer:\n%s", tail(c.procs[leader].stderr.String(), 20))
	}
	st := c.status(other)
	if st.LeaderID != c.ids[other] || len(st.Members) != 1 {
		t.Errorf("after the leader left: leader %q, %d members; want %s alone", st.LeaderID, len(st.Members), c.ids[other])
	}
	c.book(other)
	c.serveAll(other)
	c.procs[other].stop()
	t.Logf("wall %v", time.Since(start).Round(time.Millisecond))
}

// probeTag is the build tag of the "next version" binary: it knows the
// command type probeCommand, which the product binary does not.
const (
	probeTag     = "sportello_upgrade_probe"
	probeCommand = "upgradeprobe.note"
)

// buildProbe builds the binary with probeTag into a temporary folder.
func buildProbe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sportello-next")
	args := []string{"build", "-tags", probeTag, "-o", bin, "-ldflags", "-X main.version=9.9.10-e2e -X main.commit=" + e2eCommit}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("build the probe binary: %v\n%s", err, out.String())
	}
	return bin
}

// startProcBin is startProc with another binary.
func startProcBin(t *testing.T, bin, dataDir string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dataDir: dataDir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s %v stderr (tail):\n%s", filepath.Base(bin), args, tail(p.stderr.String(), 40))
		}
	})
	p.admin = newAdminClient(dataDir)
	deadline := time.Now().Add(60 * time.Second)
	var st nodeStatus
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.admin.do(ctx, "GET", "/v1/status", nil, &st)
		cancel()
		if err == nil {
			break
		}
		if !p.running() {
			t.Fatalf("%s exited before serving (%v); stderr:\n%s", bin, p.exitErr, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not serve within 60s: %v", bin, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.HTTPAddr = st.HTTPAddr
	p.client = p.newClient(0)
	return p
}

// proposeProbe asks node p (a probe binary) to propose the probe command
// and returns the HTTP status and the error body.
func proposeProbe(t *testing.T, p *proc, text string) (int, adminErrorBody) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.admin.do(ctx, "POST", "/v1/probe/notes", map[string]string{"text": text}, nil)
	if err == nil {
		return http.StatusOK, adminErrorBody{}
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("probe: %v", err)
	}
	return ae.Status, ae.adminErrorBody
}

// TestOpsRollingUpgrade upgrades a cluster of three product binaries to
// the probe build one node at a time, followers first (set
// SPORTELLO_E2E_OLD_BIN to start from a previous release's binary). While the leader
// runs the old binary it refuses the new command loudly (unknown type);
// once a new node leads but an old member remains, the version gate
// refuses it naming that member; with all three upgraded it is applied
// everywhere. The product binary does not contain the probe.
func TestOpsRollingUpgrade(t *testing.T) {
	needBinary(t)
	t.Parallel()
	start := time.Now()
	next := buildProbe(t)
	for bin, want := range map[string]bool{sportelloBin: false, next: true} {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte(probeCommand)); got != want {
			t.Fatalf("%s contains %q: %v, want %v", bin, probeCommand, got, want)
		}
	}
	// SPORTELLO_E2E_OLD_BIN names an older product binary (a previous
	// release) to upgrade from instead of this tree's.
	oldBin := sportelloBin
	if b := os.Getenv("SPORTELLO_E2E_OLD_BIN"); b != "" {
		oldBin = b
		t.Logf("upgrading from %s", b)
	}
	c := startOpsClusterBin(t, oldBin, "")
	for i := range c.procs {
		c.book(i)
	}
	leader := c.leader(0)
	order := []int{c.follower(leader), 3 - leader - c.follower(leader)}

	upgrade := func(i int) {
		t.Helper()
		c.procs[i].stop()
		c.procs[i] = startProcBin(t, next, c.dirs[i], "serve", "--config", c.cfgs[i])
	}
	for n, f := range order {
		upgrade(f)
		code, body := proposeProbe(t, c.procs[f], fmt.Sprintf("through %s", c.ids[f]))
		if code != http.StatusConflict || body.Code != "unknown_command" || !strings.Contains(body.Message, probeCommand) {
			t.Fatalf("probe command with %d of 3 upgraded (old leader %s): got %d %+v, want 409 unknown_command", n+1, c.ids[leader], code, body)
		}
		c.book(f)
		waitIdentical(t, 20*time.Second, c.running()...)
	}

	// The old leader goes: a new node leads, the old one is still a member.
	c.procs[leader].stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := proposeProbe(t, c.procs[order[0]], "old member still there")
		if code == http.StatusConflict && body.Code == "not_supported" {
			if !strings.Contains(body.Message, c.ids[leader]) || !strings.Contains(body.Message, e2eVersion) {
				t.Errorf("refusal does not name the old member %s and its binary %s: %s", c.ids[leader], e2eVersion, body.Message)
			}
			t.Logf("refused while %s is old: %s", c.ids[leader], body.Message)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the old leader stopped: got %d %+v, want 409 not_supported naming %s", code, body, c.ids[leader])
		}
		time.Sleep(200 * time.Millisecond)
	}

	c.procs[leader] = startProcBin(t, next, c.dirs[leader], "serve", "--config", c.cfgs[leader])
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, body := proposeProbe(t, c.procs[leader], "all upgraded")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with every node upgraded: got %d %+v, want 200", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range c.procs {
		c.book(i)
	}
	for i := range c.procs {
		c.serveAll(i)
	}
	waitIdentical(t, 20*time.Second, c.procs...)
	c.stopAll()
	t.Logf("wall %v", time.Since(start).Round(time.Millisecond))
}
