package booking

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Commands of fair access (issue 11).
const (
	CmdFairSave    = "booking.fair.save"
	CmdFairAdmit   = "booking.fair.admit"
	CmdFairConfirm = "booking.fair.confirm"
	CmdFairRelease = "booking.fair.release"
	CmdFairRemind  = "booking.fair.remind"
	CmdFairPrune   = "booking.fair.prune"
)

// Errors of fair access.
var (
	// ErrEmailCap and ErrPhoneCap: the email or phone already holds the
	// service's maximum of active bookings.
	ErrEmailCap = errors.New("email already holds the most active bookings of this service")
	ErrPhoneCap = errors.New("phone already holds the most active bookings of this service")
	// ErrNotReleased: the slot's day is not yet published (staggered
	// release).
	ErrNotReleased = errors.New("slot not yet released")
	// ErrProofRequired: the service asks a proof of work and the booking
	// came without an admission.
	ErrProofRequired = errors.New("proof of work required")
	// ErrProofReused: the proof-of-work challenge already opened a booking.
	ErrProofReused = errors.New("proof of work already used")
	// ErrConfirmNotOpen and ErrConfirmClosed: a confirmation before or
	// after its window.
	ErrConfirmNotOpen = errors.New("confirmation window not open yet")
	ErrConfirmClosed  = errors.New("confirmation window closed")
)

const (
	// MaxProofBits is the most a service may ask (about 20 s on a
	// laptop's core; a phone is slower).
	MaxProofBits = 24
	// maxReleaseDays bounds the staggered release's days ahead.
	maxReleaseDays = 366
	// fairNetRetention is how long the salted hash of a booking's network
	// is kept: long enough for the report's window, no longer.
	fairNetRetention = 30 * 24 * time.Hour
	// admitTTL is how long an admission waits for its booking.
	admitTTL = time.Hour
)

// FairSettings are a service's fair-access settings; the zero value turns
// every one off.
type FairSettings struct {
	// MaxActivePerEmail and MaxActivePerPhone cap the active future
	// bookings of the service per email address and per phone number; 0
	// means no cap. The cap per codice fiscale is Service.MaxActivePerCitizen.
	MaxActivePerEmail int `json:"max_active_per_email,omitempty"`
	MaxActivePerPhone int `json:"max_active_per_phone,omitempty"`
	// ProofOfWork is the difficulty in bits of the proof of work a booking
	// must carry; 0 means none.
	ProofOfWork int `json:"proof_of_work,omitempty"`
	// ConfirmBy, when not 0, is confirm-to-keep: an appointment not
	// confirmed by start − ConfirmBy is released. ConfirmFrom is when
	// the confirmation window opens (start − ConfirmFrom); a booking made
	// or moved after that needs no confirmation.
	ConfirmFrom time.Duration `json:"confirm_from,omitempty"`
	ConfirmBy   time.Duration `json:"confirm_by,omitempty"`
	// ReleaseDaysAhead, when not 0, is staggered release: the slots of a
	// day are published ReleaseDaysAhead days before it, at ReleaseAt
	// (minutes from midnight, Comune's zone).
	ReleaseDaysAhead int `json:"release_days_ahead,omitempty"`
	ReleaseAt        int `json:"release_at,omitempty"`
}

