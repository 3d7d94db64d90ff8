package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// What the offices record of an appointment: the operator's agenda
// (booking/web agenda*.go). An appointment that is booked may be marked
// arrived (the citizen checked in), then served or no-show; the office may
// add internal notes at any time, and may cancel a booked appointment for
// the citizen with a reason, which the citizen is emailed. The
// citizen-facing state stays in booking_bookings (active or cancelled);
// the office's record lives in booking_outcomes and booking_notes (schema
// version 3), so the citizen's pages and the slot rules do not change.
//
// Lifecycle of the office's record:
//
//	booked ─arrive→ arrived ─serve→ served
//	booked ─serve→ served            (video and phone calls never "arrive")
//	booked ─no-show→ no-show ─arrive/serve→ arrived/served (the citizen came late)
//	booked ─cancel by office→ cancelled
//
// Every step names who made it (user ID and display name, stamped by the
// proposer from the session) and when (the command's time).
const (
	CmdArrive       = "booking.arrive"
	CmdServe        = "booking.serve"
	CmdNoShow       = "booking.no_show"
	CmdNoteAdd      = "booking.note.add"
	CmdOfficeCancel = "booking.office_cancel"
)

// Outcome is how an appointment ended, as the office recorded it.
type Outcome string

// The outcomes; "" is none yet.
const (
	Served Outcome = "served"
	NoShow Outcome = "no_show"
)

// Operator is who recorded a step: the back-office user's ID and the
// display name they had then.
type Operator struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Handling is what the office recorded of one booking. Zero times mean
// the step has not happened.
type Handling struct {
	ArrivedAt time.Time
	ArrivedBy Operator
	Outcome   Outcome
	OutcomeAt time.Time
	OutcomeBy Operator
	// OutcomeNote is the optional note given when marking it served.
	OutcomeNote string
	// CancelledAt is set when the office (not the citizen) cancelled it.
	CancelledAt  time.Time
	CancelledBy  Operator
	CancelReason string
}

// Note is an internal note of the office about a booking; the citizen
// never sees it.
type Note struct {
	ID   string
	At   time.Time
	By   Operator
	Text string
}

// AgendaItem is one booking as the operator's agenda shows it.
type AgendaItem struct {
	Booking     Booking
	ServiceName string
	Handling    Handling
	Notes       []Note
}

// State names where the booking is in its lifecycle, for display and
// statistics: "booked", "arrived", "served", "no_show",
// "cancelled_by_citizen" or "cancelled_by_office".
func (it AgendaItem) State() string {
	h := it.Handling
	switch {
	case it.Booking.Status == Cancelled && !h.CancelledAt.IsZero():
		return "cancelled_by_office"
	case it.Booking.Status == Cancelled:
		return "cancelled_by_citizen"
	case h.Outcome == Served:
		return "served"
	case h.Outcome == NoShow:
		return "no_show"
	case !h.ArrivedAt.IsZero():
		return "arrived"
	}
	return "booked"
}

// Errors of the office's steps. Their text is the Italian sentence shown
// to the operator as is (booking/web uses it): each says why the step is
// refused and, where there is one, what to do instead. A cancelled
// booking is refused with ErrCancelled.
var (
	ErrAlreadyArrived = errors.New("L'arrivo del cittadino è già stato registrato.")
	ErrAlreadyServed  = errors.New("L'appuntamento è già stato segnato come servito.")
	ErrAlreadyNoShow  = errors.New("Il cittadino è già stato segnato come assente.")
	ErrArrivedNoShow  = errors.New("Il cittadino risulta arrivato: non può essere segnato come assente.")
	ErrNotStarted     = errors.New("L'appuntamento non è ancora iniziato: l'assenza si segna solo dopo l'orario di inizio.")
	ErrNotToday       = errors.New("L'appuntamento non è di oggi: arrivo e servizio si registrano dal giorno dell'appuntamento.")
	ErrAlreadyOver    = errors.New("L'appuntamento è già concluso o registrato: non si può più annullare; segna invece l'esito.")
)

