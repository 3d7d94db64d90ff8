package booking

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Waiting lists (issue 11): when a service is full, a citizen leaves
// name, email (phone and codice fiscale optional) and the weekdays they
// can come. When a seat frees — a citizen's cancellation or move, an
// office's cancellation — apply offers it, in the same transaction, to
// the first in line whose days match: the seat is held for them
// (booking_waitlist_offers, counted by reserve), an email carries the
// link to accept. Accepting books through applyCreate, with every rule
// of a booking; an offer not accepted in time is expired by the
// leader's WaitlistWorker, which passes the seat to the next in line;
// with nobody left the seat is simply free again. See DESIGN.md,
// "Waiting list and App IO".

// Command types of the waiting lists.
const (
	CmdWaitJoin     = "booking.waitlist.join"
	CmdWaitLeave    = "booking.waitlist.leave"
	CmdWaitAccept   = "booking.waitlist.accept"
	CmdWaitExpire   = "booking.waitlist.expire"
	CmdWaitSettings = "booking.waitlist.settings"
	CmdWaitPrune    = "booking.waitlist.prune"
)

// Limits of the waiting lists.
const (
	// DefaultOfferHold is how long an offer holds a seat when the
	// service sets nothing: long enough to read an email during a
	// working morning, short enough that the next in line still has time.
	DefaultOfferHold = 2 * time.Hour
	// MinOfferHold and MaxOfferHold bound a service's setting.
	MinOfferHold = 15 * time.Minute
	MaxOfferHold = 48 * time.Hour
	// minOfferWindow: a seat that could be held for less than this
	// (the appointment's minimum notice is too close) is not offered,
	// since nobody could act on the email in time.
	minOfferWindow = 10 * time.Minute
	// MaxWaitPerEmail caps the lists one email address is on in a
	// Comune, and maxWaitPerEmailService its entries in one service's
	// list: one person, one place in a line, and no flooding of lists
	// with one mailbox.
	MaxWaitPerEmail        = 3
	maxWaitPerEmailService = 1
	// waitlistKeep is how long an entry that left the line (booked,
	// left, lapsed) is kept, with its offers: long enough to answer a
	// citizen who asks what happened to their place, short enough that
	// the list is not an archive of contacts.
	waitlistKeep = 30 * 24 * time.Hour
)

// waitlistEmailCountQuery counts the entries of an email (?3) still in
// the Comune's (?2) lines, and those in the service's (?1): the caps. The
// address is compared without case, as typed; booking_waitlist_email is
// in that collation from the waiting lists' schema 2.
const waitlistEmailCountQuery = `SELECT count(*), coalesce(sum(service_id = ?), 0) FROM booking_waitlist
	WHERE tenant = ? AND email = ? COLLATE NOCASE AND status IN ('waiting', 'offered')`

// Waiting-list errors.
var (
	ErrOfferExpired    = errors.New("the offer has expired")
	ErrNoOffer         = errors.New("the entry has no offer")
	ErrOfferNotExpired = errors.New("the offer has not expired yet")
	ErrWaitCap         = errors.New("email already on too many waiting lists")
	ErrWaitClosed      = errors.New("the entry is no longer on the waiting list")
)

// WaitStatus is the state of an entry: waiting → offered → booked, or
// back to … lapsed (offer expired) or left.
type WaitStatus string

// Entry statuses.
const (
	WaitWaiting WaitStatus = "waiting"
	WaitOffered WaitStatus = "offered"
	WaitBooked  WaitStatus = "booked"
	WaitLeft    WaitStatus = "left"
	WaitLapsed  WaitStatus = "lapsed"
)

// WaitEntry is a citizen's place on a service's waiting list.
type WaitEntry struct {
	ID        string
	Tenant    tenant.ID
	ServiceID string
	Citizen   Citizen
	// Days are the weekdays the citizen can come; none means any.
	Days   []time.Weekday
	Lang   string
	Status WaitStatus
	Joined time.Time
	// Offer is the seat held for the entry while Status is offered.
	Offer *WaitOffer
}

// WaitOffer is a seat held for an entry.
type WaitOffer struct {
	Start   time.Time
	Expires time.Time
}

// WaitRequest is what a citizen submits to join a waiting list.
type WaitRequest struct {
	ServiceID       string
	Citizen         Citizen
	Days            []time.Weekday
	Lang            string
	PrivacyAccepted bool
}

// WaitJoined is the outcome of joining: the entry, its secret token (in
// the email's link, stored only hashed) and the log index.
type WaitJoined struct {
	Entry WaitEntry
	Token string
	Index uint64
}