// CheckFair returns the invalid settings as Italian field messages, keyed
// by the form's field names.
func CheckFair(s FairSettings) error {
	f := map[string]string{}
	if s.MaxActivePerEmail < 0 || s.MaxActivePerEmail > 100 {
		f["max_active_per_email"] = "Il massimo per indirizzo email va da 0 (nessun limite) a 100."
	}
	if s.MaxActivePerPhone < 0 || s.MaxActivePerPhone > 100 {
		f["max_active_per_phone"] = "Il massimo per numero di telefono va da 0 (nessun limite) a 100."
	}
	if s.ProofOfWork < 0 || s.ProofOfWork > MaxProofBits {
		f["proof_of_work"] = fmt.Sprintf("La difficoltà della verifica anti-abuso va da 0 (spenta) a %d.", MaxProofBits)
	}
	switch {
	case s.ConfirmBy < 0 || s.ConfirmFrom < 0:
		f["confirm_by"] = "Le ore della conferma non possono essere negative."
	case s.ConfirmBy > 0 && s.ConfirmFrom <= s.ConfirmBy:
		f["confirm_from"] = "La conferma deve aprirsi prima della scadenza: indica più ore di quelle della scadenza."
	case s.ConfirmFrom > 30*24*time.Hour:
		f["confirm_from"] = "La conferma può aprirsi al massimo 30 giorni (720 ore) prima."
	}
	if s.ReleaseDaysAhead < 0 || s.ReleaseDaysAhead > maxReleaseDays {
		f["release_days_ahead"] = fmt.Sprintf("I giorni di anticipo della pubblicazione vanno da 0 (tutto subito) a %d.", maxReleaseDays)
	}
	if s.ReleaseAt < 0 || s.ReleaseAt >= minutesPerDay {
		f["release_at"] = "L'ora di pubblicazione non è valida."
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// fairSavePayload is version 1 of booking.fair.save.
type fairSavePayload struct {
	ServiceID string       `json:"service_id"`
	Settings  FairSettings `json:"settings"`
}

// admitPayload is version 1 of booking.fair.admit. The proposer checked
// the proof (its HMAC, difficulty, expiry and hash) and stamps its SHA-256;
// apply only decides "first use".
type admitPayload struct {
	ServiceID string `json:"service_id"`
	BookingID string `json:"booking_id"`
	ProofHash string `json:"proof_hash,omitempty"`
	Bits      int    `json:"bits,omitempty"`
	Expires   int64  `json:"expires,omitempty"`
	Net       string `json:"net,omitempty"`
}

// Admission is what the web layer checked before a booking: the proof of
// work (its challenge's SHA-256, hex, and difficulty) and the salted hash
// of the client's network. The zero value is no admission.
type Admission struct {
	ProofHash string
	Bits      int
	// Expires is the challenge's expiry: the used-set keeps it until then.
	Expires time.Time
	// Net is the salted hash of the client's /24 (IPv4) or /48 (IPv6).
	Net string
}

func registerFair(reg *cluster.Registry) {
	for code, err := range map[string]error{
		"booking.email_cap": ErrEmailCap, "booking.phone_cap": ErrPhoneCap,
		"booking.not_released": ErrNotReleased, "booking.proof_required": ErrProofRequired,
		"booking.proof_reused": ErrProofReused, "booking.confirm_not_open": ErrConfirmNotOpen,
		"booking.confirm_closed": ErrConfirmClosed,
	} {
		reg.RegisterError(code, err)
	}
	reg.Handle(CmdFairSave, payloadVersion, applyFairSave)
	reg.Handle(CmdFairAdmit, payloadVersion, applyFairAdmit)
	reg.Handle(CmdFairConfirm, payloadVersion, applyFairConfirm)
	reg.Handle(CmdFairRelease, payloadVersion, applyFairRelease)
	reg.Handle(CmdFairRemind, payloadVersion, applyFairRemind)
	reg.Handle(CmdFairPrune, payloadVersion, applyFairPrune)
	reg.ShareEntries(CmdFairAdmit, CmdFairConfirm)
	reg.HandleResult(CmdFairRelease, func(raw json.RawMessage) (any, error) { return decodeRelease(raw) })
	reg.Describe(CmdFairSave, func(cmd cluster.Command) string {
		var p struct {
			ServiceID string `json:"service_id"`
		}
		if idsOf(cmd, &p) != nil {
			return ""
		}
		return summary("service", p.ServiceID)
	})
}

// isNoFairTable reports whether err is SQLite's answer before schema
// version 7: then no service has fair-access settings.
func isNoFairTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table: booking_fair_")
}

func applyFairSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p fairSavePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if err := CheckFair(p.Settings); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if _, err := loadService(ctx, tx, tenant.ID(cmd.Tenant), p.ServiceID); err != nil {
		return nil, err
	}
	s := p.Settings
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_fair_settings (tenant, service_id, max_per_email,
			max_per_phone, proof_bits, confirm_from_s, confirm_by_s, release_days, release_min)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, service_id) DO UPDATE SET max_per_email = excluded.max_per_email,
			max_per_phone = excluded.max_per_phone, proof_bits = excluded.proof_bits,
			confirm_from_s = excluded.confirm_from_s, confirm_by_s = excluded.confirm_by_s,
			release_days = excluded.release_days, release_min = excluded.release_min`,
		cmd.Tenant, p.ServiceID, s.MaxActivePerEmail, s.MaxActivePerPhone, s.ProofOfWork,
		int64(s.ConfirmFrom/time.Second), int64(s.ConfirmBy/time.Second), s.ReleaseDaysAhead, s.ReleaseAt); err != nil {
		return nil, fmt.Errorf("save fair settings of %q: %w", p.ServiceID, err)
	}
	if err := fillContacts(tx, cmd, p.ServiceID, s); err != nil {
		return nil, err
	}
	return p.ServiceID, nil
}

// fillContacts files the email and the phone that the caps of s compare
// for the active bookings of service that are still to come, where
// booking.create left them out because the service had no such cap then
// (createLeanContactsVersion), so that a cap counts the bookings made
// before it. Other values stay as filed. Only such bookings have an empty
// value beside a booking that has one, and only members that know that
// version apply them, so every member makes the same change: on a member
// of an older version there is nothing to fill.
func fillContacts(tx *sql.Tx, cmd cluster.Command, service string, s FairSettings) error {
	if s.MaxActivePerEmail == 0 && s.MaxActivePerPhone == 0 {
		return nil
	}
	ctx := context.Background()
	rows, err := tx.QueryContext(ctx, `SELECT b.id, b.email, b.phone, c.email, c.phone
		FROM booking_bookings b JOIN booking_fair_contacts c ON c.tenant = b.tenant AND c.booking_id = b.id
		WHERE b.tenant = ? AND b.service_id = ? AND b.status = 'active' AND b.start_unix > ?
		ORDER BY b.id`, cmd.Tenant, service, cmd.Time.Unix())
	if err != nil {
		return fmt.Errorf("contacts of %q: %w", service, err)
	}
	type fill struct{ id, email, phone string }
	var fills []fill
	for rows.Next() {
		var id, email, phone, filedEmail, filedPhone string
		if err := rows.Scan(&id, &email, &phone, &filedEmail, &filedPhone); err != nil {
			rows.Close()
			return fmt.Errorf("contacts of %q: %w", service, err)
		}
		f := fill{id, filedEmail, filedPhone}
		if s.MaxActivePerEmail > 0 && f.email == "" {
			f.email = NormalizeEmail(email)
		}
		if s.MaxActivePerPhone > 0 && f.phone == "" {
			f.phone = NormalizePhone(phone)
		}
		if f.email != filedEmail || f.phone != filedPhone {
			fills = append(fills, f)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("contacts of %q: %w", service, err)
	}
	for _, f := range fills {
		if _, err := tx.ExecContext(ctx, `UPDATE booking_fair_contacts SET email = ?, phone = ?
			WHERE tenant = ? AND booking_id = ?`, f.email, f.phone, cmd.Tenant, f.id); err != nil {
			return fmt.Errorf("fill contacts of %s: %w", f.id, err)
		}
	}
	return nil
}

// fairCountQuery counts a service's active bookings still to come whose
// filed contact col ("email" or "phone") is the given value. It names the
// condition of the column's partial index (schema 10 for the email; the
// phone's since schema 7): without it SQLite does not use a partial index
// and reads every contact row of the Comune. The value compared is never
// empty, so the term changes no count, before the migration either.
func fairCountQuery(col string) string {
	return `SELECT count(*) FROM booking_fair_contacts c
		JOIN booking_bookings b ON b.tenant = c.tenant AND b.id = c.booking_id
		WHERE c.tenant = ? AND c.service_id = ? AND c.` + col + ` = ? AND c.` + col + ` <> ''
		AND b.status = 'active' AND b.start_unix > ?`
}

// loadFair returns the fair-access settings of a service; none before
// schema version 7 or when never saved.
func loadFair(ctx context.Context, q querier, t tenant.ID, serviceID string) (FairSettings, error) {
	var s FairSettings
	var from, by int64
	err := q.QueryRowContext(ctx, `SELECT max_per_email, max_per_phone, proof_bits, confirm_from_s, confirm_by_s,
			release_days, release_min FROM booking_fair_settings WHERE tenant = ? AND service_id = ?`, t, serviceID).
		Scan(&s.MaxActivePerEmail, &s.MaxActivePerPhone, &s.ProofOfWork, &from, &by, &s.ReleaseDaysAhead, &s.ReleaseAt)
	if errors.Is(err, sql.ErrNoRows) || isNoFairTable(err) {
		return FairSettings{}, nil
	}
	if err != nil {
		return FairSettings{}, fmt.Errorf("load fair settings of %q: %w", serviceID, err)
	}
	s.ConfirmFrom, s.ConfirmBy = time.Duration(from)*time.Second, time.Duration(by)*time.Second
	return s, nil
}

// FairSettings returns the fair-access settings of a service.
func (b *Book) FairSettings(ctx context.Context, t tenant.ID, serviceID string) (FairSettings, error) {
	if _, err := loadService(ctx, b.db, t, serviceID); err != nil {
		return FairSettings{}, err
	}
	return loadFair(ctx, b.db, t, serviceID)
}

// SaveFairSettings saves the fair-access settings of a service and returns
// the log index of the change.
func (b *Book) SaveFairSettings(ctx context.Context, t tenant.ID, serviceID string, s FairSettings) (uint64, error) {
	if err := CheckFair(s); err != nil {
		return 0, err
	}
	res, err := b.propose(ctx, CmdFairSave, t, fairSavePayload{ServiceID: serviceID, Settings: s})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// releasedFrom returns the instant the slots of day d are published under
// s, and false when s publishes everything at once.
func (s FairSettings) releasedFrom(d civil.Date, loc *time.Location) (time.Time, bool) {
	if s.ReleaseDaysAhead <= 0 {
		return time.Time{}, false
	}
	at, _ := wallTime(d.AddDays(-s.ReleaseDaysAhead), s.ReleaseAt, loc)
	return at, true
}

// released reports whether the slot starting at start is published at now.
func (s FairSettings) released(start, now time.Time, loc *time.Location) bool {
	at, ok := s.releasedFrom(civil.DateOf(start.In(loc)), loc)
	return !ok || !now.Before(at)
}

// NormalizeEmail is the form of an address the email cap compares: trimmed
// and lower case (the local part is case-sensitive in theory, never in
// practice, and a scalper would exploit the difference).
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizePhone is the form of a number the phone cap compares: its
// digits, without an Italian +39/0039 prefix, so that "+39 080 1234567"
// and "0801234567" are one phone.
func NormalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "0039") && len(d) > 8:
		d = d[4:]
	case strings.HasPrefix(strings.TrimSpace(s), "+39") && strings.HasPrefix(d, "39"):
		d = d[2:]
	}
	return d
}

// checkFairCreate runs, inside booking.create's apply, the rules of fair
// access against the transaction and cmd.Time only: the slot is released,
// the admission required by a proof of work is there, the email and phone
// caps hold. It then files the booking's contacts for later caps and the
// report, consuming the admission. known is the service's settings when
// the caller already read them from the transaction, nil to read them
// here.
func checkFairCreate(tx *sql.Tx, cmd cluster.Command, t tenant.Tenant, svc Service, known *FairSettings, id string, start time.Time, c Citizen, payloadNet string) error {
	ctx := context.Background()
	var s FairSettings
	var err error
	if known != nil {
		s = *known
	} else if s, err = loadFair(ctx, tx, t.ID, svc.ID); err != nil {
		return err
	}
	if !s.released(start, cmd.Time, t.Location()) {
		return fmt.Errorf("slot %s: %w", start.UTC().Format(time.RFC3339), ErrNotReleased)
	}
	// Only a service that asks a proof has admissions to read: the others'
	// bookings bring their network in their own command (an admission
	// left behind when a service stops asking is pruned with the others).
	bits, net := 0, payloadNet
	if s.ProofOfWork > 0 {
		err = tx.QueryRowContext(ctx, `SELECT bits, net FROM booking_fair_admits WHERE tenant = ? AND booking_id = ? AND service_id = ?`,
			t.ID, id, svc.ID).Scan(&bits, &net)
		switch {
		case isNoFairTable(err):
			return nil
		case errors.Is(err, sql.ErrNoRows):
			bits, net = 0, payloadNet
		case err != nil:
			return fmt.Errorf("read admission of %s: %w", id, err)
		}
		if bits < s.ProofOfWork {
			return fmt.Errorf("service %q: %w", svc.ID, ErrProofRequired)
		}
	}
	email, phone := NormalizeEmail(c.Email), NormalizePhone(c.Phone)
	count := func(col, v string) (int, error) {
		var n int
		err := tx.QueryRowContext(ctx, fairCountQuery(col), t.ID, svc.ID, v, cmd.Time.Unix()).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("count bookings by %s: %w", col, err)
		}
		return n, nil
	}
	if s.MaxActivePerEmail > 0 && email != "" {
		n, err := count("email", email)
		if err != nil {
			return err
		}
		if n >= s.MaxActivePerEmail {
			return fmt.Errorf("service %q: %w", svc.ID, ErrEmailCap)
		}
	}
	if s.MaxActivePerPhone > 0 && phone != "" {
		n, err := count("phone", phone)
		if err != nil {
			return err
		}
		if n >= s.MaxActivePerPhone {
			return fmt.Errorf("service %q: %w", svc.ID, ErrPhoneCap)
		}
	}
	if cmd.Type == CmdCreate && cmd.Version >= createLeanContactsVersion {
		// Only what a cap compares goes in: each of the table's indexes
		// on email and phone takes a booking's value on a leaf page of
		// its own (the values are random), on every node, while an
		// empty value is left out of both (they are partial, schema 10).
		// A cap set later fills them in (fillContacts); the report
		// reads the booking's own (FairReport).
		if s.MaxActivePerEmail == 0 {
			email = ""
		}
		if s.MaxActivePerPhone == 0 {
			phone = ""
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_fair_contacts (tenant, booking_id, service_id, email, phone, net, created_unix)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, id, svc.ID, email, phone, net, cmd.Time.Unix()); err != nil {
		if isNoFairTable(err) {
			return nil // a rolling upgrade: the tables come with schema 7
		}
		return fmt.Errorf("file contacts of %s: %w", id, err)
	}
	if s.ProofOfWork > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM booking_fair_admits WHERE tenant = ? AND booking_id = ?`, t.ID, id); err != nil {
			return fmt.Errorf("consume admission of %s: %w", id, err)
		}
	}
	return nil
}

