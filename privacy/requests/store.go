package requests

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Limits of the citizen's verification.
const (
	// LinkTTL is how long a one-time link can be used after it is sent:
	// long enough to open one's mailbox, short enough that a forgotten
	// email is harmless soon.
	LinkTTL = 30 * time.Minute
	// AccessTTL is how long the access opened by a link lasts: time to
	// read the page, download the file and file a request.
	AccessTTL = 30 * time.Minute
	// MaxLinksPerHour bounds the links one address receives in an hour,
	// whoever asks for them: nobody can flood a citizen's mailbox
	// through the form.
	MaxLinksPerHour = 3
	// MaxNote and MaxReason bound the free texts.
	MaxNote   = 1000
	MaxReason = 2000
)

// Origin says who filed a request.
type Origin string

// The origins of a request.
const (
	OriginCitizen  Origin = "citizen"
	OriginOperator Origin = "operator"
)

// State is where a request is: pending → approved or refused.
type State string

// The states of a request.
const (
	StatePending  State = "pending"
	StateApproved State = "approved"
	StateRefused  State = "refused"
)

// Person names who acted (an operator's user ID and display name).
type Person struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Request is one erasure request with its decision. FiscalCode and Email
// are normalised (upper- and lower-case); either may be empty.
type Request struct {
	ID         string    `json:"id"`
	FiscalCode string    `json:"fiscal_code,omitempty"`
	Email      string    `json:"email,omitempty"`
	Origin     Origin    `json:"origin"`
	Note       string    `json:"note,omitempty"`
	Filed      time.Time `json:"filed"`
	// FiledBy is the operator who filed it (empty for the citizen).
	FiledBy Person    `json:"filed_by,omitzero"`
	State   State     `json:"state"`
	Decided time.Time `json:"decided,omitzero"`
	// DecidedBy is the Comune administrator who decided it.
	DecidedBy Person `json:"decided_by,omitzero"`
	// Reason is the administrator's motivation (required to refuse).
	Reason string `json:"reason,omitempty"`
	// EraseIndex and EraseCounts are what the erasure reported (an
	// approval only): its log index and the records per data class.
	EraseIndex  uint64         `json:"erase_index,omitempty"`
	EraseCounts map[string]int `json:"erase_counts,omitempty"`
}

// Pseudonymised reports whether the request's subject was replaced by
// its digests after an approved erasure.
func (r Request) Pseudonymised() bool {
	return strings.HasPrefix(r.FiscalCode, digestPrefix) || strings.HasPrefix(r.Email, digestPrefix)
}

