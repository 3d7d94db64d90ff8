package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// schemaV3 holds admission and notifications. The office columns default
// to defaultConfig's values, so an office configured before this version
// keeps the defaults a never-configured one gets. The ticket columns are
// the request's source and the client's hashes (kept only while the
// ticket is active, purgeClosed); the partial index holds just the hashed
// tickets, so counting one client's tickets reads a handful of rows.
// queue_notify is where to email the citizen of an active ticket, and
// which emails were already queued; its row goes when the ticket closes.
const schemaV3 = `
ALTER TABLE queue_offices ADD COLUMN daily_cap INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_offices ADD COLUMN max_per_device INTEGER NOT NULL DEFAULT 2;
ALTER TABLE queue_offices ADD COLUMN max_per_ip INTEGER NOT NULL DEFAULT 20;
ALTER TABLE queue_offices ADD COLUMN notify_ahead INTEGER NOT NULL DEFAULT 3;
ALTER TABLE queue_offices ADD COLUMN proof_of_work INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_offices ADD COLUMN stop_before_s INTEGER NOT NULL DEFAULT 900;
ALTER TABLE queue_offices ADD COLUMN always_open INTEGER NOT NULL DEFAULT 0;

ALTER TABLE queue_tickets ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_tickets ADD COLUMN ip_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_tickets ADD COLUMN device_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX queue_tickets_hashed ON queue_tickets (tenant, office_id, day)
	WHERE ip_hash <> '' OR device_hash <> '';

CREATE TABLE queue_proofs (
	tenant    TEXT NOT NULL,
	hash      TEXT NOT NULL,
	office_id TEXT NOT NULL,
	day       TEXT NOT NULL,
	PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;
CREATE INDEX queue_proofs_day ON queue_proofs (tenant, office_id, day);

CREATE TABLE queue_notify (
	tenant         TEXT NOT NULL,
	ticket_id      TEXT NOT NULL,
	email          TEXT NOT NULL,
	lang           TEXT NOT NULL,
	tenant_name    TEXT NOT NULL,
	sender_name    TEXT NOT NULL,
	sender_address TEXT NOT NULL,
	time_zone      TEXT NOT NULL,
	near_sent      INTEGER NOT NULL,
	called_sent    INTEGER NOT NULL,
	PRIMARY KEY (tenant, ticket_id)
) WITHOUT ROWID;
`

// Bounds of the admission settings.
const (
	maxDailyCap    = 100000
	maxPerClient   = 1000
	maxNotifyAhead = 50
	maxProofOfWork = 24
	maxStopBefore  = 4 * time.Hour
	// A confirmation link lives long enough to reach a slow mailbox and
	// short enough that an unconfirmed ticket does not hold a place.
	minConfirmWithin = 5 * time.Minute
	maxConfirmWithin = 2 * time.Hour
)

// checkAdmissionConfig adds the Italian errors of the admission and
// notification settings to f.
func checkAdmissionConfig(c OfficeConfig, f map[string]string) {
	if c.DailyCap < 0 || c.DailyCap > maxDailyCap {
		f["daily_cap"] = fmt.Sprintf("Il numero massimo di biglietti al giorno va da 0 (nessun limite) a %d.", maxDailyCap)
	}
	if c.MaxPerDevice < 0 || c.MaxPerDevice > maxPerClient {
		f["max_per_device"] = fmt.Sprintf("I biglietti attivi per dispositivo vanno da 0 (nessun limite) a %d.", maxPerClient)
	}
	if c.MaxPerIP < 0 || c.MaxPerIP > maxPerClient {
		f["max_per_ip"] = fmt.Sprintf("I biglietti attivi per indirizzo di rete vanno da 0 (nessun limite) a %d.", maxPerClient)
	}
	if c.NotifyAhead < 0 || c.NotifyAhead > maxNotifyAhead {
		f["notify_ahead"] = fmt.Sprintf("L'avviso \"manca poco\" va da 0 (nessun avviso) a %d persone prima del turno.", maxNotifyAhead)
	}
	if c.ProofOfWork < 0 || c.ProofOfWork > maxProofOfWork {
		f["proof_of_work"] = fmt.Sprintf("La difficoltà della verifica anti-abuso va da 0 (spenta) a %d.", maxProofOfWork)
	}
	if w := c.ConfirmWithin; w != 0 && (w < minConfirmWithin || w > maxConfirmWithin || w%time.Minute != 0) {
		f["confirm_within"] = "Il tempo per confermare il biglietto via email va da 5 a 120 minuti, in minuti interi."
	}
	if c.StopBefore < 0 || c.StopBefore > maxStopBefore || c.StopBefore%time.Minute != 0 {
		f["stop_before"] = "La chiusura anticipata della coda va da 0 a 240 minuti, in minuti interi."
	}
}

// saveAdmissionConfig writes the admission settings of c into the
// office's row, which applyConfigure has just written.
func saveAdmissionConfig(tx *sql.Tx, t string, c OfficeConfig) error {
	if _, err := tx.ExecContext(context.Background(), `UPDATE queue_offices SET daily_cap = ?, max_per_device = ?,
		max_per_ip = ?, notify_ahead = ?, proof_of_work = ?, stop_before_s = ?, always_open = ?
		WHERE tenant = ? AND office_id = ?`,
		c.DailyCap, c.MaxPerDevice, c.MaxPerIP, c.NotifyAhead, c.ProofOfWork, int64(c.StopBefore/time.Second), c.AlwaysOpen,
		t, c.OfficeID); err != nil {
		return fmt.Errorf("configure admission of %s: %w", c.OfficeID, err)
	}
	return nil
}

// saveConfirmConfig writes the settings of schema version 5
// (confirmation by email, kiosks only) into the office's row. Only a
// configure command of payload version 2 carries them: a version 1
// command, from a binary that does not know them, leaves them as they
// were.
func saveConfirmConfig(tx *sql.Tx, t string, c OfficeConfig) error {
	within := c.ConfirmWithin
	if within == 0 {
		within = DefaultConfirmWithin
	}
	if _, err := tx.ExecContext(context.Background(), `UPDATE queue_offices SET confirm_email = ?, confirm_within_s = ?,
		kiosk_only = ? WHERE tenant = ? AND office_id = ?`,
		c.ConfirmEmail, int64(within/time.Second), c.KioskOnly, t, c.OfficeID); err != nil {
		return fmt.Errorf("configure confirmation of %s: %w", c.OfficeID, err)
	}
	return nil
}

// loadAdmissionConfig reads the admission settings of a configured
// office into c (a never-configured office keeps defaultConfig's).
func loadAdmissionConfig(ctx context.Context, q querier, t tenant.ID, c *OfficeConfig) error {
	var stop, within int64
	err := q.QueryRowContext(ctx, `SELECT daily_cap, max_per_device, max_per_ip, notify_ahead, proof_of_work,
		stop_before_s, always_open, confirm_email, confirm_within_s, kiosk_only
		FROM queue_offices WHERE tenant = ? AND office_id = ?`, t, c.OfficeID).Scan(
		&c.DailyCap, &c.MaxPerDevice, &c.MaxPerIP, &c.NotifyAhead, &c.ProofOfWork, &stop, &c.AlwaysOpen,
		&c.ConfirmEmail, &within, &c.KioskOnly)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load admission config of %s: %w", c.OfficeID, err)
	}
	c.StopBefore = time.Duration(stop) * time.Second
	c.ConfirmWithin = time.Duration(within) * time.Second
	return nil
}
