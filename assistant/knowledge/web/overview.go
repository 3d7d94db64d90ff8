package web

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
)

// fieldTry is the query parameter (and input id) of the test box.
const fieldTry = "prova"

// maxTry caps the test sentence: a citizen's message, not a document.
const maxTry = 500

// faqRow is an FAQ entry in the overview.
type faqRow struct {
	ID, Question, Service, Office string
	// Answer is the answer's lines: each is shown as a paragraph, as
	// the administrator wrote it.
	Answer []string
}

// groupRow is a synonym group in the overview.
type groupRow struct {
	ID      string
	Phrases []string
	// Service names the service the phrases are other names of; empty
	// for a group of phrases equivalent to each other.
	Service string
}

// termRow is a term of the analysed test sentence.
type termRow struct {
	Stem, Weight, Why string
}

// suggestionRow is a ranked service of the test.
type suggestionRow struct {
	ID, Name, Office, Score, Confidence string
}

// faqHit is an FAQ entry the test sentence matches.
type faqHit struct {
	ID, Question, Score string
}

// overviewView is the data of gestione_assistente.html.
type overviewView struct {
	CSRF, Flash string
	FAQ         []faqRow
	Groups      []groupRow
	MaxFAQ      int
	MaxGroups   int
	// Try is the test sentence; Tried is true once one was sent.
	Try, TryError string
	Tried         bool
	Terms         []termRow
	Suggestions   []suggestionRow
	// Decision says in a sentence what the assistant would do.
	Decision string
	FAQHits  []faqHit
}

// overview answers GET /gestione/assistente: the Comune's FAQ entries and
// synonym groups, and the result of the test box when ?prova= is set.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request, q request) {
	v := overviewView{CSRF: q.csrf, Flash: h.waitSave(r), MaxFAQ: knowledge.MaxFAQ, MaxGroups: knowledge.MaxGroups}
	ctx := r.Context()
	cfg, err := h.book.Configuration(ctx, q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	names := newNames(cfg)
	faqs, err := h.store.FAQs(ctx, q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, f := range faqs {
		v.FAQ = append(v.FAQ, faqRow{ID: f.ID, Question: f.Question, Answer: lines(f.Answer),
			Service: names.service(f.ServiceID), Office: names.office(f.OfficeID)})
	}
	groups, err := h.store.Synonyms(ctx, q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, g := range groups {
		v.Groups = append(v.Groups, groupRow{ID: g.ID, Phrases: g.Phrases, Service: names.service(g.ServiceID)})
	}
	status := http.StatusOK
	if values, ok := r.URL.Query()[fieldTry]; ok {
		v.Try = strings.TrimSpace(values[0])
		switch {
		case v.Try == "":
			v.TryError = "Scrivi una frase da provare, come la scriverebbe un cittadino."
		case utf8.RuneCountInString(v.Try) > maxTry:
			v.TryError = fmt.Sprintf("La frase può avere al massimo %d caratteri.", maxTry)
		default:
			if err := h.try(r, q, &v); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		if v.TryError != "" {
			status = http.StatusUnprocessableEntity
		}
	}
	h.render(w, r, status, "gestione_assistente.html", "Assistente virtuale", crumbs(), v)
}

// try runs the test sentence against the Comune's catalogue, exactly as
// the assistant would.
func (h *Handler) try(r *http.Request, q request, v *overviewView) error {
	cat, err := h.store.Catalogue(r.Context(), q.t)
	if err != nil {
		return err
	}
	v.Tried = true
	for _, t := range cat.Index.Analyze(v.Try) {
		row := termRow{Stem: t.Stem, Weight: decimal(t.Weight, 1)}
		switch {
		case t.From == "sinonimo":
			row.Why = "aggiunta da un gruppo di sinonimi"
		case t.From != "":
			row.Why = fmt.Sprintf("corretta da «%s»", t.From)
		default:
			row.Why = "scritta dal cittadino"
		}
		v.Terms = append(v.Terms, row)
	}
	ranked := cat.Index.Search(v.Try, 5)
	for _, s := range ranked {
		v.Suggestions = append(v.Suggestions, suggestionRow{ID: s.ServiceID, Name: s.Name,
			Office: cat.Offices[s.OfficeID].Name, Score: decimal(s.Score, 2), Confidence: percent(s.Confidence)})
	}
	d := assistant.Decide(ranked)
	switch d.Outcome {
	case assistant.Confident:
		v.Decision = fmt.Sprintf("L'assistente proporrebbe direttamente il servizio «%s».", d.Choices[0].Name)
	case assistant.Clarify:
		var names []string
		for _, c := range d.Choices {
			names = append(names, "«"+c.Name+"»")
		}
		v.Decision = "L'assistente non è sicuro e chiederebbe di scegliere tra: " + strings.Join(names, ", ") + "."
	default:
		v.Decision = "L'assistente non ha capito: proporrebbe l'URP o di parlare con un operatore. Aggiungi un sinonimo o una domanda frequente per insegnargli questa frase."
	}
	for _, s := range cat.FAQIndex.Search(v.Try, 3) {
		if s.Score < 2 {
			// The same floor as Decide's: below it the match rests on
			// one common word.
			continue
		}
		v.FAQHits = append(v.FAQHits, faqHit{ID: s.ServiceID, Question: s.Name, Score: decimal(s.Score, 2)})
	}
	return nil
}

// lines splits text at its line ends, dropping empty lines.
func lines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// decimal formats x with n decimals and an Italian decimal comma.
func decimal(x float64, n int) string {
	return strings.Replace(fmt.Sprintf("%.*f", n, x), ".", ",", 1)
}

// percent formats a share in [0,1] as a whole percentage.
func percent(x float64) string {
	return fmt.Sprintf("%d%%", int(math.Round(x*100)))
}

// names finds the names of the Comune's offices and services, archived
// ones marked.
type names struct {
	offices, services map[string]string
}

func newNames(cfg booking.Configuration) names {
	n := names{offices: map[string]string{}, services: map[string]string{}}
	for _, o := range cfg.Offices {
		n.offices[o.ID] = o.Name
		if cfg.ArchivedOffices[o.ID] {
			n.offices[o.ID] += " (archiviato)"
		}
		for _, s := range o.Services {
			n.services[s.ID] = s.Name
			if cfg.ArchivedServices[s.ID] || cfg.ArchivedOffices[o.ID] {
				n.services[s.ID] += " (archiviato)"
			}
		}
	}
	return n
}

func (n names) service(id string) string {
	if id == "" {
		return ""
	}
	if name, ok := n.services[id]; ok {
		return name
	}
	return "servizio eliminato"
}

func (n names) office(id string) string {
	if id == "" {
		return ""
	}
	if name, ok := n.offices[id]; ok {
		return name
	}
	return "ufficio eliminato"
}
