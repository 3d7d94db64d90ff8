package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Admission: who may take a ticket, and when. DESIGN.md ("Admission and
// abuse") explains the choices; in short, the proposer stamps everything
// the decision needs (hashes of the client's address and device, the
// office's open intervals of the day) and apply decides at the leader's
// time, so that two requests on two nodes are counted against one limit.

// Source says where a take request came from; the admission limits
// depend on it.
type Source string

// Sources of a ticket.
const (
	SourceWeb   Source = "web"
	SourceAPI   Source = "api"
	SourceKiosk Source = "kiosk"
	// SourceDesk is an operator adding a citizen at the desk: no
	// admission limit applies.
	SourceDesk Source = "desk"
)

func (s Source) valid() bool {
	return s == "" || s == SourceWeb || s == SourceAPI || s == SourceKiosk || s == SourceDesk
}

// limited reports whether the admission limits apply to tickets of s.
// Only the public doors are limited. The empty Source is a caller inside
// the binary that did not say (the demo's seeding, tests, operator
// tools): queue/web sets a Source on every public take.
func (s Source) limited() bool { return s == SourceWeb || s == SourceAPI || s == SourceKiosk }

// Admission errors of a take.
var (
	// ErrClosed: the office's queue takes no tickets now (outside its
	// hours, on a closure, or too close to closing). OpenState tells the
	// next opening.
	ErrClosed = errors.New("queue is closed")
	// ErrDailyCap: the office gave all the tickets of its day.
	ErrDailyCap = errors.New("office reached its daily ticket cap")
	// ErrClientCap: this device or address already holds as many active
	// tickets as the office allows.
	ErrClientCap = errors.New("too many active tickets from this client")
	// ErrProofReused: the proof-of-work challenge already opened a ticket
	// (through any node).
	ErrProofReused = errors.New("proof of work already used")
)

// registerAdmitErrors names the admission errors for the cluster's error
// codec.
func registerAdmitErrors(reg *cluster.Registry) {
	reg.RegisterError("queue.closed", ErrClosed)
	reg.RegisterError("queue.daily_cap", ErrDailyCap)
	reg.RegisterError("queue.client_cap", ErrClientCap)
	reg.RegisterError("queue.proof_reused", ErrProofReused)
}

// activeStates are the states in which a ticket holds a place (the
// client caps count them): parked tickets will be resumed.
const activeStates = `('waiting', 'called', 'serving', 'parked')`

// admitStamp is what the proposer of a take stamps for admission and
// notifications. A take without it (entries logged before this version,
// or by callers that set no Source) is admitted without limits.
type admitStamp struct {
	Source Source `json:"source,omitempty"`
	// IPHash and DeviceHash are hex SHA-256 prefixes of the client's
	// address and device cookie, salted with the Comune, office and day
	// (clientHash); "" when unknown. The raw values never reach the log.
	IPHash     string `json:"ip_hash,omitempty"`
	DeviceHash string `json:"device_hash,omitempty"`
	// ProofHash is the hex SHA-256 of the solved proof-of-work challenge
	// ("" when none): a challenge opens one ticket in the whole cluster.
	ProofHash string `json:"proof_hash,omitempty"`
	// KioskID is the enrolled kiosk a kiosk take comes from ("" for
	// none), checked by the proposer against its token and again in
	// apply against revocation (kiosks.go).
	KioskID string `json:"kiosk_id,omitempty"`
	// Open are the office's opening intervals on the proposer's day, as
	// instants; empty on a closed day. NextOpen is the first opening
	// after the proposer's now, for the error text.
	Open     []openSpan `json:"open,omitempty"`
	NextOpen time.Time  `json:"next_open,omitzero"`
	// Email and Lang are where and in which language the citizen is told
	// of the turn; TenantName, Sender and TimeZone are the Comune's, frozen
	// for the emails (notify.go).
	Email      string        `json:"email,omitempty"`
	Lang       string        `json:"lang,omitempty"`
	TenantName string        `json:"tenant_name,omitempty"`
	Sender     tenant.Sender `json:"sender,omitzero"`
	TimeZone   string        `json:"time_zone,omitempty"`
}

// openSpan is one opening interval [Start, End).
type openSpan struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// langs are the languages of the queue's emails, the first the default.
var langs = []string{"it", "en", "de"}

// normLang reduces a language tag ("de-CH", "EN") to one of langs, "it"
// when it names none of them.
func normLang(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i >= 0 {
		s = s[:i]
	}
	if slices.Contains(langs, s) {
		return s
	}
	return langs[0]
}

// clientHash is the stored form of a client's address or device: a
// SHA-256 prefix salted with the Comune, the office and the day, so that
// the same address gives unrelated values in two Comuni or on two days.
// It is pseudonymous, not anonymous (the IPv4 space is small enough to
// try every address), which is why it is kept only while the ticket is
// active (purgeClosed).
func clientHash(kind string, t tenant.ID, officeID, day, value string) string {
	if value == "" {
		return ""
	}
	h := sha256.Sum256([]byte("sportello/queue/" + kind + "\x00" + string(t) + "\x00" + officeID + "\x00" + day + "\x00" + value))
	return hex.EncodeToString(h[:16])
}

// stampAdmission fills p.Admit for req: validates the email and the
// source, hashes the client, and computes the office's opening intervals
// of the day. A check-in without an email of its own is told at the
// booking's address: the citizen gave it, with the privacy consent, to
// hear about this appointment.
func (q *Queue) stampAdmission(ctx context.Context, t tenant.Tenant, req TakeRequest, p *takePayload) error {
	f := map[string]string{}
	email := strings.TrimSpace(req.Email)
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
			f["email"] = "Indicare un indirizzo email valido, ad esempio nome@example.it."
		}
	}
	if !req.Source.valid() {
		f["source"] = "La provenienza della richiesta non è valida."
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	if email == "" && p.BookingCode != "" {
		if bk, err := q.findBooking(ctx, t, req.OfficeID, p.BookingCode); err == nil {
			email = bk.Citizen.Email
		}
	}
	if req.Source == "" && email == "" {
		return nil
	}
	now := q.now()
	day := dayOf(now, t.TimeZone)
	a := &admitStamp{
		Source: req.Source, Email: email, Lang: normLang(req.Lang),
		TenantName: t.Name, Sender: t.Sender, TimeZone: t.TimeZone,
	}
	if req.Source.limited() {
		a.IPHash = clientHash("ip", t.ID, req.OfficeID, day, strings.TrimSpace(req.ClientIP))
		a.DeviceHash = clientHash("device", t.ID, req.OfficeID, day, strings.TrimSpace(req.Device))
		if req.Source == SourceKiosk && req.Kiosk != "" {
			ks, err := q.KioskByToken(ctx, t.ID, req.OfficeID, req.Kiosk)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			a.KioskID = ks.ID
		}
		if req.Proof != "" {
			sum := sha256.Sum256([]byte(req.Proof))
			a.ProofHash = hex.EncodeToString(sum[:])
		}
		cfg, err := loadConfig(ctx, q.db, t.ID, req.OfficeID)
		if err != nil {
			return err
		}
		// An office always open needs no hours: apply does not look at
		// them (a take racing a change of that setting is refused as
		// closed, and the citizen tries again).
		if !cfg.AlwaysOpen {
			spans, err := q.openSpans(ctx, t, req.OfficeID, now, 14)
			if err != nil {
				return err
			}
			today := civil.DateOf(now.In(t.Location()))
			for _, s := range spans {
				if civil.DateOf(s.Start.In(t.Location())) == today {
					a.Open = append(a.Open, s)
				}
			}
			a.NextOpen = nextOpening(spans, cfg.StopBefore, now)
		}
	}
	p.Admit = a
	return nil
}

