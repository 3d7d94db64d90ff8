package booking

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// codeAlphabet holds the characters of booking codes: digits and capitals
// without 0/O and 1/I, which citizens confuse when reading a code aloud.
// It has 32 symbols, so one random byte masked to 5 bits picks one without
// bias.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

const (
	// codeLength gives 32^6 ≈ 10^9 codes per Comune: guessing one is
	// useless without its manage token, and collisions are rare enough
	// that a retry settles them.
	codeLength = 6
	// codeAttempts bounds the retries on ErrCodeTaken.
	codeAttempts = 5
	// manageTokenBytes and joinTokenBytes are the entropy of the tokens.
	manageTokenBytes = 32
	joinTokenBytes   = 24
	// tokenHashSize is the length of the stored manage-token hash.
	tokenHashSize = sha256.Size
)

// Book is the appointment book of every Comune on the node: it reads from
// the local SQLite view and writes by proposing commands. Its methods are
// safe for concurrent use. Every method takes the tenant first and never
// sees rows of another tenant.
type Book struct {
	p   cluster.Proposer
	db  *sql.DB
	now func() time.Time
	rnd io.Reader
	// rndMu serialises reads of rnd, which need not be safe for
	// concurrent use.
	rndMu sync.Mutex
	// sealer seals and opens the Comune's most sensitive texts
	// (seal.go); empty until SealFields.
	sealer bookSealer
	// proofs keeps ProofBits' answers while the node applies nothing
	// (proof_bits.go).
	proofs proofCache
}

// NewBook returns a Book over the node's proposer and read pool. now and
// rnd are the proposer-side clock and randomness (tokens, codes, IDs).
func NewBook(p cluster.Proposer, db *sql.DB, now func() time.Time, rnd io.Reader) *Book {
	return &Book{p: p, db: db, now: now, rnd: rnd}
}

// Offices lists the Comune's offices with their hours and services, by
// name.
func (b *Book) Offices(ctx context.Context, t tenant.ID) ([]Office, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+officeColumns+` FROM booking_offices
		WHERE tenant = ? ORDER BY name, id`, t)
	if err != nil {
		return nil, fmt.Errorf("list offices: %w", err)
	}
	out := []Office{}
	for rows.Next() {
		o, err := scanOffice(t, rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list offices: %w", err)
		}
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list offices: %w", err)
	}
	for i := range out {
		if err := b.fillOffice(ctx, t, &out[i]); err != nil {
			return nil, err
		}
	}
	// Archived offices and services are the back office's only
	// (Configuration); citizens no longer see them.
	return visibleOffices(ctx, b.db, t, out)
}

// Office returns one office with its hours and services.
func (b *Book) Office(ctx context.Context, t tenant.ID, id string) (Office, error) {
	o, err := loadOffice(ctx, b.db, t, id)
	if err != nil {
		return Office{}, err
	}
	if err := b.fillOffice(ctx, t, &o); err != nil {
		return Office{}, err
	}
	// An archived office is still found (its bookings name it), but
	// its archived services are not listed.
	if o.Services, err = visibleServices(ctx, b.db, t, o.Services); err != nil {
		return Office{}, err
	}
	return o, nil
}

