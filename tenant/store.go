package tenant

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Command types of the registry. Both carry a savePayload (version 1).
const (
	CommandCreate = "tenant.create"
	CommandUpdate = "tenant.update"
)

// payloadVersion is the newest payload version the apply functions know.
// Any change to the JSON form of Tenant (a field added, renamed or with a
// new meaning) needs a new version, since older nodes refuse unknown
// fields.
const payloadVersion = 1

// savePayload is the payload of tenant.create and tenant.update, version 1.
type savePayload struct {
	// Tenant is the Comune as the administrator gave it; Created is ignored
	// (apply takes it from the command's leader time on creation and keeps
	// the stored one on update).
	Tenant Tenant `json:"tenant"`
	// BaseDomain is the proposing node's base domain, stamped so that apply
	// checks "not under the base domain" without reading local config.
	BaseDomain string `json:"base_domain"`
}

// migrations are the registry's schema steps. Every row is keyed by the
// tenant ID. Languages and patron days, lists read only with their tenant,
// are JSON arrays; domains have a table of their own so that a unique index
// guarantees that no two Comuni answer on the same name.
var migrations = []cluster.Migration{{
	Component: "tenant",
	Version:   1,
	SQL: `
CREATE TABLE tenants (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	region         TEXT NOT NULL DEFAULT '',
	istat          TEXT NOT NULL,
	code_prefix    TEXT NOT NULL,
	logo_url       TEXT NOT NULL DEFAULT '',
	primary_color  TEXT NOT NULL DEFAULT '',
	time_zone      TEXT NOT NULL,
	languages      TEXT NOT NULL,
	patron_days    TEXT NOT NULL,
	sender_name    TEXT NOT NULL DEFAULT '',
	sender_address TEXT NOT NULL DEFAULT '',
	created        TEXT NOT NULL,
	updated        TEXT NOT NULL
);
CREATE TABLE tenant_domains (
	tenant_id TEXT NOT NULL REFERENCES tenants(id),
	domain    TEXT NOT NULL,
	position  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, domain)
);
CREATE UNIQUE INDEX tenant_domains_domain ON tenant_domains(domain);
`,
}, {
	// tenant_version names the registry's current state: the log index
	// and leader time of the last command that changed the registry
	// (create, update, disable, enable, delete). Every
	// apply function that writes the registry's tables stores its command
	// there, in the same transaction; Resolve keeps the Comuni it resolved
	// in memory while the version it reads does not change.
	Component: "tenant",
	Version:   2,
	SQL: `
CREATE TABLE tenant_version (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	cmd_index INTEGER NOT NULL,
	cmd_time  INTEGER NOT NULL
);
INSERT INTO tenant_version (id, cmd_index, cmd_time) VALUES (1, 0, 0);
`,
}, {
	// Disabling and deleting Comuni (lifecycle.go): the disabled state on
	// the row ('' while active), and a tombstone per deleted ID so that an
	// ID is never given to a second Comune.
	Component: "tenant",
	Version:   3,
	SQL: `
ALTER TABLE tenants ADD COLUMN disabled_at TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
CREATE TABLE tenant_tombstones (
	id      TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	istat   TEXT NOT NULL,
	deleted TEXT NOT NULL
) WITHOUT ROWID;
`,
}}

// bumpVersion records cmd as the last change of the registry.
func bumpVersion(tx *sql.Tx, cmd cluster.Command) error {
	if _, err := tx.Exec(`UPDATE tenant_version SET cmd_index = ?, cmd_time = ? WHERE id = 1`,
		int64(cmd.Index), cmd.Time.UnixNano()); err != nil {
		return fmt.Errorf("store registry version: %w", err)
	}
	return nil
}

// Register adds the registry's schema migrations and apply functions to
// reg. cmd/sportello calls it once per node, before the node starts.
func Register(reg *cluster.Registry) {
	registerErrors(reg)
	reg.Migrate(migrations...)
	reg.Handle(CommandCreate, payloadVersion, applyCreate)
	reg.Handle(CommandUpdate, payloadVersion, applyUpdate)
	registerLifecycle(reg)
	registerSettings(reg)
}

// decodeSave decodes and checks the payload of a create or update command.
func decodeSave(cmd cluster.Command) (savePayload, error) {
	var p savePayload
	if cmd.Version < 1 || cmd.Version > payloadVersion {
		return p, fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, payloadVersion)
	}
	if err := cmd.Decode(&p); err != nil {
		return p, err
	}
	normalize(&p.Tenant)
	return p, nil
}

