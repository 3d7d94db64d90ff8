package cluster

import (
	"context"
	"database/sql"
	"fmt"
)

// migrateType is the built-in command that runs schema migrations.
const migrateType = "cluster.migrate"

// migratePayload lists, in the order they run, the schema versions each
// component must reach. The order is in the payload (not derived from the
// binary's wiring) so that every node migrates identically.
type migratePayload struct {
	Targets []migrateTarget `json:"targets"`
}

type migrateTarget struct {
	Component string `json:"component"`
	Version   int    `json:"version"`
}

// applyMigrate runs, for each target, the migrations between the stored
// version and the target, and records the new version. A target above
// what this binary knows is refused with a *MigrationError and changes
// nothing: the whole command rolls back. Targets at or below the stored
// version are no-ops, so two leaders proposing the same step is harmless.
func (f *fsm) applyMigrate(tx *sql.Tx, cmd Command) (any, error) {
	var p migratePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	stored, err := readSchema(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, t := range p.Targets {
		known := f.migrations[t.Component]
		if t.Version > len(known) {
			err := &MigrationError{Component: t.Component, Version: t.Version, Known: len(known)}
			f.log.Error("migration refused: this binary is older than the leader's", "err", err, "index", cmd.Index)
			return nil, err
		}
		for v := stored[t.Component] + 1; v <= t.Version; v++ {
			if _, err := tx.ExecContext(ctx, known[v-1].SQL); err != nil {
				return nil, &MigrationError{Component: t.Component, Version: v, Known: len(known), Err: err}
			}
		}
		if t.Version > stored[t.Component] {
			if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_schema (component, version) VALUES (?, ?)
				ON CONFLICT (component) DO UPDATE SET version = excluded.version`, t.Component, t.Version); err != nil {
				return nil, fmt.Errorf("cluster: record schema %s/%d: %w", t.Component, t.Version, err)
			}
			stored[t.Component] = t.Version
		}
	}
	return nil, nil
}

// pendingMigrations compares the binary's migrations with the versions
// stored in state and returns the targets still to reach, in order. A
// stored version newer than the binary is a *MigrationError: this binary
// must not run on that state.
func (f *fsm) pendingMigrations(ctx context.Context, db *sql.DB) ([]migrateTarget, error) {
	stored, err := readSchema(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []migrateTarget
	for _, comp := range f.order {
		known := len(f.migrations[comp])
		switch have := stored[comp]; {
		case have > known:
			return nil, &MigrationError{Component: comp, Version: have, Known: known}
		case have < known:
			out = append(out, migrateTarget{Component: comp, Version: known})
		}
	}
	return out, nil
}