// fillOffice loads the office's hours and services.
func (b *Book) fillOffice(ctx context.Context, t tenant.ID, o *Office) error {
	var err error
	if o.Hours, err = loadHours(ctx, b.db, t, o.ID, ""); err != nil {
		return err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT `+serviceColumns+` FROM booking_services
		WHERE tenant = ? AND office_id = ? ORDER BY name, id`, t, o.ID)
	if err != nil {
		return fmt.Errorf("list services of %q: %w", o.ID, err)
	}
	o.Services = nil
	for rows.Next() {
		s, err := scanService(t, rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("list services of %q: %w", o.ID, err)
		}
		o.Services = append(o.Services, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list services of %q: %w", o.ID, err)
	}
	for i := range o.Services {
		s := &o.Services[i]
		if s.Hours, err = loadHours(ctx, b.db, t, o.ID, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// Service returns one service, with its own hours (zero when it follows
// its office's).
func (b *Book) Service(ctx context.Context, t tenant.ID, id string) (Service, error) {
	return loadService(ctx, b.db, t, id)
}

// Slots returns the service's slots with start on the days from..to
// (inclusive) in the Comune's time zone, free or not, as of now: slots
// inside the minimum notice or past the horizon are left out, full ones
// are listed with Remaining 0. Times are in the Comune's zone. The
// bookings made through this node are counted, even those it has not
// applied yet when Create answered (WaitOwnWrites): a citizen who just
// booked sees the slot taken. It costs nothing on a node with no write
// of its own in flight, and under load the few milliseconds of one commit.
func (b *Book) Slots(ctx context.Context, t tenant.Tenant, serviceID string, from, to civil.Date) ([]Slot, error) {
	if err := b.WaitOwnWrites(ctx); err != nil {
		return nil, err
	}
	svc, err := loadService(ctx, b.db, t.ID, serviceID)
	if err != nil {
		return nil, err
	}
	if err := refuseArchived(ctx, b.db, t.ID, svc); err != nil {
		return nil, err
	}
	loc := t.Location()
	now := b.now()
	first, last := schedule{loc: loc, svc: svc}.window(now)
	if from.Before(first) {
		from = first
	}
	if to.After(last) {
		to = last
	}
	out := []Slot{}
	if to.Before(from) {
		return out, nil
	}
	sched, err := loadSchedule(ctx, b.db, t, loc, svc, from, to)
	if err != nil {
		return nil, err
	}
	lo, _ := wallTime(from, 0, loc)
	hi, _ := wallTime(to.AddDays(1), 0, loc)
	taken, err := b.countBySlot(ctx, t.ID, svc.ID, lo, hi)
	if err != nil {
		return nil, err
	}
	// Seats held for a waiting list's offer are taken too (waitlist.go).
	if err := b.heldBySlot(ctx, t.ID, svc.ID, lo.Unix(), hi.Unix(), taken); err != nil {
		return nil, err
	}
	// Staggered release (fair.go): a day not yet published has no slots.
	fair, err := loadFair(ctx, b.db, t.ID, svc.ID)
	if err != nil {
		return nil, err
	}
	for d := from; !d.After(to); d = d.AddDays(1) {
		for _, s := range sched.slotsOn(d) {
			if sched.bookable(s.Start, now) != nil || !fair.released(s.Start, now, loc) {
				continue
			}
			s.Remaining = max(0, svc.Capacity-taken[s.Start.Unix()])
			out = append(out, s)
		}
	}
	return out, nil
}

// countBySlot returns the active bookings of the service per start
// (Unix seconds) in [lo, hi).
func (b *Book) countBySlot(ctx context.Context, t tenant.ID, serviceID string, lo, hi time.Time) (map[int64]int, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT start_unix, count(*) FROM booking_bookings
		WHERE tenant = ? AND service_id = ? AND status = 'active' AND start_unix >= ? AND start_unix < ?
		GROUP BY start_unix`, t, serviceID, lo.Unix(), hi.Unix())
	if err != nil {
		return nil, fmt.Errorf("count bookings: %w", err)
	}
	defer rows.Close()
	m := map[int64]int{}
	for rows.Next() {
		var start int64
		var n int
		if err := rows.Scan(&start, &n); err != nil {
			return nil, fmt.Errorf("count bookings: %w", err)
		}
		m[start] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count bookings: %w", err)
	}
	return m, nil
}

