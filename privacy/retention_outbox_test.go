package privacy_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/privacy"
)

// TestRetentionOutbox: the hourly retention deletes a Comune's delivered
// emails older than the cut and keeps the pending ones, the recent ones
// and other Comuni's. From privacy.erase version 2 it reads only the rows
// before the first recent one, so a row stamped earlier than the row
// before it (a leader whose clock was behind) waits for a later pass; a
// cluster with a member of the older release keeps version 1, which
// deletes it at once, the same on every member.
func TestRetentionOutbox(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		first, second func(*cluster.Registry)
		left          []string // rows left after the first pass
	}{
		{"current", register, register, []string{"altro-old", "pending-old", "recent", "skewed"}},
		{"older member", registerSchema1, registerOlder, []string{"altro-old", "pending-old", "recent"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := clustertest.NewClock(startTime)
			node, _ := clustertest.TwoMembers(t, clock.Now, withSQL(c.first), withSQL(c.second))
			priv := privacy.NewService(node, node.DB(), privacy.Options{Now: clock.Now, Logger: clustertest.Logger(t)})
			def := privacy.DefaultPolicy()
			days := min(def.DaysOf(privacy.ClassBookings), def.DaysOf(privacy.ClassTickets))
			cut := clock.Now().Add(-time.Duration(days) * 24 * time.Hour)
			// In the order the log would have written them.
			var rows []string
			for i, r := range []struct {
				id, tenant, status string
				at                 time.Time
			}{
				{"old", "bari", "sent", cut.Add(-2 * time.Hour)},
				{"pending-old", "bari", "pending", cut.Add(-2 * time.Hour)},
				{"altro-old", "altro", "sent", cut.Add(-2 * time.Hour)},
				{"failed-old", "bari", "failed", cut.Add(-90 * time.Minute)},
				{"recent", "bari", "sent", cut.Add(time.Hour)},
				{"skewed", "bari", "sent", cut.Add(-time.Hour)},
			} {
				rows = append(rows, fmt.Sprintf("('%s', %d, '%s', 'email', 'k/%s', x'7b7d', '%s', %d, %d)",
					r.id, 100+i, r.tenant, r.id, r.status, r.at.UnixNano(), r.at.UnixNano()))
			}
			clustertest.RunSQL(t, node, `INSERT INTO cluster_outbox (id, cmd_index, tenant, kind, key, payload, status, created, next_attempt)
				VALUES `+strings.Join(rows, ", "))
			twoPasses(t, priv, clock, node.DB(), `SELECT id FROM cluster_outbox WHERE id NOT GLOB '[0-9]*' ORDER BY id`,
				c.left, []string{"altro-old", "pending-old"})
		})
	}
}

// registerOlder is register with privacy of the release before
// privacy.erase version 2.
func registerOlder(r *cluster.Registry) { registerWith(r, privacy.RegisterOlder) }

// registerSchema1 is register with the privacy schema held at version 1:
// the current release in a cluster that cannot migrate while a member of
// the older release is there (the first of TwoMembers migrates before the
// second joins).
func registerSchema1(r *cluster.Registry) { registerWith(r, privacy.RegisterSchema1) }

// withSQL adds clustertest.HandleSQL to a registration.
func withSQL(reg func(*cluster.Registry)) func(*cluster.Registry) {
	return func(r *cluster.Registry) {
		reg(r)
		clustertest.HandleSQL(r)
	}
}

// column runs q, a query of one text column, on db and returns its rows.
func column(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	r, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var s string
		if err := r.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// twoPasses runs bari's retention, checks the rows left (the query q),
// and again two hours later, when the cut has passed the recent rows too.
func twoPasses(t *testing.T, priv *privacy.Service, clock *clustertest.Clock, db *sql.DB, q string, first, second []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := priv.RetainTenant(ctx, "bari"); err != nil {
		t.Fatal(err)
	}
	if got := column(t, db, q); !reflect.DeepEqual(got, first) {
		t.Errorf("after the first pass: %v, want %v", got, first)
	}
	clock.Advance(2*time.Hour + time.Minute)
	if _, err := priv.RetainTenant(ctx, "bari"); err != nil {
		t.Fatal(err)
	}
	if got := column(t, db, q); !reflect.DeepEqual(got, second) {
		t.Errorf("after the second pass: %v, want %v", got, second)
	}
}
