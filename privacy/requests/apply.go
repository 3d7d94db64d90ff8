package requests

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Command types of the package.
const (
	CmdLinkIssue = "privacyreq.link_issue"
	CmdLinkUse   = "privacyreq.link_use"
	CmdFile      = "privacyreq.file"
	CmdDecide    = "privacyreq.decide"
)

// payloadVersion is the version of every payload of the package but
// the decision's.
const payloadVersion = 1

// decideVersion is the newest version of privacyreq.decide. Version 2
// approves by running the erasure in the decision's own apply (see
// applyDecide); version 1 records an erasure that ran before, as its own
// command, and is what a cluster with an older member still gets (the
// version gate refuses version 2 there; Store.Decide falls back).
const decideVersion = 2

// comune is what an email needs of the Comune, stamped by the proposer
// so that apply reads no other table for it.
type comune struct {
	Name     string        `json:"name"`
	Sender   tenant.Sender `json:"sender"`
	TimeZone string        `json:"time_zone"`
}

// linkIssuePayload records a new one-time link: the hash of its token,
// the address it is sent to (lower-cased), its expiry and the link
// itself, which goes only into the outbox's email (see DESIGN.md, "What
// the log holds").
type linkIssuePayload struct {
	Hash    string `json:"hash"`
	Email   string `json:"email"`
	Expires int64  `json:"expires"`
	Link    string `json:"link"`
	Comune  comune `json:"comune"`
	// Lang is the language of the citizen's page, for the email;
	// optional: a payload without it (older ones) means Italian.
	Lang string `json:"lang,omitempty"`
}

// linkIssued is the result of CmdLinkIssue: Sent is false when the
// address had reached MaxLinksPerHour and nothing was stored or sent.
type linkIssued struct {
	Sent bool `json:"sent"`
}

// linkUsePayload spends a link: its token's hash, and the hash of the
// access secret the proposer drew, valid until AccessUntil.
type linkUsePayload struct {
	Hash        string `json:"hash"`
	AccessHash  string `json:"access_hash"`
	AccessUntil int64  `json:"access_until"`
}

// linkUsed is the result of CmdLinkUse: the verified address.
type linkUsed struct {
	Email string `json:"email"`
}

// filePayload files an erasure request.
type filePayload struct {
	ID         string `json:"id"`
	FiscalCode string `json:"fiscal_code"`
	Email      string `json:"email"`
	Origin     Origin `json:"origin"`
	Note       string `json:"note"`
	By         string `json:"by"`
	ByName     string `json:"by_name"`
	Comune     comune `json:"comune"`
	// Lang is the language of the citizen's page: the receipt's, and
	// (stored with the request from schema version 2 on) the decision's
	// email. Optional: without it, Italian. Version 1 of the payload
	// carried it already, so recording it needs no new version: see
	// hasLangColumn.
	Lang string `json:"lang,omitempty"`
}

// decidePayload records the administrator's decision. Version 1: for an
// approval, the erasure's report (it ran before, as its own replicated
// command). Version 2: the same fields, without the report: an approval
// erases in the same apply, so EraseIndex and EraseCounts are empty.
type decidePayload struct {
	ID          string         `json:"id"`
	Decision    State          `json:"decision"`
	Reason      string         `json:"reason"`
	By          string         `json:"by"`
	ByName      string         `json:"by_name"`
	EraseIndex  uint64         `json:"erase_index,omitempty"`
	EraseCounts map[string]int `json:"erase_counts,omitempty"`
	Comune      comune         `json:"comune"`
}

// Register adds the package's schema, commands, results and errors to r.
func Register(r *cluster.Registry) {
	registerErrors(r)
	r.Migrate(Migrations()...)
	r.Handle(CmdLinkIssue, payloadVersion, applyLinkIssue)
	r.Handle(CmdLinkUse, payloadVersion, applyLinkUse)
	r.Handle(CmdFile, payloadVersion, applyFile)
	r.Handle(CmdDecide, decideVersion, applyDecide)
	r.HandleResult(CmdLinkIssue, decodeResult[linkIssued])
	r.HandleResult(CmdLinkUse, decodeResult[linkUsed])
	// The audit log names the request, never the citizen.
	r.Describe(CmdFile, func(cmd cluster.Command) string {
		var p struct {
			ID     string `json:"id"`
			Origin string `json:"origin"`
		}
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		return "request=" + p.ID + " origin=" + p.Origin
	})
	r.Describe(CmdDecide, func(cmd cluster.Command) string {
		var p struct {
			ID       string `json:"id"`
			Decision string `json:"decision"`
		}
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		return "request=" + p.ID + " decision=" + p.Decision
	})
}

func decodeResult[T any](raw json.RawMessage) (any, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// decode reads cmd's payload, refusing a command without a Comune.
func decode(cmd cluster.Command, v any) error {
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command without a Comune", cmd.Type)
	}
	return cmd.Decode(v)
}

