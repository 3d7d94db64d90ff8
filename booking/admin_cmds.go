package booking

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Commands of the back office that the first configuration commands
// (apply.go) lack: archiving offices and services, removing closures and
// extra openings. An office or service is archived rather than deleted
// because bookings already made point at it: they stay as they are, can
// be seen, cancelled by the citizen and served, while the citizen pages
// and new bookings no longer see it. Archiving is undone by restoring.
const (
	CmdOfficeArchive  = "booking.office.archive"
	CmdServiceArchive = "booking.service.archive"
	CmdClosureRemove  = "booking.closure.remove"
	CmdOpeningRemove  = "booking.opening.remove"
)

// archiveComponent names the schema of the archive table. It is a
// component of its own, not a third version of "booking", so that it
// migrates independently of the booking tables' own changes; the queries
// below treat a missing table as "nothing archived", which is the truth
// on a node whose cluster has not run the migration yet (rolling upgrade:
// code must work on the previous schema until its migration has run).
const archiveComponent = "booking-archive"

// schemaArchiveV1 holds what is archived. kind is "office" or "service";
// at is the leader time of the archiving command.
const schemaArchiveV1 = `
CREATE TABLE booking_archived (
	tenant TEXT NOT NULL,
	kind   TEXT NOT NULL CHECK (kind IN ('office', 'service')),
	id     TEXT NOT NULL,
	at     TEXT NOT NULL,
	PRIMARY KEY (tenant, kind, id)
) WITHOUT ROWID;
`

// Kinds of archived rows.
const (
	kindOffice  = "office"
	kindService = "service"
)

// registerAdmin adds the back office's commands and the archive schema.
// booking.Register calls it. The commands are registered with the
// package's payload version, so the cluster's version gate holds them back
// until every member runs a binary that knows them.
func registerAdmin(reg *cluster.Registry) {
	reg.Migrate(cluster.Migration{Component: archiveComponent, Version: 1, SQL: schemaArchiveV1})
	reg.Handle(CmdOfficeArchive, payloadVersion, applyOfficeArchive)
	reg.Handle(CmdServiceArchive, payloadVersion, applyServiceArchive)
	reg.Handle(CmdClosureRemove, payloadVersion, applyClosureRemove)
	reg.Handle(CmdOpeningRemove, payloadVersion, applyOpeningRemove)
}

// archivePayload is version 1 of booking.office.archive and
// booking.service.archive: Archived false restores.
type archivePayload struct {
	ID       string `json:"id"`
	Archived bool   `json:"archived"`
}

// removePayload is version 1 of booking.closure.remove and
// booking.opening.remove.
type removePayload struct {
	ID string `json:"id"`
}

// Written is the outcome of a back-office write: the ID of what was
// written and the log index of the command. WaitApplied(Index) on any
// node makes the next read there show the write.
type Written struct {
	ID    string
	Index uint64
}

// WriteOffice is SaveOffice for the back office: it creates (empty ID) or
// replaces an office and returns its ID with the command's log index
// instead of reading the office back. With update set, the office must
// already exist in the Comune (ErrNotFound otherwise): an edit form never
// creates an office under an ID it was sent.
func (b *Book) WriteOffice(ctx context.Context, t tenant.ID, o Office, update bool) (Written, error) {
	if update {
		if _, err := loadOffice(ctx, b.db, t, o.ID); err != nil {
			return Written{}, err
		}
	} else {
		var err error
		if o.ID, err = b.newID(); err != nil {
			return Written{}, err
		}
	}
	o.Tenant, o.Services = t, nil
	o.Name, o.Address = strings.TrimSpace(o.Name), strings.TrimSpace(o.Address)
	if err := checkOffice(o); err != nil {
		return Written{}, err
	}
	res, err := b.propose(ctx, CmdOfficeSave, t, officePayload{Office: o})
	if err != nil {
		return Written{}, fmt.Errorf("save office %q: %w", o.ID, err)
	}
	return Written{ID: o.ID, Index: res.Index}, nil
}

