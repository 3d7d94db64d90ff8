package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	_ "github.com/mattn/go-sqlite3"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/internal/lincheck"
)

// chaosLong selects the long form of the chaos test, for manual runs:
//
//	go test -count=1 -run Chaos -v ./cmd/sportello -chaos.long
var chaosLong = flag.Bool("chaos.long", false, "run the chaos test for several rounds of faults (about 2 minutes of load)")

// chaosCapacity is the capacity of the chaos test's service: small, so
// that the clients contend for every place.
const chaosCapacity = 2

// chaosCluster is the chaos test's three processes, on fixed raft and
// HTTP addresses so that a restarted node comes back where the clients
// and the other nodes look for it.
type chaosCluster struct {
	t     *testing.T
	ids   []string
	dirs  []string
	cfgs  []string
	procs []*proc
}

// startChaosCluster starts node1 with [cluster] init, then node2 and node3
// joining it through their configuration, all with --fault-injection.
func startChaosCluster(t *testing.T) *chaosCluster {
	t.Helper()
	c := &chaosCluster{t: t, ids: []string{"node1", "node2", "node3"}}
	raft := make([]string, 3)
	for i, id := range c.ids {
		c.dirs = append(c.dirs, shortTempDir(t))
		raft[i] = freeAddr(t)
		extra := ""
		if i == 0 {
			extra = "\n[cluster]\ninit = true\nname = \"chaos\"\n"
		}
		c.cfgs = append(c.cfgs, chaosNodeConfig(t, c.dirs[i], id, raft[i], extra))
	}
	c.procs = make([]*proc, 3)
	c.start(0)
	for i := 1; i < 3; i++ {
		out, errOut, code := runCLI(t, "cluster", "token", "--data", c.dirs[0], "--ttl", "10m")
		tok := strings.TrimSpace(out)
		if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
			t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		c.cfgs[i] = chaosNodeConfig(t, c.dirs[i], c.ids[i], raft[i],
			fmt.Sprintf("\n[cluster]\njoin_token = %q\njoin_addr = %q\n", tok, raft[0]))
		c.start(i)
	}
	return c
}