// applyLinkIssue stores a link unless the address already had
// MaxLinksPerHour links in the hour before the command's time. The limit
// is counted here, in apply, so that it holds across nodes; the answer
// to the citizen is the same either way (the web layer never tells).
func applyLinkIssue(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p linkIssuePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.Hash == "" || p.Email == "" || p.Link == "" {
		return nil, fmt.Errorf("%s: payload lacks hash, email or link", cmd.Type)
	}
	ctx := context.Background()
	now := cmd.Time.UnixMilli()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM privacyreq_links WHERE tenant = ? AND email = ? AND issued > ?`,
		cmd.Tenant, p.Email, now-time.Hour.Milliseconds()).Scan(&n); err != nil {
		return nil, fmt.Errorf("count links: %w", err)
	}
	if n >= MaxLinksPerHour {
		return linkIssued{Sent: false}, nil
	}
	// Links older than a day are worthless (expired, and their access
	// over): dropping them here keeps the table small without a worker.
	if _, err := tx.ExecContext(ctx, `DELETE FROM privacyreq_links WHERE tenant = ? AND expires < ? AND access_until < ?`,
		cmd.Tenant, now-24*time.Hour.Milliseconds(), now-24*time.Hour.Milliseconds()); err != nil {
		return nil, fmt.Errorf("drop old links: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO privacyreq_links (tenant, hash, email, issued, expires) VALUES (?, ?, ?, ?, ?)`,
		cmd.Tenant, p.Hash, p.Email, now, p.Expires); err != nil {
		return nil, fmt.Errorf("insert link: %w", err)
	}
	n2 := notice{Kind: noticeLink, Tenant: tenant.ID(cmd.Tenant), Comune: p.Comune, To: p.Email,
		Link: p.Link, Expires: time.UnixMilli(p.Expires).UTC(), Lang: p.Lang,
		Key: "privacyreq/" + cmd.Tenant + "/link-" + p.Hash[:16] + "/link/1"}
	if err := enqueue(tx, cmd, n2); err != nil {
		return nil, err
	}
	return linkIssued{Sent: true}, nil
}

// applyLinkUse spends a link once: unused and not expired at the
// command's time, it becomes used and opens the access whose hash the
// proposer drew. Two uses racing on two nodes are ordered by the log: the
// second finds it used.
func applyLinkUse(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p linkUsePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.Hash == "" || p.AccessHash == "" {
		return nil, fmt.Errorf("%s: payload lacks hashes", cmd.Type)
	}
	ctx := context.Background()
	now := cmd.Time.UnixMilli()
	var email string
	err := tx.QueryRowContext(ctx, `SELECT email FROM privacyreq_links WHERE tenant = ? AND hash = ? AND used = 0 AND expires > ?`,
		cmd.Tenant, p.Hash, now).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrLinkInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("read link: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE privacyreq_links SET used = ?, access_hash = ?, access_until = ? WHERE tenant = ? AND hash = ?`,
		now, p.AccessHash, p.AccessUntil, cmd.Tenant, p.Hash); err != nil {
		return nil, fmt.Errorf("use link: %w", err)
	}
	return linkUsed{Email: email}, nil
}