// WriteService is SaveService for the back office, as WriteOffice is for
// offices. A service never changes office (apply refuses it).
func (b *Book) WriteService(ctx context.Context, t tenant.ID, s Service, update bool) (Written, error) {
	if update {
		if _, err := loadService(ctx, b.db, t, s.ID); err != nil {
			return Written{}, err
		}
	} else {
		var err error
		if s.ID, err = b.newID(); err != nil {
			return Written{}, err
		}
	}
	s.Tenant = t
	s.Name = strings.TrimSpace(s.Name)
	if err := checkService(s); err != nil {
		return Written{}, err
	}
	res, err := b.propose(ctx, CmdServiceSave, t, servicePayload{Service: s})
	if err != nil {
		return Written{}, fmt.Errorf("save service %q: %w", s.ID, err)
	}
	return Written{ID: s.ID, Index: res.Index}, nil
}

// WriteClosure is AddClosure with the command's log index.
func (b *Book) WriteClosure(ctx context.Context, t tenant.ID, c Closure) (Written, error) {
	var err error
	if c.ID, err = b.newID(); err != nil {
		return Written{}, err
	}
	c.Reason = strings.TrimSpace(c.Reason)
	if err := checkClosure(c); err != nil {
		return Written{}, err
	}
	res, err := b.propose(ctx, CmdClosureAdd, t, closurePayload{Closure: c})
	if err != nil {
		return Written{}, fmt.Errorf("add closure: %w", err)
	}
	return Written{ID: c.ID, Index: res.Index}, nil
}

// WriteOpening is AddOpening with the command's log index.
func (b *Book) WriteOpening(ctx context.Context, t tenant.ID, o Opening) (Written, error) {
	var err error
	if o.ID, err = b.newID(); err != nil {
		return Written{}, err
	}
	o.Reason = strings.TrimSpace(o.Reason)
	if err := checkOpening(o); err != nil {
		return Written{}, err
	}
	res, err := b.propose(ctx, CmdOpeningAdd, t, openingPayload{Opening: o})
	if err != nil {
		return Written{}, fmt.Errorf("add opening: %w", err)
	}
	return Written{ID: o.ID, Index: res.Index}, nil
}

// ArchiveOffice archives (or, with archived false, restores) an office:
// while archived, neither it nor its services are shown to citizens and
// its services take no new bookings; its bookings are kept.
func (b *Book) ArchiveOffice(ctx context.Context, t tenant.ID, id string, archived bool) (Written, error) {
	res, err := b.propose(ctx, CmdOfficeArchive, t, archivePayload{ID: id, Archived: archived})
	if err != nil {
		return Written{}, fmt.Errorf("archive office %q: %w", id, err)
	}
	return Written{ID: id, Index: res.Index}, nil
}

// ArchiveService archives (or restores) a service, as ArchiveOffice.
func (b *Book) ArchiveService(ctx context.Context, t tenant.ID, id string, archived bool) (Written, error) {
	res, err := b.propose(ctx, CmdServiceArchive, t, archivePayload{ID: id, Archived: archived})
	if err != nil {
		return Written{}, fmt.Errorf("archive service %q: %w", id, err)
	}
	return Written{ID: id, Index: res.Index}, nil
}

// RemoveClosure removes a closure; ErrNotFound when the Comune has none
// with that ID. Bookings are not touched: none could be made inside it.
func (b *Book) RemoveClosure(ctx context.Context, t tenant.ID, id string) (Written, error) {
	res, err := b.propose(ctx, CmdClosureRemove, t, removePayload{ID: id})
	if err != nil {
		return Written{}, fmt.Errorf("remove closure %q: %w", id, err)
	}
	return Written{ID: id, Index: res.Index}, nil
}

// RemoveOpening removes an extra opening. Bookings already made on that
// day keep their place, as after any change of hours.
func (b *Book) RemoveOpening(ctx context.Context, t tenant.ID, id string) (Written, error) {
	res, err := b.propose(ctx, CmdOpeningRemove, t, removePayload{ID: id})
	if err != nil {
		return Written{}, fmt.Errorf("remove opening %q: %w", id, err)
	}
	return Written{ID: id, Index: res.Index}, nil
}