// Acceptance is what the citizen adds when accepting an offer: the
// codice fiscale if they left none, the channel, the phone for a phone
// appointment, and the privacy notice.
type Acceptance struct {
	FiscalCode      string
	Channel         Channel
	Phone           string
	Details         string
	PrivacyAccepted bool
	// Admission is what the web layer checked for fair access, as for
	// Request.Admission: a service that asks a proof of work asks it of
	// an accepted offer too (apply runs booking.create's rules).
	Admission Admission
}

// WaitPath is the page of a waiting-list entry, with its token.
func WaitPath(id, token string) string { return "/lista-attesa/voce/" + id + "?token=" + token }

// waitJoinPayload is version 1 of booking.waitlist.join.
type waitJoinPayload struct {
	ID        string  `json:"id"`
	ServiceID string  `json:"service_id"`
	Citizen   Citizen `json:"citizen"`
	Days      int     `json:"days"`
	Lang      string  `json:"lang"`
	TokenHash []byte  `json:"token_hash"`
	BaseURL   string  `json:"base_url"`
	Link      string  `json:"link"`
	Comune    comune  `json:"comune"`
}

// waitEntryPayload is version 1 of booking.waitlist.leave.
type waitEntryPayload struct {
	ID        string `json:"id"`
	TokenHash []byte `json:"token_hash"`
	Comune    comune `json:"comune"`
}

// waitAcceptPayload is version 1 of booking.waitlist.accept: the entry,
// its token, and the booking.create payload (version CreateVersion) the
// proposer stamped exactly as Book.Create does.
type waitAcceptPayload struct {
	ID            string        `json:"id"`
	TokenHash     []byte        `json:"token_hash"`
	Create        createPayload `json:"create"`
	CreateVersion int           `json:"create_version"`
}

// waitExpirePayload is version 1 of booking.waitlist.expire.
type waitExpirePayload struct {
	ID     string `json:"id"`
	Start  int64  `json:"start"`
	Comune comune `json:"comune"`
}

// waitSettingsPayload is version 1 of booking.waitlist.settings.
type waitSettingsPayload struct {
	ServiceID string `json:"service_id"`
	HoldS     int64  `json:"hold_s"`
}

func registerWaitlist(reg *cluster.Registry, a *applier) {
	reg.Migrate(waitlistMigrations()...)
	for code, err := range map[string]error{
		"booking.offer_expired": ErrOfferExpired, "booking.no_offer": ErrNoOffer,
		"booking.offer_not_expired": ErrOfferNotExpired, "booking.wait_cap": ErrWaitCap,
		"booking.wait_closed": ErrWaitClosed,
	} {
		reg.RegisterError(code, err)
	}
	reg.Handle(CmdWaitJoin, payloadVersion, applyWaitJoin)
	reg.Handle(CmdWaitLeave, payloadVersion, applyWaitLeave)
	reg.Handle(CmdWaitAccept, payloadVersion, a.applyWaitAccept)
	reg.Handle(CmdWaitExpire, payloadVersion, applyWaitExpire)
	reg.Handle(CmdWaitSettings, payloadVersion, applyWaitSettings)
	reg.Handle(CmdWaitOffer, payloadVersion, applyWaitOffer)
	reg.Handle(CmdWaitPrune, payloadVersion, applyWaitPrune)
	reg.HandleResult(CmdWaitAccept, func(raw json.RawMessage) (any, error) {
		var a Applied
		err := json.Unmarshal(raw, &a)
		return a, err
	})
	registerAppIO(reg)
}

// daysMask turns weekdays into the stored bit mask.
func daysMask(days []time.Weekday) int {
	m := 0
	for _, d := range days {
		if d >= time.Sunday && d <= time.Saturday {
			m |= 1 << d
		}
	}
	return m
}

// maskDays is the inverse of daysMask, Monday first.
func maskDays(m int) []time.Weekday {
	var out []time.Weekday
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		if m&(1<<d) != 0 {
			out = append(out, d)
		}
	}
	return out
}

