package knowledge

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/booking"
)

// Limits of what a Comune stores. They keep the index small enough to
// build in a few milliseconds and every page of the back office short:
// a question is a sentence a citizen would write, an answer a paragraph or
// two, a phrase a few words; 1000 FAQ entries and 500 groups are far more
// than a Comune writes by hand.
const (
	MaxQuestion = 300
	MaxAnswer   = 2000
	MaxPhrase   = 80
	MaxPhrases  = 20
	MaxFAQ      = 1000
	MaxGroups   = 500
)

// NormalizeFAQ returns f as it is stored: question and IDs trimmed, runs
// of spaces in the question collapsed, line ends of the answer as "\n".
func NormalizeFAQ(f FAQ) FAQ {
	f.ID = strings.TrimSpace(f.ID)
	f.Question = strings.Join(strings.Fields(f.Question), " ")
	f.Answer = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(f.Answer, "\r\n", "\n"), "\r", "\n"))
	f.ServiceID = strings.TrimSpace(f.ServiceID)
	f.OfficeID = strings.TrimSpace(f.OfficeID)
	return f
}

// NormalizeSynonyms returns g as it is stored: each phrase trimmed with
// its runs of spaces collapsed, empty phrases dropped (a form sends one
// phrase per line, blank lines included).
func NormalizeSynonyms(g SynonymGroup) SynonymGroup {
	g.ID = strings.TrimSpace(g.ID)
	g.ServiceID = strings.TrimSpace(g.ServiceID)
	phrases := make([]string, 0, len(g.Phrases))
	for _, p := range g.Phrases {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			phrases = append(phrases, p)
		}
	}
	g.Phrases = phrases
	return g
}

// checkFAQ validates a normalised entry as stored. It runs in apply too,
// so it depends only on f: whether the service exists is checked by the
// proposer (SaveFAQ), which can read the booking configuration.
func checkFAQ(f FAQ) error {
	e := map[string]string{}
	if !booking.ValidID(f.ID) {
		e["id"] = "L'identificativo della domanda non è valido."
	}
	switch n := utf8.RuneCountInString(f.Question); {
	case n == 0:
		e["question"] = "Scrivi la domanda, come la farebbe un cittadino."
	case n > MaxQuestion:
		e["question"] = fmt.Sprintf("La domanda può avere al massimo %d caratteri (ne ha %d).", MaxQuestion, n)
	case hasControl(f.Question, false):
		e["question"] = "La domanda contiene caratteri non ammessi."
	}
	switch n := utf8.RuneCountInString(f.Answer); {
	case n == 0:
		e["answer"] = "Scrivi la risposta."
	case n > MaxAnswer:
		e["answer"] = fmt.Sprintf("La risposta può avere al massimo %d caratteri (ne ha %d).", MaxAnswer, n)
	case hasControl(f.Answer, true):
		e["answer"] = "La risposta contiene caratteri non ammessi."
	}
	if f.ServiceID != "" && !booking.ValidID(f.ServiceID) {
		e["service_id"] = "Il servizio scelto non esiste."
	}
	if f.OfficeID != "" && !booking.ValidID(f.OfficeID) {
		e["office_id"] = "L'ufficio scelto non esiste."
	}
	return fieldsErr(e)
}

// checkSynonyms validates a normalised group as stored (see checkFAQ for
// why it reads nothing else).
func checkSynonyms(g SynonymGroup) error {
	e := map[string]string{}
	if !booking.ValidID(g.ID) {
		e["id"] = "L'identificativo del gruppo non è valido."
	}
	if g.ServiceID != "" && !booking.ValidID(g.ServiceID) {
		e["service_id"] = "Il servizio scelto non esiste."
	}
	// A group of equivalent phrases needs two of them; phrases that name
	// one service are useful one at a time.
	least := 2
	if g.ServiceID != "" {
		least = 1
	}
	seen := make(map[string]bool, len(g.Phrases))
	switch {
	case len(g.Phrases) < least && least == 1:
		e["phrases"] = "Scrivi almeno una frase."
	case len(g.Phrases) < least:
		e["phrases"] = "Scrivi almeno due frasi equivalenti, una per riga."
	case len(g.Phrases) > MaxPhrases:
		e["phrases"] = fmt.Sprintf("Un gruppo può avere al massimo %d frasi (ne ha %d).", MaxPhrases, len(g.Phrases))
	}
	for i, p := range g.Phrases {
		if _, done := e["phrases"]; done {
			break
		}
		key := assistant.Fold(p)
		switch {
		case utf8.RuneCountInString(p) > MaxPhrase:
			e["phrases"] = fmt.Sprintf("La frase alla riga %d supera i %d caratteri.", i+1, MaxPhrase)
		case hasControl(p, false):
			e["phrases"] = fmt.Sprintf("La frase alla riga %d contiene caratteri non ammessi.", i+1)
		case seen[key]:
			e["phrases"] = fmt.Sprintf("La frase «%s» è ripetuta.", p)
		}
		seen[key] = true
	}
	return fieldsErr(e)
}

// checkSynonymsMeaning refuses phrases the index could never match: only
// stopwords ("per il", "come"). It runs in the proposer only, since the
// stopword list is code that a newer version may change, and apply must
// give the same outcome on nodes of different versions.
func checkSynonymsMeaning(g SynonymGroup) error {
	for _, p := range g.Phrases {
		if len(assistant.Terms(p)) == 0 {
			return &ValidationError{Fields: map[string]string{
				"phrases": fmt.Sprintf("La frase «%s» contiene solo parole troppo comuni: l'assistente la ignorerebbe.", p),
			}}
		}
	}
	return nil
}

// CheckFAQ runs the checks SaveFAQ runs on the entry itself (not whether
// its service exists), with a placeholder ID when it is still to be
// drawn, so that a form can show every invalid field at once.
func CheckFAQ(f FAQ) error {
	f = NormalizeFAQ(f)
	if f.ID == "" {
		f.ID = "nuovo"
	}
	return checkFAQ(f)
}

// CheckSynonyms is CheckFAQ for synonym groups.
func CheckSynonyms(g SynonymGroup) error {
	g = NormalizeSynonyms(g)
	if g.ID == "" {
		g.ID = "nuovo"
	}
	if err := checkSynonyms(g); err != nil {
		return err
	}
	return checkSynonymsMeaning(g)
}

// hasControl reports whether s holds a control character; multiline
// allows line ends and tabs.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
