package knowledge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
)

// TestCatalogueContents checks what the index is built from: visible
// services only, FAQ questions and service synonyms attached to their
// service, the Comune's groups and the built-in ones.
func TestCatalogueContents(t *testing.T) {
	t.Parallel()
	m := newCluster(t, 1)[0]
	ctx := context.Background()
	bariOffices(t, m)
	addOffice(t, m, bari.ID, "vecchio", "Ufficio chiuso", [3]string{"archivio", "Consultazione archivio storico", "Consultazione dei documenti storici."})
	if _, err := m.book.ArchiveOffice(ctx, bari.ID, "vecchio", true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.book.ArchiveService(ctx, bari.ID, "multe", true); err != nil {
		t.Fatal(err)
	}
	faq, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "Posso entrare in centro con il motorino?", Answer: "Sì, i ciclomotori entrano senza permesso.", ServiceID: "ztl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "Dove si trova il Municipio?", Answer: "In Corso Vittorio Emanuele II, 84."}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{ServiceID: "residenza", Phrases: []string{"trasloco"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{Phrases: []string{"varco", "zona a traffico limitato"}}); err != nil {
		t.Fatal(err)
	}
	cat, err := m.store.Catalogue(ctx, bari)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Services) != 3 || cat.Services["multe"].ID != "" || cat.Services["archivio"].ID != "" {
		t.Errorf("services %v; want cie, residenza, ztl (archived ones left out)", keys(cat.Services))
	}
	if len(cat.Offices) != 2 || len(cat.Offices["polizia"].Services) != 1 {
		t.Errorf("offices %v; want anagrafe and polizia, polizia with ztl only", keys(cat.Offices))
	}
	if len(cat.FAQ) != 2 {
		t.Errorf("%d FAQ, want 2", len(cat.FAQ))
	}
	for q, want := range map[string]string{
		"motorino in centro":    "ztl",       // the FAQ question
		"devo fare il trasloco": "residenza", // a synonym of the service
		"il varco":              "ztl",       // the Comune's group
		"ho perso la CIE":       "cie",       // a built-in group
	} {
		if got := top(cat, q); got != want {
			t.Errorf("top for %q = %q, want %q", q, got, want)
		}
	}
	for q, archived := range map[string]string{"archivio storico": "archivio", "pagamento sanzioni": "multe"} {
		for _, s := range cat.Index.Search(q, 10) {
			if s.ServiceID == archived {
				t.Errorf("%q finds the archived service %s", q, archived)
			}
		}
	}
	s := cat.FAQIndex.Search("si può andare col motorino in centro?", 1)
	if len(s) == 0 || s[0].ServiceID != faq.ID {
		t.Errorf("FAQIndex for the motorino question: %+v, want %s", s, faq.ID)
	} else if f, ok := cat.FAQByID(s[0].ServiceID); !ok || f.Answer != faq.Answer {
		t.Errorf("FAQByID(%s) = %+v, %v", s[0].ServiceID, f, ok)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestTenantIsolation: Bari's FAQ, synonyms and services never reach
// Lecce's catalogue, and Lecce cannot read, edit or delete them.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	m := newCluster(t, 1)[0]
	ctx := context.Background()
	bariOffices(t, m)
	addOffice(t, m, lecce.ID, "anagrafe", "Anagrafe", [3]string{"cie", "Carta d'identità", "Rilascio della carta d'identità."})
	f, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "Dove si ritira il permesso per il varco?", Answer: "Al comando di via Roma.", ServiceID: "ztl"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{ServiceID: "cie", Phrases: []string{"documento elettronico"}})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := m.store.Catalogue(ctx, lecce)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.FAQ) != 0 || len(cat.Services) != 1 || len(cat.Offices) != 1 {
		t.Errorf("Lecce's catalogue: %d FAQ, services %v, offices %v; want none of Bari's", len(cat.FAQ), keys(cat.Services), keys(cat.Offices))
	}
	if got := top(cat, "permesso varco"); got != "" {
		t.Errorf("Lecce's index finds %q for Bari's FAQ", got)
	}
	if s := cat.FAQIndex.Search("dove si ritira il permesso", 3); len(s) != 0 {
		t.Errorf("Lecce's FAQ index finds %+v", s)
	}
	if _, err := m.store.FAQ(ctx, lecce.ID, f.ID); err == nil {
		t.Error("Lecce reads Bari's FAQ")
	}
	if err := m.store.DeleteFAQ(ctx, lecce.ID, f.ID); err == nil {
		t.Error("Lecce deletes Bari's FAQ")
	}
	if _, err := m.store.SaveFAQ(ctx, lecce.ID, knowledge.FAQ{ID: f.ID, Question: "Presa?", Answer: "Sì."}); err == nil {
		t.Error("Lecce overwrites Bari's FAQ")
	}
	if err := m.store.DeleteSynonyms(ctx, lecce.ID, g.ID); err == nil {
		t.Error("Lecce deletes Bari's group")
	}
	if got, err := m.store.FAQ(ctx, bari.ID, f.ID); err != nil || got != f {
		t.Errorf("Bari's FAQ after Lecce's attempts: %+v, %v", got, err)
	}
	bcat, err := m.store.Catalogue(ctx, bari)
	if err != nil || len(bcat.FAQ) != 1 || top(bcat, "documento elettronico") != "cie" {
		t.Errorf("Bari's catalogue: %+v, %v", bcat, err)
	}
}

