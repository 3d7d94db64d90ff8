package assistant

import (
	"math"
	"sort"
	"strings"
)

// Doc is one service as the index sees it: the Comune's own words about
// it. The caller builds Docs from booking.Service and booking.Office (plus
// the FAQ and synonyms the administrator entered in the back office).
type Doc struct {
	ServiceID, OfficeID, Name, OfficeName, Description, Bring string
	Synonyms, FAQ                                             []string
}

// Suggestion is a service matching a query. Score is the BM25F score (only
// comparable within one query); Confidence in [0,1] says how sure the index
// is that this service is the one meant (see confidence).
type Suggestion struct {
	ServiceID, OfficeID, Name string
	Score, Confidence         float64
}

// The fields of a Doc and their weights in BM25F. The name says most about
// a service, the synonyms the administrator chose nearly as much; what to
// bring mentions documents common to many services, so it counts less.
const (
	fName = iota
	fSyn
	fDesc
	fBring
	fOffice
	fFAQ
	nFields
)

var fieldWeight = [nFields]float64{fName: 3, fSyn: 2, fDesc: 1, fBring: 0.5, fOffice: 1, fFAQ: 1}

// BM25 parameters: the usual values; b normalises by field length.
const (
	k1 = 1.2
	b  = 0.75
	// synWeight is the weight of a term that entered the query through a
	// synonym group rather than from the citizen's own words.
	synWeight = 0.6
)

type posting struct {
	doc int
	tf  [nFields]float64
}

type synGroup struct {
	phrases [][]string // stem sequences
	terms   []string   // every stem of every phrase, deduplicated
}

// Index ranks a Comune's services against free text. It is built once by
// NewIndex and never changed, so any number of goroutines may Search it.
type Index struct {
	docs     []Doc
	postings map[string][]posting
	lens     [][nFields]float64
	avg      [nFields]float64
	// vocab counts the folded words of the catalogue and of the synonym
	// groups: the words a typo is corrected towards.
	vocab      map[string]int
	vocabByLen map[int][]string
	known      map[string]bool // stems that occur in a doc or a group
	groups     []synGroup
	byFirst    map[string][]int // first stem of a phrase → groups
}

// NewIndex builds the index of services. Each extra argument is a group of
// equivalent phrases the Comune added (for example {"carta d'identità",
// "CIE", "documento"}); the built-in groups (BuiltinSynonyms, and the
// English fallback groups) always apply.
func NewIndex(services []Doc, synonyms ...[]string) *Index {
	ix := &Index{
		docs:       append([]Doc(nil), services...),
		postings:   make(map[string][]posting),
		lens:       make([][nFields]float64, len(services)),
		vocab:      make(map[string]int),
		vocabByLen: make(map[int][]string),
		known:      make(map[string]bool),
		byFirst:    make(map[string][]int),
	}
	var total [nFields]float64
	for i, d := range services {
		fields := [nFields]string{
			fName:   d.Name,
			fSyn:    strings.Join(d.Synonyms, " ; "),
			fDesc:   d.Description,
			fBring:  d.Bring,
			fOffice: d.OfficeName,
			fFAQ:    strings.Join(d.FAQ, " ; "),
		}
		tfs := make(map[string]*[nFields]float64)
		for f, text := range fields {
			for _, t := range Tokenize(text) {
				if t.Stop {
					continue
				}
				ix.addWord(t.Norm)
				tf := tfs[t.Stem]
				if tf == nil {
					tf = new([nFields]float64)
					tfs[t.Stem] = tf
				}
				tf[f]++
				ix.lens[i][f]++
			}
		}
		for f := range total {
			total[f] += ix.lens[i][f]
		}
		for term, tf := range tfs {
			ix.postings[term] = append(ix.postings[term], posting{doc: i, tf: *tf})
			ix.known[term] = true
		}
	}
	for f := range total {
		ix.avg[f] = 1
		if len(services) > 0 && total[f] > 0 {
			ix.avg[f] = total[f] / float64(len(services))
		}
	}
	for _, g := range append(append(BuiltinSynonyms(), englishSynonyms()...), synonyms...) {
		ix.addGroup(g)
	}
	for w := range ix.vocab {
		n := len([]rune(w))
		ix.vocabByLen[n] = append(ix.vocabByLen[n], w)
	}
	for _, ws := range ix.vocabByLen {
		sort.Strings(ws)
	}
	return ix
}

func (ix *Index) addWord(norm string) {
	if !isNumber(norm) {
		ix.vocab[norm]++
	}
}