// Create books a slot. baseURL ("https://bari.example.it") is where the
// citizen's links in the email point. An invalid request gives a
// *ValidationError; a broken rule gives one of the sentinel errors
// (ErrSlotFull, ErrAlreadyBooked, ErrTooSoon, ErrTooFar, ErrClosed,
// ErrNotASlot, ErrChannelOffered, ErrNotFound), checked when the command is
// applied. The booking's times are in the Comune's zone.
func (b *Book) Create(ctx context.Context, t tenant.Tenant, req Request, baseURL string) (Created, error) {
	req, err := CheckRequest(req)
	if err != nil {
		return Created{}, err
	}
	id, err := b.newID()
	if err != nil {
		return Created{}, err
	}
	// Fair access (fair.go): the proof of work is spent and the network
	// filed before the booking, which apply matches by its ID.
	if err := b.admit(ctx, t.ID, req.ServiceID, id, req.Admission); err != nil {
		return Created{}, fmt.Errorf("book %s: %w", req.ServiceID, err)
	}
	token, err := b.randomToken(manageTokenBytes)
	if err != nil {
		return Created{}, err
	}
	var join string
	if req.Channel == Video || req.Channel == Phone {
		if join, err = b.randomToken(joinTokenBytes); err != nil {
			return Created{}, err
		}
	}
	base := trimBase(baseURL)
	// The details are sealed before they reach the command (seal.go).
	details, err := b.sealText(ctx, t.ID, detailsAAD(id), req.Details)
	if err != nil {
		return Created{}, fmt.Errorf("book %s: seal details: %w", req.ServiceID, err)
	}
	// With a client's request ID (an idempotency key), each code attempt
	// is its own request: a replay of the whole request meets the same
	// recorded outcomes in the same order, and its answer names the
	// booking (and manage token) of the first one.
	rid, fp, idempotent := cluster.RequestIDFrom(ctx)
	for attempt := range codeAttempts {
		code, err := b.newCode(t)
		if err != nil {
			return Created{}, err
		}
		p := createPayload{
			ID: id, Code: code, ServiceID: req.ServiceID, Start: req.Start.UTC(), Channel: req.Channel,
			Citizen: req.Citizen, Details: details, TokenHash: hashToken(token), JoinToken: join,
			Comune: comuneOf(t), BaseURL: base, ManageURL: base + ManagePath(code, token),
		}
		if req.Admission.ProofHash == "" {
			p.Net = req.Admission.Net
		}
		pctx := ctx
		if idempotent && attempt > 0 {
			pctx = cluster.WithRequestID(ctx, fmt.Sprintf("%s/%d", rid, attempt), fp)
		}
		// The answer is the apply function's result, not a read: a
		// follower need not apply the booking before answering
		// (cluster/ownwrites.go). Reads of it on this node (Get, ByCode)
		// wait for this node's own writes when they miss it.
		pctx = cluster.WithoutLocalApply(pctx)
		res, err := b.proposeCreate(pctx, t.ID, p, req.Lang)
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return Created{}, fmt.Errorf("book %s at %s: %w", req.ServiceID, req.Start.Format(time.RFC3339), err)
		}
		// The apply function's value is the row as stored (on a follower,
		// decoded by the HandleResult of Register): no read-back needed.
		if a, ok := res.Value.(Applied); ok && a.Booking != nil && a.Booking.ID == id {
			bk := *a.Booking
			bk.Tenant = t.ID
			// A forwarded result crosses as JSON, which leaves the join
			// token out: it is the one made here.
			bk.JoinToken = join
			bk.Details = req.Details
			return Created{Booking: inZone(bk, t.Location()), ManageToken: token, Index: res.Index}, nil
		}
		if a, ok := appliedOf(res.Value); ok && a.ID != "" && a.ID != id {
			// A replay: the booking and token are the first request's.
			id = a.ID
			if token, err = manageTokenOf(a.ManageURL); err != nil {
				return Created{}, fmt.Errorf("book %s: replayed request: %w", req.ServiceID, err)
			}
		}
		// This path reads the booking back: it needs this node to have
		// applied the command.
		if err := b.p.WaitApplied(ctx, res.Index); err != nil {
			return Created{}, fmt.Errorf("book %s: %w", req.ServiceID, err)
		}
		bk, err := loadBookingByID(ctx, b.db, t.ID, id)
		if err != nil {
			return Created{}, err
		}
		b.openBooking(ctx, t.ID, &bk.Booking)
		return Created{Booking: inZone(bk.Booking, t.Location()), ManageToken: token, Index: res.Index}, nil
	}
	return Created{}, fmt.Errorf("book %s: %d codes in a row: %w", req.ServiceID, codeAttempts, ErrCodeTaken)
}