// CheckWaitRequest validates and normalises a request to join, with
// the booking form's rules and messages for the fields they share; the
// codice fiscale and phone are optional here.
func CheckWaitRequest(r WaitRequest) (WaitRequest, error) {
	probe := Request{ServiceID: r.ServiceID, Start: time.Unix(1, 0), Channel: InPerson, Citizen: r.Citizen,
		PrivacyAccepted: r.PrivacyAccepted, Lang: r.Lang}
	if probe.Citizen.FiscalCode == "" {
		// A valid placeholder, so that CheckRequest judges the other
		// fields only; the entry keeps none.
		probe.Citizen.FiscalCode = "RSSMRA85T10A562S"
	}
	checked, err := CheckRequest(probe)
	var ve *ValidationError
	if err != nil && !errors.As(err, &ve) {
		return r, err
	}
	fields := map[string]string{}
	if ve != nil {
		for k, v := range ve.Fields {
			fields[k] = v
		}
	}
	delete(fields, "start")
	delete(fields, "channel")
	c := checked.Citizen
	if strings.TrimSpace(r.Citizen.FiscalCode) == "" {
		c.FiscalCode = ""
	}
	r.Citizen, r.Lang = c, NormalizeLang(r.Lang)
	r.ServiceID = strings.TrimSpace(r.ServiceID)
	if len(fields) > 0 {
		return r, &ValidationError{Fields: fields}
	}
	return r, nil
}

// JoinWaitlist puts a citizen on the service's waiting list and queues
// the email with the link to their entry (to leave it, and later to
// accept an offer).
func (b *Book) JoinWaitlist(ctx context.Context, t tenant.Tenant, req WaitRequest, baseURL string) (WaitJoined, error) {
	req, err := CheckWaitRequest(req)
	if err != nil {
		return WaitJoined{}, err
	}
	id, err := b.newID()
	if err != nil {
		return WaitJoined{}, err
	}
	token, err := b.randomToken(manageTokenBytes)
	if err != nil {
		return WaitJoined{}, err
	}
	base := trimBase(baseURL)
	p := waitJoinPayload{ID: id, ServiceID: req.ServiceID, Citizen: req.Citizen, Days: daysMask(req.Days),
		Lang: req.Lang, TokenHash: hashToken(token), BaseURL: base, Link: base + WaitPath(id, token), Comune: comuneOf(t)}
	res, err := b.propose(ctx, CmdWaitJoin, t.ID, p)
	if err != nil {
		return WaitJoined{}, fmt.Errorf("join waiting list of %s: %w", req.ServiceID, err)
	}
	e, err := b.waitEntry(ctx, b.db, t.ID, id)
	if err != nil {
		return WaitJoined{}, err
	}
	return WaitJoined{Entry: e, Token: token, Index: res.Index}, nil
}

