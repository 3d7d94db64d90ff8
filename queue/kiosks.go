package queue

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Kiosk enrolment. A Comune administrator or an office's supervisor
// enrols a kiosk of the office from the back office: the kiosk gets a
// random token, once, which its page keeps in a cookie; the queue keeps
// only the token's hash. A take from an enrolled kiosk is exempt from the
// per-address cap (one kiosk serves the whole office from one address),
// and an office may refuse the kiosk route to browsers that are not an
// enrolled kiosk (OfficeConfig.KioskOnly), so that a script cannot use
// the kiosk's door, which has no proof of work and no email, from home.

// Command types of the kiosks.
const (
	CmdKioskEnrol  = "queue.kiosk.enrol"
	CmdKioskRevoke = "queue.kiosk.revoke"
)

// MaxKioskLabel is the longest label of a kiosk, in characters.
const MaxKioskLabel = 80

// kioskTokenBytes is the entropy of a kiosk's token.
const kioskTokenBytes = 32

// ErrKioskNotEnrolled: the office takes kiosk tickets only from enrolled
// kiosks, and this browser is not one (or its kiosk was revoked).
var ErrKioskNotEnrolled = errors.New("kiosk not enrolled for this office")

// Kiosk is an enrolled kiosk of an office.
type Kiosk struct {
	ID        string    `json:"id"`
	OfficeID  string    `json:"office_id"`
	Label     string    `json:"label"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Revoked is when the kiosk was revoked (zero while it is valid).
	Revoked time.Time `json:"revoked,omitzero"`
}

// Active reports whether the kiosk is still enrolled.
func (k Kiosk) Active() bool { return k.Revoked.IsZero() }

// kioskEnrolPayload is version 1 of queue.kiosk.enrol; the proposer
// stamps the ID and the token's hash (the token never reaches the log).
type kioskEnrolPayload struct {
	ID        string `json:"id"`
	OfficeID  string `json:"office_id"`
	Label     string `json:"label"`
	TokenHash []byte `json:"token_hash"`
	CreatedBy string `json:"created_by,omitempty"`
}

// kioskRevokePayload is version 1 of queue.kiosk.revoke.
type kioskRevokePayload struct {
	ID       string `json:"id"`
	OfficeID string `json:"office_id"`
}

// registerKiosks adds the kiosks' commands and error to reg.
func registerKiosks(reg *cluster.Registry) {
	reg.RegisterError("queue.kiosk_not_enrolled", ErrKioskNotEnrolled)
	reg.Handle(CmdKioskEnrol, payloadVersion, applyKioskEnrol)
	reg.Handle(CmdKioskRevoke, payloadVersion, applyKioskRevoke)
	for _, typ := range []string{CmdKioskEnrol, CmdKioskRevoke} {
		reg.Describe(typ, describeKiosk)
		reg.HandleResult(typ, func(raw json.RawMessage) (any, error) {
			var k Kiosk
			err := json.Unmarshal(raw, &k)
			return k, err
		})
	}
}

// describeKiosk sums up a kiosk command for the audit log: the kiosk and
// its office, never the token's hash.
func describeKiosk(cmd cluster.Command) string {
	var ids struct {
		ID       string `json:"id"`
		OfficeID string `json:"office_id"`
	}
	if json.Unmarshal(cmd.Payload, &ids) != nil {
		return ""
	}
	return "kiosk=" + ids.ID + " office=" + ids.OfficeID
}

// CheckKioskLabel validates a kiosk's label.
func CheckKioskLabel(label string) error {
	switch l := strings.TrimSpace(label); {
	case l == "":
		return &ValidationError{Fields: map[string]string{"label": "Indicare un nome per il chiosco, ad esempio «Ingresso principale»."}}
	case utf8.RuneCountInString(l) > MaxKioskLabel:
		return &ValidationError{Fields: map[string]string{"label": fmt.Sprintf("Il nome del chiosco può avere al massimo %d caratteri.", MaxKioskLabel)}}
	}
	return nil
}

// EnrolKiosk enrols a kiosk of officeID with label, by the user
// createdBy, and returns it with its token: shown once, to be stored by
// the kiosk's page, kept only hashed.
func (q *Queue) EnrolKiosk(ctx context.Context, t tenant.ID, officeID, label, createdBy string) (Kiosk, string, error) {
	if err := CheckKioskLabel(label); err != nil {
		return Kiosk{}, "", err
	}
	if _, err := q.book.Office(ctx, t, officeID); err != nil {
		return Kiosk{}, "", q.notFound("office", officeID, err)
	}
	id, err := q.newID()
	if err != nil {
		return Kiosk{}, "", err
	}
	token, err := q.randomToken(kioskTokenBytes)
	if err != nil {
		return Kiosk{}, "", err
	}
	res, err := q.propose(ctx, CmdKioskEnrol, t, kioskEnrolPayload{
		ID: id, OfficeID: officeID, Label: strings.TrimSpace(label), TokenHash: hashSecret(token), CreatedBy: createdBy,
	})
	if err != nil {
		return Kiosk{}, "", err
	}
	k, err := kioskOf(res.Value)
	return k, token, err
}

// RevokeKiosk revokes the kiosk id of officeID: its cookie opens nothing
// any more, from the next take on (apply checks it).
func (q *Queue) RevokeKiosk(ctx context.Context, t tenant.ID, officeID, id string) (Kiosk, error) {
	res, err := q.propose(ctx, CmdKioskRevoke, t, kioskRevokePayload{ID: id, OfficeID: officeID})
	if err != nil {
		return Kiosk{}, err
	}
	return kioskOf(res.Value)
}

// Kiosks lists the kiosks of an office, revoked ones too, oldest first.
func (q *Queue) Kiosks(ctx context.Context, t tenant.ID, officeID string) ([]Kiosk, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, office_id, label, created, created_by, revoked FROM queue_kiosks
		WHERE tenant = ? AND office_id = ? ORDER BY created, id`, t, officeID)
	if err != nil {
		return nil, fmt.Errorf("kiosks of %s: %w", officeID, err)
	}
	defer rows.Close()
	out := []Kiosk{}
	for rows.Next() {
		var k Kiosk
		var created, revoked int64
		if err := rows.Scan(&k.ID, &k.OfficeID, &k.Label, &created, &k.CreatedBy, &revoked); err != nil {
			return nil, fmt.Errorf("kiosks of %s: %w", officeID, err)
		}
		k.Created, k.Revoked = unixTime(created), unixTime(revoked)
		out = append(out, k)
	}
	return out, rows.Err()
}