// appliedOf reads an Applied from a command's result value: the Go value
// (in-process) or its JSON (forwarded or replayed without a decoder).
func appliedOf(v any) (Applied, bool) {
	switch v := v.(type) {
	case Applied:
		return v, true
	case *Applied:
		return *v, v != nil
	case json.RawMessage:
		a, err := decodeApplied(v)
		if err != nil {
			return Applied{}, false
		}
		return a, true
	}
	return Applied{}, false
}

// manageTokenOf returns the token of a manage link made by ManagePath.
func manageTokenOf(manageURL string) (string, error) {
	u, err := url.Parse(manageURL)
	if err != nil || u.Query().Get("token") == "" {
		return "", errors.New("the first request's manage token was not recorded")
	}
	return u.Query().Get("token"), nil
}

// Get returns the booking with code if token is its manage token:
// ErrNotFound when the Comune has no such code, ErrBadToken when the token
// does not match. Times are in UTC. It reads the local node; after a write
// on another node, WaitApplied on the write's index first.
func (b *Book) Get(ctx context.Context, t tenant.ID, code, token string) (Booking, error) {
	bk, err := b.loadByCode(ctx, t, code)
	if err != nil {
		return Booking{}, err
	}
	if subtle.ConstantTimeCompare(bk.hash, hashToken(token)) != 1 {
		return Booking{}, fmt.Errorf("booking %s: %w", bk.Code, ErrBadToken)
	}
	b.openBooking(ctx, t, &bk.Booking)
	return bk.Booking, nil
}

// ownWriter is the part of cluster.Node that loadByCode uses when the
// proposer has it (cluster/ownwrites.go).
type ownWriter interface {
	WaitOwnWrites(ctx context.Context) error
}

// loadByCode reads the booking with code from this node. A code it does
// not know may be a booking just made through this node and not applied
// here yet (Create proposes without waiting for that): the read waits for
// this node's own writes and looks once more, so that the citizen who
// just booked finds the booking on the node that took it. It may also be
// a booking made through another node (a load balancer does not keep a
// browser on one node) that this one holds in its log and has not
// applied yet: the read then waits, at most missWait, for the commands
// this node has received (cluster.Node.WaitReceived) and looks a last
// time.
func (b *Book) loadByCode(ctx context.Context, t tenant.ID, code string) (storedBooking, error) {
	code = NormalizeCode(code)
	bk, err := loadBookingByCode(ctx, b.db, t, code)
	if !errors.Is(err, ErrNotFound) {
		return bk, err
	}
	if werr := b.WaitOwnWrites(ctx); werr != nil {
		return bk, err
	}
	bk, err = loadBookingByCode(ctx, b.db, t, code)
	if !errors.Is(err, ErrNotFound) || !b.caughtUp(ctx) {
		return bk, err
	}
	return loadBookingByCode(ctx, b.db, t, code)
}

// missWait bounds how long a read that does not find a booking waits for
// this node to apply what it has received (caughtUp).
const missWait = 2 * time.Second

// caughtUp waits, at most missWait, until this node has applied the
// commands it had received, and reports whether it is worth looking
// again; false with a proposer that cannot wait (a test's).
func (b *Book) caughtUp(ctx context.Context) bool {
	w, ok := b.p.(interface{ WaitReceived(context.Context) error })
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, missWait)
	defer cancel()
	return w.WaitReceived(ctx) == nil
}

// WaitOwnWrites waits until this node has applied every write it
// forwarded, bookings made through it included (Create does not wait for
// its own apply): a reader that misses a booking it was told of calls it
// and looks again. It returns at once on a node with nothing pending, and
// with a proposer that does not forward (a single node in tests).
func (b *Book) WaitOwnWrites(ctx context.Context) error {
	if w, ok := b.p.(ownWriter); ok {
		return w.WaitOwnWrites(ctx)
	}
	return nil
}