// WaitEntry returns the entry if token is its token.
func (b *Book) WaitEntry(ctx context.Context, t tenant.ID, id, token string) (WaitEntry, error) {
	var hash []byte
	err := b.db.QueryRowContext(ctx, `SELECT token_hash FROM booking_waitlist WHERE tenant = ? AND id = ?`, t, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return WaitEntry{}, fmt.Errorf("waiting-list entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return WaitEntry{}, fmt.Errorf("load waiting-list entry %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare(hash, hashToken(token)) != 1 {
		return WaitEntry{}, fmt.Errorf("waiting-list entry %s: %w", id, ErrBadToken)
	}
	return b.waitEntry(ctx, b.db, t, id)
}

// LeaveWaitlist takes the entry off its list; a seat held for it passes
// to the next in line.
func (b *Book) LeaveWaitlist(ctx context.Context, t tenant.Tenant, id, token string) (uint64, error) {
	res, err := b.propose(ctx, CmdWaitLeave, t.ID, waitEntryPayload{ID: id, TokenHash: hashToken(token), Comune: comuneOf(t)})
	if err != nil {
		return 0, fmt.Errorf("leave waiting list %s: %w", id, err)
	}
	return res.Index, nil
}

// AcceptOffer books the seat held for the entry, under every rule of
// Create (checked again in apply), and answers as Create does.
func (b *Book) AcceptOffer(ctx context.Context, t tenant.Tenant, id, token string, acc Acceptance, baseURL string) (Created, error) {
	e, err := b.WaitEntry(ctx, t.ID, id, token)
	if err != nil {
		return Created{}, err
	}
	if e.Status != WaitOffered || e.Offer == nil {
		return Created{}, fmt.Errorf("accept %s: %w", id, ErrNoOffer)
	}
	c := e.Citizen
	if fc := strings.TrimSpace(acc.FiscalCode); fc != "" {
		c.FiscalCode = fc
	}
	if p := strings.TrimSpace(acc.Phone); p != "" {
		c.Phone = p
	}
	req, err := CheckRequest(Request{ServiceID: e.ServiceID, Start: e.Offer.Start, Channel: acc.Channel,
		Citizen: c, Details: acc.Details, PrivacyAccepted: acc.PrivacyAccepted, Lang: e.Lang})
	if err != nil {
		return Created{}, err
	}
	bid, err := b.newID()
	if err != nil {
		return Created{}, err
	}
	mtoken, err := b.randomToken(manageTokenBytes)
	if err != nil {
		return Created{}, err
	}
	var join string
	if req.Channel == Video || req.Channel == Phone {
		if join, err = b.randomToken(joinTokenBytes); err != nil {
			return Created{}, err
		}
	}
	if err := b.admit(ctx, t.ID, e.ServiceID, bid, acc.Admission); err != nil {
		return Created{}, fmt.Errorf("accept offer %s: %w", id, err)
	}
	base := trimBase(baseURL)
	// As in Create, the details are sealed before the command (seal.go).
	details, err := b.sealText(ctx, t.ID, detailsAAD(bid), req.Details)
	if err != nil {
		return Created{}, fmt.Errorf("accept offer %s: seal details: %w", id, err)
	}
	for range codeAttempts {
		code, err := b.newCode(t)
		if err != nil {
			return Created{}, err
		}
		cp := createPayload{
			ID: bid, Code: code, ServiceID: req.ServiceID, Start: req.Start.UTC(), Channel: req.Channel,
			Citizen: req.Citizen, Details: details, TokenHash: hashToken(mtoken), JoinToken: join,
			Comune: comuneOf(t), BaseURL: base, ManageURL: base + ManagePath(code, mtoken),
		}
		version := 1
		if lang := NormalizeLang(req.Lang); lang != LangIT {
			cp.Lang, version = lang, createLangVersion
		}
		res, err := b.propose(ctx, CmdWaitAccept, t.ID, waitAcceptPayload{ID: id, TokenHash: hashToken(token), Create: cp, CreateVersion: version})
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return Created{}, fmt.Errorf("accept offer %s: %w", id, err)
		}
		bk, err := loadBookingByID(ctx, b.db, t.ID, bid)
		if err != nil {
			return Created{}, err
		}
		bk.JoinToken = join
		b.openBooking(ctx, t.ID, &bk.Booking)
		return Created{Booking: inZone(bk.Booking, t.Location()), ManageToken: mtoken, Index: res.Index}, nil
	}
	return Created{}, fmt.Errorf("accept offer %s: %w", id, ErrCodeTaken)
}

// WaitlistHold returns how long an offer of the service holds its seat.
func (b *Book) WaitlistHold(ctx context.Context, t tenant.ID, serviceID string) (time.Duration, error) {
	return loadHold(ctx, b.db, t, serviceID)
}

// SaveWaitlistHold sets how long an offer of the service holds its seat.
func (b *Book) SaveWaitlistHold(ctx context.Context, t tenant.ID, serviceID string, hold time.Duration) (uint64, error) {
	if hold < MinOfferHold || hold > MaxOfferHold {
		return 0, &ValidationError{Fields: map[string]string{"hold": "Indica un tempo tra 15 minuti e 48 ore."}}
	}
	res, err := b.propose(ctx, CmdWaitSettings, t, waitSettingsPayload{ServiceID: serviceID, HoldS: int64(hold / time.Second)})
	if err != nil {
		return 0, fmt.Errorf("save waiting-list settings of %s: %w", serviceID, err)
	}
	return res.Index, nil
}

// WaitingCount returns how many citizens wait for the service (offered
// ones included).
func (b *Book) WaitingCount(ctx context.Context, t tenant.ID, serviceID string) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM booking_waitlist
		WHERE tenant = ? AND service_id = ? AND status IN ('waiting', 'offered')`, t, serviceID).Scan(&n)
	if isNoSuchTable(err) {
		return 0, nil
	}
	return n, err
}

// waitEntry loads one entry with its pending offer.
func (b *Book) waitEntry(ctx context.Context, q querier, t tenant.ID, id string) (WaitEntry, error) {
	e := WaitEntry{ID: id, Tenant: t}
	var days int
	var joined int64
	err := q.QueryRowContext(ctx, `SELECT service_id, given_name, family_name, email, phone, fiscal_code,
			days, lang, status, joined_unix FROM booking_waitlist WHERE tenant = ? AND id = ?`, t, id).Scan(
		&e.ServiceID, &e.Citizen.GivenName, &e.Citizen.FamilyName, &e.Citizen.Email, &e.Citizen.Phone,
		&e.Citizen.FiscalCode, &days, &e.Lang, &e.Status, &joined)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return WaitEntry{}, fmt.Errorf("waiting-list entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return WaitEntry{}, fmt.Errorf("load waiting-list entry %s: %w", id, err)
	}
	e.Days, e.Joined = maskDays(days), time.Unix(joined, 0).UTC()
	var start, expires int64
	err = q.QueryRowContext(ctx, `SELECT start_unix, expires_unix FROM booking_waitlist_offers
		WHERE tenant = ? AND entry_id = ? AND status = 'pending'`, t, id).Scan(&start, &expires)
	switch {
	case err == nil:
		e.Offer = &WaitOffer{Start: time.Unix(start, 0).UTC(), Expires: time.Unix(expires, 0).UTC()}
	case !errors.Is(err, sql.ErrNoRows):
		return WaitEntry{}, fmt.Errorf("load offer of %s: %w", id, err)
	}
	return e, nil
}

// loadHold reads a service's offer hold, DefaultOfferHold without a row.
func loadHold(ctx context.Context, q querier, t tenant.ID, serviceID string) (time.Duration, error) {
	var s int64
	err := q.QueryRowContext(ctx, `SELECT hold_s FROM booking_waitlist_settings WHERE tenant = ? AND service_id = ?`, t, serviceID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return DefaultOfferHold, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load waiting-list hold of %s: %w", serviceID, err)
	}
	return time.Duration(s) * time.Second, nil
}

// heldSeats counts the seats of a slot held by pending offers; reserve
// adds them to the slot's bookings. Before the component's migration it
// is 0 on every node.
func heldSeats(tx *sql.Tx, t tenant.ID, serviceID string, start int64) (int, error) {
	var n int
	err := tx.QueryRowContext(context.Background(), `SELECT count(*) FROM booking_waitlist_offers
		WHERE tenant = ? AND service_id = ? AND start_unix = ? AND status = 'pending'`, t, serviceID, start).Scan(&n)
	if isNoSuchTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count held seats: %w", err)
	}
	return n, nil
}

// heldBySlot counts the held seats of a service per start in [lo, hi),
// for Book.Slots.
func (b *Book) heldBySlot(ctx context.Context, t tenant.ID, serviceID string, lo, hi int64, into map[int64]int) error {
	rows, err := b.db.QueryContext(ctx, `SELECT start_unix, count(*) FROM booking_waitlist_offers
		WHERE tenant = ? AND service_id = ? AND status = 'pending' AND start_unix >= ? AND start_unix < ?
		GROUP BY start_unix`, t, serviceID, lo, hi)
	if isNoSuchTable(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("count held seats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s int64
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return fmt.Errorf("count held seats: %w", err)
		}
		into[s] += n
	}
	return rows.Err()
}

func applyWaitJoin(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p waitJoinPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if p.ID == "" || len(p.TokenHash) != tokenHashSize || p.Citizen.Email == "" {
		return nil, fmt.Errorf("%s: payload lacks id, token hash or email", cmd.Type)
	}
	if fc := p.Citizen.FiscalCode; fc != "" && (fc != NormalizeFiscalCode(fc) || !ValidFiscalCode(fc)) {
		return nil, &ValidationError{Fields: map[string]string{"citizen.fiscal_code": "Il codice fiscale non è valido."}}
	}
	svc, err := loadService(ctx, tx, t, p.ServiceID)
	if err != nil {
		return nil, err
	}
	if err := refuseArchived(ctx, tx, t, svc); err != nil {
		return nil, err
	}
	// The caps count entries still in line, by the address as typed
	// (CheckRequest lowers nothing, so compare without case).
	var inService, inComune int
	if err := tx.QueryRowContext(ctx, waitlistEmailCountQuery, svc.ID, t, p.Citizen.Email).Scan(&inComune, &inService); err != nil {
		return nil, fmt.Errorf("count waiting-list entries: %w", err)
	}
	if inService >= maxWaitPerEmailService {
		return nil, &ValidationError{Fields: map[string]string{"citizen.email": "Questo indirizzo email è già nella lista d'attesa di questo servizio."}}
	}
	if inComune >= MaxWaitPerEmail {
		return nil, fmt.Errorf("%d lists: %w", inComune, ErrWaitCap)
	}
	c := p.Citizen
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_waitlist (tenant, id, service_id, given_name, family_name,
			email, phone, fiscal_code, days, lang, token_hash, base_url, link, status, line, joined_unix)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?)`,
		t, p.ID, svc.ID, c.GivenName, c.FamilyName, c.Email, c.Phone, c.FiscalCode, p.Days&0x7f,
		NormalizeLang(p.Lang), p.TokenHash, p.BaseURL, p.Link, int64(cmd.Index), cmd.Time.Unix()); err != nil {
		return nil, fmt.Errorf("insert waiting-list entry: %w", err)
	}
	office, err := loadOffice(ctx, tx, t, svc.OfficeID)
	if err != nil {
		return nil, err
	}
	n := WaitNotice{Kind: WaitNoticeJoined, EntryID: p.ID, Lang: NormalizeLang(p.Lang), Email: c.Email,
		Name: c.GivenName, Link: p.Link}
	n.fill(p.Comune.tenant(cmd.Tenant), svc, office)
	if err := enqueueWaitNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	return p.ID, nil
}