// outcomeErrors are the office's errors with their codes for the cluster's
// error codec.
var outcomeErrors = map[string]error{
	"booking.already_arrived": ErrAlreadyArrived, "booking.already_served": ErrAlreadyServed,
	"booking.already_no_show": ErrAlreadyNoShow, "booking.arrived_no_show": ErrArrivedNoShow,
	"booking.not_started": ErrNotStarted, "booking.not_today": ErrNotToday,
	"booking.already_over": ErrAlreadyOver,
}

// TransitionMessage returns the Italian sentence of an office step's
// refusal (one of the errors above, or ErrCancelled), and whether err is
// one.
func TransitionMessage(err error) (string, bool) {
	if errors.Is(err, ErrCancelled) {
		return "L'appuntamento è annullato: non si può più registrare un esito.", true
	}
	for _, e := range outcomeErrors {
		if errors.Is(err, e) {
			return e.Error(), true
		}
	}
	return "", false
}

// Limits of the office's texts, in characters.
const (
	MaxNote         = 2000
	MaxCancelReason = 500
	maxOperatorName = 200
)

// outcomePayload is version 1 of the office's commands. OfficeID is the
// office the proposer checked the user's grant on: apply refuses a booking
// of another office as not found, so a check made on one office can never
// act on another's booking. Text is the outcome note (serve), the note
// (note.add) or the reason (office_cancel). Comune and BaseURL feed the
// cancellation email; Comune's zone decides "the day of the appointment".
type outcomePayload struct {
	BookingID string   `json:"booking_id"`
	OfficeID  string   `json:"office_id"`
	By        Operator `json:"by"`
	Text      string   `json:"text,omitempty"`
	NoteID    string   `json:"note_id,omitempty"`
	Comune    comune   `json:"comune"`
	BaseURL   string   `json:"base_url,omitempty"`
}

// registerOutcome adds the office's commands; booking.Register calls it.
// They are registered with the package's payload version, so the cluster's
// version gate holds them back until every member knows them; their table
// comes with the booking schema's version 3.
func registerOutcome(reg *cluster.Registry) {
	for code, err := range outcomeErrors {
		reg.RegisterError(code, err)
	}
	reg.Handle(CmdArrive, payloadVersion, applyArrive)
	// Version 2 of serve and note.add carries the text sealed
	// (seal.go): a member that does not know it would refuse the
	// sealed text as control characters, so the version gate holds it
	// back until every member does.
	reg.Handle(CmdServe, sealedNoteVersion, applyServe)
	reg.Handle(CmdNoShow, payloadVersion, applyNoShow)
	reg.Handle(CmdNoteAdd, sealedNoteVersion, applyNoteAdd)
	reg.Handle(CmdOfficeCancel, payloadVersion, applyOfficeCancel)
	// The audit row names the booking and office, never the citizen nor
	// the texts (a reason or a note may hold personal data).
	describe := func(cmd cluster.Command) string {
		var p outcomePayload
		if err := cmd.Decode(&p); err != nil {
			return cmd.Type
		}
		return "booking=" + p.BookingID + " office=" + p.OfficeID
	}
	for _, typ := range []string{CmdArrive, CmdServe, CmdNoShow, CmdNoteAdd, CmdOfficeCancel} {
		reg.Describe(typ, describe)
	}
}

// checkOutcome validates the parts of a payload every step shares, and
// the text: required (notes, reasons) or not, up to max characters.
func checkOutcome(p outcomePayload, textRequired bool, max int, textField string) error {
	f := map[string]string{}
	if p.BookingID == "" || p.OfficeID == "" {
		f["booking_id"] = "Prenotazione non indicata."
	}
	if p.By.ID == "" || utf8.RuneCountInString(p.By.Name) > maxOperatorName || hasControl(p.By.Name, false) {
		f["by"] = "Operatore non indicato."
	}
	switch {
	case textRequired && strings.TrimSpace(p.Text) == "":
		if textField == "reason" {
			f[textField] = "Indica il motivo dell'annullamento: lo riceverà il cittadino."
		} else {
			f[textField] = "Scrivi il testo della nota."
		}
	case utf8.RuneCountInString(p.Text) > max:
		f[textField] = fmt.Sprintf("Il testo è troppo lungo: al massimo %d caratteri.", max)
	case hasControl(p.Text, true):
		f[textField] = "Il testo contiene caratteri non ammessi."
	}
	return fieldsErr(f)
}

