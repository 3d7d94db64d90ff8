package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Command types that end a Comune's service. They are types of their own
// rather than new versions of tenant.update, so that the version gate
// holds them back until every member knows them: a node of an older binary
// would refuse them, loudly, and its copy of the registry would differ.
const (
	CommandDisable = "tenant.disable"
	CommandEnable  = "tenant.enable"
	CommandDelete  = "tenant.delete"
)

// lifecycleVersion is the payload version of the three commands.
const lifecycleVersion = 1

// maxReasonLen bounds the note of a disable, in characters.
const maxReasonLen = 300

// disablePayload is the payload of tenant.disable, version 1; the Comune
// is the command's tenant.
type disablePayload struct {
	Reason string `json:"reason"`
}

// idPayload is the payload of tenant.enable and tenant.delete, version 1:
// nothing but the command's tenant.
type idPayload struct{}

// Tombstone is what remains of a deleted Comune: enough to say, when an
// old log line or audit row names the ID, which Comune it was.
type Tombstone struct {
	ID    ID     `json:"id"`
	Name  string `json:"name"`
	ISTAT string `json:"istat"`
	// Deleted is the leader time of the delete, RFC 3339.
	Deleted string `json:"deleted"`
}

func registerLifecycle(reg *cluster.Registry) {
	reg.Handle(CommandDisable, lifecycleVersion, applyDisable)
	reg.Handle(CommandEnable, lifecycleVersion, applyEnable)
	reg.Handle(CommandDelete, lifecycleVersion, applyDelete)
}

// Disable stops the Comune id's service: its hosts answer a 503 page
// naming it, its API answers tenant_disabled, no certificate is issued
// for its names and no one can sign in to its back office. Its data stay.
// reason is a note for administrators. Disabling a disabled Comune only
// replaces the note. It returns ErrNotFound for an unknown Comune and a
// *ValidationError (field "reason") for an unusable note.
func (r *Registry) Disable(ctx context.Context, id ID, reason string) (Tenant, error) {
	reason = strings.TrimSpace(reason)
	if err := validateReason(reason); err != nil {
		return Tenant{}, err
	}
	return r.lifecycle(ctx, CommandDisable, id, disablePayload{Reason: reason})
}

// Enable gives the Comune id its service back, as it was. Enabling an
// active Comune does nothing. It returns ErrNotFound for an unknown one.
func (r *Registry) Enable(ctx context.Context, id ID) (Tenant, error) {
	return r.lifecycle(ctx, CommandEnable, id, idPayload{})
}

// Delete removes the disabled Comune id from the registry: the row, its
// domains and its settings. Its host names become unknown at once (404,
// no certificate) and its ID is kept as a Tombstone, never to be given
// to another Comune. confirm must repeat id, as a person types it to show
// they mean this Comune. The Comune's data in other packages' tables stay
// until their erasure and retention remove them (see the package doc).
// It returns ErrNotFound for an unknown Comune and a *ValidationError
// when confirm differs ("confirm") or the Comune is not disabled ("id").
func (r *Registry) Delete(ctx context.Context, id ID, confirm ID) (Tombstone, error) {
	if confirm != id {
		return Tombstone{}, &ValidationError{Fields: map[string]string{
			"confirm": fmt.Sprintf("Per confermare l'eliminazione scrivi l'identificativo del Comune, «%s».", id),
		}}
	}
	if !ValidID(string(id)) {
		return Tombstone{}, fmt.Errorf("delete tenant %s: %w", id, ErrNotFound)
	}
	cmd, err := cluster.NewCommand(CommandDelete, lifecycleVersion, string(id), idPayload{})
	if err != nil {
		return Tombstone{}, err
	}
	res, err := r.p.Propose(ctx, cmd)
	if err != nil {
		return Tombstone{}, fmt.Errorf("%s %s: %w", CommandDelete, id, err)
	}
	if err := r.p.WaitApplied(ctx, res.Index); err != nil {
		return Tombstone{}, fmt.Errorf("%s %s: %w", CommandDelete, id, err)
	}
	return r.Tombstone(ctx, id)
}

// Tombstone returns what remains of the deleted Comune id, or ErrNotFound
// when no Comune with that ID was ever deleted.
func (r *Registry) Tombstone(ctx context.Context, id ID) (Tombstone, error) {
	ts := Tombstone{ID: id}
	err := r.db.QueryRowContext(ctx, `SELECT name, istat, deleted FROM tenant_tombstones WHERE id = ?`, id).
		Scan(&ts.Name, &ts.ISTAT, &ts.Deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w", id, err)
	}
	return ts, nil
}

func (r *Registry) lifecycle(ctx context.Context, typ string, id ID, payload any) (Tenant, error) {
	if !ValidID(string(id)) {
		return Tenant{}, fmt.Errorf("%s %s: %w", typ, id, ErrNotFound)
	}
	cmd, err := cluster.NewCommand(typ, lifecycleVersion, string(id), payload)
	if err != nil {
		return Tenant{}, err
	}
	res, err := r.p.Propose(ctx, cmd)
	if err != nil {
		return Tenant{}, fmt.Errorf("%s %s: %w", typ, id, err)
	}
	if err := r.p.WaitApplied(ctx, res.Index); err != nil {
		return Tenant{}, fmt.Errorf("%s %s: %w", typ, id, err)
	}
	return r.Get(ctx, id)
}

