package booking

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/tenant"
)

// The operators' search of the agenda: a booking by its code, the
// citizen's name or fiscal code, among the bookings of the offices an
// operator may serve. The text names a person, so it is matched in SQL
// against the offices' own rows only (tenant first, then the offices, then
// the time window: the booking_bookings_office index), never logged, and
// the answer is bounded.
const (
	// MinSearchText is the least number of characters of a search: fewer
	// would list most of an office's citizens.
	MinSearchText = 3
	// MaxSearchText bounds the text, in characters.
	MaxSearchText = 100
	// maxSearchTerms bounds the words of a search, each one a condition.
	maxSearchTerms = 5
	// maxSearchLimit bounds what one search returns, whatever the caller
	// asks.
	maxSearchLimit = 200
)

// AgendaSearch is what SearchAgenda looks for.
type AgendaSearch struct {
	// Text holds one or more words; a booking matches when every word
	// starts its code or fiscal code, or is part of the citizen's given
	// or family name (ASCII letters without regard to case).
	Text string
	// Offices are the offices searched (those of the user's grant); none
	// finds nothing.
	Offices []string
	// From and To bound the bookings' start: From <= start < To.
	From, To time.Time
	// Limit bounds the items returned (1 to 200; 0 means 50).
	Limit int
}

// searchTerms splits a search's text into its words, at most
// maxSearchTerms, each ready for LIKE with '\' as escape.
func searchTerms(text string) []string {
	words := strings.Fields(text)
	if len(words) > maxSearchTerms {
		words = words[:maxSearchTerms]
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	for i, w := range words {
		words[i] = esc.Replace(w)
	}
	return words
}

// SearchAgenda returns the bookings (active and cancelled) of s.Offices
// that match s.Text, by start, with the office's record of each, and
// whether more matched than s.Limit. A text shorter than MinSearchText or
// longer than MaxSearchText characters is a ValidationError on field
// "text". Errors never carry the text.
func (b *Book) SearchAgenda(ctx context.Context, t tenant.Tenant, s AgendaSearch) ([]AgendaItem, bool, error) {
	text := strings.TrimSpace(s.Text)
	switch n := utf8.RuneCountInString(text); {
	case n < MinSearchText:
		return nil, false, fieldsErr(map[string]string{"text": fmt.Sprintf("Scrivi almeno %d caratteri: un codice, un cognome o un codice fiscale.", MinSearchText)})
	case n > MaxSearchText:
		return nil, false, fieldsErr(map[string]string{"text": fmt.Sprintf("Il testo è troppo lungo: al massimo %d caratteri.", MaxSearchText)})
	case hasControl(text, false):
		return nil, false, fieldsErr(map[string]string{"text": "Il testo contiene caratteri non ammessi."})
	}
	if len(s.Offices) == 0 {
		return nil, false, nil
	}
	limit := s.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxSearchLimit)
	q, args := searchQuery(t.ID, s, text, limit+1)
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("search agenda: %w", err)
	}
	defer rows.Close()
	var found []Booking
	for rows.Next() {
		bk, err := scanBooking(t.ID, rows)
		if err != nil {
			return nil, false, fmt.Errorf("search agenda: %w", err)
		}
		found = append(found, bk.Booking)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("search agenda: %w", err)
	}
	more := len(found) > limit
	if more {
		found = found[:limit]
	}
	items, err := b.agendaItems(ctx, t, found)
	if err != nil {
		return nil, false, err
	}
	return items, more, nil
}

// searchQuery returns the statement of a search and its arguments. It
// names the index booking_bookings_office: without statistics SQLite
// would rather walk the Comune's whole primary key (it holds every
// column), which grows with every booking ever made, where the index
// reads only the offices' bookings in the window.
func searchQuery(t tenant.ID, s AgendaSearch, text string, limit int) (string, []any) {
	q := `SELECT ` + bookingColumns + ` FROM booking_bookings INDEXED BY booking_bookings_office
		WHERE tenant = ? AND office_id IN (?` + strings.Repeat(", ?", len(s.Offices)-1) + `)
		AND start_unix >= ? AND start_unix < ?`
	args := []any{t}
	for _, o := range s.Offices {
		args = append(args, o)
	}
	args = append(args, s.From.Unix(), s.To.Unix())
	for _, w := range searchTerms(text) {
		// Codes and fiscal codes are stored in capitals; LIKE ignores
		// the case of ASCII letters, so names match as typed too.
		q += ` AND (code LIKE ? ESCAPE '\' OR fiscal_code LIKE ? ESCAPE '\'
			OR given_name LIKE ? ESCAPE '\' OR family_name LIKE ? ESCAPE '\')`
		prefix, part := w+"%", "%"+w+"%"
		args = append(args, prefix, prefix, part, part)
	}
	q += ` ORDER BY start_unix, code LIMIT ?`
	return q, append(args, limit)
}
