package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// CmdForgetSent deletes the delivered outbox rows of the emails that
// told citizens their erasure was granted (see forgetSentPayload).
const CmdForgetSent = "privacy.forget_sent"

// requestEmailKind is the outbox kind of privacy/requests' emails
// (requests.OutboxKind). privacy cannot import that package, which
// imports this one; TestDeliveredDecisionEmailIsForgotten fails if the
// two drift apart.
const requestEmailKind = "privacyreq.email"

// forgetBatch bounds the rows one command deletes.
const forgetBatch = 64

// forgetSentPayload is version 1 of privacy.forget_sent: outbox row IDs
// of one Comune. Apply deletes each only if it is still what the
// proposer saw: a delivered decision email of an approved erasure
// request of that Comune. The email must carry the address (it tells the
// citizen the outcome), so privacyreq.decide queues it after the
// erasure; once delivered it has no use left, and without this it would
// keep the address in the database and in every snapshot until the
// retention deletes delivered rows by age (30 days by default).
type forgetSentPayload struct {
	IDs []string `json:"ids"`
}

// decisionKey is the outbox key of request r's decision email, as
// privacy/requests' applyDecide builds it
// (TestDeliveredDecisionEmailIsForgotten fails if the two drift apart). Matching the whole key uses the outbox's unique
// index on it.
const decisionKey = `'privacyreq/' || r.tenant || '/' || r.id || '/decision/1'`

// approvedDecisionRow restricts cluster_outbox rows (alias o) to the
// delivered decision emails of approved requests of the same Comune.
const approvedDecisionRow = `o.kind = '` + requestEmailKind + `' AND o.status = 'sent'
	AND EXISTS (SELECT 1 FROM privacyreq_requests r WHERE r.tenant = o.tenant AND r.state = 'approved'
		AND o.key = ` + decisionKey + `)`

// applyForgetSent deletes the rows of the payload that are delivered
// decision emails of approved requests, and records the deletion as an
// erasure row (kind citizen, total 0: it stays out of the back office's
// history, which lists erasures that touched records, while the
// compactor of every node, which wakes on any citizen erasure, drops the
// old copies of the rows from its disk).
func applyForgetSent(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p forgetSentPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" || len(p.IDs) == 0 || len(p.IDs) > forgetBatch {
		return nil, ErrInvalid
	}
	n := 0
	for _, id := range p.IDs {
		res, err := tx.Exec(`DELETE FROM cluster_outbox WHERE tenant = ? AND id = ? AND id IN
			(SELECT o.id FROM cluster_outbox o WHERE o.tenant = ? AND o.id = ? AND `+approvedDecisionRow+`)`,
			cmd.Tenant, id, cmd.Tenant, id)
		if err != nil {
			return nil, fmt.Errorf("forget decision email %s: %w", id, err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		n += int(k)
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(`INSERT INTO privacy_erasures (cmd_index, at, tenant, kind, reason, counts, total)
		VALUES (?, ?, ?, 'citizen', ?, '{}', 0)`, int64(cmd.Index), cmd.Time.UnixMilli(), cmd.Tenant,
		fmt.Sprintf("email di esito consegnate: %d", n)); err != nil {
		return nil, err
	}
	return n, nil
}

// ForgetDelivered proposes the deletion of every delivered decision
// email of an approved erasure request, one command per Comune (at most
// forgetBatch rows each), and returns how many rows it asked to delete.
// The compactor calls it on the leader at each look. A cluster whose
// version gate refuses the command (a member without it) keeps the rows
// until the retention's age-based deletion, as before.
func (s *Service) ForgetDelivered(ctx context.Context) (int, error) {
	// Driven by the approved requests (few) through the outbox's key
	// index, not by the delivered rows (every email of the last month):
	// the compactor runs this at every look.
	rows, err := s.db.QueryContext(ctx, `SELECT o.tenant, o.id FROM privacyreq_requests r
		JOIN cluster_outbox o ON o.key = `+decisionKey+` AND o.tenant = r.tenant
		WHERE r.state = 'approved' AND o.kind = '`+requestEmailKind+`' AND o.status = 'sent'
		ORDER BY o.tenant, o.id`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return 0, nil // privacy/requests not in this binary
		}
		return 0, fmt.Errorf("privacy: delivered decision emails: %w", err)
	}
	byTenant := map[tenant.ID][]string{}
	var order []tenant.ID
	for rows.Next() {
		var t, id string
		if err := rows.Scan(&t, &id); err != nil {
			rows.Close()
			return 0, err
		}
		if _, ok := byTenant[tenant.ID(t)]; !ok {
			order = append(order, tenant.ID(t))
		}
		if len(byTenant[tenant.ID(t)]) < forgetBatch {
			byTenant[tenant.ID(t)] = append(byTenant[tenant.ID(t)], id)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, t := range order {
		cmd, err := cluster.NewCommand(CmdForgetSent, payloadVersion, string(t), forgetSentPayload{IDs: byTenant[t]})
		if err != nil {
			return total, err
		}
		if _, err := s.node.Propose(ctx, cmd); err != nil {
			if !errors.Is(err, cluster.ErrNotSupportedByCluster) {
				errs = append(errs, fmt.Errorf("privacy: forget decision emails of %s: %w", t, err))
			}
			continue
		}
		total += len(byTenant[t])
	}
	return total, errors.Join(errs...)
}
