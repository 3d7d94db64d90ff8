package assistant

import (
	"strings"
	"unicode"
)

// Token is one word of a text: Text as written (for display), Norm lower
// case with accents folded (for matching and typo correction), Stem the
// Italian stem of Norm, and Stop whether it is a stopword.
type Token struct {
	Text string
	Norm string
	Stem string
	Stop bool
}

// fold maps accented Latin letters to their base letter. Citizens often
// write without accents ("citta", "identita") or with an apostrophe in
// their place ("perche'"), so matching ignores accents altogether.
var fold = map[rune]rune{
	'à': 'a', 'á': 'a', 'â': 'a', 'ä': 'a', 'ã': 'a',
	'è': 'e', 'é': 'e', 'ê': 'e', 'ë': 'e',
	'ì': 'i', 'í': 'i', 'î': 'i', 'ï': 'i',
	'ò': 'o', 'ó': 'o', 'ô': 'o', 'ö': 'o', 'õ': 'o',
	'ù': 'u', 'ú': 'u', 'û': 'u', 'ü': 'u',
	'ç': 'c', 'ñ': 'n', 'ß': 's',
}

// Fold returns s in lower case with accents removed: "Città" → "citta".
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = unicode.ToLower(r)
		if f, ok := fold[r]; ok {
			r = f
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isWordRune reports whether r belongs to a word. Apostrophes are not part
// of words: "dell'anagrafe" splits into the elided article "dell", a
// stopword, and "anagrafe"; "perche'" becomes "perche".
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Tokenize splits text into tokens, keeping numbers, dropping punctuation.
// Every token carries its normalised form and stem; stopwords are marked,
// not removed, so that callers that need them (the date parser, a reply
// that quotes the citizen) still see them.
func Tokenize(text string) []Token {
	var toks []Token
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := text[start:end]
		n := Fold(w)
		toks = append(toks, Token{Text: w, Norm: n, Stem: matchStem(n), Stop: stopwords[n]})
		start = -1
	}
	for i, r := range text {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(text))
	return toks
}

// matchStem is the stem used for matching: the Snowball stem, except that
// a stem of fewer than four letters cut from a longer word is replaced by
// the word without its final vowel. Snowball cuts "rifiuti" to "rif", the
// stem of "rifare" too; a short stem merges unrelated words, and for
// finding a service a missed merge costs less than a false one.
func matchStem(n string) string {
	s := Stem(n)
	if len(s) < 4 && len(n) > 4 {
		s = n
		if strings.IndexByte("aeio", s[len(s)-1]) >= 0 {
			s = s[:len(s)-1]
		}
	}
	return s
}

// Terms returns the stems of the words of text that are not stopwords, in
// order: the form the index stores and searches.
func Terms(text string) []string {
	var out []string
	for _, t := range Tokenize(text) {
		if !t.Stop {
			out = append(out, t.Stem)
		}
	}
	return out
}

// stopwords are Italian words that carry no meaning for finding a service:
// articles (also elided, "dell'", "un'"), prepositions, pronouns, common
// forms of essere and avere, the modal verbs of a request ("vorrei",
// "devo"), and greetings. Words that do carry a service's meaning
// ("certificato", "permesso", "informazioni") are deliberately absent.
// Stored folded, without accents.
var stopwords = setOf(`
a ad al allo alla ai agli alle all
da dal dallo dalla dai dagli dalle dall
di del dello della dei degli delle dell d
in nel nello nella nei negli nelle nell
con col coi coll su sul sullo sulla sui sugli sulle sull
per tra fra
il lo la i gli le l un uno una un
e ed o od ma pero anche se che chi cui non ne ci vi si
io tu lui lei noi voi loro mi ti me te ce ve gliel
mio mia miei mie tuo tua tuoi tue suo sua suoi sue nostro nostra nostri nostre vostro vostra
questo questa questi queste quello quella quelli quelle quest quell
c s m t v n
sono sei e siamo siete era ero stato stata essere
ho hai ha abbiamo avete hanno avere avrei avevo
vorrei voglio vorremmo volevo devo dovrei dobbiamo deve bisogna posso potrei possiamo puo potete
fare faccio fa
mi
come cosa dove quando qual quale quali quanto quanta perche
ciao buongiorno buonasera salve grazie prego favore gentilmente cortesemente
gentile salve
qui qua li la
piu molto poco tanto
ok si no
`)

func setOf(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
