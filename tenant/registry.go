package tenant

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Registry is the node's view of the Comuni: it reads from the local SQLite
// read pool and writes by proposing tenant.create and tenant.update. It is
// safe for concurrent use. Besides its configuration it keeps only the
// Comuni that Resolve found (see resolveCache).
type Registry struct {
	p     cluster.Proposer
	db    *sql.DB
	base  string
	cache resolveCache
}

// NewRegistry returns a registry over a node's proposer and read pool.
// baseDomain ("sportello.example.it", "localhost" for the demo) is the
// domain under which every Comune answers as <id>.<baseDomain>.
func NewRegistry(p cluster.Proposer, db *sql.DB, baseDomain string) *Registry {
	return &Registry{p: p, db: db, base: NormalizeHost(baseDomain), cache: resolveCache{hosts: map[string]Tenant{}}}
}

// resolveCache keeps the Comune of each host that Resolve found, for the
// registry version (tenant_version) it was read under. Every request
// resolves its Host: with the cache that costs one small query, the
// version, instead of two queries and the decoding of the Comune. An entry
// is used only while the stored version is the one it was read under, so
// a create or update is seen by the next request; unknown hosts are not
// kept (anyone can send any Host).
type resolveCache struct {
	mu      sync.Mutex
	version [2]int64 // cmd_index, cmd_time
	hosts   map[string]Tenant
	// seen is the stored version last read and seenAt the node's applied
	// index read just before it (0: none). While the applied index has
	// not moved, no command has changed the database, so the version is
	// still seen: the query is made again only after an apply, a few
	// dozen times a second under load instead of once per request
	// (about 15 µs each, the larger part of resolving a Host).
	seen   [2]int64
	seenAt uint64
}

// appliedIndexer is implemented by *cluster.Node: the index of the last
// command whose transaction has committed on this node (it moves after
// the commit), which names one state of the database.
type appliedIndexer interface{ AppliedIndex() uint64 }

// resolveCacheSize bounds the hosts kept; the map is emptied when full.
const resolveCacheSize = 4096

// version reads the registry's stored version, or the one read last when
// the node has applied nothing since.
func (r *Registry) version(ctx context.Context) ([2]int64, error) {
	var at uint64
	if ai, ok := r.p.(appliedIndexer); ok {
		// Read before the query: what the query then reads is at least
		// as new as the state at this index.
		at = ai.AppliedIndex()
		r.cache.mu.Lock()
		v, hit := r.cache.seen, at != 0 && r.cache.seenAt == at
		r.cache.mu.Unlock()
		if hit {
			return v, nil
		}
	}
	var v [2]int64
	err := r.db.QueryRowContext(ctx, `SELECT cmd_index, cmd_time FROM tenant_version WHERE id = 1`).Scan(&v[0], &v[1])
	if err == nil && at != 0 {
		r.cache.mu.Lock()
		r.cache.seen, r.cache.seenAt = v, at
		r.cache.mu.Unlock()
	}
	return v, err
}

// get returns the Comune of host kept under version v.
func (c *resolveCache) get(v [2]int64, host string) (Tenant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != v {
		return Tenant{}, false
	}
	t, ok := c.hosts[host]
	return t.clone(), ok
}

// put keeps t as the Comune of host under version v. Data read after v
// was read is at least as new as v, so an entry is never older than its
// version.
func (c *resolveCache) put(v [2]int64, host string, t Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != v || len(c.hosts) >= resolveCacheSize {
		clear(c.hosts)
		c.version = v
	}
	c.hosts[host] = t.clone()
}

// clone returns t with slices of its own, so that callers of Resolve
// cannot change the cached Comune.
func (t Tenant) clone() Tenant {
	t.Domains = slices.Clone(t.Domains)
	t.Languages = slices.Clone(t.Languages)
	t.PatronDays = slices.Clone(t.PatronDays)
	return t
}

// BaseDomain returns the normalised base domain.
func (r *Registry) BaseDomain() string { return r.base }