// Subject is who an export or a request is about.
type Subject struct {
	FiscalCode string `json:"fiscal_code,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Normalize trims the subject, upper-cases the codice fiscale and
// lower-cases the email.
func (s Subject) Normalize() Subject {
	return Subject{FiscalCode: strings.ToUpper(strings.TrimSpace(s.FiscalCode)), Email: strings.ToLower(strings.TrimSpace(s.Email))}
}

// Check returns a *ValidationError for a malformed subject, ErrNoSubject
// for an empty one.
func (s Subject) Check() error {
	if s.FiscalCode == "" && s.Email == "" {
		return ErrNoSubject
	}
	f := map[string]string{}
	if s.FiscalCode != "" && !validFiscalShape(s.FiscalCode) {
		f["fiscal_code"] = "Il codice fiscale deve avere 16 caratteri, lettere e cifre (11 cifre per una persona giuridica)."
	}
	if s.Email != "" && !ValidEmail(s.Email) {
		f["email"] = "Scrivi un indirizzo email valido, per esempio nome@esempio.it."
	}
	return fieldsErr(f)
}

// validFiscalShape accepts the shape of a codice fiscale (16 letters
// and digits, or 11 digits): the export looks for exact matches, so a
// stricter check would only hide records saved with a code that fails it.
func validFiscalShape(s string) bool {
	if len(s) != 16 && len(s) != 11 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ValidEmail reports whether s is one plain address (no name, no list).
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>,\r\n") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndex(s, "@")+1:], ".")
}

// Eraser runs the replicated erasure of a citizen's data in a Comune:
// *privacy.Service.
type Eraser interface {
	EraseCitizen(ctx context.Context, t tenant.ID, who privacy.Subject, reason string) (privacy.Report, error)
}

// Store reads requests and links from the node's SQLite view and writes
// them by proposing commands. Safe for concurrent use.
type Store struct {
	p     cluster.Proposer
	db    *sql.DB
	now   func() time.Time
	rnd   io.Reader
	rndMu sync.Mutex
}

// NewStore returns a Store over the node's proposer and read pool. now
// is the clock of the expiries (tests inject one), rnd the source of
// tokens and IDs (crypto/rand.Reader).
func NewStore(p cluster.Proposer, db *sql.DB, now func() time.Time, rnd io.Reader) *Store {
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Store{p: p, db: db, now: now, rnd: rnd}
}

// random returns n random bytes.
func (s *Store) random(n int) ([]byte, error) {
	b := make([]byte, n)
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	if _, err := io.ReadFull(s.rnd, b); err != nil {
		return nil, fmt.Errorf("privacyreq: draw random: %w", err)
	}
	return b, nil
}

// hashToken is the stored form of a token or access secret.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func comuneOf(t tenant.Tenant) comune {
	return comune{Name: t.Name, Sender: t.Sender, TimeZone: t.TimeZone}
}

// readFresh brings this node up to the leader's applied state, when the
// proposer can (*cluster.Node can).
func (s *Store) readFresh(ctx context.Context) error {
	if f, ok := s.p.(interface{ ReadFresh(context.Context) error }); ok {
		return f.ReadFresh(ctx)
	}
	return nil
}

// RequestFresh is Request after catching up with the leader: for a page
// that names a request another node may have just filed.
func (s *Store) RequestFresh(ctx context.Context, t tenant.ID, id string) (Request, error) {
	r, err := s.Request(ctx, t, id)
	if errors.Is(err, ErrNotFound) {
		if ferr := s.readFresh(ctx); ferr == nil {
			r, err = s.Request(ctx, t, id)
		}
	}
	return r, err
}

// propose sends one command of the Comune t.
func (s *Store) propose(ctx context.Context, typ string, t tenant.ID, payload any) (cluster.Result, error) {
	if t == "" {
		return cluster.Result{}, errors.New("privacyreq: no Comune")
	}
	cmd, err := cluster.NewCommand(typ, payloadVersion, string(t), payload)
	if err != nil {
		return cluster.Result{}, err
	}
	return s.p.Propose(ctx, cmd)
}

// SendLink emails a one-time link to email, valid LinkTTL, that opens
// the citizen's own data: linkBase + the token (linkBase is the Comune's
// page, "https://host/privacy/richiesta/"). It returns whether an email
// was queued: false when the address reached MaxLinksPerHour. Callers
// must answer the citizen the same way in both cases, and the same way
// whether the Comune knows the address or not: the link is sent to any
// valid address, and what it opens may be empty.
func (s *Store) SendLink(ctx context.Context, t tenant.Tenant, email, linkBase string) (bool, error) {
	return s.SendLinkIn(ctx, t, email, linkBase, "")
}

// SendLinkIn is SendLink with the email written in lang ("it", "en",
// "de": the language of the page the citizen asked from); any other
// value, or "", is Italian.
func (s *Store) SendLinkIn(ctx context.Context, t tenant.Tenant, email, linkBase, lang string) (bool, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !ValidEmail(email) {
		return false, &ValidationError{Fields: map[string]string{"email": "Scrivi un indirizzo email valido, per esempio nome@esempio.it."}}
	}
	b, err := s.random(32)
	if err != nil {
		return false, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	p := linkIssuePayload{Hash: hashToken(tok), Email: email, Expires: s.now().Add(LinkTTL).UnixMilli(),
		Link: linkBase + tok, Comune: comuneOf(t), Lang: payloadLang(lang)}
	res, err := s.propose(ctx, CmdLinkIssue, t.ID, p)
	if err != nil {
		return false, fmt.Errorf("send link: %w", err)
	}
	v, _ := res.Value.(linkIssued)
	return v.Sent, nil
}

// Access is a verified citizen's access: the secret to keep (in a
// cookie), the address it was verified for and until when it lasts.
type Access struct {
	Secret string
	Email  string
	Until  time.Time
}

// UseLink spends the token of a link (once: a second use, an unknown
// token or an expired one gives ErrLinkInvalid) and opens an access for
// its address, valid AccessTTL.
func (s *Store) UseLink(ctx context.Context, t tenant.ID, token string) (Access, error) {
	if token == "" || len(token) > 100 {
		return Access{}, ErrLinkInvalid
	}
	b, err := s.random(32)
	if err != nil {
		return Access{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	until := s.now().Add(AccessTTL)
	res, err := s.propose(ctx, CmdLinkUse, t, linkUsePayload{Hash: hashToken(token), AccessHash: hashToken(secret), AccessUntil: until.UnixMilli()})
	if err != nil {
		return Access{}, err
	}
	v, _ := res.Value.(linkUsed)
	if v.Email == "" {
		return Access{}, fmt.Errorf("use link: unexpected result %T", res.Value)
	}
	return Access{Secret: secret, Email: v.Email, Until: until}, nil
}

// accessEmailQuery reads the address of a live access secret's hash
// through the partial index privacyreq_links_access. Without statistics
// SQLite preferred to read every link of the Comune by the primary key,
// so the query names the index, and with it the index's condition (the
// hash is not empty), without which a partial index cannot answer; a
// secret's hash is never empty, so the term changes no result.
const accessEmailQuery = `SELECT email FROM privacyreq_links INDEXED BY privacyreq_links_access
	WHERE tenant = ? AND access_hash = ? AND access_hash <> '' AND access_until > ?`

// AccessEmail returns the address a live access secret was verified for,
// or ErrAccessInvalid. It reads this node's state: the access was opened
// by a command this node applied before answering the citizen, or, on
// another node, the caller waits for it (Freshness) first.
func (s *Store) AccessEmail(ctx context.Context, t tenant.ID, secret string) (string, error) {
	if secret == "" || len(secret) > 100 {
		return "", ErrAccessInvalid
	}
	var email string
	err := s.db.QueryRowContext(ctx, accessEmailQuery, t, hashToken(secret), s.now().UnixMilli()).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrAccessInvalid
	}
	if err != nil {
		return "", fmt.Errorf("read access: %w", err)
	}
	return email, nil
}

// Filing is a new erasure request.
type Filing struct {
	Subject Subject
	Origin  Origin
	Note    string
	// By is the operator who files it (zero for the citizen).
	By Person
	// Lang is the language of the citizen's page ("it", "en", "de"; ""
	// is Italian): the receipt's, and, stored with the request, the
	// decision's email. An operator's filing leaves it empty unless the
	// citizen asked in another language.
	Lang string
}

// File records an erasure request and returns it; the citizen (when the
// request has an email) is told it was received.
func (s *Store) File(ctx context.Context, t tenant.Tenant, f Filing) (Request, error) {
	sub := f.Subject.Normalize()
	f.Note = strings.TrimSpace(f.Note)
	if err := sub.Check(); err != nil {
		return Request{}, err
	}
	if utf8.RuneCountInString(f.Note) > MaxNote {
		return Request{}, &ValidationError{Fields: map[string]string{"note": fmt.Sprintf("La nota può avere al massimo %d caratteri.", MaxNote)}}
	}
	b, err := s.random(12)
	if err != nil {
		return Request{}, err
	}
	id := hex.EncodeToString(b)
	p := filePayload{ID: id, FiscalCode: sub.FiscalCode, Email: sub.Email, Origin: f.Origin, Note: f.Note,
		By: f.By.ID, ByName: f.By.Name, Comune: comuneOf(t), Lang: payloadLang(f.Lang)}
	res, err := s.propose(ctx, CmdFile, t.ID, p)
	if err != nil {
		return Request{}, fmt.Errorf("file request: %w", err)
	}
	if err := s.p.WaitApplied(ctx, res.Index); err != nil {
		return Request{}, err
	}
	return s.Request(ctx, t.ID, id)
}

// Decision is the administrator's answer to a request.
type Decision struct {
	Approve bool
	// Reason is required to refuse; optional to approve.
	Reason string
	By     Person
}

// Decide approves or refuses a pending request. An approval first runs
// the erasure (eraser.EraseCitizen, its own replicated command), then
// records the decision with the erasure's report: if the erasure fails
// nothing is recorded and the request stays pending, so the
// administrator can try again; erasing twice is harmless. The citizen is
// told the outcome by email. ErrDecided when it was already decided.
func (s *Store) Decide(ctx context.Context, t tenant.Tenant, id string, d Decision, eraser Eraser) (Request, error) {
	d.Reason = strings.TrimSpace(d.Reason)
	switch {
	case !d.Approve && d.Reason == "":
		return Request{}, &ValidationError{Fields: map[string]string{"reason": "Scrivi il motivo del rifiuto: il cittadino lo riceve per email."}}
	case utf8.RuneCountInString(d.Reason) > MaxReason:
		return Request{}, &ValidationError{Fields: map[string]string{"reason": fmt.Sprintf("Il motivo può avere al massimo %d caratteri.", MaxReason)}}
	}
	// The request may have been filed or decided through another node a
	// moment ago: decide on what the leader has, not on a stale copy.
	if err := s.readFresh(ctx); err != nil {
		return Request{}, err
	}
	req, err := s.Request(ctx, t.ID, id)
	if err != nil {
		return Request{}, err
	}
	if req.State != StatePending {
		return Request{}, ErrDecided
	}
	p := decidePayload{ID: id, Decision: StateRefused, Reason: d.Reason, By: d.By.ID, ByName: d.By.Name, Comune: comuneOf(t)}
	res, err := s.decide(ctx, t, id, d, p, req, eraser)
	if err != nil {
		return Request{}, err
	}
	if err := s.p.WaitApplied(ctx, res.Index); err != nil {
		return Request{}, err
	}
	return s.Request(ctx, t.ID, id)
}

// decide proposes the decision. An approval goes as version 2, which
// erases in the decision's own apply; when the version gate refuses it
// (a member still runs a binary without version 2), it falls back to
// version 1 after a separate erasure, as before.
func (s *Store) decide(ctx context.Context, t tenant.Tenant, id string, d Decision, p decidePayload, req Request, eraser Eraser) (cluster.Result, error) {
	if d.Approve {
		p.Decision = StateApproved
		cmd, err := cluster.NewCommand(CmdDecide, decideVersion, string(t.ID), p)
		if err != nil {
			return cluster.Result{}, err
		}
		res, err := s.p.Propose(ctx, cmd)
		if !errors.Is(err, cluster.ErrNotSupportedByCluster) {
			if err != nil {
				return cluster.Result{}, fmt.Errorf("decide request %s: %w", id, err)
			}
			return res, nil
		}
	}
	if d.Approve {
		if eraser == nil {
			return cluster.Result{}, errors.New("privacyreq: no eraser configured")
		}
		rep, err := eraser.EraseCitizen(ctx, t.ID, privacy.Subject{FiscalCode: req.FiscalCode, Email: req.Email}, "richiesta "+id)
		if err != nil {
			return cluster.Result{}, fmt.Errorf("erase for request %s: %w", id, err)
		}
		p.Decision, p.EraseIndex = StateApproved, rep.Index
		p.EraseCounts = map[string]int{}
		for c, n := range rep.Counts {
			p.EraseCounts[string(c)] = n
		}
	}
	res, err := s.propose(ctx, CmdDecide, t.ID, p)
	if err != nil {
		return cluster.Result{}, fmt.Errorf("decide request %s: %w", id, err)
	}
	return res, nil
}

const requestColumns = `id, subject_cf, subject_email, origin, note, filed, filed_by, filed_by_name, state,
	decided, decided_by, decided_by_name, reason, erase_index, erase_counts`

func scanRequest(sc interface{ Scan(...any) error }) (Request, error) {
	var r Request
	var filed, decided, idx int64
	var counts string
	if err := sc.Scan(&r.ID, &r.FiscalCode, &r.Email, &r.Origin, &r.Note, &filed, &r.FiledBy.ID, &r.FiledBy.Name,
		&r.State, &decided, &r.DecidedBy.ID, &r.DecidedBy.Name, &r.Reason, &idx, &counts); err != nil {
		return Request{}, err
	}
	r.Filed = time.UnixMilli(filed).UTC()
	if decided != 0 {
		r.Decided = time.UnixMilli(decided).UTC()
	}
	r.EraseIndex = uint64(idx)
	if err := json.Unmarshal([]byte(counts), &r.EraseCounts); err != nil {
		return Request{}, fmt.Errorf("decode counts of %s: %w", r.ID, err)
	}
	if len(r.EraseCounts) == 0 {
		r.EraseCounts = nil
	}
	return r, nil
}

// Request returns one request of the Comune, or ErrNotFound.
func (s *Store) Request(ctx context.Context, t tenant.ID, id string) (Request, error) {
	r, err := scanRequest(s.db.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM privacyreq_requests WHERE tenant = ? AND id = ?`, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("read request %s: %w", id, err)
	}
	return r, nil
}