// openSpans returns the office's opening intervals as instants from the
// Comune's day of now for days days, by booking's rules: an extra opening
// replaces the weekly hours and wins over closures, national holidays
// and patron days; a closure of the office or of every office closes it.
// (booking keeps its own copy of the rule for services, which may have
// their own hours; the queue follows the office's.)
func (q *Queue) openSpans(ctx context.Context, t tenant.Tenant, officeID string, now time.Time, days int) ([]openSpan, error) {
	o, err := q.book.Office(ctx, t.ID, officeID)
	if err != nil {
		return nil, q.notFound("office", officeID, err)
	}
	loc := t.Location()
	from := civil.DateOf(now.In(loc))
	to := from.AddDays(days - 1)
	closures, err := q.book.Closures(ctx, t.ID, from, to)
	if err != nil {
		return nil, err
	}
	openings, err := q.book.Openings(ctx, t.ID, from, to)
	if err != nil {
		return nil, err
	}
	var out []openSpan
	for d := from; !d.After(to); d = d.AddDays(1) {
		for _, iv := range officeOpenOn(t, o, closures, openings, d) {
			start, ok1 := wallClock(d, iv.Start, loc)
			end, ok2 := wallClock(d, iv.End, loc)
			if ok1 && ok2 && end.After(start) {
				out = append(out, openSpan{Start: start.UTC(), End: end.UTC()})
			}
		}
	}
	return out, nil
}