// PrimaryHost returns the host name every Comune has, "<id>.<base-domain>".
func (r *Registry) PrimaryHost(t Tenant) string {
	if r.base == "" {
		return string(t.ID)
	}
	return string(t.ID) + "." + r.base
}

// Hosts returns every host name the Comune answers on: its primary host
// first, then its own domains.
func (r *Registry) Hosts(t Tenant) []string {
	return append([]string{r.PrimaryHost(t)}, t.Domains...)
}

// Create adds a Comune, filling the defaults (time zone Europe/Rome,
// languages it/en/de, code prefix from the ID). It returns a
// *ValidationError for invalid fields, ErrExists when the ID is in use and
// ErrDomainTaken when another Comune has one of its domains. The checks are
// made again inside apply, which alone decides.
func (r *Registry) Create(ctx context.Context, t Tenant) (Tenant, error) {
	normalize(&t)
	applyDefaults(&t)
	if err := validate(t, r.base); err != nil {
		return Tenant{}, err
	}
	return r.save(ctx, CommandCreate, "", t)
}

// Update replaces every field of the Comune with ID t.ID but the creation
// time; callers Get, change and Update. No defaults are filled: an empty
// TimeZone, Languages or CodePrefix is a validation error. It returns
// ErrNotFound when there is no such Comune, and the same errors as Create
// otherwise.
func (r *Registry) Update(ctx context.Context, t Tenant) (Tenant, error) {
	normalize(&t)
	if err := validate(t, r.base); err != nil {
		return Tenant{}, err
	}
	return r.save(ctx, CommandUpdate, string(t.ID), t)
}

func (r *Registry) save(ctx context.Context, typ, tenantID string, t Tenant) (Tenant, error) {
	t.Created = time.Time{} // apply decides it
	// Only Disable and Enable change the disabled state; leaving it out
	// also keeps the payload's JSON what older nodes know.
	t.Disabled = Disabled{}
	cmd, err := cluster.NewCommand(typ, payloadVersion, tenantID, savePayload{Tenant: t, BaseDomain: r.base})
	if err != nil {
		return Tenant{}, err
	}
	res, err := r.p.Propose(ctx, cmd)
	if err != nil {
		return Tenant{}, fmt.Errorf("%s %s: %w", typ, t.ID, err)
	}
	// Propose returns once the command is applied here; waiting again is
	// free and keeps the read below correct if that contract loosens.
	if err := r.p.WaitApplied(ctx, res.Index); err != nil {
		return Tenant{}, fmt.Errorf("%s %s: %w", typ, t.ID, err)
	}
	return r.Get(ctx, t.ID)
}

// Get returns the Comune with id, or ErrNotFound.
func (r *Registry) Get(ctx context.Context, id ID) (Tenant, error) {
	ts, err := r.query(ctx, `WHERE id = ?`, id)
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	if len(ts) == 0 {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, ErrNotFound)
	}
	return ts[0], nil
}