// applyCreate adds a Comune. It runs in the FSM and checks every invariant
// itself: a valid tenant, an unused ID and unused domains.
func applyCreate(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, err := decodeSave(cmd)
	if err != nil {
		return nil, err
	}
	t := p.Tenant
	applyDefaults(&t)
	if err := validate(t, p.BaseDomain); err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM tenants WHERE id = ?`, t.ID).Scan(&n); err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", t.ID, err)
	}
	if n > 0 {
		return nil, fmt.Errorf("create tenant %s: %w", t.ID, ErrExists)
	}
	if err := checkNotRetired(tx, t.ID); err != nil {
		return nil, err
	}
	if err := checkDomainsFree(tx, t); err != nil {
		return nil, err
	}
	t.Created = cmd.Time.UTC()
	row, err := encodeRow(t)
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(`INSERT INTO tenants (id, name, region, istat, code_prefix, logo_url, primary_color,
		time_zone, languages, patron_days, sender_name, sender_address, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Region, t.ISTAT, t.CodePrefix, t.Branding.LogoURL, t.Branding.PrimaryColor,
		t.TimeZone, row.languages, row.patrons, t.Sender.Name, t.Sender.Address,
		formatTime(t.Created), formatTime(cmd.Time))
	if err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", t.ID, err)
	}
	if err := insertDomains(tx, t); err != nil {
		return nil, err
	}
	if err := bumpVersion(tx, cmd); err != nil {
		return nil, err
	}
	return t, nil
}

// applyUpdate replaces every field of an existing Comune but its ID and
// creation time.
func applyUpdate(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, err := decodeSave(cmd)
	if err != nil {
		return nil, err
	}
	t := p.Tenant
	if cmd.Tenant != "" && cmd.Tenant != string(t.ID) {
		return nil, fmt.Errorf("update tenant: command tenant %q differs from payload %q", cmd.Tenant, t.ID)
	}
	if err := validate(t, p.BaseDomain); err != nil {
		return nil, err
	}
	var created string
	err = tx.QueryRow(`SELECT created FROM tenants WHERE id = ?`, t.ID).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("update tenant %s: %w", t.ID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update tenant %s: %w", t.ID, err)
	}
	if t.Created, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("update tenant %s: %w", t.ID, err)
	}
	if err := checkDomainsFree(tx, t); err != nil {
		return nil, err
	}
	row, err := encodeRow(t)
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(`UPDATE tenants SET name = ?, region = ?, istat = ?, code_prefix = ?, logo_url = ?,
		primary_color = ?, time_zone = ?, languages = ?, patron_days = ?, sender_name = ?,
		sender_address = ?, updated = ? WHERE id = ?`,
		t.Name, t.Region, t.ISTAT, t.CodePrefix, t.Branding.LogoURL,
		t.Branding.PrimaryColor, t.TimeZone, row.languages, row.patrons, t.Sender.Name,
		t.Sender.Address, formatTime(cmd.Time), t.ID)
	if err != nil {
		return nil, fmt.Errorf("update tenant %s: %w", t.ID, err)
	}
	if _, err := tx.Exec(`DELETE FROM tenant_domains WHERE tenant_id = ?`, t.ID); err != nil {
		return nil, fmt.Errorf("update tenant %s: %w", t.ID, err)
	}
	if err := insertDomains(tx, t); err != nil {
		return nil, err
	}
	if err := bumpVersion(tx, cmd); err != nil {
		return nil, err
	}
	return t, nil
}

// checkDomainsFree returns ErrDomainTaken when another Comune answers on one
// of t's domains. The unique index would refuse it too; checking first
// gives the proposer a domain error instead of a constraint failure.
func checkDomainsFree(tx *sql.Tx, t Tenant) error {
	for _, d := range t.Domains {
		var owner string
		err := tx.QueryRow(`SELECT tenant_id FROM tenant_domains WHERE domain = ? AND tenant_id <> ?`, d, t.ID).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("check domain %s: %w", d, err)
		default:
			return fmt.Errorf("domain %s: %w", d, ErrDomainTaken)
		}
	}
	return nil
}

func insertDomains(tx *sql.Tx, t Tenant) error {
	for i, d := range t.Domains {
		if _, err := tx.Exec(`INSERT INTO tenant_domains (tenant_id, domain, position) VALUES (?, ?, ?)`, t.ID, d, i); err != nil {
			return fmt.Errorf("add domain %s to tenant %s: %w", d, t.ID, err)
		}
	}
	return nil
}

// encodedRow holds the JSON columns of a tenant row.
type encodedRow struct {
	languages, patrons string
}

func encodeRow(t Tenant) (encodedRow, error) {
	langs := t.Languages
	if langs == nil {
		langs = []string{}
	}
	patrons := t.PatronDays
	if patrons == nil {
		patrons = []PatronDay{}
	}
	l, err := json.Marshal(langs)
	if err != nil {
		return encodedRow{}, fmt.Errorf("encode languages of %s: %w", t.ID, err)
	}
	p, err := json.Marshal(patrons)
	if err != nil {
		return encodedRow{}, fmt.Errorf("encode patron days of %s: %w", t.ID, err)
	}
	return encodedRow{languages: string(l), patrons: string(p)}, nil
}

// formatTime stores instants as RFC 3339 in UTC with nanoseconds, so that
// every node writes the same bytes.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}