// loadForOffice returns the booking of the payload and its handling,
// refusing (ErrNotFound) a booking of another office than the one the
// proposer checked.
func loadForOffice(tx *sql.Tx, t tenant.ID, p outcomePayload) (storedBooking, Handling, error) {
	ctx := context.Background()
	b, err := loadBookingByID(ctx, tx, t, p.BookingID)
	if err != nil {
		return storedBooking{}, Handling{}, err
	}
	if b.OfficeID != p.OfficeID {
		return storedBooking{}, Handling{}, fmt.Errorf("booking id %q in office %q: %w", p.BookingID, p.OfficeID, ErrNotFound)
	}
	h, err := loadHandling(ctx, tx, t, b.ID)
	if err != nil {
		return storedBooking{}, Handling{}, err
	}
	return b, h, nil
}

// decodeOutcome decodes and checks a step's payload and loads its booking.
// From version 2 (serve and note.add) the text may be sealed: the
// proposer checked it in the clear, apply can only bound its size.
func decodeOutcome(tx *sql.Tx, cmd cluster.Command, textRequired bool, max int, textField string) (outcomePayload, storedBooking, Handling, error) {
	var p outcomePayload
	maxVersion := payloadVersion
	if cmd.Type == CmdServe || cmd.Type == CmdNoteAdd {
		maxVersion = sealedNoteVersion
	}
	if err := decodeUpTo(cmd, maxVersion, &p); err != nil {
		return p, storedBooking{}, Handling{}, err
	}
	checked := p
	if cmd.Version >= sealedNoteVersion && isSealedText(p.Text) {
		if len(p.Text) > sealedTextMax(max) {
			return p, storedBooking{}, Handling{}, fieldsErr(map[string]string{textField: fmt.Sprintf("Il testo è troppo lungo: al massimo %d caratteri.", max)})
		}
		checked.Text = "sealed"
	}
	if err := checkOutcome(checked, textRequired, max, textField); err != nil {
		return p, storedBooking{}, Handling{}, err
	}
	b, h, err := loadForOffice(tx, tenant.ID(cmd.Tenant), p)
	return p, b, h, err
}

// dayStarted reports whether now is on or after the first instant of the
// appointment's day in the Comune's zone.
func dayStarted(c comune, b Booking, now time.Time) bool {
	loc := c.tenant("").Location()
	first, _ := wallTime(civil.DateOf(b.Start.In(loc)), 0, loc)
	return !now.Before(first)
}

