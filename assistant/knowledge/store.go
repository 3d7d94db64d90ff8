package knowledge

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// FAQ is a question citizens ask and the Comune's answer. ServiceID ties
// it to a service: its question then helps the index find that service,
// and the assistant offers the answer with the service page. OfficeID
// ties it to an office (filled from the service when only that is given).
// Both are optional: an entry without them is about the Comune at large.
type FAQ struct {
	ID        string `json:"id"`
	Question  string `json:"question"`
	Answer    string `json:"answer"`
	ServiceID string `json:"service_id,omitempty"`
	OfficeID  string `json:"office_id,omitempty"`
}

// SynonymGroup is a set of phrases the Comune treats as equivalent
// ("carta d'identità", "CIE", "documento"): a citizen's sentence that
// contains one of them is searched with the others too. With ServiceID
// set, the phrases are instead other names of that one service ("SPID"
// for the digital-help desk): they count for it alone, as its name
// nearly does, and pull no other service.
type SynonymGroup struct {
	ID        string   `json:"id"`
	Phrases   []string `json:"phrases"`
	ServiceID string   `json:"service_id,omitempty"`
}

// Store reads the Comune's knowledge from the node's SQLite view and
// writes it by proposing commands. It also keeps the Catalogue cache of
// the node. Its methods are safe for concurrent use; every method takes
// the tenant and never sees another Comune's rows.
type Store struct {
	p     cluster.Proposer
	db    *sql.DB
	book  *booking.Book
	cache catalogueCache
}

// NewStore returns a Store over the node's proposer, read pool and book.
func NewStore(p cluster.Proposer, db *sql.DB, book *booking.Book) *Store {
	return &Store{p: p, db: db, book: book, cache: catalogueCache{slots: make(map[tenant.ID]*cacheSlot)}}
}

// FAQs lists the Comune's FAQ entries in the order they were added.
func (s *Store) FAQs(ctx context.Context, t tenant.ID) ([]FAQ, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, question, answer, service_id, office_id
		FROM knowledge_faq WHERE tenant = ? ORDER BY created, id`, t)
	if err != nil {
		return nil, fmt.Errorf("list faq: %w", err)
	}
	defer rows.Close()
	out := []FAQ{}
	for rows.Next() {
		var f FAQ
		if err := rows.Scan(&f.ID, &f.Question, &f.Answer, &f.ServiceID, &f.OfficeID); err != nil {
			return nil, fmt.Errorf("list faq: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list faq: %w", err)
	}
	return out, nil
}

// FAQ returns one entry, or ErrNotFound.
func (s *Store) FAQ(ctx context.Context, t tenant.ID, id string) (FAQ, error) {
	f := FAQ{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT question, answer, service_id, office_id
		FROM knowledge_faq WHERE tenant = ? AND id = ?`, t, id).Scan(&f.Question, &f.Answer, &f.ServiceID, &f.OfficeID)
	if errors.Is(err, sql.ErrNoRows) {
		return FAQ{}, ErrNotFound
	}
	if err != nil {
		return FAQ{}, fmt.Errorf("read faq %s: %w", id, err)
	}
	return f, nil
}