// TestCatalogueFollowsBooking checks the cache on three nodes: a second
// call returns the same catalogue; a service renamed, a service
// archived or an FAQ edited on another node makes each node rebuild it
// once it has applied the change. It also guards the package's reading of
// booking's configuration version.
func TestCatalogueFollowsBooking(t *testing.T) {
	t.Parallel()
	ms := newCluster(t, 3)
	ctx := context.Background()
	bariOffices(t, ms[0])
	addOffice(t, ms[0], lecce.ID, "anagrafe", "Anagrafe", [3]string{"cie", "Carta d'identità", "Rilascio della carta d'identità."})
	catalogues := func() []*knowledge.Catalogue {
		t.Helper()
		var out []*knowledge.Catalogue
		for _, m := range ms {
			catchUp(t, ms[0], m)
			cat, err := m.store.Catalogue(ctx, bari)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cat)
		}
		return out
	}
	first := catalogues()
	lecceFirst, err := ms[2].store.Catalogue(ctx, lecce)
	if err != nil {
		t.Fatal(err)
	}
	for i, cat := range catalogues() {
		if cat != first[i] {
			t.Errorf("node %d rebuilt without a change", i+1)
		}
	}

	// A rename on node 1.
	svc, err := ms[0].book.Service(ctx, bari.ID, "ztl")
	if err != nil {
		t.Fatal(err)
	}
	svc.Name = "Contrassegno per la zona a traffico limitato"
	if _, err := ms[0].book.SaveService(ctx, bari.ID, svc); err != nil {
		t.Fatal(err)
	}
	second := catalogues()
	for i, cat := range second {
		if cat == first[i] || cat.Services["ztl"].Name != svc.Name || top(cat, "contrassegno") != "ztl" {
			t.Errorf("node %d after the rename: name %q, top for contrassegno %q", i+1, cat.Services["ztl"].Name, top(cat, "contrassegno"))
		}
	}
	if cat, _ := ms[2].store.Catalogue(ctx, lecce); cat != lecceFirst {
		t.Error("Bari's rename rebuilt Lecce's catalogue")
	}

	// An FAQ added on node 2, then edited on node 3.
	f, err := ms[1].store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "Serve la fototessera?", Answer: "Sì, una.", ServiceID: "cie"})
	if err != nil {
		t.Fatal(err)
	}
	catchUp(t, ms[1], ms[0])
	third := catalogues()
	for i, cat := range third {
		if cat == second[i] || len(cat.FAQ) != 1 || top(cat, "fototessera") != "cie" {
			t.Errorf("node %d after the new FAQ: %d FAQ, top %q", i+1, len(cat.FAQ), top(cat, "fototessera"))
		}
	}
	f.Question = "Serve una foto recente?"
	if _, err := ms[2].store.SaveFAQ(ctx, bari.ID, f); err != nil {
		t.Fatal(err)
	}
	catchUp(t, ms[2], ms[0])
	for i, cat := range catalogues() {
		if cat == third[i] || cat.FAQ[0].Question != f.Question {
			t.Errorf("node %d after the edit: %+v", i+1, cat.FAQ)
		}
	}

	// Archiving on node 1 takes the service out everywhere.
	if _, err := ms[0].book.ArchiveService(ctx, bari.ID, "ztl", true); err != nil {
		t.Fatal(err)
	}
	for i, cat := range catalogues() {
		if _, ok := cat.Services["ztl"]; ok || top(cat, "contrassegno zona traffico limitato") == "ztl" {
			t.Errorf("node %d still offers the archived service", i+1)
		}
	}
}

