package tenant

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
)

// CommandSettings changes the settings a Comune's administrator keeps from
// the back office: name, region label, branding and email sender. It is a
// command of its own rather than a tenant.update because it must not
// touch what the administrator may not change (the ID, the host names,
// the ISTAT code): it writes only its own columns, so a domain changed on
// the command line at the same time is never reverted by a page that read
// the Comune a moment before.
const CommandSettings = "tenant.settings"

// settingsVersion is the newest payload version of tenant.settings.
// Version 2 adds DocumentRetentionDays; apply reads a version 1 payload
// (proposed by a node not upgraded yet) as leaving the retention as it is,
// since that node's page could not show it. Version 3 adds Languages; an
// empty list in any version leaves the Comune's languages as they are.
const settingsVersion = 3

// Bounds of Settings.DocumentRetentionDays, when not 0.
const (
	MinDocumentRetentionDays = 1
	MaxDocumentRetentionDays = 365
)

// Settings are the fields of a Comune that its administrator edits.
type Settings struct {
	// Name is the name shown in the header, "Comune di Bari".
	Name string `json:"name"`
	// Region is the slim header's label; optional.
	Region   string   `json:"region"`
	Branding Branding `json:"branding"`
	Sender   Sender   `json:"sender"`
	// ReplyTo is the address citizens' replies go to when the office of
	// the appointment has no email of its own; optional. It is not part
	// of Tenant: booking commands carry the Tenant's Sender, and a new
	// field there would be refused by older nodes in a rolling upgrade.
	// The deliverer looks it up when it sends (Registry.ReplyTo).
	ReplyTo string `json:"reply_to,omitempty"`
	// DocumentRetentionDays is how long the documents exchanged in the
	// Comune's video calls are kept, in days (1 to 365); 0 keeps them for
	// the period the node's configuration gives ([media.documents]
	// retention). Like ReplyTo it lives outside Tenant, and the uploader
	// reads it when a document arrives (Registry.DocumentRetentionDays):
	// the expiry is fixed then, so a change applies to new documents only.
	DocumentRetentionDays int `json:"document_retention_days,omitempty"`
	// Languages are the languages the citizen pages offer, the first
	// being the default (Tenant.Languages); each must be one of
	// DefaultLanguages, the languages Sportello has catalogs for. Empty
	// leaves them as they are.
	Languages []string `json:"languages,omitempty"`
}

// SettingsOf returns the settings part of t, without ReplyTo, which
// Tenant does not hold (see Registry.Settings).
func SettingsOf(t Tenant) Settings {
	return Settings{Name: t.Name, Region: t.Region, Branding: t.Branding, Sender: t.Sender,
		Languages: slices.Clone(t.Languages)}
}

// settingsPayload is the payload of tenant.settings, version 1. The
// Comune is the command's Tenant.
type settingsPayload struct {
	Settings Settings `json:"settings"`
}

// normalizeSettings puts s in the canonical form normalize gives a Tenant.
func normalizeSettings(s Settings) Settings {
	t := Tenant{Name: s.Name, Region: s.Region, Branding: s.Branding, Sender: s.Sender, Languages: s.Languages}
	normalize(&t)
	out := SettingsOf(t)
	out.ReplyTo = strings.TrimSpace(s.ReplyTo)
	out.DocumentRetentionDays = s.DocumentRetentionDays
	return out
}

