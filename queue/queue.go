package queue

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
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// secretBytes is the entropy of a ticket's secret.
const secretBytes = 24

// Queue is the virtual queue of every Comune on the node: it reads from
// the local SQLite view and writes by proposing commands. Offices,
// services and bookings come from the booking package. Its methods are
// safe for concurrent use; every method takes the tenant first.
type Queue struct {
	p    cluster.Proposer
	db   *sql.DB
	book *booking.Book
	now  func() time.Time
	rnd  io.Reader
	// rndMu serialises reads of rnd, which need not be safe for
	// concurrent use.
	rndMu sync.Mutex
	// PushPolicy says which push endpoints SubscribePush accepts (the
	// zero value: the browsers' push services only). Set it before the
	// Queue is used; tests point it at pushtest's receiver.
	PushPolicy webpush.EndpointPolicy
}

// New returns a Queue over the node's proposer and read pool and the
// node's booking.Book. now and rnd are the proposer-side clock and
// randomness (IDs, secrets).
func New(p cluster.Proposer, db *sql.DB, book *booking.Book, now func() time.Time, rnd io.Reader) *Queue {
	return &Queue{p: p, db: db, book: book, now: now, rnd: rnd}
}

// TakeRequest is what a citizen (or the kiosk, or an operator for them)
// asks to enter an office's line.
type TakeRequest struct {
	OfficeID  string
	ServiceID string
	Channel   Channel
	Priority  Priority
	// BookingCode checks in a booked citizen: the booking must be active,
	// of this office and of today.
	BookingCode string
	// Email, when set, is where the queue tells the citizen that the turn
	// is close and that they are called ("avvisami per email"); Lang is
	// the language of those emails ("it" when empty, "en", "de").
	Email string
	Lang  string
	// ClientIP and Device identify the requester for the admission limits
	// (admit.go); only their hashes reach the log. Device is an opaque ID
	// from a cookie, "" when unknown. Source says where the request came
	// from: SourceDesk (an operator) is exempt from every limit.
	ClientIP string
	Device   string
	Source   Source
	// Proof is the proof-of-work challenge the client solved, when the
	// office asks for one (queue/web checks the solution): apply refuses
	// a challenge already used for another ticket, on any node.
	Proof string
	// ConfirmLink is the base of the confirmation link of an office that
	// confirms remote tickets by email ("https://<host>/coda/conferma/";
	// the email adds the ticket and the token): queue/web sets it on
	// every web and API take.
	ConfirmLink string
	// Kiosk is the token of the enrolled kiosk the take comes from
	// (its cookie), "" for none: an enrolled kiosk is exempt from the
	// address cap, and an office may take kiosk tickets only from
	// enrolled kiosks (OfficeConfig.KioskOnly).
	Kiosk string
}

// Taken is a new ticket with its secret (shown once, stored only
// hashed) and where it stands.
type Taken struct {
	Ticket Ticket
	Secret string
	Status Status
	Index  uint64
}

// Status is where an active ticket stands: how many are called before it
// and about how long that takes.
type Status struct {
	Position      int
	EstimatedWait time.Duration
}

// Configure saves an office's queue configuration.
func (q *Queue) Configure(ctx context.Context, t tenant.ID, c OfficeConfig) error {
	if err := CheckConfig(c); err != nil {
		return err
	}
	if _, err := q.book.Office(ctx, t, c.OfficeID); err != nil {
		return q.notFound("office", c.OfficeID, err)
	}
	// Version 2 only when a setting of version 2 changes, so that
	// saving the other settings still works on a cluster in the middle
	// of a rolling upgrade.
	old, err := loadConfig(ctx, q.db, t, c.OfficeID)
	if err != nil {
		return err
	}
	v := 1
	if c.ConfirmEmail != old.ConfirmEmail || c.KioskOnly != old.KioskOnly ||
		(c.ConfirmWithin != 0 && c.ConfirmWithin != old.ConfirmWithin) {
		v = configureVersion
	}
	_, err = q.proposeV(ctx, CmdConfigure, v, t, configurePayload{Config: c})
	return err
}

// Config returns an office's queue configuration (the defaults when it
// was never configured).
func (q *Queue) Config(ctx context.Context, t tenant.ID, officeID string) (OfficeConfig, error) {
	return loadConfig(ctx, q.db, t, officeID)
}

