package knowledge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/cluster"
)

// TestFAQAndSynonymsAcrossNodes saves, edits and deletes through a
// follower and reads the result on the other nodes.
func TestFAQAndSynonymsAcrossNodes(t *testing.T) {
	t.Parallel()
	ms := newCluster(t, 3)
	ctx := context.Background()
	bariOffices(t, ms[0])
	catchUp(t, ms[0], ms[1])

	f, err := ms[1].store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "  Quanto   costa la carta d'identità? ", Answer: "22,21 euro.\r\nSi paga allo sportello.", ServiceID: "cie"})
	if err != nil {
		t.Fatalf("SaveFAQ: %v", err)
	}
	if f.ID == "" || f.Question != "Quanto costa la carta d'identità?" || f.Answer != "22,21 euro.\nSi paga allo sportello." || f.OfficeID != "anagrafe" {
		t.Errorf("SaveFAQ returned %+v; want an ID, the text normalised and the office of the service", f)
	}
	g, err := ms[1].store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{Phrases: []string{"vigili", "", " polizia  municipale "}})
	if err != nil {
		t.Fatalf("SaveSynonyms: %v", err)
	}
	if g.ID == "" || strings.Join(g.Phrases, "|") != "vigili|polizia municipale" {
		t.Errorf("SaveSynonyms returned %+v", g)
	}
	for _, m := range ms {
		catchUp(t, ms[1], m)
		faqs, err := m.store.FAQs(ctx, bari.ID)
		if err != nil || len(faqs) != 1 || faqs[0] != f {
			t.Errorf("%s: FAQs = %+v, %v; want [%+v]", m.node.Config().NodeID, faqs, err, f)
		}
		groups, err := m.store.Synonyms(ctx, bari.ID)
		if err != nil || len(groups) != 1 || groups[0].ID != g.ID {
			t.Errorf("%s: Synonyms = %+v, %v; want [%+v]", m.node.Config().NodeID, groups, err, g)
		}
	}

	f.Answer = "22,21 euro, con PagoPA o con carta allo sportello."
	if _, err := ms[2].store.SaveFAQ(ctx, bari.ID, f); err != nil {
		t.Fatalf("edit FAQ: %v", err)
	}
	if got, err := ms[2].store.FAQ(ctx, bari.ID, f.ID); err != nil || got.Answer != f.Answer {
		t.Errorf("after the edit: %+v, %v; want answer %q", got, err, f.Answer)
	}
	if err := ms[2].store.DeleteFAQ(ctx, bari.ID, f.ID); err != nil {
		t.Fatalf("DeleteFAQ: %v", err)
	}
	if err := ms[1].store.DeleteFAQ(ctx, bari.ID, f.ID); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("deleting twice: got %v, want ErrNotFound", err)
	}
	if _, err := ms[1].store.SaveFAQ(ctx, bari.ID, f); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("editing a deleted entry: got %v, want ErrNotFound", err)
	}
	if err := ms[1].store.DeleteSynonyms(ctx, bari.ID, g.ID); err != nil {
		t.Fatalf("DeleteSynonyms: %v", err)
	}
	if _, err := ms[1].store.SynonymGroup(ctx, bari.ID, g.ID); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("deleted group: got %v, want ErrNotFound", err)
	}
}