// validateReason checks a disable note: short, one line, printable.
func validateReason(reason string) error {
	msg := ""
	switch {
	case !utf8.ValidString(reason):
		msg = "Il motivo contiene caratteri non validi."
	case utf8.RuneCountInString(reason) > maxReasonLen:
		msg = fmt.Sprintf("Il motivo può avere al massimo %d caratteri.", maxReasonLen)
	case strings.ContainsFunc(reason, unicode.IsControl):
		msg = "Il motivo deve stare su una riga, senza caratteri di controllo."
	}
	if msg != "" {
		return &ValidationError{Fields: map[string]string{"reason": msg}}
	}
	return nil
}

// decodeLifecycle checks the version and tenant of a lifecycle command
// and decodes its payload into p.
func decodeLifecycle(cmd cluster.Command, p any) (ID, error) {
	if cmd.Version < 1 || cmd.Version > lifecycleVersion {
		return "", fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, lifecycleVersion)
	}
	if err := cmd.Decode(p); err != nil {
		return "", err
	}
	if !ValidID(cmd.Tenant) {
		return "", fmt.Errorf("%s %q: %w", cmd.Type, cmd.Tenant, ErrNotFound)
	}
	return ID(cmd.Tenant), nil
}

// disabledAt reads the disabled state of the Comune id ("" while active),
// or ErrNotFound.
func disabledAt(tx *sql.Tx, typ string, id ID) (string, error) {
	var at string
	err := tx.QueryRow(`SELECT disabled_at FROM tenants WHERE id = ?`, id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%s %s: %w", typ, id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", typ, id, err)
	}
	return at, nil
}

// applyDisable marks a Comune disabled at the command's leader time, or
// replaces the note of a disabled one (its time stays).
func applyDisable(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p disablePayload
	id, err := decodeLifecycle(cmd, &p)
	if err != nil {
		return nil, err
	}
	if err := validateReason(p.Reason); err != nil {
		return nil, err
	}
	at, err := disabledAt(tx, cmd.Type, id)
	if err != nil {
		return nil, err
	}
	if at == "" {
		at = formatTime(cmd.Time)
	}
	if _, err := tx.Exec(`UPDATE tenants SET disabled_at = ?, disabled_reason = ?, updated = ? WHERE id = ?`,
		at, p.Reason, formatTime(cmd.Time), id); err != nil {
		return nil, fmt.Errorf("disable tenant %s: %w", id, err)
	}
	return nil, bumpVersion(tx, cmd)
}

// applyEnable clears the disabled state. An active Comune is left as it
// is, without touching the registry's version.
func applyEnable(tx *sql.Tx, cmd cluster.Command) (any, error) {
	id, err := decodeLifecycle(cmd, &idPayload{})
	if err != nil {
		return nil, err
	}
	at, err := disabledAt(tx, cmd.Type, id)
	if err != nil || at == "" {
		return nil, err
	}
	if _, err := tx.Exec(`UPDATE tenants SET disabled_at = '', disabled_reason = '', updated = ? WHERE id = ?`,
		formatTime(cmd.Time), id); err != nil {
		return nil, fmt.Errorf("enable tenant %s: %w", id, err)
	}
	return nil, bumpVersion(tx, cmd)
}

// applyDelete removes a disabled Comune's registry rows and leaves its
// tombstone. Only a disabled Comune can go: the citizens have already
// seen it unavailable, and a mistyped ID cannot remove a live service.
func applyDelete(tx *sql.Tx, cmd cluster.Command) (any, error) {
	id, err := decodeLifecycle(cmd, &idPayload{})
	if err != nil {
		return nil, err
	}
	ts := Tombstone{ID: id, Deleted: formatTime(cmd.Time)}
	var at string
	err = tx.QueryRow(`SELECT name, istat, disabled_at FROM tenants WHERE id = ?`, id).Scan(&ts.Name, &ts.ISTAT, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("delete tenant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("delete tenant %s: %w", id, err)
	}
	if at == "" {
		return nil, &ValidationError{Fields: map[string]string{
			"id": fmt.Sprintf("Il Comune «%s» è attivo: disattivalo prima di eliminarlo.", id),
		}}
	}
	// The settings row refers to the tenant row; its table exists once the
	// tenant-settings migration ran, which Register orders before any
	// command of this type can be proposed.
	stmts := []string{
		`DELETE FROM tenant_settings WHERE tenant_id = ?`,
		`DELETE FROM tenant_domains WHERE tenant_id = ?`,
		`DELETE FROM tenants WHERE id = ?`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(q, id); err != nil {
			return nil, fmt.Errorf("delete tenant %s: %w", id, err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO tenant_tombstones (id, name, istat, deleted) VALUES (?, ?, ?, ?)`,
		ts.ID, ts.Name, ts.ISTAT, ts.Deleted); err != nil {
		return nil, fmt.Errorf("delete tenant %s: %w", id, err)
	}
	if err := bumpVersion(tx, cmd); err != nil {
		return nil, err
	}
	return ts, nil
}

// checkNotRetired refuses an ID that a deleted Comune had: old log lines,
// audit rows and links name it, and must never lead to a new Comune.
func checkNotRetired(tx *sql.Tx, id ID) error {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM tenant_tombstones WHERE id = ?`, id).Scan(&n)
	if err != nil && strings.Contains(err.Error(), "no such table: tenant_tombstones") {
		// Before tenant schema version 3 (a rolling upgrade under an
		// older leader) no Comune can have been deleted, and an older
		// member applies the same create without this check: both agree.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create tenant %s: %w", id, err)
	}
	if n > 0 {
		return &ValidationError{Fields: map[string]string{
			"id": fmt.Sprintf("L'identificativo «%s» apparteneva a un Comune eliminato e non può essere riutilizzato: scegline un altro.", id),
		}}
	}
	return nil
}