// TestCatalogueConcurrent asks for the catalogue from many goroutines
// while it changes: no race, and every answer is a whole catalogue.
func TestCatalogueConcurrent(t *testing.T) {
	t.Parallel()
	m := newCluster(t, 1)[0]
	ctx := context.Background()
	bariOffices(t, m)
	done := make(chan error)
	for range 8 {
		go func() {
			for range 20 {
				cat, err := m.store.Catalogue(ctx, bari)
				if err == nil && (cat.Index == nil || len(cat.Services) == 0) {
					err = fmt.Errorf("partial catalogue %+v", cat)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for i := range 5 {
		if _, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: fmt.Sprintf("Domanda %d?", i), Answer: "Sì.", ServiceID: "cie"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	cat, err := m.store.Catalogue(ctx, bari)
	if err != nil || len(cat.FAQ) != 5 {
		t.Errorf("final catalogue: %v FAQ, %v; want 5", len(cat.FAQ), err)
	}
}

// BenchmarkCatalogue measures the catalogue of a Comune with 100
// services and 500 FAQ entries: "build" reads everything from SQLite and
// builds both indexes (what a change costs, once per node), "cached" is
// the check every request pays.
func BenchmarkCatalogue(b *testing.B) {
	m := newCluster(b, 1)[0]
	ctx := context.Background()
	for o := range 10 {
		office := fmt.Sprintf("ufficio-%d", o)
		addOffice(b, m, bari.ID, office, fmt.Sprintf("Ufficio %d", o))
		for s := range 10 {
			id := fmt.Sprintf("servizio-%d-%d", o, s)
			addService(b, m, bari.ID, office, id, fmt.Sprintf("Servizio %s numero %d", words[(o*10+s)%len(words)], s),
				strings.Repeat(words[(o+s)%len(words)]+" per i cittadini, ", 5))
		}
	}
	for i := range 500 {
		svc := fmt.Sprintf("servizio-%d-%d", i%10, (i/10)%10)
		if _, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{
			Question:  fmt.Sprintf("Come posso ottenere %s entro %d giorni?", words[i%len(words)], i),
			Answer:    strings.Repeat("Bisogna presentare la domanda allo sportello con un documento. ", 3),
			ServiceID: svc,
		}); err != nil {
			b.Fatal(err)
		}
	}
	cat, err := m.store.Catalogue(ctx, bari)
	if err != nil || len(cat.Services) != 100 || len(cat.FAQ) != 500 {
		b.Fatalf("catalogue: %d services, %d FAQ, %v", len(cat.Services), len(cat.FAQ), err)
	}
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := knowledge.Rebuild(ctx, m.store, bari.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.store.Catalogue(ctx, bari); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var words = []string{"certificato", "permesso", "contributo", "iscrizione", "rimborso", "autorizzazione",
	"tessera", "abbonamento", "concessione", "licenza", "esenzione", "attestato", "rinnovo"}
