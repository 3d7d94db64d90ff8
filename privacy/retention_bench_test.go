package privacy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// BenchmarkRetentionLargeOutbox runs one Comune's hourly retention over
// an outbox of 100 000 delivered emails of ten Comuni, all within the
// retention period: the pass has nothing to delete, and the time is what
// finding that out costs apply, on every node, each hour for each Comune.
func BenchmarkRetentionLargeOutbox(b *testing.B) {
	e := newEnvWith(b, clustertest.HandleSQL)
	now := e.clock.Now()
	// Sent rows over the last 20 days, oldest first (the order the log
	// wrote them in), each with a notice of about 1 KB.
	clustertest.RunSQL(b, e.node, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
		INSERT INTO cluster_outbox (id, cmd_index, tenant, kind, key, payload, status, created, next_attempt, sent)
		SELECT 'x' || i, 1000000 + i, 'c' || (i %% 10), 'email', 'bench/' || i, zeroblob(1000), 'sent',
			%[1]d + i * %[2]d, %[1]d + i * %[2]d, %[1]d + i * %[2]d FROM n`,
		now.Add(-20*24*time.Hour).UnixNano(), (20*24*time.Hour/100000).Nanoseconds()))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := e.priv.RetainTenant(ctx, "c3"); err != nil {
			b.Fatal(err)
		}
	}
}