// checkFairMove runs the fair-access rule a move must satisfy: the new
// slot is released. A move keeps the count of active bookings, so the
// caps do not change.
func checkFairMove(tx *sql.Tx, cmd cluster.Command, t tenant.Tenant, serviceID string, start time.Time) error {
	s, err := loadFair(context.Background(), tx, t.ID, serviceID)
	if err != nil {
		return err
	}
	if !s.released(start, cmd.Time, t.Location()) {
		return fmt.Errorf("slot %s: %w", start.UTC().Format(time.RFC3339), ErrNotReleased)
	}
	return nil
}

func applyFairAdmit(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p admitPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.BookingID == "" || p.ServiceID == "" {
		return nil, fmt.Errorf("%s: payload lacks booking or service", cmd.Type)
	}
	ctx := context.Background()
	now := cmd.Time.Unix()
	if err := fairHousekeeping(tx, cmd); err != nil {
		return nil, err
	}
	if p.ProofHash != "" {
		var used bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM booking_fair_proofs WHERE tenant = ? AND hash = ?)`,
			cmd.Tenant, p.ProofHash).Scan(&used); err != nil {
			return nil, fmt.Errorf("check proof: %w", err)
		}
		if used {
			return nil, fmt.Errorf("service %q: %w", p.ServiceID, ErrProofReused)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_fair_proofs (tenant, hash, expires_unix) VALUES (?, ?, ?)`,
			cmd.Tenant, p.ProofHash, p.Expires); err != nil {
			return nil, fmt.Errorf("record proof: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_fair_admits (tenant, booking_id, service_id, bits, net, created_unix)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, booking_id) DO UPDATE SET bits = max(bits, excluded.bits)`,
		cmd.Tenant, p.BookingID, p.ServiceID, p.Bits, p.Net, now); err != nil {
		return nil, fmt.Errorf("record admission: %w", err)
	}
	return p.BookingID, nil
}