// Take enters a ticket in an office's line. An invalid request gives a
// *ValidationError; an unknown office, service or booking ErrNotFound; a
// check-in ErrNotToday, ErrTooEarly or ErrAlreadyCheckedIn.
func (q *Queue) Take(ctx context.Context, t tenant.Tenant, req TakeRequest) (Taken, error) {
	f := map[string]string{}
	if !req.Channel.valid() {
		f["channel"] = "Scegliere come essere serviti: allo sportello, in video o al telefono."
	}
	if !req.Priority.valid() {
		f["priority"] = "La categoria di precedenza non è valida."
	}
	if len(f) > 0 {
		return Taken{}, &ValidationError{Fields: f}
	}
	if _, err := q.book.Office(ctx, t.ID, req.OfficeID); err != nil {
		return Taken{}, q.notFound("office", req.OfficeID, err)
	}
	p := takePayload{
		OfficeID: req.OfficeID, ServiceID: req.ServiceID, Channel: req.Channel, Priority: req.Priority,
		DurationS: int64(DefaultDuration / time.Second), TimeZone: t.TimeZone,
	}
	if req.BookingCode != "" {
		bk, err := q.findBooking(ctx, t, req.OfficeID, booking.NormalizeCode(req.BookingCode))
		if err != nil {
			return Taken{}, err
		}
		p.BookingCode, p.Appointment = bk.Code, bk.Start.UTC()
		if p.ServiceID == "" {
			p.ServiceID = bk.ServiceID
		}
	}
	if p.ServiceID != "" {
		svc, err := q.book.Service(ctx, t.ID, p.ServiceID)
		if err != nil || svc.OfficeID != req.OfficeID {
			return Taken{}, &ValidationError{Fields: map[string]string{"service_id": "Il servizio non è offerto da questo ufficio."}}
		}
		if svc.Duration > 0 {
			p.DurationS = int64(svc.Duration / time.Second)
		}
	}
	var err error
	if p.ID, err = q.newID(); err != nil {
		return Taken{}, err
	}
	secret, err := q.randomToken(secretBytes)
	if err != nil {
		return Taken{}, err
	}
	p.SecretHash = hashSecret(secret)
	if err := q.stampAdmission(ctx, t, req, &p); err != nil {
		return Taken{}, err
	}
	if req.Source == SourceWeb || req.Source == SourceAPI {
		cfg, err := loadConfig(ctx, q.db, t.ID, req.OfficeID)
		if err != nil {
			return Taken{}, err
		}
		if needsConfirm(cfg, req.Source, p.BookingCode) {
			return q.takePending(ctx, t, req, cfg, p, secret)
		}
	}
	res, err := q.proposeV(ctx, CmdTake, p.version(), t.ID, p)
	if err != nil {
		return Taken{}, fmt.Errorf("take ticket at %s: %w", req.OfficeID, err)
	}
	k, err := ticketOf(res.Value)
	if err != nil {
		return Taken{}, err
	}
	k.Tenant = t.ID
	st, err := q.status(ctx, k)
	if err != nil {
		return Taken{}, err
	}
	return Taken{Ticket: k, Secret: secret, Status: st, Index: res.Index}, nil
}