// upsertHandling writes the given columns of the booking's row in
// booking_outcomes, creating it when missing.
func upsertHandling(tx *sql.Tx, cmd cluster.Command, b storedBooking, set map[string]any) error {
	cols := []string{"tenant", "booking_id", "office_id"}
	args := []any{cmd.Tenant, b.ID, b.OfficeID}
	var updates []string
	// The columns are named by this file only, in a fixed order so the
	// statement text is the same on every node.
	for _, c := range handlingColumnsOrder {
		v, ok := set[c]
		if !ok {
			continue
		}
		cols = append(cols, c)
		args = append(args, v)
		updates = append(updates, c+" = excluded."+c)
	}
	q := `INSERT INTO booking_outcomes (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) +
		`) ON CONFLICT (tenant, booking_id) DO UPDATE SET ` + strings.Join(updates, ", ")
	if _, err := tx.ExecContext(context.Background(), q, args...); err != nil {
		return fmt.Errorf("%s %s: %w", cmd.Type, b.Code, err)
	}
	return nil
}

var handlingColumnsOrder = []string{
	"arrived_unix", "arrived_by", "arrived_by_name",
	"outcome", "outcome_unix", "outcome_by", "outcome_by_name", "outcome_note",
	"cancelled_unix", "cancelled_by", "cancelled_by_name", "cancel_reason",
}

func applyArrive(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, b, h, err := decodeOutcome(tx, cmd, false, 0, "text")
	if err != nil {
		return nil, err
	}
	switch {
	case b.Status == Cancelled:
		return nil, fmt.Errorf("arrive %s: %w", b.Code, ErrCancelled)
	case h.Outcome == Served:
		return nil, fmt.Errorf("arrive %s: %w", b.Code, ErrAlreadyServed)
	case !h.ArrivedAt.IsZero():
		return nil, fmt.Errorf("arrive %s: %w", b.Code, ErrAlreadyArrived)
	case !dayStarted(p.Comune, b.Booking, cmd.Time):
		return nil, fmt.Errorf("arrive %s: %w", b.Code, ErrNotToday)
	}
	set := map[string]any{"arrived_unix": cmd.Time.Unix(), "arrived_by": p.By.ID, "arrived_by_name": p.By.Name}
	if h.Outcome == NoShow {
		// The citizen came after being marked absent: the arrival
		// corrects the no-show.
		set["outcome"], set["outcome_unix"], set["outcome_by"], set["outcome_by_name"] = "", int64(0), "", ""
	}
	if err := upsertHandling(tx, cmd, b, set); err != nil {
		return nil, err
	}
	return b.ID, nil
}

func applyServe(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, b, h, err := decodeOutcome(tx, cmd, false, MaxNote, "note")
	if err != nil {
		return nil, err
	}
	switch {
	case b.Status == Cancelled:
		return nil, fmt.Errorf("serve %s: %w", b.Code, ErrCancelled)
	case h.Outcome == Served:
		return nil, fmt.Errorf("serve %s: %w", b.Code, ErrAlreadyServed)
	case !dayStarted(p.Comune, b.Booking, cmd.Time):
		return nil, fmt.Errorf("serve %s: %w", b.Code, ErrNotToday)
	}
	set := map[string]any{
		"outcome": string(Served), "outcome_unix": cmd.Time.Unix(), "outcome_by": p.By.ID,
		"outcome_by_name": p.By.Name, "outcome_note": strings.TrimSpace(p.Text),
	}
	if err := upsertHandling(tx, cmd, b, set); err != nil {
		return nil, err
	}
	return b.ID, nil
}

func applyNoShow(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, b, h, err := decodeOutcome(tx, cmd, false, 0, "text")
	if err != nil {
		return nil, err
	}
	switch {
	case b.Status == Cancelled:
		return nil, fmt.Errorf("no-show %s: %w", b.Code, ErrCancelled)
	case h.Outcome == Served:
		return nil, fmt.Errorf("no-show %s: %w", b.Code, ErrAlreadyServed)
	case h.Outcome == NoShow:
		return nil, fmt.Errorf("no-show %s: %w", b.Code, ErrAlreadyNoShow)
	case !h.ArrivedAt.IsZero():
		return nil, fmt.Errorf("no-show %s: %w", b.Code, ErrArrivedNoShow)
	case cmd.Time.Before(b.Start):
		return nil, fmt.Errorf("no-show %s: %w", b.Code, ErrNotStarted)
	}
	set := map[string]any{"outcome": string(NoShow), "outcome_unix": cmd.Time.Unix(), "outcome_by": p.By.ID, "outcome_by_name": p.By.Name}
	if err := upsertHandling(tx, cmd, b, set); err != nil {
		return nil, err
	}
	return b.ID, nil
}

func applyNoteAdd(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, b, _, err := decodeOutcome(tx, cmd, true, MaxNote, "note")
	if err != nil {
		return nil, err
	}
	if !ValidID(p.NoteID) {
		return nil, fmt.Errorf("%s: payload lacks the note ID", cmd.Type)
	}
	if _, err := tx.ExecContext(context.Background(), `INSERT INTO booking_notes (tenant, booking_id, id, at_unix, by_user, by_name, body)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, cmd.Tenant, b.ID, p.NoteID, cmd.Time.Unix(), p.By.ID, p.By.Name, strings.TrimSpace(p.Text)); err != nil {
		return nil, fmt.Errorf("add note to %s: %w", b.Code, err)
	}
	return p.NoteID, nil
}