// fairHousekeeping forgets, against cmd.Time and bounded by the indexes,
// what fair access no longer needs: expired proofs (they can no longer be
// presented), admissions older than an hour (their booking never came)
// and network hashes past their retention. The admission command runs it,
// and the worker's hourly booking.fair.prune, so that a quiet Comune
// forgets too.
func fairHousekeeping(tx *sql.Tx, cmd cluster.Command) error {
	now := cmd.Time.Unix()
	for _, q := range []struct {
		sql string
		arg int64
	}{
		{`DELETE FROM booking_fair_proofs WHERE tenant = ? AND expires_unix < ?`, now},
		{`DELETE FROM booking_fair_admits WHERE tenant = ? AND created_unix < ?`, now - int64(admitTTL/time.Second)},
		{`UPDATE booking_fair_contacts SET net = '' WHERE tenant = ? AND net <> '' AND created_unix < ?`, now - int64(fairNetRetention/time.Second)},
	} {
		if _, err := tx.ExecContext(context.Background(), q.sql, cmd.Tenant, q.arg); err != nil {
			return fmt.Errorf("fair housekeeping: %w", err)
		}
	}
	return nil
}

func applyFairPrune(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p struct{}
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	return nil, fairHousekeeping(tx, cmd)
}

// admit proposes the admission of booking id, when the web layer gave one.
// A request with an idempotency key admits under its own derived key, so
// that its replay meets the first outcome rather than a used proof.
func (b *Book) admit(ctx context.Context, t tenant.ID, serviceID, id string, a Admission) error {
	// Without a proof there is nothing to spend before the booking: its
	// network's hash rides in booking.create (createPayload.Net), which
	// spares every booking a second round through the log.
	if a.ProofHash == "" {
		return nil
	}
	if rid, fp, ok := cluster.RequestIDFrom(ctx); ok {
		ctx = cluster.WithRequestID(ctx, rid+"/admit", fp)
	}
	p := admitPayload{ServiceID: serviceID, BookingID: id, ProofHash: a.ProofHash, Bits: a.Bits, Net: a.Net}
	if a.ProofHash != "" {
		p.Expires = a.Expires.Unix()
	}
	_, err := b.propose(ctx, CmdFairAdmit, t, p)
	if errors.Is(err, cluster.ErrNotSupportedByCluster) {
		// A rolling upgrade: no member refuses a booking for lack of an
		// admission before every member has the tables.
		return nil
	}
	return err
}

// ProofHashOf is the hex SHA-256 of a challenge: the key of the used set.
func ProofHashOf(challenge string) string {
	sum := sha256.Sum256([]byte(challenge))
	return hex.EncodeToString(sum[:])
}
