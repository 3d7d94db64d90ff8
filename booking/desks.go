package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Desks are the places of an office where a citizen is received: a
// counter in the hall ("Sportello 3", "Stanza 12") or a station from
// which an operator holds video and phone appointments. A service's
// Capacity stays what it was, the number of appointments of one slot;
// a desk is where a citizen is called to (the virtual queue's "È il tuo
// turno: sportello 3") and which services an operator sitting there can
// take. See DESIGN.md, "Desks".
const (
	CmdDeskSave    = "booking.desk.save"
	CmdDeskArchive = "booking.desk.archive"
)

// DeskKind is what kind of place a desk is.
type DeskKind string

// The kinds of desk.
const (
	// DeskCounter is a counter or room of the office, where citizens
	// come in person.
	DeskCounter DeskKind = "counter"
	// DeskRemote is a station for video and phone appointments: it is
	// never shown to a citizen as a place to walk to.
	DeskRemote DeskKind = "remote"
)

// Limits of a desk.
const (
	maxDeskLabel    = 40
	maxDeskServices = 200
)

// Desk is a desk of an office.
type Desk struct {
	ID       string    `json:"id"`
	Tenant   tenant.ID `json:"-"`
	OfficeID string    `json:"office_id"`
	// Label is what citizens read when called: "Sportello 3".
	Label string   `json:"label"`
	Kind  DeskKind `json:"kind"`
	// ServiceIDs are the services of the office handled at the desk;
	// empty means every service of the office, present and future.
	ServiceIDs []string `json:"service_ids,omitempty"`
	// Appointments reserves the desk for booked citizens: the virtual
	// queue's call-next from it takes only checked-in appointments. It
	// is omitted from the payload when false, so that such a save is
	// byte for byte the version 1 payload older members can apply; true
	// needs version 2 (deskSaveVersion).
	Appointments bool `json:"appointments,omitempty"`
	// Archived desks are kept, never deleted: what happened at them
	// (calls of the queue, later) keeps naming them. Set by
	// booking.desk.archive only; booking.desk.save leaves it as it is.
	Archived bool `json:"-"`
}

// Serves reports whether the desk handles the service.
func (d Desk) Serves(serviceID string) bool {
	return len(d.ServiceIDs) == 0 || slices.Contains(d.ServiceIDs, serviceID)
}

// Takes reports whether the desk receives citizens of channel ch: a
// counter those who come in person, a remote station those of video and
// phone appointments. The virtual queue calls a ticket only to a desk
// that Serves its service and Takes its channel.
func (d Desk) Takes(ch Channel) bool {
	if d.Kind == DeskRemote {
		return ch == Video || ch == Phone
	}
	return ch == InPerson
}

// deskPayload is booking.desk.save. Version 2 adds Desk.Appointments;
// a version 1 payload is a desk that is not reserved (a missing field is
// false), so older entries replay unchanged.
type deskPayload struct {
	Desk Desk `json:"desk"`
}

// deskSaveVersion is the newest payload version of booking.desk.save.
// A desk reserved for appointments is proposed as version 2, any other
// as version 1: an older member decodes payloads strictly (unknown
// fields are refused), so it must never see the new field, and the
// cluster's version gate holds version 2 back until every member knows
// it.
const deskSaveVersion = 2

// deskSaveVersionOf is the payload version a save of d needs.
func deskSaveVersionOf(d Desk) int {
	if d.Appointments {
		return deskSaveVersion
	}
	return 1
}

// registerDesks adds the desks' commands and their audit summaries.
// Registered with the package's payload version, they pass the cluster's
// version gate only once every member runs a binary that knows them;
// booking.Register calls it.
func registerDesks(reg *cluster.Registry) {
	reg.Handle(CmdDeskSave, deskSaveVersion, applyDeskSave)
	reg.Handle(CmdDeskArchive, payloadVersion, applyDeskArchive)
	reg.Describe(CmdDeskSave, describeDeskSave)
	reg.Describe(CmdDeskArchive, describeArchive("desk"))
}

// describeDeskSave sums up booking.desk.save for the audit log. The
// label is not personal, but the log names objects by ID only (see
// audit.go).
func describeDeskSave(cmd cluster.Command) string {
	var p struct {
		Desk struct {
			ID       string `json:"id"`
			OfficeID string `json:"office_id"`
		} `json:"desk"`
	}
	if idsOf(cmd, &p) != nil {
		return ""
	}
	return summary("desk", p.Desk.ID, "office", p.Desk.OfficeID)
}