// findBooking returns the active booking with code at officeID on the
// Comune's today.
func (q *Queue) findBooking(ctx context.Context, t tenant.Tenant, officeID, code string) (booking.Booking, error) {
	loc := t.Location()
	now := q.now().In(loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	// A booking made through this node a moment ago may not be applied
	// here yet (booking.Create answers without waiting for that): a
	// miss waits for this node's own writes and looks once more.
	for attempt := 0; ; attempt++ {
		list, err := q.book.Bookings(ctx, t.ID, officeID, from, from.AddDate(0, 0, 1))
		if err != nil {
			return booking.Booking{}, err
		}
		for _, bk := range list {
			if bk.Code == code && bk.Status == booking.Active {
				return bk, nil
			}
		}
		if attempt > 0 || q.book.WaitOwnWrites(ctx) != nil {
			return booking.Booking{}, fmt.Errorf("booking %s at %s today: %w", code, officeID, ErrNotToday)
		}
	}
}

// Cancel takes the citizen's ticket out of the line; secret is the one
// Take returned.
func (q *Queue) Cancel(ctx context.Context, t tenant.ID, id, secret string) (Ticket, error) {
	return q.write(ctx, CmdCancel, t, cancelPayload{ID: id, SecretHash: hashSecret(secret)})
}

// CallNext gives desk the next ticket of the office by the ordering rule
// (ErrEmpty when nobody waits, ErrDeskBusy while the desk still has a
// called or served ticket). services, when not empty, limits the call to
// tickets of those services and tickets without a service.
func (q *Queue) CallNext(ctx context.Context, t tenant.Tenant, officeID, desk string, services []string) (Ticket, error) {
	return q.CallNextWith(ctx, t, officeID, desk, CallOptions{Services: services})
}

// StartServing records that desk started serving its called ticket.
func (q *Queue) StartServing(ctx context.Context, t tenant.ID, id, desk string) (Ticket, error) {
	return q.write(ctx, CmdStart, t, deskPayload{ID: id, Desk: desk})
}

// Served closes a ticket desk has served.
func (q *Queue) Served(ctx context.Context, t tenant.ID, id, desk string) (Ticket, error) {
	return q.write(ctx, CmdServed, t, deskPayload{ID: id, Desk: desk})
}

// NoShow closes a called ticket whose citizen did not come.
func (q *Queue) NoShow(ctx context.Context, t tenant.ID, id, desk string) (Ticket, error) {
	return q.write(ctx, CmdNoShow, t, deskPayload{ID: id, Desk: desk})
}

// Recall calls a called ticket again (on the board and to the citizen).
func (q *Queue) Recall(ctx context.Context, t tenant.ID, id, desk string) (Ticket, error) {
	return q.write(ctx, CmdRecall, t, deskPayload{ID: id, Desk: desk})
}

// write proposes a command that answers with a ticket.
func (q *Queue) write(ctx context.Context, typ string, t tenant.ID, payload any) (Ticket, error) {
	res, err := q.propose(ctx, typ, t, payload)
	if err != nil {
		return Ticket{}, err
	}
	k, err := ticketOf(res.Value)
	k.Tenant = t
	return k, err
}

// Ticket returns a ticket, for the operator's views and the event
// streams: a ticket still waiting for its email's confirmation reads as
// PendingConfirmation until it expires (confirm.go).
func (q *Queue) Ticket(ctx context.Context, t tenant.ID, id string) (Ticket, error) {
	k, _, err := loadTicket(ctx, q.db, t, id)
	if errors.Is(err, ErrNotFound) && q.caughtUp(ctx) {
		k, _, err = loadTicket(ctx, q.db, t, id)
	}
	if errors.Is(err, ErrNotFound) {
		if pk, _, perr := q.pending(ctx, t, id); perr == nil && q.now().Before(pk.ConfirmBy) {
			return pk, nil
		}
	}
	return k, err
}

// missWait bounds how long a read that does not find a ticket waits for
// this node to apply what it has received (caughtUp).
const missWait = 2 * time.Second

// caughtUp waits, at most missWait, until this node has applied the
// commands it had received (cluster.Node.WaitReceived), and reports
// whether it is worth looking again. A citizen takes a ticket through one node
// and the page, its live events or its notifications may ask another
// (a load balancer does not keep a browser on one node): on a follower
// that has not applied the ticket yet, it was "not found" (the queue's
// end-to-end test follows each ticket on another node and saw it under
// load). A proposer that cannot wait (a test's) answers false.
func (q *Queue) caughtUp(ctx context.Context) bool {
	w, ok := q.p.(interface{ WaitReceived(context.Context) error })
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, missWait)
	defer cancel()
	return w.WaitReceived(ctx) == nil
}

// TicketWithSecret returns a ticket if secret is its own (ErrBadSecret
// otherwise), for the citizen.
func (q *Queue) TicketWithSecret(ctx context.Context, t tenant.ID, id, secret string) (Ticket, error) {
	k, hash, err := loadTicket(ctx, q.db, t, id)
	if errors.Is(err, ErrNotFound) && q.caughtUp(ctx) {
		k, hash, err = loadTicket(ctx, q.db, t, id)
	}
	if errors.Is(err, ErrNotFound) {
		// A ticket waiting for its email's confirmation (confirm.go).
		return q.pendingWithSecret(ctx, t, id, secret)
	}
	if err != nil {
		return Ticket{}, err
	}
	if subtle.ConstantTimeCompare(hash, hashSecret(secret)) != 1 {
		return Ticket{}, fmt.Errorf("ticket %s: %w", id, ErrBadSecret)
	}
	return k, nil
}

