package assistant

import (
	"fmt"
	"testing"
)

func TestDecide(t *testing.T) {
	ix := NewIndex(DemoDocs())
	for _, c := range []struct {
		q    string
		want Outcome
		top  string // for Confident: the service; for Clarify: one of the choices
	}{
		{"multa", Confident, "sanzioni"},
		{"devo rifare la carta d'identità", Confident, "cie"},
		{"iscrivere mio figlio alla mensa", Confident, "mensa"},
		{"permesso", Clarify, "ztl"},
		{"iscrizione", Clarify, ""},
		{"pizza margherita", Unknown, ""},
		{"voglio ordinare una pizza", Unknown, ""},
		{"", Unknown, ""},
	} {
		got := Decide(ix.Search(c.q, 10))
		if c.want == Confident && got.Outcome == Confident && got.Choices[0].ServiceID != c.top {
			t.Errorf("Decide(%q) chose %v, want %s", c.q, names(got.Choices), c.top)
		}
		if got.Outcome != c.want {
			t.Errorf("Decide(%q) = %v %v, want %v", c.q, got.Outcome, names(got.Choices), c.want)
			continue
		}
		switch c.want {
		case Confident:
			if len(got.Choices) != 1 || got.Choices[0].ServiceID != c.top {
				t.Errorf("Decide(%q) chose %v, want %s", c.q, names(got.Choices), c.top)
			}
		case Clarify:
			if len(got.Choices) < 1 || len(got.Choices) > 3 {
				t.Errorf("Decide(%q) offers %d choices, want 1–3", c.q, len(got.Choices))
			}
			if c.top != "" && !contains(got.Choices, c.top) {
				t.Errorf("Decide(%q) offers %v, want %s among them", c.q, names(got.Choices), c.top)
			}
		case Unknown:
			if len(got.Choices) != 0 {
				t.Errorf("Decide(%q) offers %v, want none", c.q, names(got.Choices))
			}
		}
	}
}

// A sentence that touches the catalogue with one word must never be acted
// on without asking.
func TestDecideNotConfidentOnStray(t *testing.T) {
	ix := NewIndex(DemoDocs())
	for _, q := range []string{"qual è il senso della vita", "che tempo fa domani", "la mia macchina è rossa"} {
		if d := Decide(ix.Search(q, 10)); d.Outcome == Confident {
			t.Errorf("Decide(%q) = confident %v, want clarify or unknown", q, names(d.Choices))
		}
	}
}

// TestDecideOnEvalSet measures what the assistant would do with each
// request of evalSet, extraSet and holdoutSet: act on the right service, act on a
// wrong one (the costly case), ask (with or without the right service
// among the buttons), or give up.
func TestDecideOnEvalSet(t *testing.T) {
	ix := NewIndex(DemoDocs())
	var right, wrong, askRight, askWrong, unknown int
	all := append(append(append([]struct{ q, want string }{}, evalSet...), extraSet...), holdoutSet...)
	for _, c := range all {
		d := Decide(ix.Search(c.q, 10))
		switch d.Outcome {
		case Confident:
			if d.Choices[0].ServiceID == c.want {
				right++
			} else {
				wrong++
				t.Logf("confidently wrong: %q → %s, want %s", c.q, d.Choices[0].ServiceID, c.want)
			}
		case Clarify:
			if contains(d.Choices, c.want) {
				askRight++
			} else {
				askWrong++
			}
		default:
			unknown++
		}
	}
	n := float64(len(all))
	t.Logf("decisions on %d requests: confident and right %.1f%%, confident and wrong %.1f%%, clarify with the right button %.1f%%, clarify without it %.1f%%, unknown %.1f%%",
		len(all), 100*float64(right)/n, 100*float64(wrong)/n, 100*float64(askRight)/n, 100*float64(askWrong)/n, 100*float64(unknown)/n)
	if float64(wrong)/n > 0.05 {
		t.Errorf("confidently wrong on %.1f%% of requests, want ≤ 5%%", 100*float64(wrong)/n)
	}
}

func names(s []Suggestion) []string {
	var out []string
	for _, x := range s {
		out = append(out, fmt.Sprintf("%s(%.2f/%.2f)", x.ServiceID, x.Score, x.Confidence))
	}
	return out
}

func contains(s []Suggestion, id string) bool {
	for _, x := range s {
		if x.ServiceID == id {
			return true
		}
	}
	return false
}

// TestComuneSynonyms checks that a group the Comune adds in the back
// office changes the ranking: in the demo, "tesserino" means nothing until
// the Comune says it is the tessera elettorale.
func TestComuneSynonyms(t *testing.T) {
	q := "mi serve il tesserino"
	if got := NewIndex(DemoDocs()).Search(q, 1); len(got) > 0 && got[0].ServiceID == "tessera-elettorale" {
		t.Fatalf("without the Comune's group, %q already finds %s", q, got[0].ServiceID)
	}
	got := NewIndex(DemoDocs(), []string{"tesserino", "tessera elettorale"}).Search(q, 1)
	if len(got) == 0 || got[0].ServiceID != "tessera-elettorale" {
		t.Errorf("with the Comune's group, Search(%q) = %v, want tessera-elettorale first", q, names(got))
	}
}

// TestFAQAndServiceSynonyms checks that the FAQ and the per-service
// synonyms the administrator enters are searched.
func TestFAQAndServiceSynonyms(t *testing.T) {
	docs := []Doc{
		{ServiceID: "a", Name: "Sportello unico attività produttive", Description: "Pratiche per le imprese."},
		{ServiceID: "b", Name: "Ufficio cimiteri", Description: "Concessioni cimiteriali.", FAQ: []string{"Come rinnovo la concessione del loculo?"}},
		{ServiceID: "c", Name: "Biblioteca", Description: "Prestito di libri.", Synonyms: []string{"SUAP"}},
	}
	ix := NewIndex(docs)
	for q, want := range map[string]string{"loculo": "b", "suap": "c", "imprese": "a"} {
		if got := ix.Search(q, 1); len(got) == 0 || got[0].ServiceID != want {
			t.Errorf("Search(%q) = %v, want %s first", q, names(got), want)
		}
	}
}