// TestFieldErrors checks every refusal of bad input: a *ValidationError
// with the field and an Italian message, and nothing stored.
func TestFieldErrors(t *testing.T) {
	t.Parallel()
	ms := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	bariOffices(t, m)
	if _, err := m.book.ArchiveService(ctx, bari.ID, "multe", true); err != nil {
		t.Fatal(err)
	}
	ok := knowledge.FAQ{Question: "Quanto costa?", Answer: "Nulla."}
	faqCases := []struct {
		name  string
		edit  func(*knowledge.FAQ)
		field string
	}{
		{"no question", func(f *knowledge.FAQ) { f.Question = "   " }, "question"},
		{"long question", func(f *knowledge.FAQ) { f.Question = strings.Repeat("à", knowledge.MaxQuestion+1) }, "question"},
		{"control in question", func(f *knowledge.FAQ) { f.Question = "Quanto\x07costa?" }, "question"},
		{"no answer", func(f *knowledge.FAQ) { f.Answer = "" }, "answer"},
		{"long answer", func(f *knowledge.FAQ) { f.Answer = strings.Repeat("è", knowledge.MaxAnswer+1) }, "answer"},
		{"unknown service", func(f *knowledge.FAQ) { f.ServiceID = "nessuno" }, "service_id"},
		{"malformed service", func(f *knowledge.FAQ) { f.ServiceID = "Non Valido" }, "service_id"},
		{"archived service", func(f *knowledge.FAQ) { f.ServiceID = "multe" }, "service_id"},
		{"unknown office", func(f *knowledge.FAQ) { f.OfficeID = "altrove" }, "office_id"},
		{"service of another Comune", func(f *knowledge.FAQ) { f.ServiceID = "cie" }, "service_id"},
	}
	for _, tc := range faqCases {
		f := ok
		tc.edit(&f)
		tn := bari.ID
		if strings.Contains(tc.name, "another Comune") {
			tn = lecce.ID
		}
		_, err := m.store.SaveFAQ(ctx, tn, f)
		var ve *knowledge.ValidationError
		if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
			t.Errorf("%s: got %v, want a field error on %s", tc.name, err, tc.field)
		}
	}
	// With a service, the office is the service's.
	if f, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "Serve la foto?", Answer: "Sì.", ServiceID: "cie", OfficeID: "polizia"}); err != nil || f.OfficeID != "anagrafe" {
		t.Errorf("service of another office: got %+v, %v; want the service's office", f, err)
	} else if err := m.store.DeleteFAQ(ctx, bari.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	// At the limits, the same entry passes.
	long := knowledge.FAQ{Question: strings.Repeat("à", knowledge.MaxQuestion), Answer: strings.Repeat("è", knowledge.MaxAnswer)}
	if _, err := m.store.SaveFAQ(ctx, lecce.ID, long); err != nil {
		t.Errorf("an entry at the limits: %v", err)
	}

	phrases := func(n int) []string {
		var p []string
		for i := range n {
			p = append(p, fmt.Sprintf("parola%d", i))
		}
		return p
	}
	groupCases := []struct {
		name string
		g    knowledge.SynonymGroup
	}{
		{"one phrase", knowledge.SynonymGroup{Phrases: []string{"vigili", " "}}},
		{"too many phrases", knowledge.SynonymGroup{Phrases: phrases(knowledge.MaxPhrases + 1)}},
		{"long phrase", knowledge.SynonymGroup{Phrases: []string{"vigili", strings.Repeat("a", knowledge.MaxPhrase+1)}}},
		{"repeated phrase", knowledge.SynonymGroup{Phrases: []string{"Città", "citta"}}},
		{"only stopwords", knowledge.SynonymGroup{Phrases: []string{"vigili", "per il"}}},
		{"no phrase for a service", knowledge.SynonymGroup{ServiceID: "cie"}},
	}
	for _, tc := range groupCases {
		_, err := m.store.SaveSynonyms(ctx, bari.ID, tc.g)
		var ve *knowledge.ValidationError
		if !errors.As(err, &ve) || ve.Fields["phrases"] == "" {
			t.Errorf("%s: got %v, want a field error on phrases", tc.name, err)
		}
		if err := knowledge.CheckSynonyms(tc.g); !errors.As(err, &ve) {
			t.Errorf("%s: CheckSynonyms gave %v, want the same field error", tc.name, err)
		}
	}
	if _, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{ServiceID: "nessuno", Phrases: []string{"x ray"}}); err == nil {
		t.Error("a group for an unknown service was saved")
	}
	if _, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{Phrases: phrases(knowledge.MaxPhrases)}); err != nil {
		t.Errorf("a group at the limit: %v", err)
	}
	if faqs, _ := m.store.FAQs(ctx, bari.ID); len(faqs) != 0 {
		t.Errorf("Bari has %d FAQ after only bad input, want 0", len(faqs))
	}
	if groups, _ := m.store.Synonyms(ctx, bari.ID); len(groups) != 1 {
		t.Errorf("Bari has %d groups, want only the one at the limit", len(groups))
	}
}

