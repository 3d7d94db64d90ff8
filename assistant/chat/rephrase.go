package chat

import (
	"context"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Rephraser rewords a grounded reply in lang: facts are the Comune's data
// the reply was built from (the only content allowed), draft is the reply
// itself. The optional language-model backend (package
// assistant/chat/openai) implements it.
type Rephraser interface {
	Rephrase(ctx context.Context, lang, facts, draft string) (string, error)
}

// rephrase asks the Rephraser for a reworded reply and keeps the grounded
// draft when the call fails, times out, or the answer does not pass
// grounded: a model must not add a link, a number or a date.
func (e *Engine) rephrase(ctx context.Context, lang, facts, draft string) string {
	ctx, cancel := context.WithTimeout(ctx, e.rephraseT)
	defer cancel()
	out, err := e.rephraser.Rephrase(ctx, lang, facts, draft)
	if err != nil {
		e.log.Warn("rephrase failed; grounded reply used", "err", err)
		return draft
	}
	out = strings.TrimSpace(out)
	if !grounded(out, facts+"\n"+draft) {
		e.log.Warn("rephrased reply left the facts; grounded reply used")
		return draft
	}
	return out
}

// tokenRE finds what a reworded reply may not invent: links, email
// addresses and numbers (times, dates, phone numbers, prices, codes).
var tokenRE = regexp.MustCompile(`https?://[^\s)>\]]+|[\w.+-]+@[\w-]+\.[\w.-]+|\d+(?:[.,:]\d+)*`)

// grounded reports whether every link, address and number of out occurs
// in the facts, and out is not empty nor much longer than the facts
// allow.
func grounded(out, facts string) bool {
	if out == "" || utf8.RuneCountInString(out) > 2*utf8.RuneCountInString(facts)+200 {
		return false
	}
	for _, tok := range tokenRE.FindAllString(out, -1) {
		tok = strings.TrimRight(tok, ".,;:")
		if !strings.Contains(facts, tok) {
			return false
		}
	}
	return true
}
