package clustertest_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// registerForwardBench wires "fwdbench.insert", shared in log entries like
// a booking, with a result value that crosses back as JSON.
func registerForwardBench(r *cluster.Registry) {
	r.Migrate(cluster.Migration{Component: "fwdbench", Version: 1, SQL: `CREATE TABLE fwdbench (
		id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL)`})
	r.Handle("fwdbench.insert", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		res, err := tx.Exec(`INSERT INTO fwdbench (tenant, body) VALUES (?, ?)`, cmd.Tenant, string(cmd.Payload))
		if err != nil {
			return nil, err
		}
		id, _ := res.LastInsertId()
		return map[string]int64{"id": id}, nil
	})
	r.ShareEntries("fwdbench.insert")
}

// BenchmarkForwardPropose measures commands proposed on a follower of a
// three-node cluster (mutual TLS), which forwards them to the leader, with
// 64 concurrent writers and a payload the size of a booking's. Its CPU
// profile shows what forwarding costs per command on both sides
// (cluster.(*Node).forward on the follower, serveRPC on the leader).
func BenchmarkForwardPropose(b *testing.B) {
	nodes := clustertest.Cluster(b, 3, registerForwardBench)
	leader := clustertest.Leader(b, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	payload := map[string]string{
		"id": "0190c9a3-1c2b-7d4e-8f00-123456789abc", "code": "ABC234", "service_id": "anagrafe-cie",
		"start": "2027-03-11T09:00:00Z", "channel": "in_person", "given_name": "Maria", "family_name": "Rossi",
		"fiscal_code": "RSSMRA80A41H501U", "email": "maria.rossi@example.it", "phone": "+39 333 1234567",
		"details": strings.Repeat("Carta d'identità scaduta. ", 4), "token_hash": strings.Repeat("ab", 32),
		"base_url": "https://prenota.comune.bari.it", "manage_url": "https://prenota.comune.bari.it/prenotazioni/ABC234?token=" + strings.Repeat("x", 43),
	}
	cmd, err := cluster.NewCommand("fwdbench.insert", 1, "bari", payload)
	if err != nil {
		b.Fatal(err)
	}
	const writers = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				res, err := follower.Propose(context.Background(), cmd)
				if err != nil {
					errs <- err
					return
				}
				if res.Index == 0 || res.Value == nil {
					errs <- errNoResult
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

var errNoResult = errorString("forwarded command came back without index or value")

type errorString string

func (e errorString) Error() string { return string(e) }