// TestApplyRefusesBadCommands sends commands past the proposer's checks,
// through a follower: apply refuses them with the same typed errors, and
// the forwarding keeps them typed.
func TestApplyRefusesBadCommands(t *testing.T) {
	t.Parallel()
	ms := newCluster(t, 2)
	ctx := context.Background()
	propose := func(typ, tn string, payload any) error {
		cmd, err := cluster.NewCommand(typ, 1, tn, payload)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ms[1].node.Propose(ctx, cmd)
		return err
	}
	var ve *knowledge.ValidationError
	err := propose(knowledge.CmdFAQSave, "bari", map[string]any{"faq": map[string]string{"id": "abc", "question": "", "answer": "x"}, "create": true})
	if !errors.As(err, &ve) || ve.Fields["question"] == "" {
		t.Errorf("empty question in apply: got %v, want a field error", err)
	}
	err = propose(knowledge.CmdSynonymsSave, "bari", map[string]any{"group": map[string]any{"id": "abc", "phrases": []string{"uno"}}, "create": true})
	if !errors.As(err, &ve) || ve.Fields["phrases"] == "" {
		t.Errorf("one phrase in apply: got %v, want a field error", err)
	}
	if err := propose(knowledge.CmdFAQDelete, "bari", map[string]string{"id": "abc"}); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("delete unknown: got %v, want ErrNotFound", err)
	}
	if err := propose(knowledge.CmdFAQSave, "", map[string]any{"faq": map[string]string{"id": "abc", "question": "q", "answer": "a"}, "create": true}); err == nil {
		t.Error("a command without a Comune was applied")
	}
}

// TestLimits fills a Comune to MaxFAQ entries and MaxGroups groups: the
// next one is refused with ErrFull, editing still works, and another
// Comune is not affected.
func TestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("1500 commands")
	}
	t.Parallel()
	ms := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	var last knowledge.FAQ
	for i := range knowledge.MaxFAQ {
		f, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: fmt.Sprintf("Domanda %d?", i), Answer: "Risposta."})
		if err != nil {
			t.Fatalf("FAQ %d: %v", i, err)
		}
		last = f
	}
	if _, err := m.store.SaveFAQ(ctx, bari.ID, knowledge.FAQ{Question: "Una di troppo?", Answer: "No."}); !errors.Is(err, knowledge.ErrFull) {
		t.Errorf("FAQ %d: got %v, want ErrFull", knowledge.MaxFAQ+1, err)
	}
	last.Answer = "Cambiata."
	if _, err := m.store.SaveFAQ(ctx, bari.ID, last); err != nil {
		t.Errorf("editing at the limit: %v", err)
	}
	if _, err := m.store.SaveFAQ(ctx, lecce.ID, knowledge.FAQ{Question: "A Lecce?", Answer: "Sì."}); err != nil {
		t.Errorf("Lecce's first FAQ while Bari is full: %v", err)
	}
	for i := range knowledge.MaxGroups {
		if _, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{Phrases: []string{fmt.Sprintf("alfa%d", i), fmt.Sprintf("beta%d", i)}}); err != nil {
			t.Fatalf("group %d: %v", i, err)
		}
	}
	if _, err := m.store.SaveSynonyms(ctx, bari.ID, knowledge.SynonymGroup{Phrases: []string{"gamma", "delta"}}); !errors.Is(err, knowledge.ErrFull) {
		t.Errorf("group %d: got %v, want ErrFull", knowledge.MaxGroups+1, err)
	}
}
