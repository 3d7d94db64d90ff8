package booking

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sportello-virtuale/sportello/tenant"
)

// rememberManageURL keeps the base URL and manage link of booking id for its
// reminders (booking_reminder_links), replacing the one of an earlier
// time of the booking. Before the schema's version 6 the table is
// missing and nothing is kept: the reminders then go without the link.
func rememberManageURL(tx *sql.Tx, t tenant.ID, id, baseURL, manageURL string) error {
	if manageURL == "" {
		return nil
	}
	_, err := tx.ExecContext(context.Background(), `INSERT INTO booking_reminder_links (tenant, booking_id, base_url, manage_url)
		VALUES (?, ?, ?, ?) ON CONFLICT (tenant, booking_id) DO UPDATE SET base_url = excluded.base_url,
			manage_url = excluded.manage_url`, t, id, trimBase(baseURL), manageURL)
	if err != nil && !isNoSuchTable(err) {
		return fmt.Errorf("keep manage link of booking %s: %w", id, err)
	}
	return nil
}

// forgetReminderState drops what the reminders of booking id kept: its
// manage link and its browsers. A cancelled booking is told nothing
// more, and the token should not outlive the need for it.
func forgetReminderState(tx *sql.Tx, t tenant.ID, id string) error {
	ctx := context.Background()
	for _, q := range []string{
		`DELETE FROM booking_reminder_links WHERE tenant = ? AND booking_id = ?`,
		`DELETE FROM booking_push WHERE tenant = ? AND booking_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, t, id); err != nil && !isNoSuchTable(err) {
			return fmt.Errorf("forget reminder state of booking %s: %w", id, err)
		}
	}
	return nil
}
