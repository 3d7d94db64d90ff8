package knowledge

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Catalogue is what the assistant knows about a Comune: the index built
// from the Comune's offices and services (booking), its FAQ and synonyms;
// cached per tenant and rebuilt when any of them changes. It is shared by
// every request that asks while it is current: nobody may change it.
type Catalogue struct {
	// Index ranks the Comune's bookable services: those not archived, of
	// offices not archived.
	Index *assistant.Index
	// Services and Offices are those the index knows, by ID; an office
	// lists its visible services.
	Services map[string]booking.Service
	Offices  map[string]booking.Office
	// FAQ are the entries whose service and office (when named) are in
	// Services and Offices, in the order they were added.
	FAQ []FAQ
	// FAQIndex ranks the FAQ entries themselves, to answer a question
	// with the Comune's own text: each Doc is one entry, with the entry's
	// ID as ServiceID, its question as Name, its answer as Description
	// and the name of its service (if any) as a synonym.
	FAQIndex *assistant.Index
	faqByID  map[string]FAQ
}

// FAQByID returns the entry with that ID (as FAQIndex's suggestions name
// it).
func (c *Catalogue) FAQByID(id string) (FAQ, bool) {
	f, ok := c.faqByID[id]
	return f, ok
}

// version names the state a catalogue was built from: booking's
// configuration version of the Comune and the knowledge version, each a
// log index and the leader's time of the command that last changed it
// (the time keeps apart two clusters whose indexes start again from 1,
// as after a restore from another cluster's backup).
type version struct {
	bookIndex, bookTime, knowIndex, knowTime int64
}

// cacheSlot is one Comune's entry. build serialises the rebuilds, so that
// a burst of requests after a change builds the index once; mu guards the
// fields, which readers check without waiting for a build.
type cacheSlot struct {
	build sync.Mutex
	mu    sync.Mutex
	v     version
	cat   *Catalogue
}

func (c *cacheSlot) current(v version) *Catalogue {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cat != nil && c.v == v {
		return c.cat
	}
	return nil
}