// Cancel cancels the booking, within its cancellation deadline, and queues
// the cancellation email. Times are in the Comune's zone.
func (b *Book) Cancel(ctx context.Context, t tenant.Tenant, code, token, baseURL string) (Booking, error) {
	code = NormalizeCode(code)
	p := cancelPayload{Code: code, TokenHash: hashToken(token), Comune: comuneOf(t), BaseURL: trimBase(baseURL)}
	if _, err := b.propose(ctx, CmdCancel, t.ID, p); err != nil {
		return Booking{}, fmt.Errorf("cancel %s: %w", code, err)
	}
	bk, err := loadBookingByCode(ctx, b.db, t.ID, code)
	if err != nil {
		return Booking{}, err
	}
	b.openBooking(ctx, t.ID, &bk.Booking)
	return inZone(bk.Booking, t.Location()), nil
}

// Move moves the booking to another slot of the same service, within its
// cancellation deadline and under the same rules as Create (the booking
// itself does not count against the new slot or the citizen's cap). It
// increments the booking's Sequence and queues the move email. Times are
// in the Comune's zone.
func (b *Book) Move(ctx context.Context, t tenant.Tenant, code, token string, start time.Time, baseURL string) (Booking, error) {
	code = NormalizeCode(code)
	base := trimBase(baseURL)
	p := movePayload{
		Code: code, TokenHash: hashToken(token), Start: start.UTC(), Comune: comuneOf(t),
		BaseURL: base, ManageURL: base + ManagePath(code, token),
	}
	if _, err := b.propose(ctx, CmdMove, t.ID, p); err != nil {
		return Booking{}, fmt.Errorf("move %s to %s: %w", code, start.Format(time.RFC3339), err)
	}
	bk, err := loadBookingByCode(ctx, b.db, t.ID, code)
	if err != nil {
		return Booking{}, err
	}
	b.openBooking(ctx, t.ID, &bk.Booking)
	return inZone(bk.Booking, t.Location()), nil
}

// CalendarFile returns the ICS file of the booking with code, for the
// "Aggiungi al calendario" download, if token is its manage token.
func (b *Book) CalendarFile(ctx context.Context, t tenant.Tenant, code, token, baseURL string) ([]byte, error) {
	bk, err := b.Get(ctx, t.ID, code, token)
	if err != nil {
		return nil, err
	}
	svc, err := loadService(ctx, b.db, t.ID, bk.ServiceID)
	if err != nil {
		return nil, err
	}
	o, err := loadOffice(ctx, b.db, t.ID, bk.OfficeID)
	if err != nil {
		return nil, err
	}
	kind, manage := NoticeConfirm, trimBase(baseURL)+ManagePath(bk.Code, token)
	if bk.Status == Cancelled {
		kind, manage = NoticeCancel, ""
	}
	return ICS(newNotice(kind, t, bk, svc, o, baseURL, manage)), nil
}

// The statements of Bookings (the Comune, the office unless every
// office's, the window) name the index booking_bookings_office, as the agenda's
// search does (searchQuery): without statistics SQLite walked the
// Comune's whole primary key, every booking ever made, for each day's
// agenda and each check-in at the queue (TestBookingsUseTheOfficeIndex).
// The Comune's offices are never deleted, so every booking's office is
// among them.
const (
	bookingsOfOfficeQuery = `SELECT ` + bookingColumns + ` FROM booking_bookings INDEXED BY booking_bookings_office
		WHERE tenant = ?1 AND office_id = ?2 AND start_unix >= ?3 AND start_unix < ?4
		ORDER BY start_unix, code`
	bookingsOfComuneQuery = `SELECT ` + bookingColumns + ` FROM booking_bookings INDEXED BY booking_bookings_office
		WHERE tenant = ?1 AND office_id IN (SELECT id FROM booking_offices WHERE tenant = ?1)
			AND start_unix >= ?2 AND start_unix < ?3
		ORDER BY start_unix, code`
)