// checkDesk validates a desk on its own, without looking at the office.
func checkDesk(d Desk) error {
	f := map[string]string{}
	if !ValidID(d.ID) {
		f["id"] = "L'identificativo dello sportello deve avere da 1 a 64 caratteri tra lettere minuscole, cifre e trattini."
	}
	if d.OfficeID == "" {
		f["office_id"] = "Scegli l'ufficio dello sportello."
	}
	switch n := utf8.RuneCountInString(d.Label); {
	case strings.TrimSpace(d.Label) == "":
		f["label"] = "Inserisci il nome dello sportello, per esempio «Sportello 3»."
	case n > maxDeskLabel:
		f["label"] = fmt.Sprintf("Il nome dello sportello può avere al massimo %d caratteri.", maxDeskLabel)
	case hasControl(d.Label, false) || d.Label != strings.TrimSpace(d.Label):
		f["label"] = "Il nome dello sportello contiene caratteri non ammessi."
	}
	if d.Kind != DeskCounter && d.Kind != DeskRemote {
		f["kind"] = "Scegli il tipo di sportello: di persona, oppure video e telefono."
	}
	if len(d.ServiceIDs) > maxDeskServices {
		f["service_ids"] = fmt.Sprintf("Uno sportello può avere al massimo %d servizi.", maxDeskServices)
	}
	for i, id := range d.ServiceIDs {
		if !ValidID(id) || slices.Index(d.ServiceIDs, id) != i {
			f["service_ids"] = "I servizi scelti non sono validi."
		}
	}
	return fieldsErr(f)
}