// loadEntryForToken loads the entry's status and checks its token.
func loadEntryForToken(tx *sql.Tx, t tenant.ID, id string, tokenHash []byte) (WaitStatus, string, error) {
	var hash []byte
	var status WaitStatus
	var svc string
	err := tx.QueryRowContext(context.Background(), `SELECT token_hash, status, service_id FROM booking_waitlist
		WHERE tenant = ? AND id = ?`, t, id).Scan(&hash, &status, &svc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("waiting-list entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", "", fmt.Errorf("load waiting-list entry %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare(hash, tokenHash) != 1 {
		return "", "", fmt.Errorf("waiting-list entry %s: %w", id, ErrBadToken)
	}
	return status, svc, nil
}

// pendingOffer returns the start and expiry of the entry's pending offer.
func pendingOffer(tx *sql.Tx, t tenant.ID, id string) (start, expires int64, err error) {
	err = tx.QueryRowContext(context.Background(), `SELECT start_unix, expires_unix FROM booking_waitlist_offers
		WHERE tenant = ? AND entry_id = ? AND status = 'pending'`, t, id).Scan(&start, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("entry %s: %w", id, ErrNoOffer)
	}
	return start, expires, err
}

// closeOffer ends the entry's pending offer with status and the entry
// with entryStatus.
func closeOffer(tx *sql.Tx, t tenant.ID, id string, start int64, status string, entryStatus WaitStatus, at time.Time) error {
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, `UPDATE booking_waitlist_offers SET status = ?
		WHERE tenant = ? AND entry_id = ? AND start_unix = ?`, status, t, id, start); err != nil {
		return fmt.Errorf("close offer of %s: %w", id, err)
	}
	return setEntryStatus(tx, t, id, entryStatus, at)
}

// setEntryStatus sets the entry's status; at (the command's time) is
// recorded as closed_unix when the entry leaves the line.
func setEntryStatus(tx *sql.Tx, t tenant.ID, id string, s WaitStatus, at time.Time) error {
	closed := int64(0)
	if s != WaitWaiting && s != WaitOffered {
		closed = at.Unix()
	}
	if _, err := tx.ExecContext(context.Background(), `UPDATE booking_waitlist SET status = ?, closed_unix = ? WHERE tenant = ? AND id = ?`,
		s, closed, t, id); err != nil {
		return fmt.Errorf("update waiting-list entry %s: %w", id, err)
	}
	return nil
}

func applyWaitLeave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p waitEntryPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	status, svc, err := loadEntryForToken(tx, t, p.ID, p.TokenHash)
	if err != nil {
		return nil, err
	}
	switch status {
	case WaitWaiting:
		return nil, setEntryStatus(tx, t, p.ID, WaitLeft, cmd.Time)
	case WaitOffered:
		start, _, err := pendingOffer(tx, t, p.ID)
		if err != nil {
			return nil, err
		}
		if err := closeOffer(tx, t, p.ID, start, "declined", WaitLeft, cmd.Time); err != nil {
			return nil, err
		}
		// The seat held for the citizen goes to the next in line.
		return nil, offerFreedSeat(tx, cmd, p.Comune, svc, time.Unix(start, 0))
	}
	return nil, fmt.Errorf("leave %s: %w", p.ID, ErrWaitClosed)
}