// officeOpenOn returns the office's intervals on d, sorted.
func officeOpenOn(t tenant.Tenant, o booking.Office, closures []booking.Closure, openings []booking.Opening, d civil.Date) []booking.Interval {
	var extra []booking.Interval
	opened := false
	for _, op := range openings {
		if op.OfficeID == o.ID && op.Date == d {
			opened = true
			extra = append(extra, op.Intervals...)
		}
	}
	var ivs []booking.Interval
	switch {
	case opened:
		ivs = extra
	default:
		if closed, _ := t.ClosedOn(d); closed {
			return nil
		}
		for _, c := range closures {
			if (c.OfficeID == "" || c.OfficeID == o.ID) && !d.Before(c.From) && !d.After(c.To) {
				return nil
			}
		}
		ivs = slices.Clone(o.Hours[d.Weekday()])
	}
	slices.SortFunc(ivs, func(a, b booking.Interval) int { return a.Start - b.Start })
	return ivs
}

// wallClock is minute min of day d in loc; 24:00 is the next midnight.
func wallClock(d civil.Date, min int, loc *time.Location) (time.Time, bool) {
	if min >= 24*60 {
		d, min = d.AddDays(min/(24*60)), min%(24*60)
	}
	return d.In(loc, min/60, min%60)
}

// openAt reports whether tickets are taken at instant at: inside an
// interval, and more than stopBefore before its end.
func openAt(spans []openSpan, stopBefore time.Duration, at time.Time) bool {
	for _, s := range spans {
		if !at.Before(s.Start) && at.Before(s.End.Add(-stopBefore)) {
			return true
		}
	}
	return false
}

// nextOpening is the first instant after now at which tickets are taken
// again, zero when spans has none.
func nextOpening(spans []openSpan, stopBefore time.Duration, now time.Time) time.Time {
	for _, s := range spans {
		if s.Start.After(now) && s.Start.Before(s.End.Add(-stopBefore)) {
			return s.Start
		}
	}
	return time.Time{}
}

// QueueOpen tells whether an office's queue takes tickets now, for the
// public pages: until when, or from when.
type QueueOpen struct {
	Open bool
	// Until is when it stops taking tickets (the interval's end less
	// StopBefore); zero when closed or AlwaysOpen.
	Until time.Time
	// Next is the next opening within two weeks when closed (zero if
	// none is known).
	Next time.Time
}