// chaosNodeConfig is clusterNodeConfig with a fixed HTTP address.
func chaosNodeConfig(t *testing.T, dataDir, id, raftAddr, extra string) string {
	t.Helper()
	path := clusterNodeConfig(t, dataDir, id, raftAddr, extra)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", freeAddr(t)), 1)
	s = strings.Replace(s, `level = "info"`, `level = "warn"`, 1)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// start starts node i (again) with fault injection on.
func (c *chaosCluster) start(i int) {
	c.t.Helper()
	c.procs[i] = startProc(c.t, c.dirs[i], "serve", "--config", c.cfgs[i], "--fault-injection")
}

// kill sends SIGKILL to node i and waits for it to die.
func (c *chaosCluster) kill(i int) {
	c.t.Helper()
	c.procs[i].cmd.Process.Signal(syscall.SIGKILL)
	<-c.procs[i].exited
}

// baseURLs are the HTTP base URLs of the nodes; they stay valid across
// restarts.
func (c *chaosCluster) baseURLs() []string {
	var out []string
	for _, p := range c.procs {
		out = append(out, "http://"+p.HTTPAddr)
	}
	return out
}

// alive reports whether node i's process runs.
func (c *chaosCluster) alive(i int) bool {
	select {
	case <-c.procs[i].exited:
		return false
	default:
		return true
	}
}

// leader waits until exactly one of the nodes among candidates says it
// leads and returns its index.
func (c *chaosCluster) leader(within time.Duration, candidates ...int) int {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var leaders []int
		for _, i := range candidates {
			if !c.alive(i) {
				continue
			}
			var st nodeStatus
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := c.procs[i].admin.do(ctx, "GET", "/v1/status", nil, &st)
			cancel()
			if err == nil && st.Leader {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no single leader among %v within %v (leaders: %v)", candidates, within, leaders)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// others returns the indexes of the nodes but i.
func others(i int) []int {
	var out []int
	for j := range 3 {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

// isolate cuts node i off from the two others, on both sides, as a real
// partition does: each side refuses the other at its own handshake, so a
// forwarded write fails before it is sent (503 unavailable). A cut on one
// side only would be seen by the other side as a connection lost after
// the request was written (TLS 1.3 checks the client's certificate after
// the client has finished its handshake): outcome unknown.
func (c *chaosCluster) isolate(i int) {
	c.t.Helper()
	c.partition(i, others(i)...)
	for _, j := range others(i) {
		c.partition(j, i)
	}
}

// heal removes every cut.
func (c *chaosCluster) heal() {
	c.t.Helper()
	for i := range c.procs {
		c.partition(i)
	}
}

// partition cuts node i off from the nodes js (none: heals) through its
// admin socket and checks the answer.
func (c *chaosCluster) partition(i int, js ...int) {
	c.t.Helper()
	peers := []string{}
	for _, j := range js {
		peers = append(peers, c.ids[j])
	}
	var got partitionRequest
	c.procs[i].adminDo(c.t, "PUT", "/v1/debug/partition", partitionRequest{Peers: peers}, &got)
	slices.Sort(peers)
	if !slices.Equal(got.Peers, peers) {
		c.t.Fatalf("partition %s: got peers %v, want %v", c.ids[i], got.Peers, peers)
	}
}

// chaosRound is one round of faults while the clients book: the leader is
// killed and restarted, a follower is cut off and healed, the leader is
// cut off and healed. Pauses let the clients book between faults.
func (c *chaosCluster) chaosRound(pause time.Duration) {
	t := c.t
	t.Helper()
	all := []int{0, 1, 2}

	l := c.leader(15*time.Second, all...)
	t.Logf("SIGKILL leader %s", c.ids[l])
	killed := time.Now()
	c.kill(l)
	nl := c.leader(15*time.Second, others(l)...)
	t.Logf("%s leads %v after the kill", c.ids[nl], time.Since(killed).Round(time.Millisecond))
	time.Sleep(pause)
	c.start(l)
	t.Logf("%s restarted and caught up %v after the kill", c.ids[l], time.Since(killed).Round(time.Millisecond))
	time.Sleep(pause)

	l = c.leader(15*time.Second, all...)
	f := others(l)[0]
	t.Logf("partition follower %s", c.ids[f])
	c.isolate(f)
	time.Sleep(2 * pause)
	c.heal()
	t.Logf("healed %s", c.ids[f])
	time.Sleep(pause)

	l = c.leader(15*time.Second, all...)
	t.Logf("partition leader %s", c.ids[l])
	cut := time.Now()
	c.isolate(l)
	nl = c.leader(15*time.Second, others(l)...)
	t.Logf("%s leads %v after the cut", c.ids[nl], time.Since(cut).Round(time.Millisecond))
	time.Sleep(pause)
	c.heal()
	t.Logf("healed %s", c.ids[l])
	time.Sleep(pause)
}

// TestChaos books through three real sportello processes from concurrent
// clients while the leader is killed and restarted and nodes are
// partitioned (fault injection in the transport), then checks: porcupine
// finds the history linearizable; every booking acknowledged to a client
// is on every node, in the status it must have; no slot holds more active
// bookings than its capacity on any node; every node's SQLite contents
// are identical. The short form is one round of faults (~30 s); the long
// form (-chaos.long) repeats rounds for about two minutes.
func TestChaos(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	c := startChaosCluster(t)
	t.Logf("cluster up in %v", time.Since(began).Round(time.Millisecond))

	// The Comune, an office open every day, and a service of capacity 2.
	p := c.procs[0]
	svc := seedBari(t, p, c.dirs[0], chaosCapacity)
	const host = "bari.localhost"

	slots, rounds, pause := 6, 1, 1500*time.Millisecond
	cfg := lincheck.DriveConfig{Clients: 8, Think: 40 * time.Millisecond, Seed: 1}
	if *chaosLong {
		slots, rounds, pause = 12, 6, 3*time.Second
		cfg.Clients, cfg.Seed = 16, uint64(time.Now().UnixNano())
		// Unknown creates that took effect hold their citizens for good:
		// more citizens keep the slots in play.
		cfg.CitizensPerSlot = 8
	}
	cfg.BaseURLs = c.baseURLs()
	cfg.Host = host
	cfg.Targets = chaosTargets(t, p, host, svc.ID, slots)
	// Writes only: reads are local to the answering node, so a follower
	// may answer an older state, which a linearizability check flags
	// (reads that must be fresh use a barrier, not measured here).
	cfg.Mix = lincheck.Mix{Create: 60, Cancel: 40}
	cfg.Duration = 10 * time.Minute // ended by stop
	cfg.RequestTimeout = 5 * time.Second
	stop := make(chan struct{})
	cfg.Stop = stop

	type driven struct {
		rec *lincheck.Recorder
		err error
	}
	done := make(chan driven, 1)
	go func() {
		rec, err := lincheck.Drive(context.Background(), cfg)
		done <- driven{rec, err}
	}()
	time.Sleep(pause)
	for r := range rounds {
		t.Logf("round %d of %d", r+1, rounds)
		c.chaosRound(pause)
	}
	close(stop)
	d := <-done
	if d.err != nil {
		t.Fatalf("Drive: %v", d.err)
	}
	rec := d.rec
	t.Logf("load and faults took %v", time.Since(began).Round(time.Millisecond))

	// Linearizable, unknown outcomes included.
	res, info, err := rec.Check(2*time.Minute, t.TempDir())
	if err != nil {
		t.Error(err)
	}
	t.Logf("%d operations in %d partitions checked in %v: %v", info.Operations, info.Partitions, info.Elapsed.Round(time.Millisecond), info.Stats)
	switch res {
	case porcupine.Illegal:
		vis := filepath.Join(os.TempDir(), filepath.Base(info.Visualization))
		if b, err := os.ReadFile(info.Visualization); err == nil && os.WriteFile(vis, b, 0o644) == nil {
			t.Fatalf("history is not linearizable; visualization: %s", vis)
		}
		t.Fatalf("history is not linearizable")
	case porcupine.Unknown:
		t.Errorf("porcupine did not finish within its time limit")
	}
	// The check has teeth on this very history: an acknowledged cancel
	// turned into "not found" means a booking a client saw created was
	// lost, which no order of the operations explains.
	history := rec.History()
	for i, op := range history {
		if op.Output.(lincheck.Output).Result == lincheck.CancelOK {
			history[i].Output = lincheck.Output{Result: lincheck.NotFound}
			if porcupine.CheckOperations(lincheck.NewModel(rec.Spec()), history) {
				t.Errorf("history with a lost booking (%v answered not found): linearizable, want not", op.Input)
			}
			break
		}
	}
	st := info.Stats
	if st["create"][lincheck.Created] == 0 || st["create"][lincheck.SlotFull] == 0 || st["cancel"][lincheck.CancelOK] == 0 {
		t.Errorf("the history did not exercise creates, full slots and cancels: %v", st)
	}

	// Every node holds the same rows.
	waitIdentical(t, 30*time.Second, c.procs...)

	// Every acknowledged booking is on every node, in the status it must
	// have.
	acked := rec.Acknowledged()
	if len(acked) == 0 {
		t.Fatal("no booking was acknowledged")
	}
	for i, q := range c.procs {
		for _, b := range acked {
			r := q.get(t, q.url(host, "/api/v1/bookings/"+b.Code+"?token="+b.Token))
			var got struct {
				Code   string `json:"code"`
				Status string `json:"status"`
			}
			if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &got) != nil || got.Code != b.Code {
				t.Errorf("%s: acknowledged booking %s: status %d %s", c.ids[i], b.Code, r.Status, tail(r.Body, 5))
				continue
			}
			if b.Status != "" && got.Status != b.Status {
				t.Errorf("%s: booking %s is %s, want %s", c.ids[i], b.Code, got.Status, b.Status)
			}
		}
	}
	t.Logf("%d acknowledged bookings found on all three nodes", len(acked))

	// No slot holds more active bookings than its capacity, on any node.
	for i := range c.procs {
		for slot, n := range activeBySlot(t, c.dirs[i]) {
			if n > chaosCapacity {
				t.Errorf("%s: slot %s holds %d active bookings, capacity %d", c.ids[i], slot, n, chaosCapacity)
			}
		}
	}
	for _, q := range c.procs {
		q.stop()
	}
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}

// chaosTargets returns n free slots of one day of service svc at least
// three days ahead, each with its full capacity: the first such day, as
// the office, open every day, is still closed on national holidays.
func chaosTargets(t *testing.T, p *proc, host, svc string, n int) []lincheck.Target {
	t.Helper()
	var out []lincheck.Target
	for ahead := 3; ahead <= 10; ahead++ {
		day := civil.DateOf(time.Now().AddDate(0, 0, ahead))
		out = out[:0]
		for _, s := range slotsBetween(t, p, host, svc, day, day) {
			if s.Remaining == chaosCapacity && len(out) < n {
				out = append(out, lincheck.Target{ServiceID: svc, Start: s.Start, Capacity: s.Remaining})
			}
		}
		if len(out) == n {
			return out
		}
		t.Logf("%d free slots on %s, want %d: trying the next day", len(out), day, n)
	}
	t.Fatalf("no day from 3 to 10 days ahead has %d free slots", n)
	return nil
}

// activeBySlot counts the active bookings of every slot in the node's
// SQLite state, read-only: the slot listing caps its "remaining" at 0, so
// only the rows can show an over-booked slot.
func activeBySlot(t *testing.T, dataDir string) map[string]int {
	t.Helper()
	path := filepath.Join(dataDir, "cluster", "state.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT tenant, service_id, start_unix, count(*) FROM booking_bookings WHERE status = 'active' GROUP BY tenant, service_id, start_unix`)
	if err != nil {
		t.Fatalf("count bookings in %s: %v", path, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var tenant, svc string
		var start int64
		var n int
		if err := rows.Scan(&tenant, &svc, &start, &n); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%s/%s@%s", tenant, svc, time.Unix(start, 0).UTC().Format(time.RFC3339))] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Errorf("%s: no active booking at all", path)
	}
	return out
}

// TestPartitionRoute checks the admin route of fault injection on a node
// started without --fault-injection: 404 with a JSON error, and the
// hidden flag's parsing.
func TestPartitionRoute(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t)
	a := newAdminServer(node, nil, nil, func() nodeStatus { return nodeStatus{} }, slog.New(slog.DiscardHandler))
	for _, method := range []string{"PUT", "GET"} {
		w := httptest.NewRecorder()
		a.srv.Handler.ServeHTTP(w, httptest.NewRequest(method, "/v1/debug/partition", strings.NewReader(`{"peers":["node2"]}`)))
		var e adminError
		if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Code != "not_found" {
			t.Errorf("%s /v1/debug/partition without fault injection: got %d %s, want 404 not_found", method, w.Code, w.Body)
		}
	}
	tests := []struct {
		args []string
		rest []string
		on   bool
	}{
		{[]string{"--config", "x.toml"}, []string{"--config", "x.toml"}, false},
		{[]string{"--fault-injection", "--config", "x.toml"}, []string{"--config", "x.toml"}, true},
		{[]string{"--config", "x.toml", "-fault-injection=true"}, []string{"--config", "x.toml"}, true},
		{[]string{"--fault-injection", "--fault-injection=false"}, []string{}, false},
		{[]string{"--", "--fault-injection"}, []string{"--", "--fault-injection"}, false},
	}
	for _, tt := range tests {
		rest, on := takeFaultInjectionFlag(tt.args)
		if on != tt.on || !slices.Equal(rest, tt.rest) {
			t.Errorf("takeFaultInjectionFlag(%q): got %q, %v; want %q, %v", tt.args, rest, on, tt.rest, tt.on)
		}
	}
}