// List returns every Comune, sorted by ID.
func (r *Registry) List(ctx context.Context) ([]Tenant, error) {
	ts, err := r.query(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// Resolve returns the Comune that answers on host, as the HTTP request's
// Host header gives it: the port, a trailing dot and letter case do not
// matter. host is either "<id>.<base-domain>" or one of a Comune's own
// domains; anything else gives ErrNotFound, and so do the hosts of a
// deleted Comune. For a disabled Comune it returns the Comune together
// with an error wrapping ErrDisabled: a caller that only checks err
// refuses the host (no page, no certificate), and the site can still name
// the Comune on its "not available" page.
func (r *Registry) Resolve(ctx context.Context, host string) (Tenant, error) {
	h := NormalizeHost(host)
	if h == "" {
		return Tenant{}, fmt.Errorf("resolve empty host: %w", ErrNotFound)
	}
	v, err := r.version(ctx)
	if err != nil {
		return Tenant{}, fmt.Errorf("resolve host %s: %w", h, err)
	}
	t, ok := r.cache.get(v, h)
	if !ok {
		if t, err = r.resolve(ctx, h); err != nil {
			return Tenant{}, err
		}
		r.cache.put(v, h, t)
	}
	if t.IsDisabled() {
		return t, fmt.Errorf("resolve host %s: %s: %w", h, t.ID, ErrDisabled)
	}
	return t, nil
}

// resolve reads the Comune of the normalised host h.
func (r *Registry) resolve(ctx context.Context, h string) (Tenant, error) {
	if r.base != "" {
		if label, ok := strings.CutSuffix(h, "."+r.base); ok {
			if !ValidID(label) {
				return Tenant{}, fmt.Errorf("resolve host %s: %w", h, ErrNotFound)
			}
			t, err := r.Get(ctx, ID(label))
			if err != nil {
				return Tenant{}, fmt.Errorf("resolve host %s: %w", h, err)
			}
			return t, nil
		}
	}
	var id string
	err := r.db.QueryRowContext(ctx, `SELECT tenant_id FROM tenant_domains WHERE domain = ?`, h).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("resolve host %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("resolve host %s: %w", h, err)
	}
	t, err := r.Get(ctx, ID(id))
	if err != nil {
		return Tenant{}, fmt.Errorf("resolve host %s: %w", h, err)
	}
	return t, nil
}

// query reads the tenants matching where (a clause on the tenants table)
// with their domains.
func (r *Registry) query(ctx context.Context, where string, args ...any) ([]Tenant, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id, name, region, istat, code_prefix, logo_url,
		primary_color, time_zone, languages, patron_days, sender_name, sender_address, created,
		disabled_at, disabled_reason
		FROM tenants `+where+` ORDER BY id`, args...)
	if err != nil && strings.Contains(err.Error(), "no such column: disabled_at") {
		// A node of this version under an older leader serves on the
		// cluster's schema until every member can migrate it (tenant
		// schema version 3): no Comune can be disabled before that.
		rows, err = r.db.QueryContext(ctx, `SELECT id, name, region, istat, code_prefix, logo_url,
			primary_color, time_zone, languages, patron_days, sender_name, sender_address, created,
			'', ''
			FROM tenants `+where+` ORDER BY id`, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []Tenant
	byID := map[ID]int{}
	for rows.Next() {
		var (
			t                                Tenant
			langs, patrons, crated, disabled string
		)
		err := rows.Scan(&t.ID, &t.Name, &t.Region, &t.ISTAT, &t.CodePrefix, &t.Branding.LogoURL,
			&t.Branding.PrimaryColor, &t.TimeZone, &langs, &patrons, &t.Sender.Name, &t.Sender.Address, &crated,
			&disabled, &t.Disabled.Reason)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(langs), &t.Languages); err != nil {
			return nil, fmt.Errorf("decode languages of %s: %w", t.ID, err)
		}
		if err := json.Unmarshal([]byte(patrons), &t.PatronDays); err != nil {
			return nil, fmt.Errorf("decode patron days of %s: %w", t.ID, err)
		}
		if t.Created, err = parseTime(crated); err != nil {
			return nil, err
		}
		if disabled != "" {
			if t.Disabled.Since, err = parseTime(disabled); err != nil {
				return nil, err
			}
		}
		t.Domains = []string{}
		byID[t.ID] = len(ts)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return ts, nil
	}
	drows, err := r.db.QueryContext(ctx, `SELECT tenant_id, domain FROM tenant_domains
		WHERE tenant_id IN (SELECT id FROM tenants `+where+`) ORDER BY tenant_id, position`, args...)
	if err != nil {
		return nil, err
	}
	defer drows.Close()
	for drows.Next() {
		var (
			id ID
			d  string
		)
		if err := drows.Scan(&id, &d); err != nil {
			return nil, err
		}
		if i, ok := byID[id]; ok {
			ts[i].Domains = append(ts[i].Domains, d)
		}
	}
	return ts, drows.Err()
}
