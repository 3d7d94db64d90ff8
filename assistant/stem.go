package assistant

import "strings"

// Stem returns the Italian stem of a folded word (lower case, no accents),
// following the published Snowball algorithm for Italian
// (snowballstem.org/algorithms/italian/stemmer.html), implemented here.
//
// github.com/kljensen/snowball v0.10.0, the version in go.mod, has no
// Italian stemmer (it has English, Spanish, French, Russian, Swedish,
// Norwegian and Hungarian; Italian is an unmerged pull request with failing
// vocabulary tests), so the algorithm is written in this file. Because
// matching ignores accents, the suffix lists are the algorithm's with
// accents removed: "ità" is "ita", "erò" is "ero". Words with digits and
// words of fewer than three letters are returned unchanged.
func Stem(w string) string {
	if len(w) < 3 {
		return w
	}
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return w
		}
	}
	b := []byte(w)
	// Mark u after q, and i or u between vowels, as consonants (upper case),
	// as the algorithm's preprocessing does.
	for i := range b {
		switch {
		case b[i] == 'u' && i > 0 && b[i-1] == 'q':
			b[i] = 'U'
		case (b[i] == 'i' || b[i] == 'u') && i > 0 && i+1 < len(b) && isVowel(b[i-1]) && isVowel(b[i+1]):
			b[i] -= 'a' - 'A'
		}
	}
	s := string(b)
	rv, r1, r2 := regions(b)

	has := func(suf string, region int) bool {
		return strings.HasSuffix(s, suf) && len(s)-len(suf) >= region
	}
	cut := func(suf string) { s = s[:len(s)-len(suf)] }

	// Step 0: attached pronouns after a gerund or an infinitive.
	if p := longest(s, pronouns); p != "" && len(s)-len(p) >= rv {
		stem := s[:len(s)-len(p)]
		switch {
		case strings.HasSuffix(stem, "ando") || strings.HasSuffix(stem, "endo"):
			if len(stem)-4 >= rv {
				s = stem
			}
		case strings.HasSuffix(stem, "ar") || strings.HasSuffix(stem, "er") || strings.HasSuffix(stem, "ir"):
			if len(stem)-2 >= rv {
				s = stem + "e"
			}
		}
	}

	// Step 1: standard suffixes.
	removed := false
	if suf := longest(s, step1); suf != "" {
		switch {
		case in(suf, "anza", "anze", "ico", "ici", "ica", "ice", "iche", "ichi", "ismo", "ismi",
			"abile", "abili", "ibile", "ibili", "ista", "iste", "isti", "oso", "osi", "osa", "ose",
			"mente", "atrice", "atrici", "ante", "anti"):
			if has(suf, r2) {
				cut(suf)
				removed = true
			}
		case in(suf, "azione", "azioni", "atore", "atori"):
			if has(suf, r2) {
				cut(suf)
				removed = true
				if has("ic", r2) {
					cut("ic")
				}
			}
		case in(suf, "logia", "logie"):
			if has(suf, r2) {
				cut(suf)
				s += "log"
				removed = true
			}
		case in(suf, "uzione", "uzioni", "usione", "usioni"):
			if has(suf, r2) {
				cut(suf)
				s += "u"
				removed = true
			}
		case in(suf, "enza", "enze"):
			if has(suf, r2) {
				cut(suf)
				s += "ente"
				removed = true
			}
		case in(suf, "amento", "amenti", "imento", "imenti"):
			if has(suf, rv) {
				cut(suf)
				removed = true
			}
		case suf == "amente":
			if has(suf, r1) {
				cut(suf)
				removed = true
				switch {
				case has("iv", r2):
					cut("iv")
					if has("at", r2) {
						cut("at")
					}
				case has("os", r2):
					cut("os")
				case has("ic", r2):
					cut("ic")
				case has("abil", r2):
					cut("abil")
				}
			}
		case suf == "ita":
			if has(suf, r2) {
				cut(suf)
				removed = true
				switch {
				case has("abil", r2):
					cut("abil")
				case has("ic", r2):
					cut("ic")
				case has("iv", r2):
					cut("iv")
				}
			}
		case in(suf, "ivo", "ivi", "iva", "ive"):
			if has(suf, r2) {
				cut(suf)
				removed = true
				if has("at", r2) {
					cut("at")
					if has("ic", r2) {
						cut("ic")
					}
				}
			}
		}
	}

	// Step 2: verb suffixes, only when step 1 removed nothing.
	if !removed {
		if suf := longest(s, step2); suf != "" && has(suf, rv) {
			cut(suf)
		}
	}

	// Step 3a: a final vowel in RV, and an i before it in RV.
	if len(s) > 0 && strings.IndexByte("aeio", s[len(s)-1]) >= 0 && len(s)-1 >= rv {
		s = s[:len(s)-1]
		if strings.HasSuffix(s, "i") && len(s)-1 >= rv {
			s = s[:len(s)-1]
		}
	}
	// Step 3b: ch and gh in RV become c and g.
	if (strings.HasSuffix(s, "ch") || strings.HasSuffix(s, "gh")) && len(s)-2 >= rv {
		s = s[:len(s)-1]
	}
	return strings.ToLower(s)
}