// Catalogue returns the Comune's catalogue: the cached one when neither
// the booking configuration nor the knowledge changed since it was built,
// else a new one. Each node keeps its own cache; a change made on another
// node is seen here once this node has applied it.
func (s *Store) Catalogue(ctx context.Context, t tenant.Tenant) (*Catalogue, error) {
	slot := s.slot(t.ID)
	// The versions are read before the data: a change that lands in
	// between makes the cache hold newer data under an older version,
	// which costs one needless rebuild on the next call, never a stale
	// answer.
	v, err := s.versions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	if cat := slot.current(v); cat != nil {
		return cat, nil
	}
	slot.build.Lock()
	defer slot.build.Unlock()
	if cat := slot.current(v); cat != nil {
		return cat, nil
	}
	cat, err := s.build(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	slot.mu.Lock()
	slot.v, slot.cat = v, cat
	slot.mu.Unlock()
	return cat, nil
}

func (s *Store) slot(t tenant.ID) *cacheSlot {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	c := s.cache.slots[t]
	if c == nil {
		c = &cacheSlot{}
		s.cache.slots[t] = c
	}
	return c
}

// versions reads both versions of the Comune in one query. booking has
// no reader of its version row (it serves booking's own apply cache), so
// the package reads the table booking documents for this purpose
// (booking_config_version, booking migration 2); TestCatalogueFollowsBooking
// fails if that contract changes. A Comune without a row has version 0.
func (s *Store) versions(ctx context.Context, t tenant.ID) (version, error) {
	var v version
	err := s.db.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT cmd_index FROM booking_config_version WHERE tenant = ?), 0),
		COALESCE((SELECT cmd_time FROM booking_config_version WHERE tenant = ?), 0),
		COALESCE((SELECT cmd_index FROM knowledge_version WHERE tenant = ?), 0),
		COALESCE((SELECT cmd_time FROM knowledge_version WHERE tenant = ?), 0)`,
		t, t, t, t).Scan(&v.bookIndex, &v.bookTime, &v.knowIndex, &v.knowTime)
	if err != nil {
		return version{}, fmt.Errorf("read catalogue versions: %w", err)
	}
	return v, nil
}

// build reads the Comune's configuration and knowledge and builds its
// catalogue.
func (s *Store) build(ctx context.Context, t tenant.ID) (*Catalogue, error) {
	cfg, err := s.book.Configuration(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("catalogue of %s: %w", t, err)
	}
	faqs, err := s.FAQs(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("catalogue of %s: %w", t, err)
	}
	groups, err := s.Synonyms(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("catalogue of %s: %w", t, err)
	}
	return buildCatalogue(cfg, faqs, groups), nil
}

// buildCatalogue joins what build read. The service documents are in the
// order of the configuration (offices and services by name); the index
// breaks ties on the service ID, so the order changes no ranking.
func buildCatalogue(cfg booking.Configuration, faqs []FAQ, groups []SynonymGroup) *Catalogue {
	c := &Catalogue{
		Services: make(map[string]booking.Service),
		Offices:  make(map[string]booking.Office),
		faqByID:  make(map[string]FAQ),
	}
	var order []booking.Service
	for _, o := range cfg.Offices {
		if cfg.ArchivedOffices[o.ID] {
			continue
		}
		var visible []booking.Service
		for _, svc := range o.Services {
			if !cfg.ArchivedServices[svc.ID] {
				visible = append(visible, svc)
				c.Services[svc.ID] = svc
			}
		}
		order = append(order, visible...)
		o.Services = visible
		c.Offices[o.ID] = o
	}

	serviceSyn := make(map[string][]string)
	var shared [][]string
	for _, g := range groups {
		switch {
		case g.ServiceID == "":
			shared = append(shared, g.Phrases)
		case c.Services[g.ServiceID].ID != "":
			serviceSyn[g.ServiceID] = append(serviceSyn[g.ServiceID], g.Phrases...)
		}
	}

	serviceFAQ := make(map[string][]string)
	c.FAQ = []FAQ{}
	var faqDocs []assistant.Doc
	for _, f := range faqs {
		if f.ServiceID != "" && c.Services[f.ServiceID].ID == "" || f.OfficeID != "" && c.Offices[f.OfficeID].ID == "" {
			continue
		}
		c.FAQ = append(c.FAQ, f)
		c.faqByID[f.ID] = f
		d := assistant.Doc{ServiceID: f.ID, OfficeID: f.OfficeID, Name: f.Question, Description: f.Answer,
			OfficeName: c.Offices[f.OfficeID].Name}
		if f.ServiceID != "" {
			// Only the question describes the service: the answer is
			// written for someone who already found it, and names
			// documents and offices that would pull other services.
			serviceFAQ[f.ServiceID] = append(serviceFAQ[f.ServiceID], f.Question)
			d.Synonyms = []string{c.Services[f.ServiceID].Name}
		}
		faqDocs = append(faqDocs, d)
	}

	docs := make([]assistant.Doc, 0, len(order))
	for _, svc := range order {
		docs = append(docs, assistant.Doc{
			ServiceID:   svc.ID,
			OfficeID:    svc.OfficeID,
			Name:        svc.Name,
			OfficeName:  c.Offices[svc.OfficeID].Name,
			Description: svc.Description,
			Bring:       strings.Join(svc.WhatToBring, "; "),
			Synonyms:    serviceSyn[svc.ID],
			FAQ:         serviceFAQ[svc.ID],
		})
	}
	// NewIndex adds assistant.BuiltinSynonyms (and the English fallback
	// groups) itself; the Comune's groups come on top.
	c.Index = assistant.NewIndex(docs, shared...)
	c.FAQIndex = assistant.NewIndex(faqDocs, shared...)
	return c
}
