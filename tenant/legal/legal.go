package legal

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Kind names one of a Comune's legal documents.
type Kind string

// The documents every Comune has.
const (
	Privacy       Kind = "privacy"       // informativa sul trattamento dei dati (GDPR art. 13)
	Accessibility Kind = "accessibilita" // dichiarazione di accessibilità (AgID)
)

// Kinds lists the documents, in the order the back office shows them.
func Kinds() []Kind { return []Kind{Privacy, Accessibility} }

// Valid reports whether k is a known document.
func (k Kind) Valid() bool { return k == Privacy || k == Accessibility }

// Title is the document's Italian title.
func (k Kind) Title() string {
	if k == Accessibility {
		return "Dichiarazione di accessibilità"
	}
	return "Informativa sul trattamento dei dati personali"
}

// MaxBodyBytes bounds a document's sanitised text. The longest real
// notices are around 15 KB of markup; the bound keeps one command, and
// one page, small.
const MaxBodyBytes = 64 << 10

// Limits of the details.
const (
	maxAddressLen = 200
	maxNameLen    = 100
)

// Conformity states of the accessibility statement, as AgID's model
// words them.
var conformities = []string{"conforme", "parzialmente conforme", "non conforme"}

// Conformities returns the accepted Details.Conformity values.
func Conformities() []string { return append([]string(nil), conformities...) }

// Details are the Comune's data the templates fill in. The privacy
// notice uses the first four, the accessibility statement the last two;
// each save changes only its document's fields.
type Details struct {
	// Address is the seat of the Comune (the data controller).
	Address string `json:"address,omitempty"`
	// PEC is the controller's certified email (or plain email).
	PEC string `json:"pec,omitempty"`
	// DPOName and DPOEmail are the data protection officer's (RPD).
	DPOName  string `json:"dpo_name,omitempty"`
	DPOEmail string `json:"dpo_email,omitempty"`
	// AccessibilityEmail receives citizens' reports of barriers.
	AccessibilityEmail string `json:"accessibility_email,omitempty"`
	// Conformity is one of Conformities(); "" shows "parzialmente
	// conforme", the honest default before an evaluation.
	Conformity string `json:"conformity,omitempty"`
}