func isVowel(c byte) bool {
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'
}

// regions computes the algorithm's RV, R1 and R2 as byte offsets; a region
// that does not exist starts at len(b).
func regions(b []byte) (rv, r1, r2 int) {
	n := len(b)
	rv = n
	if n >= 2 {
		switch {
		case !isVowel(b[1]):
			// Consonant second: after the next vowel.
			for i := 2; i < n; i++ {
				if isVowel(b[i]) {
					rv = i + 1
					break
				}
			}
		case isVowel(b[0]) && isVowel(b[1]):
			// Two vowels: after the next consonant.
			for i := 2; i < n; i++ {
				if !isVowel(b[i]) {
					rv = i + 1
					break
				}
			}
		default:
			// Consonant then vowel: after the third letter.
			if n >= 3 {
				rv = 3
			}
		}
	}
	after := func(from int) int {
		for i := from + 1; i < n; i++ {
			if !isVowel(b[i]) && isVowel(b[i-1]) {
				return i + 1
			}
		}
		return n
	}
	r1 = after(0)
	if r1 < n {
		r2 = after(r1)
	} else {
		r2 = n
	}
	// after(r1) starts looking at r1+1 for a consonant whose predecessor is
	// a vowel at or after r1.
	return rv, r1, r2
}

func longest(s string, suffixes []string) string {
	best := ""
	for _, suf := range suffixes {
		if len(suf) > len(best) && strings.HasSuffix(s, suf) {
			best = suf
		}
	}
	return best
}

func in(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

var pronouns = strings.Fields(`ci gli la le li lo mi ne si ti vi sene gliela gliele glieli glielo
gliene mela mele meli melo mene tela tele teli telo tene cela cele celi celo cene vela vele veli
velo vene`)

var step1 = strings.Fields(`anza anze ico ici ica ice iche ichi ismo ismi abile abili ibile ibili
ista iste isti oso osi osa ose mente atrice atrici ante anti azione azioni atore atori logia logie
uzione uzioni usione usioni enza enze amento amenti imento imenti amente ita ivo ivi iva ive`)

var step2 = strings.Fields(`ammo ando ano are arono asse assero assi assimo ata ate ati ato ava
avamo avano avate avi avo emmo enda ende endi endo era erai eranno ere erebbe erebbero erei eremmo
eremo ereste eresti erete ero erono essero ete eva evamo evano evate evi evo iamo immo ira irai
iranno ire irebbe irebbero irei iremmo iremo ireste iresti irete iro irono isca iscano isce isci
isco iscono issero ita ite iti ito iva ivamo ivano ivate ivi ivo ono uta ute uti uto ar ir`)
