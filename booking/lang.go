package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The languages a booking's messages are written in. Italian is the
// default: every Comune offers it, and a booking made before languages
// existed is Italian.
const (
	LangIT = "it"
	LangEN = "en"
	LangDE = "de"
)

// Languages returns the languages of bookings, Italian first.
func Languages() []string { return []string{LangIT, LangEN, LangDE} }

// NormalizeLang returns lang as a booking stores it: "it", "en" or "de",
// in lower case, a regional form ("en-GB") counting as its language;
// anything else (empty, "fr") becomes Italian, the language every Comune
// writes in.
func NormalizeLang(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	switch lang {
	case LangEN, LangDE:
		return lang
	}
	return LangIT
}

// createVersion is the newest payload version of booking.create: version
// 2 adds Lang, version 3 (createCompactVersion) has the same payload and
// queues the confirmation in the compact form (notice_compact.go), version
// 4 (createLeanContactsVersion) has the same payload again and files in
// the fair-access contacts only what a cap of the service compares (fair.go).
// Book.Create proposes version 4 once every member knows it (the
// cluster's version gate), else 3; before that, version 1 for an Italian
// booking, so that during a rolling upgrade older members keep applying it
// (they decode strictly and would refuse the new field), and version 2
// (createLangVersion) for the others.
const createVersion = 4

// createLangVersion is the version of booking.create that added Lang;
// the waiting list's booking.wait.accept carries at most this one inside
// (its own version does not change, so the gate would not hold a newer
// one back from older members).
const createLangVersion = 2

// createCompactVersion is the first version of booking.create whose
// confirmation is queued in the compact form.
const createCompactVersion = 3

// createLeanContactsVersion is the first version of booking.create that
// files the citizen's email and phone in booking_fair_contacts only when
// the service caps bookings by them (checkFairCreate).
const createLeanContactsVersion = 4

// decodeUpTo checks that the payload's version is at most maxVersion and
// decodes it.
func decodeUpTo(cmd cluster.Command, maxVersion int, v any) error {
	if cmd.Version < 1 || cmd.Version > maxVersion {
		return fmt.Errorf("%s v%d: %w", cmd.Type, cmd.Version, errVersion)
	}
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command has no tenant", cmd.Type)
	}
	return cmd.Decode(v)
}

// insertBooking inserts the new booking b, whose manage token has hash,
// in language lang, and returns the language as stored. Italian is the
// column's default and is not written. Another language goes in the same
// statement as the row (an UPDATE after it cost a booking a statement and
// a second walk of the primary key); until the schema's version 6 has
// run the column is missing, SQLite refuses that statement, and the
// booking is stored Italian: the same on every node, since migrations
// are commands of the log. A booking of a service with a per-citizen cap
// is marked capped the same way (schema_v9.go); before version 9 every
// active booking is in the index the cap counts with.
func insertBooking(tx *sql.Tx, b Booking, hash []byte, lang string, capped bool) (string, error) {
	ctx := context.Background()
	args := []any{b.Tenant, b.ID, b.Code, b.ServiceID, b.OfficeID, b.Start.Unix(), b.End.Unix(), b.Channel,
		b.Citizen.GivenName, b.Citizen.FamilyName, b.Citizen.FiscalCode, b.Citizen.Email,
		b.Citizen.Phone, b.Details, b.Status, hash, b.JoinToken, b.Sequence,
		formatTime(b.Created), formatTime(b.Updated)}
	const values = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
	lang = NormalizeLang(lang)
	for {
		cols, marks, all := "", "", args
		if lang != LangIT {
			cols, marks, all = cols+", lang", marks+", ?", append(all, lang)
		}
		if capped {
			cols, marks = cols+", capped", marks+", 1"
		}
		q := `INSERT INTO booking_bookings (tenant, ` + bookingColumns + `) VALUES (` + values + `)`
		if cols != "" {
			q = `INSERT INTO booking_bookings (tenant, ` + bookingColumns + cols + `) VALUES (` + values + marks + `)`
		}
		_, err := tx.ExecContext(ctx, q, all...)
		switch {
		case capped && isNoColumn(err, "capped"):
			capped = false // before version 9
		case lang != LangIT && isNoSuchLang(err):
			lang = LangIT // before version 6
		default:
			return lang, err
		}
	}
}

// loadLang returns the language of booking id, Italian before the
// schema's version 6.
func loadLang(ctx context.Context, q querier, t tenant.ID, id string) (string, error) {
	var lang string
	err := q.QueryRowContext(ctx, `SELECT lang FROM booking_bookings WHERE tenant = ? AND id = ?`, t, id).Scan(&lang)
	if isNoSuchLang(err) || errors.Is(err, sql.ErrNoRows) {
		return LangIT, nil
	}
	if err != nil {
		return "", fmt.Errorf("load language of booking %s: %w", id, err)
	}
	return NormalizeLang(lang), nil
}

// isNoSuchLang reports whether err is SQLite's answer to the lang column
// before its migration.
func isNoSuchLang(err error) bool { return isNoColumn(err, "lang") }

// isNoColumn reports whether err is SQLite's answer to a statement that
// names column of a table that does not have it (yet: before the
// column's migration).
func isNoColumn(err error, column string) bool {
	return err != nil && (strings.Contains(err.Error(), "no such column: "+column) ||
		strings.Contains(err.Error(), "has no column named "+column))
}

// proposeCreate proposes booking.create with p in language lang: the
// newest version every member knows, 4 or 3; until then (a rolling
// upgrade) version 1 for Italian, version 2 otherwise. While some member of the
// cluster does not know version 2 yet, the booking is made in Italian
// rather than refused: the citizen gets the appointment, and the emails
// in the Comune's own language.
func (b *Book) proposeCreate(ctx context.Context, t tenant.ID, p createPayload, lang string) (cluster.Result, error) {
	p.Lang = ""
	if lang = NormalizeLang(lang); lang != LangIT {
		p.Lang = lang
	}
	for _, version := range []int{createLeanContactsVersion, createCompactVersion} {
		cmd, err := newCreateCommand(version, string(t), p)
		if err != nil {
			return cluster.Result{}, err
		}
		res, err := b.p.Propose(ctx, cmd)
		if !errors.Is(err, cluster.ErrNotSupportedByCluster) {
			return res, err
		}
	}
	// A member does not know the compact notice yet: the versions
	// before it, which queue the full one.
	return b.proposeCreateBefore(ctx, t, p)
}

// proposeCreateBefore proposes p as the versions before
// createCompactVersion: 1 when it has neither language nor network hash,
// else 2, and 1 again without them when a member knows only 1.
func (b *Book) proposeCreateBefore(ctx context.Context, t tenant.ID, p createPayload) (cluster.Result, error) {
	version := 1
	if p.Lang != "" || p.Net != "" {
		version = createLangVersion
	}
	cmd, err := newCreateCommand(version, string(t), p)
	if err != nil {
		return cluster.Result{}, err
	}
	res, err := b.p.Propose(ctx, cmd)
	if version > 1 && errors.Is(err, cluster.ErrNotSupportedByCluster) {
		// The network's hash is only for the report: drop it too.
		p.Lang, p.Net = "", ""
		return b.proposeCreateBefore(ctx, t, p)
	}
	return res, err
}