// Document is one legal document of a Comune as stored.
type Document struct {
	Kind Kind `json:"kind"`
	// Custom is true when the administrator replaced the template; Body
	// is then the sanitised text. Otherwise Body is empty and the page
	// renders the template (Render).
	Custom  bool    `json:"custom"`
	Body    string  `json:"body,omitempty"`
	Details Details `json:"details"`
	// Updated and UpdatedBy are the last save's (zero when never saved).
	Updated   time.Time `json:"updated,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// ValidationError lists invalid fields (body, details.*), each with an
// Italian message for the administrator.
type ValidationError struct {
	Fields map[string]string `json:"fields"`
}

func (e *ValidationError) Error() string {
	return cluster.FieldsMessage("invalid legal document fields", e.Fields)
}

// FieldErrors lets the error cross the node-to-node RPC with its fields.
func (e *ValidationError) FieldErrors() map[string]string { return e.Fields }

// ErrUnknownKind is returned for a document kind that does not exist.
var ErrUnknownKind = errors.New("legal: unknown document")

// CommandSave replaces one document's text (or restores its template)
// and its part of the details.
const CommandSave = "legal.save"

const saveVersion = 1

// savePayload is legal.save, version 1. The Comune is the command's
// tenant. Details is nil when only the text changes (a reset).
type savePayload struct {
	Kind    Kind     `json:"kind"`
	Custom  bool     `json:"custom"`
	Body    string   `json:"body,omitempty"`
	Details *Details `json:"details,omitempty"`
	By      string   `json:"by,omitempty"`
}

// schemaV1: one row per Comune and document with a custom text or a
// reset, and one row of details per Comune; the tenant ID leads every
// key.
const schemaV1 = `
CREATE TABLE legal_documents (
	tenant     TEXT NOT NULL,
	kind       TEXT NOT NULL,
	custom     INTEGER NOT NULL,
	body       TEXT NOT NULL,
	updated    INTEGER NOT NULL,
	updated_by TEXT NOT NULL,
	PRIMARY KEY (tenant, kind)
) WITHOUT ROWID;
CREATE TABLE legal_details (
	tenant              TEXT PRIMARY KEY,
	address             TEXT NOT NULL DEFAULT '',
	pec                 TEXT NOT NULL DEFAULT '',
	dpo_name            TEXT NOT NULL DEFAULT '',
	dpo_email           TEXT NOT NULL DEFAULT '',
	accessibility_email TEXT NOT NULL DEFAULT '',
	conformity          TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
`

// Register adds the schema, the command and its error to reg;
// cmd/sportello calls it once per node, after tenant.Register.
func Register(reg *cluster.Registry) {
	reg.Migrate(cluster.Migration{Component: "legal", Version: 1, SQL: schemaV1})
	reg.Handle(CommandSave, saveVersion, applySave)
	reg.Describe(CommandSave, describeSave)
	reg.RegisterFieldError("legal.invalid", func(f map[string]string) error { return &ValidationError{Fields: f} })
	reg.RegisterError("legal.unknown_kind", ErrUnknownKind)
}

// describeSave sums a save up for the audit log (/gestione/registro):
// which document, and whether it was edited or reset to the template.
func describeSave(cmd cluster.Command) string {
	var p savePayload
	if err := cmd.Decode(&p); err != nil {
		return ""
	}
	switch {
	case p.Custom:
		return "document=" + string(p.Kind) + " text=custom"
	case p.Details != nil:
		return "document=" + string(p.Kind) + " text=template details=saved"
	}
	return "document=" + string(p.Kind) + " text=template"
}

// normalizeDetails trims d and keeps only kind's fields.
func normalizeDetails(kind Kind, d Details) Details {
	t := strings.TrimSpace
	if kind == Privacy {
		return Details{Address: t(d.Address), PEC: t(d.PEC), DPOName: t(d.DPOName), DPOEmail: t(d.DPOEmail)}
	}
	return Details{AccessibilityEmail: t(d.AccessibilityEmail), Conformity: t(d.Conformity)}
}

// validate checks a save; it runs in the proposer and again in apply.
func validate(p savePayload) error {
	if !p.Kind.Valid() {
		return ErrUnknownKind
	}
	f := map[string]string{}
	if p.Custom {
		switch {
		case len(p.Body) > MaxBodyBytes:
			f["body"] = fmt.Sprintf("Il testo è troppo lungo: al massimo %d KB.", MaxBodyBytes>>10)
		case strings.TrimSpace(textOf(p.Body)) == "":
			f["body"] = "Il testo è vuoto: scrivi il documento o ripristina il modello."
		}
	}
	if d := p.Details; d != nil {
		if utf8.RuneCountInString(d.Address) > maxAddressLen {
			f["details.address"] = fmt.Sprintf("L'indirizzo può avere al massimo %d caratteri.", maxAddressLen)
		}
		if utf8.RuneCountInString(d.DPOName) > maxNameLen {
			f["details.dpo_name"] = fmt.Sprintf("Il nome può avere al massimo %d caratteri.", maxNameLen)
		}
		for key, v := range map[string]string{"details.pec": d.PEC, "details.dpo_email": d.DPOEmail, "details.accessibility_email": d.AccessibilityEmail} {
			if v != "" && !tenant.ValidEmail(v) {
				f[key] = "Inserisci un indirizzo email valido, per esempio protocollo@pec.comune.bari.it."
			}
		}
		if d.Conformity != "" && !contains(conformities, d.Conformity) {
			f["details.conformity"] = "Scegli uno degli stati di conformità proposti."
		}
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// textOf strips the tags of sanitised markup, to tell an empty text.
func textOf(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// prepare puts a save in its canonical form: the body sanitised, the
// details reduced to the document's own.
func prepare(p savePayload) savePayload {
	if p.Custom {
		p.Body = Sanitize(p.Body)
	} else {
		p.Body = ""
	}
	if p.Details != nil {
		d := normalizeDetails(p.Kind, *p.Details)
		p.Details = &d
	}
	p.By = strings.TrimSpace(p.By)
	return p
}

// applySave stores a save. It sanitises and checks again: the payload
// may come from a node that did not.
func applySave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Version < 1 || cmd.Version > saveVersion {
		return nil, fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, saveVersion)
	}
	var p savePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	p = prepare(p)
	if err := validate(p); err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM tenants WHERE id = ?`, cmd.Tenant).Scan(&n); err != nil {
		return nil, fmt.Errorf("legal: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("legal: save %s of %s: %w", p.Kind, cmd.Tenant, tenant.ErrNotFound)
	}
	if _, err := tx.Exec(`INSERT INTO legal_documents (tenant, kind, custom, body, updated, updated_by)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, kind) DO UPDATE SET custom = excluded.custom, body = excluded.body,
		updated = excluded.updated, updated_by = excluded.updated_by`,
		cmd.Tenant, string(p.Kind), p.Custom, p.Body, cmd.Time.UnixNano(), p.By); err != nil {
		return nil, fmt.Errorf("legal: save %s of %s: %w", p.Kind, cmd.Tenant, err)
	}
	if d := p.Details; d != nil {
		var err error
		if p.Kind == Privacy {
			_, err = tx.Exec(`INSERT INTO legal_details (tenant, address, pec, dpo_name, dpo_email) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (tenant) DO UPDATE SET address = excluded.address, pec = excluded.pec,
				dpo_name = excluded.dpo_name, dpo_email = excluded.dpo_email`,
				cmd.Tenant, d.Address, d.PEC, d.DPOName, d.DPOEmail)
		} else {
			_, err = tx.Exec(`INSERT INTO legal_details (tenant, accessibility_email, conformity) VALUES (?, ?, ?)
				ON CONFLICT (tenant) DO UPDATE SET accessibility_email = excluded.accessibility_email,
				conformity = excluded.conformity`,
				cmd.Tenant, d.AccessibilityEmail, d.Conformity)
		}
		if err != nil {
			return nil, fmt.Errorf("legal: save details of %s: %w", cmd.Tenant, err)
		}
	}
	return nil, nil
}

// Store reads and writes the documents: writes through the proposer,
// reads from the node's SQLite.
type Store struct {
	p  cluster.Proposer
	db *sql.DB
}

// NewStore returns a Store over the node's proposer and database.
func NewStore(p cluster.Proposer, db *sql.DB) *Store { return &Store{p: p, db: db} }

// Get returns the Comune t's document kind: its custom text, or an empty
// Body with Custom false when it uses the template, with the details.
func (s *Store) Get(ctx context.Context, t tenant.ID, kind Kind) (Document, error) {
	if !kind.Valid() {
		return Document{}, ErrUnknownKind
	}
	doc := Document{Kind: kind}
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT custom, body, updated, updated_by FROM legal_documents
		WHERE tenant = ? AND kind = ?`, string(t), string(kind)).Scan(&doc.Custom, &doc.Body, &updated, &doc.UpdatedBy)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Document{}, fmt.Errorf("legal: read %s of %s: %w", kind, t, err)
	default:
		doc.Updated = time.Unix(0, updated).UTC()
	}
	d, err := s.details(ctx, t)
	if err != nil {
		return Document{}, err
	}
	doc.Details = d
	return doc, nil
}

// details returns the Comune t's details (zero when never saved).
func (s *Store) details(ctx context.Context, t tenant.ID) (Details, error) {
	var d Details
	err := s.db.QueryRowContext(ctx, `SELECT address, pec, dpo_name, dpo_email, accessibility_email, conformity
		FROM legal_details WHERE tenant = ?`, string(t)).Scan(&d.Address, &d.PEC, &d.DPOName, &d.DPOEmail, &d.AccessibilityEmail, &d.Conformity)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Details{}, fmt.Errorf("legal: read details of %s: %w", t, err)
	}
	return d, nil
}

// Save replaces the Comune t's document kind with body (sanitised here
// and in apply) and its part of the details; by names the administrator
// for the record. It returns the command's log index, for a read on
// another node to wait for, or a *ValidationError.
func (s *Store) Save(ctx context.Context, t tenant.ID, kind Kind, body string, d Details, by string) (uint64, error) {
	return s.propose(ctx, t, savePayload{Kind: kind, Custom: true, Body: body, Details: &d, By: by})
}

// SaveDetails changes only the details of kind's document, leaving its
// text (custom or template) as it is.
func (s *Store) SaveDetails(ctx context.Context, t tenant.ID, kind Kind, d Details, by string) (uint64, error) {
	cur, err := s.Get(ctx, t, kind)
	if err != nil {
		return 0, err
	}
	return s.propose(ctx, t, savePayload{Kind: kind, Custom: cur.Custom, Body: cur.Body, Details: &d, By: by})
}

// Reset restores the template of the Comune t's document kind; the
// details stay.
func (s *Store) Reset(ctx context.Context, t tenant.ID, kind Kind, by string) (uint64, error) {
	return s.propose(ctx, t, savePayload{Kind: kind, By: by})
}

func (s *Store) propose(ctx context.Context, t tenant.ID, p savePayload) (uint64, error) {
	p = prepare(p)
	if err := validate(p); err != nil {
		return 0, err
	}
	cmd, err := cluster.NewCommand(CommandSave, saveVersion, string(t), p)
	if err != nil {
		return 0, err
	}
	res, err := s.p.Propose(ctx, cmd)
	if err != nil {
		return 0, fmt.Errorf("legal: save %s of %s: %w", p.Kind, t, err)
	}
	return res.Index, nil
}

// Data is what the templates are filled in with.
type Data struct {
	// Name and ISTAT are the Comune's; Host is its address
	// ("bari.sportello.example.it"), where the service runs.
	Name, ISTAT, Host string
	Details           Details
	// RetentionDays is how long documents exchanged in calls are kept
	// (the Comune's setting, or the node's default).
	RetentionDays int
}

//go:embed templates/*.html
var templateFS embed.FS

// templates are parsed once: they are constants of the program.
var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))

// Template returns the default text of kind filled in with data, in the
// restricted markup (so that the editor can start from it).
func Template(kind Kind, data Data) (string, error) {
	if !kind.Valid() {
		return "", ErrUnknownKind
	}
	if data.Details.Conformity == "" {
		data.Details.Conformity = "parzialmente conforme"
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, string(kind)+".html", data); err != nil {
		return "", fmt.Errorf("legal: template %s: %w", kind, err)
	}
	return Sanitize(b.String()), nil
}

// Body returns what the page of doc shows: its custom text, or the
// template filled in with data.
func Body(doc Document, data Data) (string, error) {
	if doc.Custom {
		return doc.Body, nil
	}
	data.Details = doc.Details
	return Template(doc.Kind, data)
}