// KioskByToken returns the active kiosk of officeID whose token is
// token, from the local view: ErrNotFound for an unknown, revoked or
// other office's token.
func (q *Queue) KioskByToken(ctx context.Context, t tenant.ID, officeID, token string) (Kiosk, error) {
	if token == "" {
		return Kiosk{}, fmt.Errorf("kiosk: %w", ErrNotFound)
	}
	h := hashSecret(token)
	var k Kiosk
	var stored []byte
	var created, revoked int64
	err := q.db.QueryRowContext(ctx, `SELECT id, office_id, label, created, created_by, revoked, token_hash
		FROM queue_kiosks WHERE tenant = ? AND token_hash = ?`, t, h).Scan(
		&k.ID, &k.OfficeID, &k.Label, &created, &k.CreatedBy, &revoked, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return Kiosk{}, fmt.Errorf("kiosk: %w", ErrNotFound)
	}
	if err != nil {
		return Kiosk{}, fmt.Errorf("kiosk of %s: %w", officeID, err)
	}
	k.Created, k.Revoked = unixTime(created), unixTime(revoked)
	if subtle.ConstantTimeCompare(stored, h) != 1 || k.OfficeID != officeID || !k.Active() {
		return Kiosk{}, fmt.Errorf("kiosk of %s: %w", officeID, ErrNotFound)
	}
	return k, nil
}