func (ix *Index) addGroup(phrases []string) {
	var g synGroup
	seen := make(map[string]bool)
	for _, p := range phrases {
		var seq []string
		for _, t := range Tokenize(p) {
			if t.Stop {
				continue
			}
			ix.addWord(t.Norm)
			seq = append(seq, t.Stem)
			if !seen[t.Stem] {
				seen[t.Stem] = true
				g.terms = append(g.terms, t.Stem)
			}
			ix.known[t.Stem] = true
		}
		if len(seq) > 0 {
			g.phrases = append(g.phrases, seq)
		}
	}
	if len(g.phrases) < 2 {
		return
	}
	gi := len(ix.groups)
	ix.groups = append(ix.groups, g)
	firsts := make(map[string]bool)
	for _, seq := range g.phrases {
		if !firsts[seq[0]] {
			firsts[seq[0]] = true
			ix.byFirst[seq[0]] = append(ix.byFirst[seq[0]], gi)
		}
	}
}

// QueryTerm is one weighted term of an analysed query.
type QueryTerm struct {
	Stem string
	// Weight is 1 for the citizen's own words, less for synonyms.
	Weight float64
	// From is the word as written when it was corrected or expanded from
	// another word; empty otherwise.
	From string
}

// Analyze turns a query into weighted stems: stopwords dropped, typos
// corrected towards the index's vocabulary, synonym groups expanded. It is
// what Search scores; it is exported so that a reply can explain itself
// ("ho cercato: residenza, indirizzo").
func (ix *Index) Analyze(q string) []QueryTerm {
	var seq []string
	var terms []QueryTerm
	weight := make(map[string]int) // stem → index in terms
	for _, t := range Tokenize(q) {
		if t.Stop {
			continue
		}
		stem, from := t.Stem, ""
		if !ix.known[stem] {
			if w, ok := ix.correct(t.Norm); ok {
				stem, from = matchStem(w), t.Text
			}
		}
		seq = append(seq, stem)
		if _, dup := weight[stem]; !dup {
			weight[stem] = len(terms)
			terms = append(terms, QueryTerm{Stem: stem, Weight: 1, From: from})
		}
	}
	matched := make(map[int]bool)
	for i, s := range seq {
		for _, gi := range ix.byFirst[s] {
			if matched[gi] {
				continue
			}
			for _, p := range ix.groups[gi].phrases {
				if hasPrefix(seq[i:], p) {
					matched[gi] = true
					break
				}
			}
		}
	}
	gis := make([]int, 0, len(matched))
	for gi := range matched {
		gis = append(gis, gi)
	}
	sort.Ints(gis)
	for _, gi := range gis {
		for _, s := range ix.groups[gi].terms {
			if _, dup := weight[s]; dup {
				continue
			}
			weight[s] = len(terms)
			terms = append(terms, QueryTerm{Stem: s, Weight: synWeight, From: "sinonimo"})
		}
	}
	return terms
}

func hasPrefix(seq, p []string) bool {
	if len(p) > len(seq) {
		return false
	}
	for i := range p {
		if seq[i] != p[i] {
			return false
		}
	}
	return true
}

// correct returns the vocabulary word closest to w when w is long enough
// to correct safely: Damerau-Levenshtein distance 1 for words of 5 to 8
// letters, 2 from 9 letters. Ties go to the more frequent word, then to
// alphabetical order, so the result never depends on map order.
func (ix *Index) correct(w string) (string, bool) {
	if isNumber(w) {
		return "", false
	}
	n := len([]rune(w))
	max := 0
	switch {
	case n >= 9:
		max = 2
	case n >= 5:
		max = 1
	default:
		return "", false
	}
	best, bestD, bestF := "", max+1, 0
	for l := n - max; l <= n+max; l++ {
		for _, v := range ix.vocabByLen[l] {
			d := damerau(w, v, max)
			if d > max {
				continue
			}
			f := ix.vocab[v]
			if d < bestD || (d == bestD && f > bestF) {
				best, bestD, bestF = v, d, f
			}
		}
	}
	return best, best != ""
}