func applyOfficeArchive(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p archivePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if _, err := loadOffice(context.Background(), tx, tenant.ID(cmd.Tenant), p.ID); err != nil {
		return nil, err
	}
	return setArchived(tx, cmd, kindOffice, p)
}

func applyServiceArchive(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p archivePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if _, err := loadService(context.Background(), tx, tenant.ID(cmd.Tenant), p.ID); err != nil {
		return nil, err
	}
	return setArchived(tx, cmd, kindService, p)
}

// setArchived records or clears the archived mark of one office or
// service, and bumps the configuration version: a cached configuration
// must not outlive the mark (see refuseArchived).
func setArchived(tx *sql.Tx, cmd cluster.Command, kind string, p archivePayload) (any, error) {
	ctx := context.Background()
	var err error
	if p.Archived {
		// The first archiving time is kept when archived twice.
		_, err = tx.ExecContext(ctx, `INSERT INTO booking_archived (tenant, kind, id, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant, kind, id) DO NOTHING`, cmd.Tenant, kind, p.ID, formatTime(cmd.Time))
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM booking_archived WHERE tenant = ? AND kind = ? AND id = ?`,
			cmd.Tenant, kind, p.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s %q: %w", kind, p.ID, err)
	}
	if err := bumpConfigVersion(tx, cmd); err != nil {
		return nil, err
	}
	return p.ID, nil
}

func applyClosureRemove(tx *sql.Tx, cmd cluster.Command) (any, error) {
	return removeRow(tx, cmd, "booking_closures", "closure")
}

func applyOpeningRemove(tx *sql.Tx, cmd cluster.Command) (any, error) {
	return removeRow(tx, cmd, "booking_openings", "opening")
}

// removeRow deletes the row of the payload's ID from table (a constant of
// this file) in the command's Comune.
func removeRow(tx *sql.Tx, cmd cluster.Command, table, what string) (any, error) {
	var p removePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(context.Background(), `DELETE FROM `+table+` WHERE tenant = ? AND id = ?`, cmd.Tenant, p.ID)
	if err != nil {
		return nil, fmt.Errorf("remove %s %q: %w", what, p.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("remove %s %q: %w", what, p.ID, err)
	} else if n == 0 {
		return nil, fmt.Errorf("%s %q: %w", what, p.ID, ErrNotFound)
	}
	if err := bumpConfigVersion(tx, cmd); err != nil {
		return nil, err
	}
	return p.ID, nil
}

// archivedSet returns the IDs of kind archived in Comune t. A missing
// table means nothing is archived yet (see archiveComponent).
func archivedSet(ctx context.Context, q querier, t tenant.ID, kind string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM booking_archived WHERE tenant = ? AND kind = ?`, t, kind)
	if isNoSuchTable(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list archived %ss: %w", kind, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list archived %ss: %w", kind, err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list archived %ss: %w", kind, err)
	}
	return out, nil
}

// refuseArchived returns ErrNotFound when svc or its office is archived:
// an archived service takes no new booking and no move, exactly as if it
// did not exist, while its bookings can still be read and cancelled
// (those paths load the service without this check). It runs in apply
// too, so the answer depends only on the replicated state.
func refuseArchived(ctx context.Context, q querier, t tenant.ID, svc Service) error {
	var archived bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM booking_archived WHERE tenant = ? AND kind = 'service' AND id = ?)
		OR EXISTS (SELECT 1 FROM booking_archived WHERE tenant = ? AND kind = 'office' AND id = ?)`,
		t, svc.ID, t, svc.OfficeID).Scan(&archived)
	switch {
	case isNoSuchTable(err):
		return nil
	case err != nil:
		return fmt.Errorf("check archived service %q: %w", svc.ID, err)
	case archived:
		return fmt.Errorf("service %q is archived: %w", svc.ID, ErrNotFound)
	}
	return nil
}

// isNoSuchTable reports whether err is SQLite's answer for a table that
// does not exist (the archive table before its migration ran).
func isNoSuchTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}
