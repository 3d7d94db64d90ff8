package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// clusterNodeConfig writes the configuration of node id of a loopback
// cluster: a fixed raft port (the address is in the raft configuration,
// so it must survive restarts) and any HTTP port.
func clusterNodeConfig(t *testing.T, dataDir, id, raftAddr, extra string) string {
	t.Helper()
	body := fmt.Sprintf(`data_dir = %q
node_id = %q
listen = "127.0.0.1:0"
raft_addr = %q
base_domain = "localhost"

[log]
level = "info"
format = "json"

[rate_limit]
bookings_per_minute = -1

[mail]
delivery = "mailbox"
%s`, dataDir, id, raftAddr, extra)
	path := filepath.Join(t.TempDir(), id+".toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	// A port the kernel hands out for port 0 comes from the ephemeral
	// range, which every outgoing connection of every parallel test (and
	// the SFU's and TURN's sockets) also draws from: between this probe
	// and the process binding it, another socket can take it. Ports below
	// the ephemeral range are only ever taken on purpose, so a random one
	// there that binds now stays free in practice.
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		// The same port must be free for UDP too (TURN listens on both).
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			ln.Close()
			continue
		}
		pc.Close()
		ln.Close()
		return addr
	}
	t.Fatal("no free port between 20000 and 32000")
	return ""
}