// damerau is the optimal-string-alignment Damerau-Levenshtein distance of
// a and b (insertions, deletions, substitutions, adjacent transpositions),
// giving up with max+1 as soon as every cell of a row exceeds max.
func damerau(a, b string, max int) int {
	ra, rb := []rune(a), []rune(b)
	if abs(len(ra)-len(rb)) > max {
		return max + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			c := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				c = min(c, prev2[j-2]+1)
			}
			cur[j] = c
			rowMin = min(rowMin, c)
		}
		if rowMin > max {
			return max + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Search returns up to n services matching q, best first, each with its
// score and confidence. Services that match no term are left out, so an
// empty result means nothing in the catalogue is relevant.
func (ix *Index) Search(q string, n int) []Suggestion {
	nd := float64(len(ix.docs))
	scores := make([]float64, len(ix.docs))
	terms := ix.Analyze(q)
	var own, known float64
	for _, qt := range terms {
		if qt.Weight == 1 {
			own++
			switch {
			case !ix.known[qt.Stem]:
			case qt.From != "":
				// A corrected word is only probably what was meant.
				known += 0.5
			default:
				known++
			}
		}
	}
	coverage := 0.0
	if own > 0 {
		coverage = known / own
	}
	for _, qt := range terms {
		ps := ix.postings[qt.Stem]
		if len(ps) == 0 {
			continue
		}
		df := float64(len(ps))
		idf := math.Log(1 + (nd-df+0.5)/(df+0.5))
		for _, p := range ps {
			var wtf float64
			for f := range nFields {
				if p.tf[f] == 0 {
					continue
				}
				norm := 1 - b + b*ix.lens[p.doc][f]/ix.avg[f]
				wtf += fieldWeight[f] * p.tf[f] / norm
			}
			scores[p.doc] += qt.Weight * idf * wtf * (k1 + 1) / (k1 + wtf)
		}
	}
	var out []Suggestion
	for i, s := range scores {
		if s > 0 {
			d := ix.docs[i]
			out = append(out, Suggestion{ServiceID: d.ServiceID, OfficeID: d.OfficeID, Name: d.Name, Score: s})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ServiceID < out[j].ServiceID
	})
	confidence(out, coverage)
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// Confidence parameters. sharpness turns the ratio of a score to the best
// score into a share: a service at 80% of the best keeps e^(-6·0.2) ≈ 0.30
// of its weight. strengthScale is the score at which a lone match reaches
// 63% strength: about one rare word in a service's description.
const (
	sharpness     = 6.0
	strengthScale = 3.0
)

// confidence fills Confidence for a sorted list: the share of the best
// among all candidates (a softmax of the scores relative to the best),
// times the strength of the best score, so that a lone weak match is not
// reported as certain, times the coverage of the query (the part of the
// citizen's own words that the catalogue knows at all), so that one
// matching word in a sentence about something else ("il senso della
// vita") is not either.
func confidence(s []Suggestion, coverage float64) {
	if len(s) == 0 {
		return
	}
	top := s[0].Score
	var sum float64
	share := make([]float64, len(s))
	for i := range s {
		share[i] = math.Exp(sharpness * (s[i].Score/top - 1))
		sum += share[i]
	}
	strength := 1 - math.Exp(-top/strengthScale)
	for i := range s {
		s[i].Confidence = coverage * strength * share[i] / sum
	}
}

// Outcome is what the assistant should do with a ranking.
type Outcome int

// The outcomes of Decide.
const (
	// Unknown: nothing relevant; offer the URP or an operator.
	Unknown Outcome = iota
	// Confident: one clear winner; go on with it.
	Confident
	// Clarify: a few close candidates; ask a short question with them as
	// buttons.
	Clarify
)

func (o Outcome) String() string {
	switch o {
	case Confident:
		return "confident"
	case Clarify:
		return "clarify"
	}
	return "unknown"
}

// Decision is the outcome and the services to act on or offer: one for
// Confident, two or three (rarely one) for Clarify, none for Unknown.
type Decision struct {
	Outcome Outcome
	Choices []Suggestion
}

// The decision rule's thresholds, measured on the evaluation set
// (TestDecideOnEvalSet): below minScore the best match rests on a common
// word only, below minConfidence on a small part of what was written; a winner is clear when its confidence reaches confidentAt and the
// runner-up scores at most closeRatio of it; candidates within
// clarifyRatio of the best are offered as buttons.
const (
	minScore      = 2.0
	minConfidence = 0.2
	confidentAt   = 0.5
	closeRatio    = 0.75
	clarifyRatio  = 0.5
)

// Decide turns a ranking from Search into a Decision.
func Decide(s []Suggestion) Decision {
	if len(s) == 0 || s[0].Score < minScore || s[0].Confidence < minConfidence {
		return Decision{Outcome: Unknown}
	}
	if s[0].Confidence >= confidentAt && (len(s) == 1 || s[1].Score <= closeRatio*s[0].Score) {
		return Decision{Outcome: Confident, Choices: s[:1]}
	}
	var choices []Suggestion
	for _, x := range s {
		if len(choices) == 3 || x.Score < clarifyRatio*s[0].Score {
			break
		}
		choices = append(choices, x)
	}
	return Decision{Outcome: Clarify, Choices: choices}
}