func applyFile(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p filePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.ID == "" || (p.FiscalCode == "" && p.Email == "") {
		return nil, ErrNoSubject
	}
	if p.Origin != OriginCitizen && p.Origin != OriginOperator {
		return nil, fmt.Errorf("%s: origin %q", cmd.Type, p.Origin)
	}
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, `INSERT INTO privacyreq_requests
		(tenant, id, subject_cf, subject_email, origin, note, filed, filed_by, filed_by_name, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
		cmd.Tenant, p.ID, p.FiscalCode, p.Email, string(p.Origin), p.Note, cmd.Time.UnixMilli(), p.By, p.ByName); err != nil {
		return nil, fmt.Errorf("insert request %s: %w", p.ID, err)
	}
	if p.Lang != "" {
		has, err := hasLangColumn(ctx, tx)
		if err != nil {
			return nil, err
		}
		if has {
			if _, err := tx.ExecContext(ctx, `UPDATE privacyreq_requests SET lang = ? WHERE tenant = ? AND id = ?`,
				p.Lang, cmd.Tenant, p.ID); err != nil {
				return nil, fmt.Errorf("record language of request %s: %w", p.ID, err)
			}
		}
	}
	if p.Email == "" {
		return nil, nil
	}
	return nil, enqueue(tx, cmd, notice{Kind: noticeFiled, Tenant: tenant.ID(cmd.Tenant), Comune: p.Comune,
		To: p.Email, RequestID: p.ID, Lang: p.Lang, Key: "privacyreq/" + cmd.Tenant + "/" + p.ID + "/filed/1"})
}

func applyDecide(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p decidePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.Decision != StateApproved && p.Decision != StateRefused {
		return nil, fmt.Errorf("%s: decision %q", cmd.Type, p.Decision)
	}
	ctx := context.Background()
	hasLang, err := hasLangColumn(ctx, tx)
	if err != nil {
		return nil, err
	}
	langCol := `''`
	if hasLang {
		langCol = `lang`
	}
	var state, email, cf, lang string
	err = tx.QueryRowContext(ctx, `SELECT state, subject_cf, subject_email, `+langCol+` FROM privacyreq_requests WHERE tenant = ? AND id = ?`,
		cmd.Tenant, p.ID).Scan(&state, &cf, &email, &lang)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", p.ID, err)
	}
	if State(state) != StatePending {
		return nil, ErrDecided
	}
	if p.Decision == StateApproved && cmd.Version >= 2 {
		// The erasure runs here, before the digests and the email: one
		// log entry erases the citizen, pseudonymises the request and
		// queues the answer, so no snapshot can fall between them (the
		// compactor wakes on the erasure's row, written here under this
		// same index). The outcome email is queued after the erasure,
		// which would otherwise delete it with the citizen's other emails.
		rep, err := privacy.EraseCitizenIn(tx, cmd, privacy.Subject{FiscalCode: cf, Email: email}, "richiesta "+p.ID)
		if err != nil {
			return nil, fmt.Errorf("erase for request %s: %w", p.ID, err)
		}
		p.EraseIndex = rep.Index
		p.EraseCounts = make(map[string]int, len(rep.Counts))
		for c, n := range rep.Counts {
			p.EraseCounts[string(c)] = n
		}
	}
	counts, err := json.Marshal(nonNilCounts(p.EraseCounts))
	if err != nil {
		return nil, fmt.Errorf("encode counts: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE privacyreq_requests SET state = ?, decided = ?, decided_by = ?,
		decided_by_name = ?, reason = ?, erase_index = ?, erase_counts = ? WHERE tenant = ? AND id = ?`,
		string(p.Decision), cmd.Time.UnixMilli(), p.By, p.ByName, p.Reason, int64(p.EraseIndex), string(counts),
		cmd.Tenant, p.ID); err != nil {
		return nil, fmt.Errorf("decide request %s: %w", p.ID, err)
	}
	if p.Decision == StateApproved {
		// The erasure is done: the record keeps only digests of whom it
		// was about (the email below is queued before, from email).
		if _, err := tx.ExecContext(ctx, `UPDATE privacyreq_requests SET subject_cf = ?, subject_email = ?, note = ''
			WHERE tenant = ? AND id = ?`, subjectDigest(cmd.Tenant, cf), subjectDigest(cmd.Tenant, email), cmd.Tenant, p.ID); err != nil {
			return nil, fmt.Errorf("pseudonymise request %s: %w", p.ID, err)
		}
	}
	if email == "" {
		return nil, nil
	}
	// privacy.forget_sent finds this email by its exact key once it is
	// delivered (privacy/forget.go): keep the two alike.
	return nil, enqueue(tx, cmd, notice{Kind: noticeDecision, Tenant: tenant.ID(cmd.Tenant), Comune: p.Comune,
		To: email, RequestID: p.ID, Decision: p.Decision, Reason: p.Reason, Lang: lang,
		Key: "privacyreq/" + cmd.Tenant + "/" + p.ID + "/decision/1"})
}

// hasLangColumn reports whether the requests table has schema version
// 2's lang column. Until the cluster has migrated (which it does only
// once every node knows version 2), apply neither writes nor reads it;
// the answer is the same on every node at one log index, so apply stays
// deterministic in a cluster being upgraded, and version 1 payloads
// (which may carry lang already) need no new version.
func hasLangColumn(ctx context.Context, tx *sql.Tx) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('privacyreq_requests') WHERE name = 'lang'`).Scan(&n); err != nil {
		return false, fmt.Errorf("read schema of privacyreq_requests: %w", err)
	}
	return n > 0, nil
}

// digestPrefix starts a pseudonymised subject.
const digestPrefix = "sha256:"

// subjectDigest is the stored form of an erased subject's codice fiscale
// or email: a SHA-256 over the Comune and the value ("" stays ""). It
// lets a later export of the same person list the request, and reveals
// the value to nobody who does not already know it.
func subjectDigest(t, v string) string {
	if v == "" || strings.HasPrefix(v, digestPrefix) {
		return v
	}
	sum := sha256.Sum256([]byte(t + "\x00" + v))
	return digestPrefix + hex.EncodeToString(sum[:])
}

func nonNilCounts(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// enqueue queues the email of n in the replicated outbox, in the same
// transaction as the change it tells of.
func enqueue(tx *sql.Tx, cmd cluster.Command, n notice) error {
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode email %s: %w", n.Key, err)
	}
	if err := cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: OutboxKind, Key: n.Key, Payload: payload}); err != nil {
		return fmt.Errorf("enqueue email %s: %w", n.Key, err)
	}
	return nil
}
