//go:build sportello_upgrade_probe

package main

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/sportello-virtuale/sportello/cluster"
)

// This file exists only in the test build made with
// `-tags sportello_upgrade_probe`: it stands for "the next version" of
// Sportello in the rolling-upgrade test (e2e_ops_test.go). That build
// knows one command type more than the product, probeType, and the admin
// socket of it can propose one. The product binary (no tag) has the empty
// hooks of upgrade_probe_off.go instead, so it neither knows the type nor
// serves the route.

// probeType is the command only the probe build can apply.
const probeType = "upgradeprobe.note"

// probeNote is the payload of probeType.
type probeNote struct {
	Text string `json:"text"`
}

// probeRegister adds the probe's command to the node's registry.
func probeRegister(reg *cluster.Registry) {
	reg.Handle(probeType, 1, applyProbeNote)
}

// applyProbeNote stores the note with the leader's time stamp. The table
// is created here, as the version gate's own tables are, so that the probe
// needs no schema migration (a migration would be a second thing the old
// binary does not know).
func applyProbeNote(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p probeNote
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS upgrade_probe_notes (text TEXT NOT NULL, at TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("probe: create table: %w", err)
	}
	if _, err := tx.Exec(`INSERT INTO upgrade_probe_notes (text, at) VALUES (?, ?)`, p.Text, cmd.Time.UTC().Format("2006-01-02T15:04:05.000Z")); err != nil {
		return nil, fmt.Errorf("probe: insert: %w", err)
	}
	return nil, nil
}

// probeRoutes serves POST /v1/probe/notes ({"text": ...}): it proposes a
// probeType command and answers 200 with the index, or 409 with the
// cluster's refusal (a member or the leader cannot apply it yet).
func (a *adminServer) probeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/probe/notes", func(w http.ResponseWriter, r *http.Request) {
		var p probeNote
		if !a.decode(w, r, &p) {
			return
		}
		cmd, err := cluster.NewCommand(probeType, 1, "", p)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		res, err := a.node.Propose(r.Context(), cmd)
		var (
			uc *cluster.UnknownCommandError
			re *cluster.RemoteError
		)
		switch {
		case errors.Is(err, cluster.ErrNotSupportedByCluster):
			writeJSON(w, http.StatusConflict, adminError{adminErrorBody{Code: "not_supported", Message: err.Error()}})
		case errors.As(err, &uc), errors.As(err, &re) && re.Code == "cluster.unknown_command":
			writeJSON(w, http.StatusConflict, adminError{adminErrorBody{Code: "unknown_command", Message: err.Error()}})
		case err != nil:
			a.fail(w, r, err)
		default:
			writeJSON(w, http.StatusOK, map[string]uint64{"index": res.Index})
		}
	})
}