// OpenState tells whether the office's queue takes web, API and kiosk
// tickets now, by the local view. The take itself is decided again in
// apply, at the leader's time, so a page shown just before closing may
// still get ErrClosed.
func (q *Queue) OpenState(ctx context.Context, t tenant.Tenant, officeID string) (QueueOpen, error) {
	cfg, err := loadConfig(ctx, q.db, t.ID, officeID)
	if err != nil {
		return QueueOpen{}, err
	}
	if cfg.AlwaysOpen {
		if _, err := q.book.Office(ctx, t.ID, officeID); err != nil {
			return QueueOpen{}, q.notFound("office", officeID, err)
		}
		return QueueOpen{Open: true}, nil
	}
	now := q.now()
	spans, err := q.openSpans(ctx, t, officeID, now, 14)
	if err != nil {
		return QueueOpen{}, err
	}
	for _, s := range spans {
		if !now.Before(s.Start) && now.Before(s.End.Add(-cfg.StopBefore)) {
			return QueueOpen{Open: true, Until: s.End.Add(-cfg.StopBefore)}, nil
		}
	}
	return QueueOpen{Next: nextOpening(spans, cfg.StopBefore, now)}, nil
}

// admit decides, in apply at the command's time, whether the ticket k
// (numbered and filed after this) may enter the line. A check-in is
// exempt from the hours and the caps: the booking is the citizen's right
// to the place (only the check-in window, judged before, applies).
func admit(tx *sql.Tx, cmd cluster.Command, cfg OfficeConfig, k Ticket, a *admitStamp) error {
	if a == nil || !a.Source.limited() || k.BookingCode != "" {
		return nil
	}
	ctx := context.Background()
	if err := admitKiosk(tx, cfg, k, a); err != nil {
		return err
	}
	if !cfg.AlwaysOpen && !openAt(a.Open, cfg.StopBefore, cmd.Time) {
		next := "unknown"
		if !a.NextOpen.IsZero() {
			next = a.NextOpen.UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("office %s takes no tickets now (next opening %s): %w", k.OfficeID, next, ErrClosed)
	}
	if a.ProofHash != "" {
		var used bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM queue_proofs WHERE tenant = ? AND hash = ?)`,
			k.Tenant, a.ProofHash).Scan(&used); err != nil {
			return fmt.Errorf("check proof at %s: %w", k.OfficeID, err)
		}
		if used {
			return fmt.Errorf("office %s: %w", k.OfficeID, ErrProofReused)
		}
	}
	if cfg.DailyCap > 0 {
		var n int
		// Tickets waiting for their email's confirmation count too:
		// otherwise a script could have the office send any number of
		// emails.
		err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM queue_tickets
			WHERE tenant = ? AND office_id = ? AND day = ? AND source <> 'desk')
			+ (SELECT count(*) FROM queue_pending WHERE tenant = ? AND office_id = ? AND day = ? AND expires > ?)`,
			k.Tenant, k.OfficeID, k.Day, k.Tenant, k.OfficeID, k.Day, cmd.Time.Unix()).Scan(&n)
		if noPendingTable(err) {
			err = tx.QueryRowContext(ctx, `SELECT count(*) FROM queue_tickets
				WHERE tenant = ? AND office_id = ? AND day = ? AND source <> 'desk'`,
				k.Tenant, k.OfficeID, k.Day).Scan(&n)
		}
		if err != nil {
			return fmt.Errorf("count tickets of %s: %w", k.OfficeID, err)
		}
		if n >= cfg.DailyCap {
			return fmt.Errorf("office %s gave %d tickets today: %w", k.OfficeID, n, ErrDailyCap)
		}
	}
	for _, c := range []struct {
		column, hash string
		max          int
	}{{"device_hash", a.DeviceHash, cfg.MaxPerDevice}, {"ip_hash", a.IPHash, cfg.MaxPerIP}} {
		if c.hash == "" || c.max <= 0 || (c.column == "ip_hash" && a.KioskID != "") {
			// An enrolled kiosk serves the whole office from one address.
			continue
		}
		var n int
		// The partial index queue_tickets_hashed holds only tickets with a
		// hash, which purgeClosed keeps to the active ones.
		err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM queue_tickets
			WHERE tenant = ? AND office_id = ? AND day = ? AND (ip_hash <> '' OR device_hash <> '')
			AND `+c.column+` = ? AND state IN `+activeStates+`)
			+ (SELECT count(*) FROM queue_pending WHERE tenant = ? AND office_id = ? AND day = ? AND `+c.column+` = ?
			AND expires > ?)`, k.Tenant, k.OfficeID, k.Day, c.hash, k.Tenant, k.OfficeID, k.Day, c.hash, cmd.Time.Unix()).Scan(&n)
		if noPendingTable(err) {
			err = tx.QueryRowContext(ctx, `SELECT count(*) FROM queue_tickets
				WHERE tenant = ? AND office_id = ? AND day = ? AND (ip_hash <> '' OR device_hash <> '')
				AND `+c.column+` = ? AND state IN `+activeStates,
				k.Tenant, k.OfficeID, k.Day, c.hash).Scan(&n)
		}
		if err != nil {
			return fmt.Errorf("count tickets of one client at %s: %w", k.OfficeID, err)
		}
		if n >= c.max {
			return fmt.Errorf("%s holds %d active tickets at %s: %w", strings.TrimSuffix(c.column, "_hash"), n, k.OfficeID, ErrClientCap)
		}
	}
	return nil
}

// fileAdmission records, after the ticket k was inserted, its source,
// the client's hashes (for the caps of the next takes) and where to tell
// the citizen of the turn.
func fileAdmission(tx *sql.Tx, cmd cluster.Command, cfg OfficeConfig, k Ticket, a *admitStamp) error {
	if a == nil {
		return nil
	}
	ctx := context.Background()
	// A check-in and a desk ticket are outside the client caps both ways:
	// not held back, and not counted against the device's next takes.
	ip, device := a.IPHash, a.DeviceHash
	if !a.Source.limited() || k.BookingCode != "" {
		ip, device = "", ""
	}
	if _, err := tx.ExecContext(ctx, `UPDATE queue_tickets SET source = ?, ip_hash = ?, device_hash = ?
		WHERE tenant = ? AND id = ?`, a.Source, ip, device, k.Tenant, k.ID); err != nil {
		return fmt.Errorf("file admission of %s: %w", k.Number, err)
	}
	if a.ProofHash != "" && a.Source.limited() && k.BookingCode == "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue_proofs (tenant, hash, office_id, day) VALUES (?, ?, ?, ?)`,
			k.Tenant, a.ProofHash, k.OfficeID, k.Day); err != nil {
			return fmt.Errorf("file proof of %s: %w", k.Number, err)
		}
	}
	if a.Email == "" {
		return nil
	}
	return addNotify(tx, cmd, cfg, k, a)
}

// purgeClosed erases the client hashes of the office's tickets that no
// longer hold a place, and of any earlier day: the caps count only
// active tickets, so the hashes are not needed any more.
func purgeClosed(tx *sql.Tx, t tenant.ID, officeID, day string) error {
	if _, err := tx.ExecContext(context.Background(), `UPDATE queue_tickets SET ip_hash = '', device_hash = ''
		WHERE tenant = ? AND office_id = ? AND day <= ? AND (ip_hash <> '' OR device_hash <> '')
		AND (day < ? OR state NOT IN `+activeStates+`)`, t, officeID, day, day); err != nil {
		return fmt.Errorf("purge client hashes of %s: %w", officeID, err)
	}
	// A challenge lives 10 minutes: the proofs of earlier days can go
	// (one taken just before midnight and reused just after is caught
	// by the checking node's cache, not here).
	if _, err := tx.ExecContext(context.Background(), `DELETE FROM queue_proofs
		WHERE tenant = ? AND office_id = ? AND day < ?`, t, officeID, day); err != nil {
		return fmt.Errorf("purge proofs of %s: %w", officeID, err)
	}
	return nil
}
