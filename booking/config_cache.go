package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// configVersion names one state of a Comune's booking configuration: the
// log index and leader time of the command that last changed it (zero
// when nothing changed since the table was created). A log index names one
// command for the life of a cluster; the time keeps apart two clusters
// that a process could meet (a state restored from another cluster's
// backup), whose indexes start again from 1.
type configVersion struct {
	index uint64
	time  int64
}

// serviceConfig is what apply needs to know of a service to check a
// booking: the service with its own hours, its office, the office's hours,
// and every closure and extra opening that concerns the office. It is
// read-only once built: the cache hands the same value to every apply.
type serviceConfig struct {
	svc         Service
	office      Office
	officeHours Week
	closures    []Closure
	openings    []Opening
}

// schedule returns the service's schedule for t. Closures and openings on
// other days than the one checked change nothing, so passing them all
// gives the same answers as loadSchedule's day range.
func (c serviceConfig) schedule(t tenant.Tenant) schedule {
	return newSchedule(t, t.Location(), c.svc, c.officeHours, c.closures, c.openings)
}

// configCacheSize bounds the entries kept; the map is emptied when full.
// One entry is a service of a Comune at one configuration version.
const configCacheSize = 4096

// configCache keeps the serviceConfig values that apply reads, so that a
// booking costs one query for the version instead of six for offices,
// services, hours, closures and openings. It is owned by one registry's
// apply functions (one node), used from the FSM goroutine; the mutex only
// makes it safe should that change.
//
// It keeps apply deterministic: an entry is used only under the version
// read from the same transaction, and every command that changes the
// configuration stores a new version (bumpConfigVersion) in that
// transaction, so a hit returns exactly what the queries would. A command
// rolled back to its savepoint takes its version with it; the entries
// cached under that version are never asked for again.
type configCache struct {
	mu      sync.Mutex
	entries map[configKey]serviceConfig
}

type configKey struct {
	tenant  tenant.ID
	service string
	version configVersion
}

func newConfigCache() *configCache {
	return &configCache{entries: make(map[configKey]serviceConfig)}
}

// service returns the configuration of service id of tenant t as the
// transaction sees it, or ErrNotFound.
func (c *configCache) service(ctx context.Context, tx *sql.Tx, t tenant.ID, id string) (serviceConfig, error) {
	v, err := readConfigVersion(ctx, tx, t)
	if err != nil {
		return serviceConfig{}, err
	}
	return c.at(ctx, tx, t, id, v)
}

// createSettings is what booking.create reads of a service besides its
// configuration: its fair-access and App IO settings, and the counts
// reserve compares with its caps.
type createSettings struct {
	fair   FairSettings
	appIO  bool // the App IO channel is on (and has its key)
	counts slotCounts
}

// createSettingsQuery reads, in one statement, the configuration version
// of a Comune, the fair-access and App IO settings of one of its services
// and reserve's counts for a booking of the citizen ?3 at ?5 (Unix
// seconds) made at ?4: a statement costs a booking several microseconds
// in database/sql and cgo before SQLite looks at a page, and these point
// lookups cost little more. The citizen's bookings are counted even for a
// service without a cap, whose configuration is not known yet when the
// statement runs: one seek in an index, which holds only the bookings of
// capped services (schema_v9.go; createSettingsQueryBefore9 until then).
// The settings are read from the transaction, not cached with the
// configuration: fair access and App IO change without bumping its
// version, and a node that installs a snapshot of an older member must
// still read them right.
const createSettingsQuery = createSettingsHead + cappedTerm + createSettingsTail

// createSettingsQueryBefore9 is createSettingsQuery before the schema's
// version 9, when booking_bookings has no column capped.
const createSettingsQueryBefore9 = createSettingsHead + createSettingsTail

// cappedTerm is the condition of the partial index the per-citizen counts
// use; a query must name it for SQLite to use the index.
const cappedTerm = ` AND capped = 1`

// withCapped runs a per-citizen count with cappedTerm, and once more with
// "" when SQLite has no column capped yet (before the schema's version 9).
func withCapped(run func(term string) error) error {
	err := run(cappedTerm)
	if isNoColumn(err, "capped") {
		err = run("")
	}
	return err
}

const createSettingsHead = `SELECT v.cmd_index, v.cmd_time, f.max_per_email, f.max_per_phone, f.proof_bits,
		f.confirm_from_s, f.confirm_by_s, f.release_days, f.release_min, a.enabled,
		(SELECT count(*) FROM booking_bookings
			WHERE tenant = ?1 AND service_id = ?2 AND fiscal_code = ?3 AND status = 'active'
				AND start_unix > ?4 AND id <> ''`

const createSettingsTail = `),
		(SELECT count(*) FROM booking_bookings
			WHERE tenant = ?1 AND service_id = ?2 AND start_unix = ?5 AND status = 'active' AND id <> ''),
		(SELECT count(*) FROM booking_waitlist_offers
			WHERE tenant = ?1 AND service_id = ?2 AND start_unix = ?5 AND status = 'pending')
	FROM (SELECT ?1 AS tenant, ?2 AS service_id) k
	LEFT JOIN booking_config_version v ON v.tenant = k.tenant
	LEFT JOIN booking_fair_settings f ON f.tenant = k.tenant AND f.service_id = k.service_id
	LEFT JOIN booking_appio a ON a.tenant = k.tenant AND a.service_id = k.service_id AND a.sealed_key <> ''`

