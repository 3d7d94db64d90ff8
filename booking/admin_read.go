package booking

import (
	"context"
	"errors"
	"fmt"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Configuration is the back office's view of a Comune's offices and
// services: every one of them, archived or not, with the archived ones
// named.
type Configuration struct {
	// Offices are by name, each with all its services by name.
	Offices []Office
	// ArchivedOffices and ArchivedServices hold the IDs archived.
	ArchivedOffices  map[string]bool
	ArchivedServices map[string]bool
}

// Configuration returns every office and service of the Comune, archived
// ones included (Offices leaves them out: it serves the citizen pages).
func (b *Book) Configuration(ctx context.Context, t tenant.ID) (Configuration, error) {
	offices, err := collect(ctx, b.db, "list offices", func(sc interface{ Scan(...any) error }) (Office, error) {
		return scanOffice(t, sc)
	}, `SELECT `+officeColumns+` FROM booking_offices WHERE tenant = ? ORDER BY name, id`, t)
	if err != nil {
		return Configuration{}, err
	}
	services, err := collect(ctx, b.db, "list services", func(sc interface{ Scan(...any) error }) (Service, error) {
		return scanService(t, sc)
	}, `SELECT `+serviceColumns+` FROM booking_services WHERE tenant = ? ORDER BY name, id`, t)
	if err != nil {
		return Configuration{}, err
	}
	byOffice := map[string][]Service{}
	for _, s := range services {
		if s.Hours, err = loadHours(ctx, b.db, t, s.OfficeID, s.ID); err != nil {
			return Configuration{}, err
		}
		byOffice[s.OfficeID] = append(byOffice[s.OfficeID], s)
	}
	for i := range offices {
		o := &offices[i]
		if o.Hours, err = loadHours(ctx, b.db, t, o.ID, ""); err != nil {
			return Configuration{}, err
		}
		o.Services = byOffice[o.ID]
	}
	c := Configuration{Offices: offices}
	if c.ArchivedOffices, err = archivedSet(ctx, b.db, t, kindOffice); err != nil {
		return Configuration{}, err
	}
	if c.ArchivedServices, err = archivedSet(ctx, b.db, t, kindService); err != nil {
		return Configuration{}, err
	}
	if c.Offices == nil {
		c.Offices = []Office{}
	}
	return c, nil
}

// Archived reports whether svc, or its office, is archived.
func (b *Book) Archived(ctx context.Context, t tenant.ID, svc Service) (bool, error) {
	err := refuseArchived(ctx, b.db, t, svc)
	if err == nil {
		return false, nil
	}
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	return false, err
}

// OfficeArchived reports whether the office id is archived.
func (b *Book) OfficeArchived(ctx context.Context, t tenant.ID, id string) (bool, error) {
	set, err := archivedSet(ctx, b.db, t, kindOffice)
	if err != nil {
		return false, err
	}
	return set[id], nil
}

// WaitApplied blocks until the local node has applied the command at
// index (a Written.Index), or ctx ends: reads after it show the write.
func (b *Book) WaitApplied(ctx context.Context, index uint64) error {
	if err := b.p.WaitApplied(ctx, index); err != nil {
		return fmt.Errorf("wait for index %d: %w", index, err)
	}
	return nil
}

// visibleOffices drops the archived offices, and the archived services of
// the others, from a list read for the citizen pages.
func visibleOffices(ctx context.Context, q querier, t tenant.ID, offices []Office) ([]Office, error) {
	aoff, err := archivedSet(ctx, q, t, kindOffice)
	if err != nil {
		return nil, err
	}
	asvc, err := archivedSet(ctx, q, t, kindService)
	if err != nil {
		return nil, err
	}
	if len(aoff) == 0 && len(asvc) == 0 {
		return offices, nil
	}
	out := offices[:0]
	for _, o := range offices {
		if aoff[o.ID] {
			continue
		}
		svcs := o.Services[:0]
		for _, s := range o.Services {
			if !asvc[s.ID] {
				svcs = append(svcs, s)
			}
		}
		o.Services = svcs
		out = append(out, o)
	}
	return out, nil
}

// visibleServices drops the archived services from a list read for the
// citizen pages.
func visibleServices(ctx context.Context, q querier, t tenant.ID, services []Service) ([]Service, error) {
	asvc, err := archivedSet(ctx, q, t, kindService)
	if err != nil || len(asvc) == 0 {
		return services, err
	}
	out := services[:0]
	for _, s := range services {
		if !asvc[s.ID] {
			out = append(out, s)
		}
	}
	return out, nil
}

// CheckOffice runs the checks an office must pass to be saved (the same
// that apply runs), without the ID when it is still to be drawn: a form
// can then show every invalid field at once, its own parse errors and
// these.
func CheckOffice(o Office) error {
	if o.ID == "" {
		o.ID = "nuovo"
	}
	return checkOffice(o)
}

// CheckService is CheckOffice for services.
func CheckService(s Service) error {
	if s.ID == "" {
		s.ID = "nuovo"
	}
	return checkService(s)
}