// validateSettings checks s with the messages validate gives the same
// fields, keyed the same way ("name", "branding.primary_color",
// "sender.address").
func validateSettings(s Settings) error {
	f := map[string]string{}
	checkText(f, "name", s.Name, true, "Il nome del Comune è obbligatorio.")
	checkText(f, "region", s.Region, false, "")
	checkBranding(f, s.Branding)
	checkText(f, "sender.name", s.Sender.Name, false, "")
	if s.Sender.Address != "" && !ValidEmail(s.Sender.Address) {
		f["sender.address"] = "Inserisci un indirizzo email valido, per esempio protocollo@comune.bari.it."
	}
	if s.ReplyTo != "" && !ValidEmail(s.ReplyTo) {
		f["reply_to"] = "Inserisci un indirizzo email valido, per esempio urp@comune.bari.it."
	}
	if d := s.DocumentRetentionDays; d != 0 && (d < MinDocumentRetentionDays || d > MaxDocumentRetentionDays) {
		f["document_retention_days"] = fmt.Sprintf("Indica un numero di giorni tra %d e %d, oppure lascia vuoto per il periodo predefinito.",
			MinDocumentRetentionDays, MaxDocumentRetentionDays)
	}
	if len(s.Languages) > 0 {
		checkLanguages(f, s.Languages)
		for i, l := range s.Languages {
			if key := fmt.Sprintf("languages.%d", i); f[key] == "" && !slices.Contains(DefaultLanguages(), l) {
				f[key] = fmt.Sprintf("La lingua %q non è disponibile: scegli tra %s.", l, strings.Join(DefaultLanguages(), ", "))
			}
		}
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// ValidateSettings checks s as SaveSettings does, so that a page can
// show every field's error at once.
func ValidateSettings(s Settings) error { return validateSettings(normalizeSettings(s)) }

// SaveSettings replaces the settings of the Comune id and returns the log
// index of the change (WaitApplied on another node gives read-your-writes
// there). It returns a *ValidationError for invalid fields and
// ErrNotFound when there is no such Comune; apply checks both again.
// The colour's contrast (ContrastWithWhite) is the caller's policy: the
// back office refuses colours below WCAG AA, while the layout darkens any
// colour it is given.
func (r *Registry) SaveSettings(ctx context.Context, id ID, s Settings) (uint64, error) {
	s = normalizeSettings(s)
	if err := validateSettings(s); err != nil {
		return 0, err
	}
	cmd, err := cluster.NewCommand(CommandSettings, settingsVersion, string(id), settingsPayload{Settings: s})
	if err != nil {
		return 0, err
	}
	res, err := r.p.Propose(ctx, cmd)
	if err != nil {
		return 0, fmt.Errorf("save settings of %s: %w", id, err)
	}
	return res.Index, nil
}

// applySettings writes a Comune's settings. It checks them itself and
// changes no other column.
func applySettings(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Version < 1 || cmd.Version > settingsVersion {
		return nil, fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, settingsVersion)
	}
	var p settingsPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	s := normalizeSettings(p.Settings)
	if err := validateSettings(s); err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM tenants WHERE id = ?`, cmd.Tenant).Scan(&n); err != nil {
		return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, ErrNotFound)
	}
	// The cluster migrates tenant-settings to version 2 some seconds after
	// the last node is upgraded, while version 2 commands pass the gate
	// from that moment: until the column exists, a retention of 0 changes
	// nothing and another is refused rather than dropped. Every node has
	// the same schema at this index, so every node decides alike.
	hasRetention := cmd.Version >= 2
	if hasRetention {
		var cols int
		if err := tx.QueryRow(`SELECT count(*) FROM pragma_table_info('tenant_settings')
			WHERE name = 'document_retention_days'`).Scan(&cols); err != nil {
			return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, err)
		}
		hasRetention = cols > 0
		if !hasRetention && s.DocumentRetentionDays != 0 {
			return nil, &ValidationError{Fields: map[string]string{"document_retention_days": "La conservazione dei documenti " +
				"si potrà impostare tra qualche istante, quando tutti i nodi del servizio saranno aggiornati: riprova."}}
		}
	}
	_, err := tx.Exec(`UPDATE tenants SET name = ?, region = ?, logo_url = ?, primary_color = ?,
		sender_name = ?, sender_address = ?, updated = ? WHERE id = ?`,
		s.Name, s.Region, s.Branding.LogoURL, s.Branding.PrimaryColor,
		s.Sender.Name, s.Sender.Address, formatTime(cmd.Time), cmd.Tenant)
	if err != nil {
		return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, err)
	}
	if cmd.Version >= 3 && len(s.Languages) > 0 {
		// Version 1 and 2 payloads carry no languages; the column is
		// the tenants table's own, which every node has.
		langs, err := json.Marshal(s.Languages)
		if err != nil {
			return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, err)
		}
		if _, err := tx.Exec(`UPDATE tenants SET languages = ? WHERE id = ?`, string(langs), cmd.Tenant); err != nil {
			return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, err)
		}
	} else if cmd.Version < 3 {
		s.Languages = nil
	}
	if !hasRetention {
		// A node not upgraded yet knows nothing of the retention: keep it.
		_, err = tx.Exec(`INSERT INTO tenant_settings (tenant_id, reply_to) VALUES (?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET reply_to = excluded.reply_to`, cmd.Tenant, s.ReplyTo)
	} else {
		_, err = tx.Exec(`INSERT INTO tenant_settings (tenant_id, reply_to, document_retention_days) VALUES (?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET reply_to = excluded.reply_to,
			document_retention_days = excluded.document_retention_days`, cmd.Tenant, s.ReplyTo, s.DocumentRetentionDays)
	}
	if err != nil {
		return nil, fmt.Errorf("save settings of %s: %w", cmd.Tenant, err)
	}
	if err := bumpVersion(tx, cmd); err != nil {
		return nil, err
	}
	return s, nil
}

// settingsComponent names the schema of tenant_settings: a component of
// its own, so that it migrates independently of the tenants table. Until
// its migration has run the table is missing, and the reads below answer
// "no Reply-To".
const settingsComponent = "tenant-settings"

// schemaSettingsV1 holds the settings that Tenant does not carry, one row
// per Comune that saved them.
const schemaSettingsV1 = `
CREATE TABLE tenant_settings (
	tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
	reply_to  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
`

// schemaSettingsV2 adds the retention of call documents; 0 is the
// configured default, which is what every Comune had before.
const schemaSettingsV2 = `
ALTER TABLE tenant_settings ADD COLUMN document_retention_days INTEGER NOT NULL DEFAULT 0;
`

// registerSettings adds tenant.settings and its table to reg; Register
// calls it. The version gate holds the command back until every member
// knows it.
func registerSettings(reg *cluster.Registry) {
	reg.Migrate(cluster.Migration{Component: settingsComponent, Version: 1, SQL: schemaSettingsV1},
		cluster.Migration{Component: settingsComponent, Version: 2, SQL: schemaSettingsV2})
	reg.Handle(CommandSettings, settingsVersion, applySettings)
}

// Settings returns the settings of the Comune id, ReplyTo included, or
// ErrNotFound.
func (r *Registry) Settings(ctx context.Context, id ID) (Settings, error) {
	t, err := r.Get(ctx, id)
	if err != nil {
		return Settings{}, err
	}
	s := SettingsOf(t)
	if s.ReplyTo, err = r.ReplyTo(ctx, id); err != nil {
		return Settings{}, err
	}
	if s.DocumentRetentionDays, err = r.DocumentRetentionDays(ctx, id); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// DocumentRetentionDays returns how many days the Comune id keeps its
// call documents, 0 for the configured default (also when the Comune never
// saved its settings, or the cluster has not migrated the table yet).
func (r *Registry) DocumentRetentionDays(ctx context.Context, id ID) (int, error) {
	var days int
	err := r.db.QueryRowContext(ctx, `SELECT document_retention_days FROM tenant_settings WHERE tenant_id = ?`, id).Scan(&days)
	switch {
	case errors.Is(err, sql.ErrNoRows),
		err != nil && (strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "no such column")):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("document retention of %s: %w", id, err)
	}
	return days, nil
}

// ReplyTo returns the Reply-To address of the Comune id, "" when it has
// none (or when the cluster has not created the table yet).
func (r *Registry) ReplyTo(ctx context.Context, id ID) (string, error) {
	var addr string
	err := r.db.QueryRowContext(ctx, `SELECT reply_to FROM tenant_settings WHERE tenant_id = ?`, id).Scan(&addr)
	switch {
	case errors.Is(err, sql.ErrNoRows), err != nil && strings.Contains(err.Error(), "no such table"):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reply-to of %s: %w", id, err)
	}
	return addr, nil
}

// ErrBadColor is returned by ContrastWithWhite for a string that is not a
// #rrggbb colour.
var ErrBadColor = errors.New("not a #rrggbb colour")

// MinContrast is the WCAG 2.1 AA contrast ratio for normal text, which
// white text on the primary colour (header, buttons) must reach.
const MinContrast = 4.5

// ContrastWithWhite returns the WCAG 2.1 contrast ratio between white and
// the colour hex ("#0066cc", either case). It runs in the proposer only:
// floating point is never used to decide inside apply.
func ContrastWithWhite(hex string) (float64, error) {
	if len(hex) != 7 || hex[0] != '#' {
		return 0, ErrBadColor
	}
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil {
		return 0, ErrBadColor
	}
	lin := func(c uint64) float64 {
		x := float64(c) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(v>>16&0xff) + 0.7152*lin(v>>8&0xff) + 0.0722*lin(v&0xff)
	return 1.05 / (l + 0.05), nil
}