func applyOfficeCancel(tx *sql.Tx, cmd cluster.Command) (any, error) {
	p, b, h, err := decodeOutcome(tx, cmd, true, MaxCancelReason, "reason")
	if err != nil {
		return nil, err
	}
	switch {
	case b.Status == Cancelled:
		return nil, fmt.Errorf("office cancel %s: %w", b.Code, ErrCancelled)
	case h.Outcome != "" || !h.ArrivedAt.IsZero() || !cmd.Time.Before(b.End):
		// Once the citizen is there, or the appointment is over, the
		// office records what happened instead.
		return nil, fmt.Errorf("office cancel %s: %w", b.Code, ErrAlreadyOver)
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	svc, err := loadService(ctx, tx, t.ID, b.ServiceID)
	if err != nil {
		return nil, err
	}
	office, err := loadOffice(ctx, tx, t.ID, b.OfficeID)
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(p.Text)
	b.Status = Cancelled
	b.Sequence++
	b.Updated = cmd.Time.UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE booking_bookings SET status = ?, sequence = ?, updated = ?
		WHERE tenant = ? AND id = ?`, b.Status, b.Sequence, formatTime(b.Updated), t.ID, b.ID); err != nil {
		return nil, fmt.Errorf("office cancel %s: %w", b.Code, err)
	}
	if err := forgetReminderState(tx, t.ID, b.ID); err != nil {
		return nil, err
	}
	set := map[string]any{"cancelled_unix": cmd.Time.Unix(), "cancelled_by": p.By.ID, "cancelled_by_name": p.By.Name, "cancel_reason": reason}
	if err := upsertHandling(tx, cmd, b, set); err != nil {
		return nil, err
	}
	n := newNotice(NoticeCancel, t, b.Booking, svc, office, p.BaseURL, "")
	n.Reason = reason
	if err := enqueueNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	// The freed seat goes to the waiting list first (waitlist.go).
	if err := offerFreedSeat(tx, cmd, p.Comune, svc.ID, b.Start); err != nil {
		return nil, err
	}
	return Applied{ID: b.ID, Code: b.Code, Sequence: b.Sequence}, nil
}

// Arrive records that the citizen of the booking has arrived. officeID is
// the office on which the caller checked the user's grant: a booking of
// another office is ErrNotFound.
func (b *Book) Arrive(ctx context.Context, t tenant.Tenant, officeID, bookingID string, by Operator) (Written, error) {
	return b.proposeOutcome(ctx, CmdArrive, t, outcomePayload{BookingID: bookingID, OfficeID: officeID, By: by})
}

// Serve records that the booking was served, with an optional note.
func (b *Book) Serve(ctx context.Context, t tenant.Tenant, officeID, bookingID string, by Operator, note string) (Written, error) {
	return b.proposeOutcome(ctx, CmdServe, t, outcomePayload{BookingID: bookingID, OfficeID: officeID, By: by, Text: strings.TrimSpace(note)})
}

// NoShow records that the citizen did not come; only after the start.
func (b *Book) NoShow(ctx context.Context, t tenant.Tenant, officeID, bookingID string, by Operator) (Written, error) {
	return b.proposeOutcome(ctx, CmdNoShow, t, outcomePayload{BookingID: bookingID, OfficeID: officeID, By: by})
}

// AddNote adds an internal note to the booking.
func (b *Book) AddNote(ctx context.Context, t tenant.Tenant, officeID, bookingID string, by Operator, text string) (Written, error) {
	id, err := b.newID()
	if err != nil {
		return Written{}, err
	}
	return b.proposeOutcome(ctx, CmdNoteAdd, t, outcomePayload{BookingID: bookingID, OfficeID: officeID, By: by, Text: strings.TrimSpace(text), NoteID: id})
}

// CancelByOffice cancels a booked appointment for the citizen: the slot
// frees and the citizen is emailed the reason. baseURL is where the
// email's links point.
func (b *Book) CancelByOffice(ctx context.Context, t tenant.Tenant, officeID, bookingID string, by Operator, reason, baseURL string) (Written, error) {
	return b.proposeOutcome(ctx, CmdOfficeCancel, t, outcomePayload{
		BookingID: bookingID, OfficeID: officeID, By: by, Text: strings.TrimSpace(reason), BaseURL: trimBase(baseURL),
	})
}

// proposeOutcome checks the payload (the same check apply makes, so bad
// input is answered with field messages before anything is proposed) and
// proposes it.
func (b *Book) proposeOutcome(ctx context.Context, typ string, t tenant.Tenant, p outcomePayload) (Written, error) {
	p.Comune = comuneOf(t)
	var err error
	switch typ {
	case CmdServe:
		err = checkOutcome(p, false, MaxNote, "note")
	case CmdNoteAdd:
		err = checkOutcome(p, true, MaxNote, "note")
	case CmdOfficeCancel:
		err = checkOutcome(p, true, MaxCancelReason, "reason")
	default:
		err = checkOutcome(p, false, 0, "text")
	}
	if err != nil {
		return Written{}, err
	}
	res, err := b.proposeNote(ctx, typ, t.ID, p)
	if err != nil {
		return Written{}, fmt.Errorf("%s %s: %w", typ, p.BookingID, err)
	}
	return Written{ID: p.BookingID, Index: res.Index}, nil
}

// sealedNoteVersion is the payload version of serve and note.add whose
// text may be sealed.
const sealedNoteVersion = 2

// proposeNote proposes an office's step, with its note sealed when the
// Book seals fields (serve's outcome note, note.add's note; the reason of
// a cancellation is emailed to the citizen by apply and stays clear).
// While some member does not know version 2 (a rolling upgrade) the note
// goes in the clear rather than not at all, as before sealing.
func (b *Book) proposeNote(ctx context.Context, typ string, t tenant.ID, p outcomePayload) (cluster.Result, error) {
	var aad string
	switch typ {
	case CmdServe:
		aad = outcomeNoteAAD(p.BookingID)
	case CmdNoteAdd:
		aad = noteAAD(p.BookingID, p.NoteID)
	}
	if aad == "" || p.Text == "" || b.fieldSealer() == nil {
		return b.propose(ctx, typ, t, p)
	}
	plain := p.Text
	var err error
	if p.Text, err = b.sealText(ctx, t, aad, plain); err != nil {
		return cluster.Result{}, fmt.Errorf("seal note: %w", err)
	}
	cmd, err := cluster.NewCommand(typ, sealedNoteVersion, string(t), p)
	if err != nil {
		return cluster.Result{}, err
	}
	res, err := b.p.Propose(ctx, cmd)
	if errors.Is(err, cluster.ErrNotSupportedByCluster) {
		p.Text = plain
		return b.propose(ctx, typ, t, p)
	}
	return res, err
}

// AgendaItem returns one booking of the Comune with the office's record
// of it: what the agenda's forms check before acting (the office of the
// booking, against the user's grant).
func (b *Book) AgendaItem(ctx context.Context, t tenant.Tenant, bookingID string) (AgendaItem, error) {
	bk, err := loadBookingByID(ctx, b.db, t.ID, bookingID)
	if err != nil {
		return AgendaItem{}, err
	}
	items, err := b.agendaItems(ctx, t, []Booking{bk.Booking})
	if err != nil {
		return AgendaItem{}, err
	}
	return items[0], nil
}

// Agenda lists the bookings of an office on a day (in the Comune's zone),
// active and cancelled, by start, with the office's record and notes.
// Times are in the Comune's zone.
func (b *Book) Agenda(ctx context.Context, t tenant.Tenant, officeID string, day civil.Date) ([]AgendaItem, error) {
	if officeID == "" {
		return nil, fmt.Errorf("agenda: office required: %w", ErrNotFound)
	}
	loc := t.Location()
	lo, _ := wallTime(day, 0, loc)
	hi, _ := wallTime(day.AddDays(1), 0, loc)
	bks, err := b.Bookings(ctx, t.ID, officeID, lo, hi)
	if err != nil {
		return nil, err
	}
	return b.agendaItems(ctx, t, bks)
}

// agendaItems adds to bookings their service names, handling and notes.
func (b *Book) agendaItems(ctx context.Context, t tenant.Tenant, bks []Booking) ([]AgendaItem, error) {
	loc := t.Location()
	names := map[string]string{}
	out := make([]AgendaItem, 0, len(bks))
	for _, bk := range bks {
		name, ok := names[bk.ServiceID]
		if !ok {
			svc, err := loadService(ctx, b.db, t.ID, bk.ServiceID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			name = svc.Name
			names[bk.ServiceID] = name
		}
		h, err := loadHandling(ctx, b.db, t.ID, bk.ID)
		if err != nil {
			return nil, err
		}
		notes, err := loadNotes(ctx, b.db, t.ID, bk.ID, loc)
		if err != nil {
			return nil, err
		}
		h.ArrivedAt, h.OutcomeAt, h.CancelledAt = inLoc(h.ArrivedAt, loc), inLoc(h.OutcomeAt, loc), inLoc(h.CancelledAt, loc)
		// Every reader of the agenda (the day, a search, a citizen's
		// export) gets the sealed texts in the clear (seal.go).
		b.openBooking(ctx, t.ID, &bk)
		b.openHandling(ctx, t.ID, bk.ID, &h, notes)
		out = append(out, AgendaItem{Booking: inZone(bk, loc), ServiceName: name, Handling: h, Notes: notes})
	}
	return out, nil
}

// inLoc returns t in loc, keeping the zero time zero.
func inLoc(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(loc)
}

// unixOrZero turns stored Unix seconds into a time, 0 into the zero time.
func unixOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// loadHandling returns the office's record of a booking; a booking the
// office has not acted on, or a schema before version 3, has none.
func loadHandling(ctx context.Context, q querier, t tenant.ID, bookingID string) (Handling, error) {
	var h Handling
	var arrived, outcomeAt, cancelled int64
	var outcome string
	err := q.QueryRowContext(ctx, `SELECT arrived_unix, arrived_by, arrived_by_name, outcome, outcome_unix,
			outcome_by, outcome_by_name, outcome_note, cancelled_unix, cancelled_by, cancelled_by_name, cancel_reason
		FROM booking_outcomes WHERE tenant = ? AND booking_id = ?`, t, bookingID).Scan(
		&arrived, &h.ArrivedBy.ID, &h.ArrivedBy.Name, &outcome, &outcomeAt, &h.OutcomeBy.ID, &h.OutcomeBy.Name,
		&h.OutcomeNote, &cancelled, &h.CancelledBy.ID, &h.CancelledBy.Name, &h.CancelReason)
	switch {
	case errors.Is(err, sql.ErrNoRows), isNoSuchTable(err):
		return Handling{}, nil
	case err != nil:
		return Handling{}, fmt.Errorf("load handling of %q: %w", bookingID, err)
	}
	h.Outcome = Outcome(outcome)
	h.ArrivedAt, h.OutcomeAt, h.CancelledAt = unixOrZero(arrived), unixOrZero(outcomeAt), unixOrZero(cancelled)
	return h, nil
}

// loadNotes returns the notes of a booking, oldest first.
func loadNotes(ctx context.Context, q querier, t tenant.ID, bookingID string, loc *time.Location) ([]Note, error) {
	notes, err := collect(ctx, q, "load notes", func(sc interface{ Scan(...any) error }) (Note, error) {
		var n Note
		var at int64
		if err := sc.Scan(&n.ID, &at, &n.By.ID, &n.By.Name, &n.Text); err != nil {
			return Note{}, fmt.Errorf("scan note: %w", err)
		}
		n.At = time.Unix(at, 0).In(loc)
		return n, nil
	}, `SELECT id, at_unix, by_user, by_name, body FROM booking_notes
		WHERE tenant = ? AND booking_id = ? ORDER BY at_unix, id`, t, bookingID)
	if isNoSuchTable(err) {
		return nil, nil
	}
	return notes, err
}