// checkDeskRefs checks what a desk names against the stored state of
// Comune t: the office exists, every service is one of that office's, a
// desk keeps its office, and no other desk in use in the office has the
// same label (a citizen called to "Sportello 3" must find one). It runs
// in the proposer, for the form's messages, and in apply, where the
// answer depends only on the replicated state.
func checkDeskRefs(ctx context.Context, q querier, t tenant.ID, d Desk) error {
	if _, err := loadOffice(ctx, q, t, d.OfficeID); errors.Is(err, ErrNotFound) {
		return &ValidationError{Fields: map[string]string{"office_id": "Scegli uno degli uffici del Comune."}}
	} else if err != nil {
		return err
	}
	old, err := loadDesk(ctx, q, t, d.ID)
	switch {
	case err == nil && old.OfficeID != d.OfficeID:
		return &ValidationError{Fields: map[string]string{"office_id": "Uno sportello non può cambiare ufficio."}}
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}
	f := map[string]string{}
	for _, id := range d.ServiceIDs {
		s, err := loadService(ctx, q, t, id)
		if errors.Is(err, ErrNotFound) || err == nil && s.OfficeID != d.OfficeID {
			f["service_ids"] = "Scegli solo servizi dell'ufficio dello sportello."
			break
		}
		if err != nil {
			return err
		}
	}
	var clash bool
	err = q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM booking_desks
		WHERE tenant = ? AND office_id = ? AND id <> ? AND archived_unix = 0 AND lower(label) = lower(?))`,
		t, d.OfficeID, d.ID, d.Label).Scan(&clash)
	if isNoSuchTable(err) {
		// A rolling upgrade: every member knows the desk commands, but
		// the migration that creates their table has not run yet. The
		// page answers "try again shortly", as for a command the cluster
		// does not support yet.
		return fmt.Errorf("desks table not created yet: %w", cluster.ErrNotSupportedByCluster)
	}
	if err != nil {
		return fmt.Errorf("check desk label: %w", err)
	}
	if clash {
		f["label"] = "Nell'ufficio c'è già uno sportello con questo nome."
	}
	return fieldsErr(f)
}

// CheckDesk runs the checks of checkDesk without the ID when it is still
// to be drawn, as CheckOffice does for offices.
func CheckDesk(d Desk) error {
	if d.ID == "" {
		d.ID = "nuovo"
	}
	return checkDesk(d)
}

// WriteDesk creates (update false: a new ID is drawn) or replaces a desk
// of Comune t. With update set the desk must exist in the Comune
// (ErrNotFound otherwise). Invalid desks are refused with a
// *ValidationError before anything is proposed, and again in apply.
func (b *Book) WriteDesk(ctx context.Context, t tenant.ID, d Desk, update bool) (Written, error) {
	if update {
		if _, err := loadDesk(ctx, b.db, t, d.ID); err != nil {
			return Written{}, err
		}
	} else {
		var err error
		if d.ID, err = b.newID(); err != nil {
			return Written{}, err
		}
	}
	d.Tenant, d.Archived = t, false
	d.Label = strings.TrimSpace(d.Label)
	if d.ServiceIDs != nil && len(d.ServiceIDs) == 0 {
		d.ServiceIDs = nil
	}
	if err := checkDesk(d); err != nil {
		return Written{}, err
	}
	if err := checkDeskRefs(ctx, b.db, t, d); err != nil {
		return Written{}, err
	}
	if d.Appointments {
		// Until the column exists on this node (the cluster has not
		// migrated yet), apply would refuse the reservation: say "not
		// yet" before proposing.
		ok, err := deskHasAppointments(ctx, b.db)
		if err != nil {
			return Written{}, err
		}
		if !ok {
			return Written{}, fmt.Errorf("desk reservation not stored yet: %w", cluster.ErrNotSupportedByCluster)
		}
	}
	cmd, err := cluster.NewCommand(CmdDeskSave, deskSaveVersionOf(d), string(t), deskPayload{Desk: d})
	if err != nil {
		return Written{}, err
	}
	res, err := b.p.Propose(ctx, cmd)
	if err != nil {
		return Written{}, fmt.Errorf("save desk %q: %w", d.ID, err)
	}
	return Written{ID: d.ID, Index: res.Index}, nil
}

// ArchiveDesk archives (or, with archived false, restores) a desk. An
// archived desk calls no one, and is kept with its label.
func (b *Book) ArchiveDesk(ctx context.Context, t tenant.ID, id string, archived bool) (Written, error) {
	res, err := b.propose(ctx, CmdDeskArchive, t, archivePayload{ID: id, Archived: archived})
	if err != nil {
		return Written{}, fmt.Errorf("archive desk %q: %w", id, err)
	}
	return Written{ID: id, Index: res.Index}, nil
}

// Desks returns the desks of an office of Comune t, archived ones too,
// by label; officeID "" returns those of every office, by office. Before
// the desks' migration has run on this node there are none.
func (b *Book) Desks(ctx context.Context, t tenant.ID, officeID string) ([]Desk, error) {
	list := func(columns string) ([]Desk, error) {
		query := `SELECT ` + columns + ` FROM booking_desks WHERE tenant = ?`
		args := []any{t}
		if officeID != "" {
			query += ` AND office_id = ?`
			args = append(args, officeID)
		}
		query += ` ORDER BY office_id, label, id`
		return collect(ctx, b.db, "list desks", func(sc interface{ Scan(...any) error }) (Desk, error) {
			return scanDesk(t, sc, columns == deskColumns)
		}, query, args...)
	}
	desks, err := list(deskColumns)
	if isNoSuchAppointments(err) {
		desks, err = list(deskColumnsV4)
	}
	if isNoSuchTable(err) {
		return []Desk{}, nil
	}
	if err != nil {
		return nil, err
	}
	if desks == nil {
		desks = []Desk{}
	}
	return desks, nil
}

// Desk returns a desk of Comune t, archived or not; ErrNotFound when the
// Comune has none with that ID.
func (b *Book) Desk(ctx context.Context, t tenant.ID, id string) (Desk, error) {
	return loadDesk(ctx, b.db, t, id)
}

// deskColumns are the desk's columns; deskColumnsV4 those before the
// booking schema's version 5 added appointments. Until that migration
// has run on the node, reads use the older list and find every desk
// unreserved, as it was stored.
const (
	deskColumnsV4 = `id, office_id, label, kind, services, archived_unix`
	deskColumns   = deskColumnsV4 + `, appointments`
)

// scanDesk scans a row of deskColumns, or of deskColumnsV4 when
// withAppointments is false.
func scanDesk(t tenant.ID, sc interface{ Scan(...any) error }, withAppointments bool) (Desk, error) {
	d := Desk{Tenant: t}
	var services string
	var archived int64
	dest := []any{&d.ID, &d.OfficeID, &d.Label, &d.Kind, &services, &archived}
	if withAppointments {
		dest = append(dest, &d.Appointments)
	}
	if err := sc.Scan(dest...); err != nil {
		return Desk{}, err
	}
	if err := json.Unmarshal([]byte(services), &d.ServiceIDs); err != nil {
		return Desk{}, fmt.Errorf("desk %q: services: %w", d.ID, err)
	}
	if len(d.ServiceIDs) == 0 {
		d.ServiceIDs = nil
	}
	d.Archived = archived != 0
	return d, nil
}

// loadDesk reads one desk; a missing table (before the migration) is no
// desk.
func loadDesk(ctx context.Context, q querier, t tenant.ID, id string) (Desk, error) {
	load := func(columns string) (Desk, error) {
		return scanDesk(t, q.QueryRowContext(ctx,
			`SELECT `+columns+` FROM booking_desks WHERE tenant = ? AND id = ?`, t, id), columns == deskColumns)
	}
	d, err := load(deskColumns)
	if isNoSuchAppointments(err) {
		d, err = load(deskColumnsV4)
	}
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return Desk{}, fmt.Errorf("desk %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Desk{}, fmt.Errorf("load desk %q: %w", id, err)
	}
	return d, nil
}

// deskHasAppointments reports whether booking_desks has the appointments
// column (booking schema version 5). Every node migrates at the same log
// index, so in apply the answer is the same on every node.
func deskHasAppointments(ctx context.Context, q querier) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('booking_desks') WHERE name = 'appointments'`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for the desks' appointments column: %w", err)
	}
	return n > 0, nil
}