// Bookings lists the bookings of an office (every office when officeID is
// "") starting in [from, to), active and cancelled, by start: the
// back-office agenda. Times are in UTC.
func (b *Book) Bookings(ctx context.Context, t tenant.ID, officeID string, from, to time.Time) ([]Booking, error) {
	q, args := bookingsOfOfficeQuery, []any{t, officeID, from.Unix(), to.Unix()}
	if officeID == "" {
		q, args = bookingsOfComuneQuery, []any{t, from.Unix(), to.Unix()}
	}
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list bookings: %w", err)
	}
	defer rows.Close()
	var out []Booking
	for rows.Next() {
		bk, err := scanBooking(t, rows)
		if err != nil {
			return nil, fmt.Errorf("list bookings: %w", err)
		}
		out = append(out, bk.Booking)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list bookings: %w", err)
	}
	b.openBookings(ctx, t, out)
	return out, nil
}

// Closures lists the closures touching the days from..to, of every office.
func (b *Book) Closures(ctx context.Context, t tenant.ID, from, to civil.Date) ([]Closure, error) {
	return collect(ctx, b.db, "list closures", scanClosure, `SELECT id, office_id, from_date, to_date, reason FROM booking_closures
		WHERE tenant = ? AND to_date >= ? AND from_date <= ? ORDER BY from_date, id`, t, from.String(), to.String())
}

// Openings lists the extra openings of every office on the days from..to.
func (b *Book) Openings(ctx context.Context, t tenant.ID, from, to civil.Date) ([]Opening, error) {
	return collect(ctx, b.db, "list openings", scanOpening, `SELECT id, office_id, day, intervals, reason FROM booking_openings
		WHERE tenant = ? AND day >= ? AND day <= ? ORDER BY day, id`, t, from.String(), to.String())
}

// SaveOffice creates or replaces an office (administrators, demo seeding)
// with its weekly hours; an empty ID creates a new office. o.Services is
// ignored. It returns the office as stored, with its services.
func (b *Book) SaveOffice(ctx context.Context, t tenant.ID, o Office) (Office, error) {
	if o.ID == "" {
		var err error
		if o.ID, err = b.newID(); err != nil {
			return Office{}, err
		}
	}
	o.Tenant, o.Services = t, nil
	if err := checkOffice(o); err != nil {
		return Office{}, err
	}
	if _, err := b.propose(ctx, CmdOfficeSave, t, officePayload{Office: o}); err != nil {
		return Office{}, fmt.Errorf("save office %q: %w", o.ID, err)
	}
	return b.Office(ctx, t, o.ID)
}

// SaveService creates or replaces a service; an empty ID creates a new
// one. Its office must exist and never changes.
func (b *Book) SaveService(ctx context.Context, t tenant.ID, s Service) (Service, error) {
	if s.ID == "" {
		var err error
		if s.ID, err = b.newID(); err != nil {
			return Service{}, err
		}
	}
	s.Tenant = t
	if err := checkService(s); err != nil {
		return Service{}, err
	}
	if _, err := b.propose(ctx, CmdServiceSave, t, servicePayload{Service: s}); err != nil {
		return Service{}, fmt.Errorf("save service %q: %w", s.ID, err)
	}
	return b.Service(ctx, t, s.ID)
}

// AddClosure closes an office (or all, with OfficeID "") on a range of
// days.
func (b *Book) AddClosure(ctx context.Context, t tenant.ID, c Closure) (Closure, error) {
	var err error
	if c.ID, err = b.newID(); err != nil {
		return Closure{}, err
	}
	c.Reason = strings.TrimSpace(c.Reason)
	if err := checkClosure(c); err != nil {
		return Closure{}, err
	}
	if _, err := b.propose(ctx, CmdClosureAdd, t, closurePayload{Closure: c}); err != nil {
		return Closure{}, fmt.Errorf("add closure: %w", err)
	}
	return c, nil
}