func applyWaitExpire(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p waitExpirePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	var svc string
	var expires int64
	err := tx.QueryRowContext(context.Background(), `SELECT service_id, expires_unix FROM booking_waitlist_offers
		WHERE tenant = ? AND entry_id = ? AND start_unix = ? AND status = 'pending'`, t, p.ID, p.Start).Scan(&svc, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		// Accepted, declined or expired by an earlier proposal.
		return nil, fmt.Errorf("expire %s: %w", p.ID, ErrNoOffer)
	}
	if err != nil {
		return nil, fmt.Errorf("expire %s: %w", p.ID, err)
	}
	if cmd.Time.Unix() < expires {
		return nil, fmt.Errorf("expire %s: %w", p.ID, ErrOfferNotExpired)
	}
	if err := closeOffer(tx, t, p.ID, p.Start, "expired", WaitLapsed, cmd.Time); err != nil {
		return nil, err
	}
	return nil, offerFreedSeat(tx, cmd, p.Comune, svc, time.Unix(p.Start, 0))
}

func (a *applier) applyWaitAccept(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p waitAcceptPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	status, svc, err := loadEntryForToken(tx, t, p.ID, p.TokenHash)
	if err != nil {
		return nil, err
	}
	if status != WaitOffered {
		return nil, fmt.Errorf("accept %s: %w", p.ID, ErrNoOffer)
	}
	start, expires, err := pendingOffer(tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if p.Create.ServiceID != svc || p.Create.Start.Unix() != start {
		return nil, fmt.Errorf("accept %s: the booking is not the offered seat: %w", p.ID, ErrNoOffer)
	}
	if cmd.Time.Unix() >= expires {
		return nil, fmt.Errorf("accept %s: %w", p.ID, ErrOfferExpired)
	}
	// The hold ends first, so that the booking below takes the seat it
	// kept: from here on, it is a booking like any other, under every
	// rule of booking.create. A refusal rolls the whole command back and
	// the hold with it.
	if err := closeOffer(tx, t, p.ID, start, "accepted", WaitBooked, cmd.Time); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(p.Create)
	if err != nil {
		return nil, err
	}
	create := cmd
	create.Type, create.Version, create.Payload = CmdCreate, p.CreateVersion, payload
	return a.applyCreate(tx, create)
}

func applyWaitSettings(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p waitSettingsPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if _, err := loadService(ctx, tx, t, p.ServiceID); err != nil {
		return nil, err
	}
	if h := time.Duration(p.HoldS) * time.Second; h < MinOfferHold || h > MaxOfferHold {
		return nil, &ValidationError{Fields: map[string]string{"hold": "Indica un tempo tra 15 minuti e 48 ore."}}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_waitlist_settings (tenant, service_id, hold_s) VALUES (?, ?, ?)
		ON CONFLICT (tenant, service_id) DO UPDATE SET hold_s = excluded.hold_s`, t, p.ServiceID, p.HoldS)
	return nil, err
}

// offerFreedSeat offers a seat of the service at start, just freed by
// the command being applied, to the first in line whose days match. It
// is called from apply (cancellations, moves, office cancellations, a
// declined or expired offer) and reads only the transaction and
// cmd.Time. It does nothing when the seat is not free after all, when the
// appointment is too close for an offer to be acted on, when nobody
// waits, or before the component's migration.
func offerFreedSeat(tx *sql.Tx, cmd cluster.Command, c comune, serviceID string, start time.Time) error {
	ctx := context.Background()
	t := c.tenant(cmd.Tenant)
	var waiting int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM booking_waitlist WHERE tenant = ? AND service_id = ? AND status = 'waiting'`,
		t.ID, serviceID).Scan(&waiting)
	if isNoSuchTable(err) || (err == nil && waiting == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("waiting list of %s: %w", serviceID, err)
	}
	svc, err := loadService(ctx, tx, t.ID, serviceID)
	if err != nil {
		return err
	}
	// An archived service takes no bookings: an offer could not be
	// accepted.
	if err := refuseArchived(ctx, tx, t.ID, svc); errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	hold, err := loadHold(ctx, tx, t.ID, serviceID)
	if err != nil {
		return err
	}
	expires := cmd.Time.Add(hold)
	if latest := start.Add(-svc.MinNotice); expires.After(latest) {
		expires = latest
	}
	if expires.Sub(cmd.Time) < minOfferWindow {
		return nil
	}
	var active int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM booking_bookings
		WHERE tenant = ? AND service_id = ? AND start_unix = ? AND status = 'active'`, t.ID, serviceID, start.Unix()).Scan(&active); err != nil {
		return fmt.Errorf("count slot bookings: %w", err)
	}
	held, err := heldSeats(tx, t.ID, serviceID, start.Unix())
	if err != nil {
		return err
	}
	if active+held >= svc.Capacity {
		return nil
	}
	day := start.In(t.Location()).Weekday()
	var id, email, name, fiscal, lang, link string
	err = tx.QueryRowContext(ctx, `SELECT id, email, given_name, fiscal_code, lang, link FROM booking_waitlist
		WHERE tenant = ? AND service_id = ? AND status = 'waiting' AND (days = 0 OR (days >> ?) & 1 = 1)
		ORDER BY line, id LIMIT 1`, t.ID, serviceID, int(day)).Scan(&id, &email, &name, &fiscal, &lang, &link)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("first in line of %s: %w", serviceID, err)
	}
	// An entry offered this very seat before (it lapsed or declined) is
	// not in 'waiting' any more; the primary key keeps one offer per
	// entry and start regardless.
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_waitlist_offers (tenant, entry_id, service_id, start_unix,
			expires_unix, offered_unix, status) VALUES (?, ?, ?, ?, ?, ?, 'pending')`,
		t.ID, id, serviceID, start.Unix(), expires.Unix(), cmd.Time.Unix()); err != nil {
		return fmt.Errorf("hold seat for %s: %w", id, err)
	}
	if err := setEntryStatus(tx, t.ID, id, WaitOffered, cmd.Time); err != nil {
		return err
	}
	office, err := loadOffice(ctx, tx, t.ID, svc.OfficeID)
	if err != nil {
		return err
	}
	n := WaitNotice{Kind: WaitNoticeOffer, EntryID: id, Lang: lang, Email: email, Name: name, Link: link,
		Start: start.UTC(), End: start.Add(svc.Duration).UTC(), Expires: expires.UTC()}
	n.fill(t, svc, office)
	if err := enqueueWaitNotice(tx, cmd, n); err != nil {
		return err
	}
	if fiscal != "" {
		return enqueueAppIO(tx, cmd, AppIONotice{
			Kind: AppIOOffer, Ref: id + "/" + fmt.Sprint(start.Unix()), Tenant: t.ID, TenantName: t.Name,
			TimeZone: t.TimeZone, ServiceID: svc.ID, ServiceName: svc.Name, OfficeName: office.Name,
			OfficeAddress: office.Address, FiscalCode: fiscal, Lang: lang, Start: n.Start, End: n.End,
			Due: n.Expires, Link: link,
		})
	}
	return nil
}