// TestCluster starts node1 with [cluster] init, joins node2 and node3 with
// `cluster token` and `cluster join`, books through each node, kills the
// leader, books on the others, restarts it and compares what every node
// serves.
func TestCluster(t *testing.T) {
	needBinary(t)
	t.Parallel()
	ids := []string{"node1", "node2", "node3"}
	dirs := make([]string, 3)
	cfgs := make([]string, 3)
	raft := make([]string, 3)
	for i, id := range ids {
		dirs[i] = shortTempDir(t)
		raft[i] = freeAddr(t)
		extra := ""
		if i == 0 {
			extra = "\n[cluster]\ninit = true\nname = \"e2e\"\n"
		}
		cfgs[i] = clusterNodeConfig(t, dirs[i], id, raft[i], extra)
	}
	procs := make([]*proc, 3)
	procs[0] = startProc(t, dirs[0], "serve", "--config", cfgs[0])

	for i := 1; i < 3; i++ {
		out, errOut, code := runCLI(t, "cluster", "token", "--data", dirs[0], "--ttl", "10m")
		tok := strings.TrimSpace(out)
		if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
			t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if i == 1 {
			if out, errOut, code := runCLI(t, "cluster", "join", "--config", cfgs[i], "--token", tok, raft[0]); code != exitOK {
				t.Fatalf("cluster join %s: exit %d, stdout %q, stderr %q", ids[i], code, out, errOut)
			}
		} else {
			// node3 joins through its configuration, at its first start.
			cfgs[i] = clusterNodeConfig(t, dirs[i], ids[i], raft[i],
				fmt.Sprintf("\n[cluster]\njoin_token = %q\njoin_addr = %q\n", tok, raft[1]))
			procs[i] = startProc(t, dirs[i], "serve", "--config", cfgs[i])
		}
		// The token is single use.
		if _, errOut, code := runCLI(t, "cluster", "join", "--config", clusterNodeConfig(t, shortTempDir(t), "intruder", freeAddr(t), ""), "--token", tok, raft[0]); code != exitFailure || !strings.Contains(errOut, "already used") {
			t.Fatalf("second join with one token: exit %d, stderr %q; want %d and already used", code, errOut, exitFailure)
		}
		if procs[i] == nil {
			procs[i] = startProc(t, dirs[i], "serve", "--config", cfgs[i])
		}
	}

	out, errOut, code := runCLI(t, "cluster", "status", "--data", dirs[0], "--json")
	if code != exitOK {
		t.Fatalf("cluster status: exit %d, stderr %q", code, errOut)
	}
	var st cluster.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	voters := 0
	for _, s := range st.Servers {
		if s.Voter {
			voters++
		}
	}
	if voters != 3 {
		t.Fatalf("cluster status: got %d voters, want 3:\n%s", voters, out)
	}

	// The key that seals client secrets was made at init and reached
	// node2 in its join answer from node1, and node3 in its answer from
	// node2: every node holds the same one, readable by the owner only.
	var keys [3][]byte
	for i, dir := range dirs {
		path := filepath.Join(dir, auth.SecretsFile)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %s: %v, mode %v; want it, 0600", ids[i], auth.SecretsFile, err, fi)
		}
		if keys[i], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	if len(keys[0]) == 0 || !bytes.Equal(keys[0], keys[1]) || !bytes.Equal(keys[0], keys[2]) {
		t.Errorf("secrets keys differ across the nodes: %q %q %q", keys[0], keys[1], keys[2])
	}

	// The Comune, office and service, through node1; replicated.
	p := procs[0]
	svc := seedBari(t, p, dirs[0], 50)
	host := "bari.localhost"

	type made struct{ code, token string }
	var bookings []made
	citizen := 1
	book := func(q *proc, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			c, tok, status := clusterBook(t, q, host, svc.ID, citizen)
			if status == http.StatusCreated {
				bookings = append(bookings, made{c, tok})
				citizen++
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("booking on %s: status %d after %v", q.dataDir, status, within)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, q := range procs {
		book(q, 10*time.Second)
	}

	// Kill the leader: the others elect a new one and keep booking.
	leader := -1
	for i, id := range ids {
		if id == st.LeaderID {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("status names leader %q, not one of %v", st.LeaderID, ids)
	}
	procs[leader].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[leader].exited
	killedAt := time.Now()
	for i, q := range procs {
		if i != leader {
			book(q, 15*time.Second)
		}
	}
	t.Logf("bookings resumed %v after the leader was killed", time.Since(killedAt).Round(time.Millisecond))

	// `cluster status` on a survivor: every member with its role, term,
	// applied index and lag; the killed one unreachable.
	other := (leader + 1) % 3
	out, errOut, code = runCLI(t, "cluster", "status", "--data", dirs[other])
	if code != exitOK {
		t.Fatalf("cluster status: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"ROLE", "TERM", "APPLIED", "LAG", ids[leader] + " ", "unreachable", ids[other] + " *", "leader", "follower"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster status lacks %q:\n%s", want, out)
		}
	}

	procs[leader] = startProc(t, dirs[leader], "serve", "--config", cfgs[leader])
	book(procs[leader], 15*time.Second)

	// Every node serves every booking.
	for i, q := range procs {
		for _, b := range bookings {
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := q.get(t, q.url(host, "/api/v1/bookings/"+b.code+"?token="+b.token))
				if r.Status == http.StatusOK && strings.Contains(r.Body, b.code) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: booking %s: status %d %s", ids[i], b.code, r.Status, r.Body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}

	// Every node holds the same rows.
	waitIdentical(t, 20*time.Second, procs...)

	// Remove a follower for good: it leaves the configuration (and its
	// certificate is refused from then on). The removal needs a leader,
	// so it is not the leader that goes.
	var now cluster.Status
	for deadline := time.Now().Add(10 * time.Second); now.LeaderID == ""; {
		out, _, _ := runCLI(t, "cluster", "status", "--data", dirs[0], "--json")
		json.Unmarshal([]byte(out), &now)
		if time.Now().After(deadline) {
			t.Fatalf("no leader after the restart:\n%s", out)
		}
	}
	victim, remover := -1, -1
	for i, id := range ids {
		switch {
		case id != now.LeaderID && victim < 0:
			victim = i
		case remover < 0:
			remover = i
		}
	}
	if out, errOut, code := runCLI(t, "cluster", "remove", "--data", dirs[remover], ids[victim]); code != exitOK {
		t.Fatalf("cluster remove %s: exit %d, stdout %q, stderr %q", ids[victim], code, out, errOut)
	}
	procs[victim].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[victim].exited
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _, _ = runCLI(t, "cluster", "status", "--data", dirs[remover])
		if !strings.Contains(out, ids[victim]) && strings.Contains(out, ids[remover]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after removing %s:\n%s", ids[victim], out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, q := range procs {
		if i != victim {
			q.stop()
		}
	}
}

// clusterBook books the first free slot of svc on q for citizen i; it
// returns the HTTP status (503 while the cluster has no leader).
func clusterBook(t *testing.T, q *proc, host, svc string, i int) (code, token string, status int) {
	t.Helper()
	today := civil.DateOf(time.Now())
	r := q.get(t, q.url(host, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", svc, today, today.AddDays(30))))
	if r.Status != http.StatusOK {
		return "", "", r.Status
	}
	var slots struct {
		Slots []struct {
			Start string `json:"start"`
		} `json:"slots"`
	}
	if err := json.Unmarshal([]byte(r.Body), &slots); err != nil || len(slots.Slots) == 0 {
		t.Fatalf("slots: %v %s", err, r.Body)
	}
	r = q.postJSON(t, q.url(host, "/api/v1/bookings"), bookingRequest(svc, slots.Slots[0].Start, i))
	if r.Status != http.StatusCreated {
		return "", "", r.Status
	}
	var created struct {
		Code      string `json:"code"`
		ManageURL string `json:"manage_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &created); err != nil {
		t.Fatal(err)
	}
	return created.Code, tokenOf(t, created.ManageURL), r.Status
}