// Synonyms lists the Comune's synonym groups in the order they were
// added.
func (s *Store) Synonyms(ctx context.Context, t tenant.ID) ([]SynonymGroup, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, service_id, phrases
		FROM knowledge_synonyms WHERE tenant = ? ORDER BY created, id`, t)
	if err != nil {
		return nil, fmt.Errorf("list synonyms: %w", err)
	}
	defer rows.Close()
	out := []SynonymGroup{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list synonyms: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list synonyms: %w", err)
	}
	return out, nil
}

// SynonymGroup returns one group, or ErrNotFound.
func (s *Store) SynonymGroup(ctx context.Context, t tenant.ID, id string) (SynonymGroup, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx, `SELECT id, service_id, phrases
		FROM knowledge_synonyms WHERE tenant = ? AND id = ?`, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return SynonymGroup{}, ErrNotFound
	}
	if err != nil {
		return SynonymGroup{}, fmt.Errorf("read synonyms %s: %w", id, err)
	}
	return g, nil
}

func scanGroup(sc interface{ Scan(...any) error }) (SynonymGroup, error) {
	var g SynonymGroup
	var phrases string
	if err := sc.Scan(&g.ID, &g.ServiceID, &phrases); err != nil {
		return SynonymGroup{}, err
	}
	if err := json.Unmarshal([]byte(phrases), &g.Phrases); err != nil {
		return SynonymGroup{}, fmt.Errorf("decode phrases of %s: %w", g.ID, err)
	}
	return g, nil
}

// SaveFAQ creates the entry (empty ID) or replaces the one with f's ID,
// and returns it as stored. Invalid input gives a *ValidationError and
// changes nothing; a service or office that the Comune does not have (or
// has archived) is invalid too; with a service, the office is the
// service's, whatever f says. A new entry beyond MaxFAQ gives ErrFull,
// an ID that is not the Comune's ErrNotFound.
func (s *Store) SaveFAQ(ctx context.Context, t tenant.ID, f FAQ) (FAQ, error) {
	f = NormalizeFAQ(f)
	create := f.ID == ""
	if create {
		var err error
		if f.ID, err = newID(); err != nil {
			return FAQ{}, err
		}
	}
	// Every invalid field at once: the entry's own and its references.
	if err := joinFields(checkFAQ(f), s.checkRefs(ctx, t, &f)); err != nil {
		return FAQ{}, err
	}
	if err := s.propose(ctx, CmdFAQSave, t, faqPayload{FAQ: f, Create: create}); err != nil {
		return FAQ{}, fmt.Errorf("save faq %s: %w", f.ID, err)
	}
	return f, nil
}

// checkRefs checks that f's service and office are the Comune's and not
// archived, and sets the office to the service's.
func (s *Store) checkRefs(ctx context.Context, t tenant.ID, f *FAQ) error {
	fields := map[string]string{}
	if f.ServiceID != "" {
		svc, err := s.book.Service(ctx, t, f.ServiceID)
		switch {
		case errors.Is(err, booking.ErrNotFound):
			fields["service_id"] = "Il servizio scelto non esiste."
		case err != nil:
			return err
		default:
			archived, err := s.book.Archived(ctx, t, svc)
			if err != nil {
				return err
			}
			if archived {
				fields["service_id"] = "Il servizio scelto è archiviato."
			}
			// The office of an entry about a service is the service's:
			// a form that changes the service need not change the
			// office too.
			f.OfficeID = svc.OfficeID
		}
	}
	if f.OfficeID != "" && f.ServiceID == "" {
		_, err := s.book.Office(ctx, t, f.OfficeID)
		switch {
		case errors.Is(err, booking.ErrNotFound):
			fields["office_id"] = "L'ufficio scelto non esiste."
		case err != nil:
			return err
		default:
			archived, err := s.book.OfficeArchived(ctx, t, f.OfficeID)
			if err != nil {
				return err
			}
			if archived {
				fields["office_id"] = "L'ufficio scelto è archiviato."
			}
		}
	}
	return fieldsErr(fields)
}

// joinFields merges two checks' results: the fields of both when both
// are *ValidationError, else the first error that is not.
func joinFields(a, b error) error {
	var va, vb *ValidationError
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case errors.As(a, &va) && errors.As(b, &vb):
		f := map[string]string{}
		for k, m := range vb.Fields {
			f[k] = m
		}
		for k, m := range va.Fields {
			f[k] = m
		}
		return &ValidationError{Fields: f}
	case !errors.As(a, &va):
		return a
	}
	return b
}

// DeleteFAQ deletes the entry; ErrNotFound when the Comune has none with
// that ID.
func (s *Store) DeleteFAQ(ctx context.Context, t tenant.ID, id string) error {
	if err := s.propose(ctx, CmdFAQDelete, t, deletePayload{ID: id}); err != nil {
		return fmt.Errorf("delete faq %s: %w", id, err)
	}
	return nil
}

// SaveSynonyms creates the group (empty ID) or replaces the one with g's
// ID, and returns it as stored; errors as SaveFAQ (ErrFull beyond
// MaxGroups).
func (s *Store) SaveSynonyms(ctx context.Context, t tenant.ID, g SynonymGroup) (SynonymGroup, error) {
	g = NormalizeSynonyms(g)
	create := g.ID == ""
	if create {
		var err error
		if g.ID, err = newID(); err != nil {
			return SynonymGroup{}, err
		}
	}
	err := checkSynonyms(g)
	if err == nil {
		err = checkSynonymsMeaning(g)
	}
	if g.ServiceID != "" {
		f := FAQ{ServiceID: g.ServiceID}
		err = joinFields(err, s.checkRefs(ctx, t, &f))
	}
	if err != nil {
		return SynonymGroup{}, err
	}
	if err := s.propose(ctx, CmdSynonymsSave, t, synonymsPayload{Group: g, Create: create}); err != nil {
		return SynonymGroup{}, fmt.Errorf("save synonyms %s: %w", g.ID, err)
	}
	return g, nil
}

// DeleteSynonyms deletes the group; ErrNotFound when the Comune has none
// with that ID.
func (s *Store) DeleteSynonyms(ctx context.Context, t tenant.ID, id string) error {
	if err := s.propose(ctx, CmdSynonymsDelete, t, deletePayload{ID: id}); err != nil {
		return fmt.Errorf("delete synonyms %s: %w", id, err)
	}
	return nil
}

// propose sends one command of the Comune t; Propose returns once the
// command is applied on this node, so the next read here sees it.
func (s *Store) propose(ctx context.Context, typ string, t tenant.ID, payload any) error {
	if t == "" {
		return errors.New("knowledge: no Comune")
	}
	cmd, err := cluster.NewCommand(typ, payloadVersion, string(t), payload)
	if err != nil {
		return err
	}
	_, err = s.p.Propose(ctx, cmd)
	return err
}

// newID returns a random identifier of 24 hex digits, drawn by the
// proposer so that every node stores the same one.
func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("draw id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// catalogueCache keeps each Comune's Catalogue with the versions it was
// built at (see catalogue.go).
type catalogueCache struct {
	mu    sync.Mutex
	slots map[tenant.ID]*cacheSlot
}