// serviceForCreate is service for booking.create of the citizen
// fiscalCode at start, made at now: it returns the service's
// configuration, its fair-access and App IO settings and reserve's
// counts, with one query in all when it can. Before the migrations of
// those settings' tables it returns nil settings, and the caller reads
// them as before (reserve, loadFair, enqueueAppIO), with their own
// answers for missing tables.
func (c *configCache) serviceForCreate(ctx context.Context, tx *sql.Tx, t tenant.ID, id, fiscalCode string, start, now time.Time) (serviceConfig, *createSettings, error) {
	var idx, at, email, phone, bits, from, by, days, min, enabled sql.NullInt64
	s := &createSettings{}
	err := withCapped(func(term string) error {
		q := createSettingsQueryBefore9
		if term != "" {
			q = createSettingsQuery
		}
		return tx.QueryRowContext(ctx, q, t, id, fiscalCode, now.Unix(), start.Unix()).
			Scan(&idx, &at, &email, &phone, &bits, &from, &by, &days, &min, &enabled,
				&s.counts.mine, &s.counts.slot, &s.counts.held)
	})
	if isNoSuchTable(err) {
		cfg, err := c.service(ctx, tx, t, id)
		return cfg, nil, err
	}
	if err != nil {
		return serviceConfig{}, nil, fmt.Errorf("read configuration version: %w", err)
	}
	// No version row reads as readConfigVersion's zero version.
	cfg, err := c.at(ctx, tx, t, id, configVersion{index: uint64(idx.Int64), time: at.Int64})
	if err != nil {
		return serviceConfig{}, nil, err
	}
	s.appIO = enabled.Valid && enabled.Int64 != 0
	if email.Valid {
		s.fair = FairSettings{
			MaxActivePerEmail: int(email.Int64), MaxActivePerPhone: int(phone.Int64), ProofOfWork: int(bits.Int64),
			ConfirmFrom: time.Duration(from.Int64) * time.Second, ConfirmBy: time.Duration(by.Int64) * time.Second,
			ReleaseDaysAhead: int(days.Int64), ReleaseAt: int(min.Int64),
		}
	}
	return cfg, s, nil
}

// at returns the configuration of service id of tenant t at version v,
// the version the transaction holds.
func (c *configCache) at(ctx context.Context, tx *sql.Tx, t tenant.ID, id string, v configVersion) (serviceConfig, error) {
	key := configKey{tenant: t, service: id, version: v}
	c.mu.Lock()
	cfg, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return cfg, nil
	}
	cfg, err := loadServiceConfig(ctx, tx, t, id)
	if err != nil {
		return serviceConfig{}, err
	}
	c.mu.Lock()
	if len(c.entries) >= configCacheSize {
		clear(c.entries)
	}
	c.entries[key] = cfg
	c.mu.Unlock()
	return cfg, nil
}

// loadServiceConfig reads a serviceConfig with the same queries the rest
// of the package uses.
func loadServiceConfig(ctx context.Context, q querier, t tenant.ID, id string) (serviceConfig, error) {
	svc, err := loadService(ctx, q, t, id)
	if err != nil {
		return serviceConfig{}, err
	}
	// An archived service (or one of an archived office) takes no new
	// booking nor move; archiving bumps the version, so no entry cached
	// before it is used after it.
	if err := refuseArchived(ctx, q, t, svc); err != nil {
		return serviceConfig{}, err
	}
	cfg := serviceConfig{svc: svc}
	if cfg.office, err = loadOffice(ctx, q, t, svc.OfficeID); err != nil {
		return serviceConfig{}, err
	}
	if svc.Hours.IsZero() {
		if cfg.officeHours, err = loadHours(ctx, q, t, svc.OfficeID, ""); err != nil {
			return serviceConfig{}, err
		}
	}
	if cfg.closures, err = loadAllClosures(ctx, q, t, svc.OfficeID); err != nil {
		return serviceConfig{}, err
	}
	if cfg.openings, err = loadAllOpenings(ctx, q, t, svc.OfficeID); err != nil {
		return serviceConfig{}, err
	}
	return cfg, nil
}

// loadAllClosures returns every closure of officeID and of every office.
func loadAllClosures(ctx context.Context, q querier, t tenant.ID, officeID string) ([]Closure, error) {
	return collect(ctx, q, "load closures", scanClosure, `SELECT id, office_id, from_date, to_date, reason FROM booking_closures
		WHERE tenant = ? AND (office_id = '' OR office_id = ?) ORDER BY from_date, id`, t, officeID)
}

// loadAllOpenings returns every extra opening of officeID.
func loadAllOpenings(ctx context.Context, q querier, t tenant.ID, officeID string) ([]Opening, error) {
	return collect(ctx, q, "load openings", scanOpening, `SELECT id, office_id, day, intervals, reason FROM booking_openings
		WHERE tenant = ? AND office_id = ? ORDER BY day, id`, t, officeID)
}

// readConfigVersion returns the stored configuration version of t.
func readConfigVersion(ctx context.Context, tx *sql.Tx, t tenant.ID) (configVersion, error) {
	var idx, at int64
	err := tx.QueryRowContext(ctx, `SELECT cmd_index, cmd_time FROM booking_config_version WHERE tenant = ?`, t).Scan(&idx, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return configVersion{}, nil
	}
	if err != nil {
		return configVersion{}, fmt.Errorf("read configuration version: %w", err)
	}
	return configVersion{index: uint64(idx), time: at}, nil
}

// bumpConfigVersion records cmd as the last change of its Comune's
// configuration. Every apply function that writes offices, services,
// hours, closures or openings calls it, after its writes succeeded.
func bumpConfigVersion(tx *sql.Tx, cmd cluster.Command) error {
	_, err := tx.ExecContext(context.Background(), `INSERT INTO booking_config_version (tenant, cmd_index, cmd_time)
		VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET cmd_index = excluded.cmd_index, cmd_time = excluded.cmd_time`,
		cmd.Tenant, int64(cmd.Index), cmd.Time.UnixNano())
	if err != nil {
		return fmt.Errorf("store configuration version: %w", err)
	}
	return nil
}
