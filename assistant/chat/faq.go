package chat

import (
	"strconv"
	"sync"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
)

// faqCache holds an index of the FAQ questions of each catalogue the
// engine has seen that has no FAQIndex of its own. A catalogue is immutable and replaced as a whole when
// the Comune changes it, so its pointer is the key; the table is emptied
// when it grows past maxFAQIndexes (old catalogues are then unreachable
// anyway).
type faqCache struct {
	mu sync.Mutex
	m  map[*knowledge.Catalogue]*assistant.Index
}

// maxFAQIndexes bounds the cache: a few catalogues per Comune on the node.
const maxFAQIndexes = 256

func (fc *faqCache) index(cat *knowledge.Catalogue) *assistant.Index {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if ix, ok := fc.m[cat]; ok {
		return ix
	}
	if fc.m == nil || len(fc.m) >= maxFAQIndexes {
		fc.m = make(map[*knowledge.Catalogue]*assistant.Index)
	}
	docs := make([]assistant.Doc, 0, len(cat.FAQ))
	for i, f := range cat.FAQ {
		// The question alone is indexed: matching the answer's words
		// would answer questions the entry does not address.
		docs = append(docs, assistant.Doc{ServiceID: strconv.Itoa(i), Name: f.Question})
	}
	ix := assistant.NewIndex(docs)
	fc.m[cat] = ix
	return ix
}

// match returns the FAQ entry that answers msg. The index ranks the
// entries; the best one is taken only when its question and the message
// share most of their words (overlaps). BM25's scores and Decide's
// thresholds depend on how many entries there are — with a handful, every
// word is "common" — while the overlap of words does not.
func (fc *faqCache) match(cat *knowledge.Catalogue, msg string) (knowledge.FAQ, bool) {
	if len(cat.FAQ) == 0 {
		return knowledge.FAQ{}, false
	}
	ix := cat.FAQIndex
	if ix == nil {
		ix = fc.index(cat)
	}
	for _, s := range ix.Search(msg, 3) {
		var f knowledge.FAQ
		var ok bool
		if cat.FAQIndex != nil {
			f, ok = cat.FAQByID(s.ServiceID)
		} else if i, err := strconv.Atoi(s.ServiceID); err == nil && i >= 0 && i < len(cat.FAQ) {
			f, ok = cat.FAQ[i], true
		}
		if ok && overlaps(msg, f.Question) {
			return f, true
		}
	}
	return knowledge.FAQ{}, false
}

// overlaps reports whether the message and the question share at least
// two words (one when the question has only one or two), covering at
// least 60% of the question's words and half of the message's.
func overlaps(msg, question string) bool {
	m, q := stemSet(msg), stemSet(question)
	if len(m) == 0 || len(q) == 0 {
		return false
	}
	shared := 0
	for s := range q {
		if m[s] {
			shared++
		}
	}
	need := 2
	if len(q) <= 2 {
		need = 1
	}
	return shared >= need && float64(shared) >= 0.6*float64(len(q)) && float64(shared) >= 0.5*float64(len(m))
}

func stemSet(text string) map[string]bool {
	set := map[string]bool{}
	for _, t := range assistant.Terms(text) {
		set[t] = true
	}
	return set
}
