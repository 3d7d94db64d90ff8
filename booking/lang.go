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
// 2 adds Lang. Book.Create proposes version 1 for an Italian booking, so
// that during a rolling upgrade older members keep applying it (they
// decode strictly and would refuse the new field), and version 2 for the
// others, which the cluster's version gate lets through once every
// member knows it.
const createVersion = 2

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

// storeLang records the language of booking id, just inserted, and
// returns it as stored. Italian is the column's default and needs no
// write. Until the schema's version 6 has run the column is missing and
// the booking stays Italian: the same on every node, since migrations
// are commands of the log.
func storeLang(tx *sql.Tx, t tenant.ID, id, lang string) (string, error) {
	lang = NormalizeLang(lang)
	if lang == LangIT {
		return LangIT, nil
	}
	_, err := tx.ExecContext(context.Background(), `UPDATE booking_bookings SET lang = ? WHERE tenant = ? AND id = ?`, lang, t, id)
	if isNoSuchLang(err) {
		return LangIT, nil
	}
	if err != nil {
		return "", fmt.Errorf("store language of booking %s: %w", id, err)
	}
	return lang, nil
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
func isNoSuchLang(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such column: lang")
}

// proposeCreate proposes booking.create with p in language lang: version
// 1 for Italian, version 2 otherwise. While some member of the cluster
// does not know version 2 yet (a rolling upgrade), the booking is made in
// Italian rather than refused: the citizen gets the appointment, and the
// emails in the Comune's own language.
func (b *Book) proposeCreate(ctx context.Context, t tenant.ID, p createPayload, lang string) (cluster.Result, error) {
	version := 1
	p.Lang = ""
	if lang = NormalizeLang(lang); lang != LangIT {
		p.Lang = lang
	}
	if p.Lang != "" || p.Net != "" {
		version = createVersion
	}
	cmd, err := cluster.NewCommand(CmdCreate, version, string(t), p)
	if err != nil {
		return cluster.Result{}, err
	}
	res, err := b.p.Propose(ctx, cmd)
	if version > 1 && errors.Is(err, cluster.ErrNotSupportedByCluster) {
		// The network's hash is only for the report: drop it too.
		p.Net = ""
		return b.proposeCreate(ctx, t, p, LangIT)
	}
	return res, err
}