// Position returns how many tickets are called before the ticket by the
// ordering rule as of now (0 when it is next, or no longer waiting).
func (q *Queue) Position(ctx context.Context, t tenant.ID, id string) (int, error) {
	st, err := q.Status(ctx, t, id)
	return st.Position, err
}

// EstimatedWait returns about how long the ticket waits: the expected
// service times of the tickets ahead of it (today's average of their
// service, else of the office, over the last OfficeConfig.Sample
// services; else their expected duration), divided by the desks open
// for it.
func (q *Queue) EstimatedWait(ctx context.Context, t tenant.ID, id string) (time.Duration, error) {
	st, err := q.Status(ctx, t, id)
	return st.EstimatedWait, err
}

// Status returns the ticket's position and estimated wait.
func (q *Queue) Status(ctx context.Context, t tenant.ID, id string) (Status, error) {
	k, _, err := loadTicket(ctx, q.db, t, id)
	if errors.Is(err, ErrNotFound) {
		if _, _, perr := q.pending(ctx, t, id); perr == nil {
			// Not in the line yet: no position.
			return Status{}, nil
		}
	}
	if err != nil {
		return Status{}, err
	}
	return q.status(ctx, k)
}

// status computes where k stands and about how long it waits
// (core_estimate.go).
func (q *Queue) status(ctx context.Context, k Ticket) (Status, error) {
	return q.estimate(ctx, k)
}

// Line returns the waiting tickets of an office's day in the order they
// will be called as of now, for the operator's view.
func (q *Queue) Line(ctx context.Context, t tenant.Tenant, officeID string) ([]Ticket, error) {
	now := q.now()
	ts, err := loadTickets(ctx, q.db, t.ID, officeID, dayOf(now, t.TimeZone), Waiting)
	if err != nil {
		return nil, err
	}
	order(ts, now)
	return ts, nil
}

// notFound turns booking's ErrNotFound into the queue's.
func (q *Queue) notFound(what, id string, err error) error {
	if errors.Is(err, booking.ErrNotFound) {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return err
}

// propose sends one command of the package.
func (q *Queue) propose(ctx context.Context, typ string, t tenant.ID, payload any) (cluster.Result, error) {
	return q.proposeV(ctx, typ, payloadVersion, t, payload)
}

// proposeV sends one command of payload version v.
func (q *Queue) proposeV(ctx context.Context, typ string, v int, t tenant.ID, payload any) (cluster.Result, error) {
	cmd, err := cluster.NewCommand(typ, v, string(t), payload)
	if err != nil {
		return cluster.Result{}, err
	}
	return q.p.Propose(ctx, cmd)
}

// ticketOf reads a Ticket from a command's result: the Go value
// (in-process or decoded by Register's HandleResult) or its JSON.
func ticketOf(v any) (Ticket, error) {
	switch v := v.(type) {
	case Ticket:
		return v, nil
	case json.RawMessage:
		var k Ticket
		err := json.Unmarshal(v, &k)
		return k, err
	}
	return Ticket{}, fmt.Errorf("unexpected result %T", v)
}

// random fills p from the Queue's randomness.
func (q *Queue) random(p []byte) error {
	q.rndMu.Lock()
	defer q.rndMu.Unlock()
	if _, err := io.ReadFull(q.rnd, p); err != nil {
		return fmt.Errorf("read randomness: %w", err)
	}
	return nil
}

// newID returns 32 hex digits: six bytes of the time in milliseconds,
// so that tickets are inserted near the end of the primary key, then ten
// random bytes.
func (q *Queue) newID() (string, error) {
	p := make([]byte, 16)
	if err := q.random(p[6:]); err != nil {
		return "", err
	}
	ms := uint64(q.now().UnixMilli())
	for i := 5; i >= 0; i-- {
		p[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(p), nil
}

// randomToken returns n random bytes in URL-safe base64.
func (q *Queue) randomToken(n int) (string, error) {
	p := make([]byte, n)
	if err := q.random(p); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(p), nil
}

// hashSecret is the stored form of a ticket's secret.
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