// isNoSuchAppointments reports whether err is SQLite's answer to a read
// of the appointments column before its migration.
func isNoSuchAppointments(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such column: appointments")
}

func applyDeskSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Version < 1 || cmd.Version > deskSaveVersion {
		return nil, fmt.Errorf("%s v%d: %w", cmd.Type, cmd.Version, errVersion)
	}
	if cmd.Tenant == "" {
		return nil, fmt.Errorf("%s: command has no tenant", cmd.Type)
	}
	var p deskPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	d := p.Desk
	if d.Appointments && cmd.Version < 2 {
		// An older member would refuse this payload (unknown field)
		// while this one stored it: refuse it here too, so that every
		// node agrees.
		return nil, fmt.Errorf("%s v%d carries appointments, a version 2 field: %w", cmd.Type, cmd.Version, errVersion)
	}
	if err := checkDesk(d); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if err := checkDeskRefs(ctx, tx, t, d); err != nil {
		return nil, err
	}
	withAppointments, err := deskHasAppointments(ctx, tx)
	if err != nil {
		return nil, err
	}
	services, _ := json.Marshal(nonNil(d.ServiceIDs))
	// The archived mark is the archive command's: a save of an archived
	// desk (a label corrected) keeps it archived.
	switch {
	case withAppointments:
		_, err = tx.ExecContext(ctx, `INSERT INTO booking_desks (tenant, id, office_id, label, kind, services, appointments)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET label = excluded.label, kind = excluded.kind,
			services = excluded.services, appointments = excluded.appointments`,
			t, d.ID, d.OfficeID, d.Label, string(d.Kind), string(services), d.Appointments)
	case d.Appointments:
		// The gate let version 2 through (every member knows it) but the
		// migration that stores it has not run yet: the proposer checked
		// the column too, so only a stale proposer gets here.
		return nil, fmt.Errorf("desk reservation before the booking schema's version 5: %w", cluster.ErrNotSupportedByCluster)
	default:
		_, err = tx.ExecContext(ctx, `INSERT INTO booking_desks (tenant, id, office_id, label, kind, services)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET label = excluded.label, kind = excluded.kind,
			services = excluded.services`,
			t, d.ID, d.OfficeID, d.Label, string(d.Kind), string(services))
	}
	if err != nil {
		return nil, fmt.Errorf("save desk %q: %w", d.ID, err)
	}
	return d.ID, nil
}

func applyDeskArchive(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p archivePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	d, err := loadDesk(ctx, tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if d.Archived == p.Archived {
		// Archiving twice keeps the first archiving time.
		return d.ID, nil
	}
	at := int64(0)
	if p.Archived {
		at = cmd.Time.Unix()
	} else if err := checkDeskRefs(ctx, tx, t, Desk{ID: d.ID, OfficeID: d.OfficeID, Label: d.Label}); err != nil {
		// Restoring must not give the office two desks in use with one
		// label: another may have taken it meanwhile.
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE booking_desks SET archived_unix = ? WHERE tenant = ? AND id = ?`,
		at, t, d.ID); err != nil {
		return nil, fmt.Errorf("archive desk %q: %w", d.ID, err)
	}
	return d.ID, nil
}