// AddOpening adds an extra opening: on its day the office is open in its
// intervals only, even on a holiday or inside a closure.
func (b *Book) AddOpening(ctx context.Context, t tenant.ID, o Opening) (Opening, error) {
	var err error
	if o.ID, err = b.newID(); err != nil {
		return Opening{}, err
	}
	if err := checkOpening(o); err != nil {
		return Opening{}, err
	}
	if _, err := b.propose(ctx, CmdOpeningAdd, t, openingPayload{Opening: o}); err != nil {
		return Opening{}, fmt.Errorf("add opening: %w", err)
	}
	return o, nil
}

// propose sends one booking command of tenant t.
func (b *Book) propose(ctx context.Context, typ string, t tenant.ID, payload any) (cluster.Result, error) {
	cmd, err := cluster.NewCommand(typ, payloadVersion, string(t), payload)
	if err != nil {
		return cluster.Result{}, err
	}
	return b.p.Propose(ctx, cmd)
}

// random fills p from the Book's randomness.
func (b *Book) random(p []byte) error {
	b.rndMu.Lock()
	defer b.rndMu.Unlock()
	if _, err := io.ReadFull(b.rnd, p); err != nil {
		return fmt.Errorf("read randomness: %w", err)
	}
	return nil
}

// newID returns a random identifier of 32 hex digits.
func (b *Book) newID() (string, error) {
	p := make([]byte, 6+idRandomBytes)
	if err := b.random(p[6:]); err != nil {
		return "", err
	}
	putMillis(p, b.now())
	return hex.EncodeToString(p), nil
}

// idRandomBytes is the random part of a booking ID, after six bytes of
// time.
const idRandomBytes = 10

// putMillis writes t's Unix milliseconds into the first six bytes of p.
// IDs that start with their creation time are inserted near the end of
// the primary-key B-tree instead of anywhere in it: on every node, each
// booking then dirties one leaf page that the previous bookings already
// dirtied, not a page of its own, which the COMMIT writes to the WAL and
// the checkpoint writes again. The other ten bytes stay random.
func putMillis(p []byte, t time.Time) {
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		p[i] = byte(ms)
		ms >>= 8
	}
}

// randomToken returns n random bytes in unpadded base64url.
func (b *Book) randomToken(n int) (string, error) {
	p := make([]byte, n)
	if err := b.random(p); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(p), nil
}

// newCode returns a fresh booking code, "<CodePrefix>-" and six characters.
func (b *Book) newCode(t tenant.Tenant) (string, error) {
	p := make([]byte, codeLength)
	if err := b.random(p); err != nil {
		return "", err
	}
	for i := range p {
		p[i] = codeAlphabet[p[i]&31]
	}
	if t.CodePrefix == "" {
		return string(p), nil
	}
	return strings.ToUpper(t.CodePrefix) + "-" + string(p), nil
}

// NormalizeCode returns a booking code as typed by a citizen in its stored
// form: trimmed and in upper case.
func NormalizeCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// validCode reports whether code has the form of a booking code: an
// optional prefix of letters and digits, a dash, six characters.
func validCode(code string) bool {
	if len(code) < codeLength || len(code) > 32 {
		return false
	}
	for _, r := range code {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// hashToken returns the SHA-256 of a manage token: what the table and the
// commands keep instead of the token.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// inZone returns b with its times in loc.
func inZone(b Booking, loc *time.Location) Booking {
	b.Start, b.End = b.Start.In(loc), b.End.In(loc)
	b.Created, b.Updated = b.Created.In(loc), b.Updated.In(loc)
	return b
}

// ManagePath is the citizen's manage page of a booking.
func ManagePath(code, token string) string { return "/prenotazioni/" + code + "?token=" + token }

// JoinPath is the call page of a video or phone booking.
func JoinPath(code, joinToken string) string { return "/chiamata/" + code + "?t=" + joinToken }