// Requests lists the Comune's requests, newest first (at most 500).
func (s *Store) Requests(ctx context.Context, t tenant.ID) ([]Request, error) {
	return s.list(ctx, `SELECT `+requestColumns+` FROM privacyreq_requests WHERE tenant = ? ORDER BY filed DESC, id LIMIT 500`, t)
}

// RequestsAbout lists the requests about a subject (exact codice fiscale
// or email, in clear or, after an approved erasure, as its digest),
// oldest first: they are part of the subject's export.
func (s *Store) RequestsAbout(ctx context.Context, t tenant.ID, who Subject) ([]Request, error) {
	who = who.Normalize()
	cfD, emD := subjectDigest(string(t), who.FiscalCode), subjectDigest(string(t), who.Email)
	return s.list(ctx, `SELECT `+requestColumns+` FROM privacyreq_requests
		WHERE tenant = ? AND ((? <> '' AND subject_cf IN (?, ?)) OR (? <> '' AND subject_email IN (?, ?))) ORDER BY filed, id`,
		t, who.FiscalCode, who.FiscalCode, cfD, who.Email, who.Email, emD)
}

func (s *Store) list(ctx context.Context, q string, args ...any) ([]Request, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	out := []Request{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// payloadLang is the language a payload records: one the emails have,
// and "" for Italian, so that Italian payloads stay as they were before
// the field existed.
func payloadLang(lang string) string {
	if lang == "it" || emailLang(lang) != lang {
		return ""
	}
	return lang
}