// applyWaitPrune forgets, for one Comune, the entries that left the line
// more than waitlistKeep before cmd.Time with their offers, and the App
// IO answers older than noProfileFor.
func applyWaitPrune(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p struct{}
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	cutoff := cmd.Time.Add(-waitlistKeep).Unix()
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_waitlist_offers WHERE tenant = ? AND status <> 'pending'
		AND entry_id IN (SELECT id FROM booking_waitlist WHERE tenant = ? AND closed_unix > 0 AND closed_unix < ?)`,
		cmd.Tenant, cmd.Tenant, cutoff); err != nil {
		return nil, fmt.Errorf("prune waiting-list offers: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_waitlist WHERE tenant = ? AND closed_unix > 0 AND closed_unix < ?`,
		cmd.Tenant, cutoff); err != nil {
		return nil, fmt.Errorf("prune waiting lists: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_appio_noprofile WHERE tenant = ? AND at_unix < ?`,
		cmd.Tenant, cmd.Time.Add(-noProfileFor).Unix()); err != nil {
		return nil, fmt.Errorf("prune App IO answers: %w", err)
	}
	return nil, nil
}

// CitizenWaitlist lists the waiting-list entries of the Comune whose
// codice fiscale equals fiscalCode or whose email equals email (either
// may be ""; case and surrounding spaces are ignored), oldest first: the
// waiting lists' part of a citizen's access request, as CitizenBookings
// is the bookings'. The entries' tokens are not part of it.
func (b *Book) CitizenWaitlist(ctx context.Context, t tenant.ID, fiscalCode, email string) ([]WaitEntry, error) {
	fiscalCode = strings.ToUpper(strings.TrimSpace(fiscalCode))
	email = strings.ToLower(strings.TrimSpace(email))
	if fiscalCode == "" && email == "" {
		return nil, nil
	}
	rows, err := b.db.QueryContext(ctx, `SELECT id FROM booking_waitlist
		WHERE tenant = ? AND ((? <> '' AND upper(fiscal_code) = ?) OR (? <> '' AND lower(email) = ?))
		ORDER BY line, id`, t, fiscalCode, fiscalCode, email, email)
	if isNoSuchTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("citizen waiting lists: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("citizen waiting lists: %w", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("citizen waiting lists: %w", err)
	}
	out := make([]WaitEntry, 0, len(ids))
	for _, id := range ids {
		e, err := b.waitEntry(ctx, b.db, t, id)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
