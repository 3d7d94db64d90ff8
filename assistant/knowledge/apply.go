package knowledge

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Command types of the package.
const (
	CmdFAQSave        = "knowledge.faq_save"
	CmdFAQDelete      = "knowledge.faq_delete"
	CmdSynonymsSave   = "knowledge.synonyms_save"
	CmdSynonymsDelete = "knowledge.synonyms_delete"
)

// payloadVersion is the version of every payload of the package.
const payloadVersion = 1

// faqPayload saves an entry; Create says it is new (the proposer drew its
// ID), so apply inserts it within the Comune's limit instead of replacing
// one that must exist.
type faqPayload struct {
	FAQ    FAQ  `json:"faq"`
	Create bool `json:"create,omitempty"`
}

// synonymsPayload is faqPayload for synonym groups.
type synonymsPayload struct {
	Group  SynonymGroup `json:"group"`
	Create bool         `json:"create,omitempty"`
}

// deletePayload names the entry or group to delete.
type deletePayload struct {
	ID string `json:"id"`
}

// Register adds the package's schema, commands and errors to r. Call it
// after booking.Register: the catalogue reads booking's tables.
//
// None of the commands may share a log entry (cluster.ShareEntries): each
// stores its log index as the Comune's knowledge version, which two
// commands of one entry would share.
func Register(r *cluster.Registry) {
	registerErrors(r)
	r.Migrate(Migrations()...)
	r.Handle(CmdFAQSave, payloadVersion, applyFAQSave)
	r.Handle(CmdFAQDelete, payloadVersion, applyFAQDelete)
	r.Handle(CmdSynonymsSave, payloadVersion, applySynonymsSave)
	r.Handle(CmdSynonymsDelete, payloadVersion, applySynonymsDelete)
	r.Describe(CmdFAQSave, describeSave("faq"))
	r.Describe(CmdSynonymsSave, describeSave("group"))
	r.Describe(CmdFAQDelete, describeDelete)
	r.Describe(CmdSynonymsDelete, describeDelete)
}

// describeSave sums a save up for the audit log by ID, without the text,
// which the log need not repeat.
func describeSave(key string) func(cluster.Command) string {
	return func(cmd cluster.Command) string {
		var p map[string]json.RawMessage
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(p[key], &v) != nil || v.ID == "" {
			return ""
		}
		if string(p["create"]) == "true" {
			return "id=" + v.ID + " new"
		}
		return "id=" + v.ID
	}
}

func describeDelete(cmd cluster.Command) string {
	var p deletePayload
	if json.Unmarshal(cmd.Payload, &p) != nil || p.ID == "" {
		return ""
	}
	return "id=" + p.ID
}

func applyFAQSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p faqPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	f := NormalizeFAQ(p.FAQ)
	if err := checkFAQ(f); err != nil {
		return nil, err
	}
	ctx := context.Background()
	now := cmd.Time.UnixNano()
	if p.Create {
		if err := refuseFull(tx, cmd.Tenant, "knowledge_faq", MaxFAQ); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO knowledge_faq
			(tenant, id, question, answer, service_id, office_id, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			cmd.Tenant, f.ID, f.Question, f.Answer, f.ServiceID, f.OfficeID, now, now); err != nil {
			return nil, fmt.Errorf("insert faq %s: %w", f.ID, err)
		}
	} else {
		res, err := tx.ExecContext(ctx, `UPDATE knowledge_faq
			SET question = ?, answer = ?, service_id = ?, office_id = ?, updated = ?
			WHERE tenant = ? AND id = ?`,
			f.Question, f.Answer, f.ServiceID, f.OfficeID, now, cmd.Tenant, f.ID)
		if err := changedOne(res, err, "update faq "+f.ID); err != nil {
			return nil, err
		}
	}
	return nil, bumpVersion(tx, cmd)
}

func applyFAQDelete(tx *sql.Tx, cmd cluster.Command) (any, error) {
	return deleteRow(tx, cmd, "knowledge_faq")
}

func applySynonymsSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p synonymsPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	g := NormalizeSynonyms(p.Group)
	if err := checkSynonyms(g); err != nil {
		return nil, err
	}
	phrases, err := json.Marshal(g.Phrases)
	if err != nil {
		return nil, fmt.Errorf("encode phrases: %w", err)
	}
	ctx := context.Background()
	now := cmd.Time.UnixNano()
	if p.Create {
		if err := refuseFull(tx, cmd.Tenant, "knowledge_synonyms", MaxGroups); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO knowledge_synonyms
			(tenant, id, service_id, phrases, created, updated) VALUES (?, ?, ?, ?, ?, ?)`,
			cmd.Tenant, g.ID, g.ServiceID, string(phrases), now, now); err != nil {
			return nil, fmt.Errorf("insert synonyms %s: %w", g.ID, err)
		}
	} else {
		res, err := tx.ExecContext(ctx, `UPDATE knowledge_synonyms
			SET service_id = ?, phrases = ?, updated = ?
			WHERE tenant = ? AND id = ?`,
			g.ServiceID, string(phrases), now, cmd.Tenant, g.ID)
		if err := changedOne(res, err, "update synonyms "+g.ID); err != nil {
			return nil, err
		}
	}
	return nil, bumpVersion(tx, cmd)
}

func applySynonymsDelete(tx *sql.Tx, cmd cluster.Command) (any, error) {
	return deleteRow(tx, cmd, "knowledge_synonyms")
}

// deleteRow deletes the row of table named by cmd's payload; table is one
// of the package's constants, never input.
func deleteRow(tx *sql.Tx, cmd cluster.Command, table string) (any, error) {
	var p deletePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(context.Background(), `DELETE FROM `+table+` WHERE tenant = ? AND id = ?`, cmd.Tenant, p.ID)
	if err := changedOne(res, err, "delete "+p.ID); err != nil {
		return nil, err
	}
	return nil, bumpVersion(tx, cmd)
}

// decode reads cmd's payload, refusing a command without a Comune: every
// row of the package belongs to one.
func decode(cmd cluster.Command, v any) error {
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command without a Comune", cmd.Type)
	}
	return cmd.Decode(v)
}

// refuseFull returns ErrFull when the Comune already has max rows in
// table. Counting in apply keeps the limit exact when two administrators
// add at once.
func refuseFull(tx *sql.Tx, t, table string, max int) error {
	var n int
	if err := tx.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE tenant = ?`, t).Scan(&n); err != nil {
		return fmt.Errorf("count %s: %w", table, err)
	}
	if n >= max {
		return ErrFull
	}
	return nil
}

// changedOne turns an UPDATE or DELETE that touched no row into
// ErrNotFound.
func changedOne(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// bumpVersion records cmd as the last change of its Comune's knowledge
// (see schemaV1), in the command's own transaction.
func bumpVersion(tx *sql.Tx, cmd cluster.Command) error {
	_, err := tx.ExecContext(context.Background(), `INSERT INTO knowledge_version (tenant, cmd_index, cmd_time)
		VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET cmd_index = excluded.cmd_index, cmd_time = excluded.cmd_time`,
		cmd.Tenant, int64(cmd.Index), cmd.Time.UnixNano())
	if err != nil {
		return fmt.Errorf("store knowledge version: %w", err)
	}
	return nil
}