func applyKioskEnrol(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p kioskEnrolPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if err := CheckKioskLabel(p.Label); err != nil {
		return nil, err
	}
	if p.ID == "" || p.OfficeID == "" || len(p.TokenHash) == 0 {
		return nil, fmt.Errorf("%s: payload lacks id, office or token", cmd.Type)
	}
	k := Kiosk{ID: p.ID, OfficeID: p.OfficeID, Label: strings.TrimSpace(p.Label), Created: cmd.Time.UTC().Truncate(time.Second), CreatedBy: p.CreatedBy}
	if _, err := tx.ExecContext(context.Background(), `INSERT INTO queue_kiosks (tenant, id, office_id, label, token_hash,
		created, created_by, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
		cmd.Tenant, k.ID, k.OfficeID, k.Label, p.TokenHash, k.Created.Unix(), k.CreatedBy); err != nil {
		return nil, fmt.Errorf("enrol kiosk of %s: %w", k.OfficeID, err)
	}
	return k, nil
}

func applyKioskRevoke(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p kioskRevokePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	var k Kiosk
	var created, revoked int64
	err := tx.QueryRowContext(ctx, `SELECT id, office_id, label, created, created_by, revoked FROM queue_kiosks
		WHERE tenant = ? AND id = ? AND office_id = ?`, cmd.Tenant, p.ID, p.OfficeID).Scan(
		&k.ID, &k.OfficeID, &k.Label, &created, &k.CreatedBy, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("kiosk %s of %s: %w", p.ID, p.OfficeID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("kiosk %s: %w", p.ID, err)
	}
	k.Created = unixTime(created)
	if revoked != 0 {
		// Revoking twice keeps the first time.
		k.Revoked = unixTime(revoked)
		return k, nil
	}
	k.Revoked = cmd.Time.UTC().Truncate(time.Second)
	if _, err := tx.ExecContext(ctx, `UPDATE queue_kiosks SET revoked = ? WHERE tenant = ? AND id = ?`,
		k.Revoked.Unix(), cmd.Tenant, k.ID); err != nil {
		return nil, fmt.Errorf("revoke kiosk %s: %w", k.ID, err)
	}
	return k, nil
}

// admitKiosk decides, in apply, on a kiosk take: the kiosk the proposer
// named must still be enrolled for the office (a revocation racing the
// take wins if it is applied first), and an office that takes kiosk
// tickets only from enrolled kiosks refuses the others.
func admitKiosk(tx *sql.Tx, cfg OfficeConfig, k Ticket, a *admitStamp) error {
	if a.Source != SourceKiosk {
		return nil
	}
	if a.KioskID != "" {
		var ok bool
		if err := tx.QueryRowContext(context.Background(), `SELECT EXISTS (SELECT 1 FROM queue_kiosks
			WHERE tenant = ? AND id = ? AND office_id = ? AND revoked = 0)`, k.Tenant, a.KioskID, k.OfficeID).Scan(&ok); err != nil {
			return fmt.Errorf("check kiosk of %s: %w", k.OfficeID, err)
		}
		if !ok {
			return fmt.Errorf("kiosk %s at %s: %w", a.KioskID, k.OfficeID, ErrKioskNotEnrolled)
		}
		return nil
	}
	if cfg.KioskOnly {
		return fmt.Errorf("office %s: %w", k.OfficeID, ErrKioskNotEnrolled)
	}
	return nil
}

// kioskOf reads a Kiosk from a command's result.
func kioskOf(v any) (Kiosk, error) {
	switch v := v.(type) {
	case Kiosk:
		return v, nil
	case json.RawMessage:
		var k Kiosk
		err := json.Unmarshal(v, &k)
		return k, err
	}
	return Kiosk{}, fmt.Errorf("unexpected result %T", v)
}
