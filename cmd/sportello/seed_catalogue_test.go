package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestDemoCatalogueData checks the catalogue's data without a cluster:
// valid unique IDs, every FAQ answered, merges that name real services.
func TestDemoCatalogueData(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, d := range append(demoOffices(), demoCatalogue()...) {
		for _, s := range d.services {
			if !booking.ValidID(s.ID) || seen[s.ID] {
				t.Errorf("service ID %q invalid or repeated", s.ID)
			}
			seen[s.ID] = true
			if err := booking.CheckService(s); err != nil && !strings.Contains(err.Error(), "office_id") {
				t.Errorf("service %q: %v", s.ID, err)
			}
		}
	}
	for id, name := range catalogueService {
		if !seen[slug(name)] {
			t.Errorf("catalogue service %q merges into %q, which the demo lacks", id, name)
		}
	}
	for _, s := range assistant.DemoCatalogue() {
		for _, q := range s.FAQ {
			if demoAnswers[q] == "" {
				t.Errorf("FAQ %q has no answer", q)
			}
		}
	}
	for _, d := range demoServiceSynonyms {
		if !seen[slug(d.service)] {
			t.Errorf("synonyms for %q, which the demo lacks", d.service)
		}
	}
}

// TestSeedDemoCatalogue seeds the demo twice on a real node: the Comune
// has the catalogue of a mid-size Comune (at least 30 services in at
// least 8 offices, each described with what to bring), its FAQ and
// synonyms reach the assistant, and the second run changes nothing.
func TestSeedDemoCatalogue(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, tenant.Register, booking.Register, queue.Register, knowledge.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	tenants := tenant.NewRegistry(node, node.DB(), defaultConfig().BaseDomain)
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	lines := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	know := knowledge.NewStore(node, node.DB(), book)
	state := func() string {
		t.Helper()
		cfg, err := book.Configuration(ctx, "bari")
		if err != nil {
			t.Fatal(err)
		}
		faqs, err := know.FAQs(ctx, "bari")
		if err != nil {
			t.Fatal(err)
		}
		groups, err := know.Synonyms(ctx, "bari")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, o := range cfg.Offices {
			fmt.Fprintf(&b, "office %s %q\n", o.ID, o.Name)
			for _, s := range o.Services {
				fmt.Fprintf(&b, "  service %s %q\n", s.ID, s.Name)
			}
		}
		for _, f := range faqs {
			fmt.Fprintf(&b, "faq %s %q %s\n", f.ID, f.Question, f.ServiceID)
		}
		for _, g := range groups {
			fmt.Fprintf(&b, "group %s %s %q\n", g.ID, g.ServiceID, g.Phrases)
		}
		return b.String()
	}
	var first string
	for run := range 2 {
		bari, err := seedDemo(ctx, tenants, book, lines, clustertest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := seedDemoCatalogue(ctx, bari, book, lines, know, clustertest.Logger(t)); err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			first = state()
		} else if again := state(); again != first {
			t.Errorf("a second seed changed the state:\n%s", clustertest.Diff(again, first))
		}
	}

	bari, _ := tenants.Get(ctx, "bari")
	cat, err := know.Catalogue(ctx, bari)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Offices) < 8 || len(cat.Services) < 30 {
		t.Errorf("demo has %d offices and %d services, want at least 8 and 30", len(cat.Offices), len(cat.Services))
	}
	for _, s := range cat.Services {
		if s.Description == "" || len(s.WhatToBring) == 0 {
			t.Errorf("service %q lacks a description or what to bring", s.Name)
		}
	}
	if len(cat.FAQ) != len(demoAnswers) {
		t.Errorf("%d FAQ in the catalogue, want %d", len(cat.FAQ), len(demoAnswers))
	}
	for _, want := range []string{"Anagrafe", "Stato civile", "Tributi", "Polizia locale", "Servizi sociali", "Pubblica istruzione", "Ripartizione Urbanistica e Edilizia Privata", "Ripartizione Tutela Ambiente, Sanità e Igiene", "Ufficio Relazioni con il Pubblico"} {
		found := false
		for _, o := range cat.Offices {
			found = found || o.Name == want
		}
		if !found {
			t.Errorf("demo lacks office %q", want)
		}
	}
	// The assistant finds the demo's own services (merged ones under the
	// demo's IDs), through the catalogue's words, its synonyms, its FAQ
	// and the Comune's groups.
	for q, want := range map[string]string{
		"devo rifare la carta didentita":         "rilascio-carta-d-identita-elettronica",
		"mi sono trasferito in via roma":         "cambio-di-residenza",
		"quanto costa la carta d'identità?":      "rilascio-carta-d-identita-elettronica",
		"pagare la tassa sulla spazzatura":       "tari",
		"ho preso una multa dai vigili":          "sanzioni",
		"ci sono i topi in cortile":              "richiesta-di-disinfestazione-e-derattizzazione",
		"iscrivere mio figlio alla mensa":        "mensa",
		"attivare lo spid":                       "assistenza-ai-servizi-online-spid-e-cie",
		"voglio fare una veranda":                "permesso-costruire",
		"quando si paga l'imu sulla prima casa?": "imu",
	} {
		s := cat.Index.Search(q, 3)
		if len(s) == 0 || s[0].ServiceID != want {
			t.Errorf("top for %q: %+v, want %s", q, s, want)
		}
	}
}
