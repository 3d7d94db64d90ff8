package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Defaults of the workers' periods.
const (
	// DefaultRetentionEvery is how often the leader applies the
	// retention of every Comune. An hour keeps data at most an hour past
	// its period; the command is cheap when nothing is due.
	DefaultRetentionEvery = time.Hour
	// DefaultCompactEvery is the least time between two compactions of
	// one node (each writes a full snapshot of the database).
	DefaultCompactEvery = 10 * time.Minute
)

// maxRounds bounds the commands one retention pass proposes per Comune;
// what is left waits for the next pass.
const maxRounds = 50

// RunRetention applies the retention of every Comune until ctx ends:
// while this node leads, at once and then every `every`
// (DefaultRetentionEvery when zero or less). The caller owns the
// goroutine; failures are logged and tried again at the next tick.
func (s *Service) RunRetention(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRetentionEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if s.node.IsLeader() {
			if n, err := s.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("privacy: retention", "err", err)
			} else if n > 0 {
				s.log.Info("privacy: records erased by retention", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ApplyRetention proposes the retention erasures of every Comune now and
// returns how many records they touched. Each command erases at most
// maxBatch records per class; a Comune is done when a command touches
// fewer than that in every class.
func (s *Service) ApplyRetention(ctx context.Context) (int, error) {
	ids, err := s.tenants(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, t := range ids {
		n, err := s.RetainTenant(ctx, t)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// RetainTenant applies the retention of Comune t now.
func (s *Service) RetainTenant(ctx context.Context, t tenant.ID) (int, error) {
	pol, err := s.Policy(ctx, t)
	if err != nil {
		return 0, err
	}
	now := s.now()
	cut := make(map[Class]int64, len(Classes()))
	for _, c := range Classes() {
		days := pol.DaysOf(c)
		if c == ClassDocuments {
			// The document period of the Comune's settings (media/docs
			// stamps it on each upload) wins over the class default.
			d, err := s.documentDays(ctx, t)
			if err != nil {
				// Erasing under the default could destroy documents the
				// Comune keeps longer; skipping keeps them one more pass.
				s.settingsErrors.Add(1)
				s.log.Error("privacy: documents skipped by this retention pass", "tenant", t, "err", err)
				continue
			}
			if d > 0 {
				if _, own := pol.Days[c]; !own || pol.Days[c] == DefaultPolicy().Days[c] {
					days = d
				}
			}
		}
		if c == ClassChat {
			continue // nothing of the chat is written to disk
		}
		cut[c] = now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
	}
	total := 0
	for range maxRounds {
		rep, err := s.erase(ctx, t, erasePayload{Cutoffs: cut, Limit: maxBatch})
		if err != nil {
			return total, err
		}
		total += rep.Total()
		more := false
		for _, n := range rep.Counts {
			if n >= maxBatch {
				more = true
			}
		}
		if !more {
			break
		}
	}
	return total, nil
}

// tenants lists the Comuni whose data retention must reach: the live
// ones and the deleted ones (tenant_tombstones). Deleting a Comune
// removes only its registry rows; its bookings, tickets, documents and
// audit stay in the other packages' tables, and only the retention (or
// an erasure) removes them, so a deleted Comune must not drop out of this
// list. Before the tenant schema has tombstones (an older cluster being
// upgraded) there are none to add.
func (s *Service) tenants(ctx context.Context) ([]tenant.ID, error) {
	q := `SELECT id FROM tenants UNION SELECT id FROM tenant_tombstones ORDER BY id`
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil && strings.Contains(err.Error(), "no such table: tenant_tombstones") {
		rows, err = s.db.QueryContext(ctx, `SELECT id FROM tenants ORDER BY id`)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tenant.ID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, tenant.ID(id))
	}
	return out, rows.Err()
}

// documentDays reads the Comune's document period from its settings: 0
// when it has none (no row, the default; or a cluster whose settings
// have not migrated to the column yet). Any other failure is an error:
// the caller then leaves the documents alone for this pass rather than
// erase them under a period that is not the Comune's.
func (s *Service) documentDays(ctx context.Context, t tenant.ID) (int, error) {
	var d int
	err := s.db.QueryRowContext(ctx, `SELECT document_retention_days FROM tenant_settings WHERE tenant_id = ?`, t).Scan(&d)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil && (strings.Contains(err.Error(), "no such table: tenant_settings") ||
		strings.Contains(err.Error(), "no such column: document_retention_days")):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("privacy: document retention of %s: %w", t, err)
	}
	return d, nil
}

// SettingsErrors is how many times the retention could not read a
// Comune's document period since the service started; every one is
// logged too. It is exposed for the node's metrics and for tests.
func (s *Service) SettingsErrors() int64 { return s.settingsErrors.Load() }

// RunCompactor drops the old copies of erased data from this node's disk
// until ctx ends: every node runs it (each has its own files). It looks
// every `poll` for an erasure applied since its last compaction and, at
// most once per `every` (DefaultCompactEvery when zero or less), calls
// c.CompactAfterErasure. The first look compacts too when the node
// restarted with erasures it had not compacted: an in-memory mark would
// otherwise forget them, so it starts from 0.
func (s *Service) RunCompactor(ctx context.Context, c Compactor, poll, every time.Duration) {
	if every <= 0 {
		every = DefaultCompactEvery
	}
	if poll <= 0 {
		poll = 10 * time.Second
	}
	var done uint64
	var last time.Time
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.node.IsLeader() {
			// Delivered decision emails of granted erasures go first,
			// so that one compaction drops them with the erasure's
			// copies when the email left before this look.
			if _, err := s.ForgetDelivered(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("privacy: forget delivered decision emails", "err", err)
			}
		}
		idx, err := s.lastErasure(ctx)
		if err != nil || idx <= done || time.Since(last) < every {
			continue
		}
		err = c.CompactAfterErasure(ctx)
		last = time.Now()
		switch {
		case errors.Is(err, cluster.ErrCompactPending):
			// Retried once the next entry makes a snapshot possible.
		case err != nil:
			if ctx.Err() == nil {
				s.log.Warn("privacy: compaction after erasure", "err", err)
			}
		default:
			done = idx
		}
	}
}

// CompactNow compacts this node's files if an erasure was applied since
// the index `since` and returns the newest erasure's index; tests and the
// back office's "cancella ora" call it.
func (s *Service) CompactNow(ctx context.Context, c Compactor, since uint64) (uint64, error) {
	idx, err := s.lastErasure(ctx)
	if err != nil || idx <= since {
		return idx, err
	}
	return idx, c.CompactAfterErasure(ctx)
}

// lastErasure returns the log index of the newest erasure that touched
// something.
func (s *Service) lastErasure(ctx context.Context) (uint64, error) {
	var idx uint64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(cmd_index), 0) FROM privacy_erasures WHERE total > 0 OR kind = 'citizen'`).Scan(&idx)
	return idx, err
}
