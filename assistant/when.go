package assistant

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// When is the span of time a citizen asked for: appointments starting in
// [From, To) suit them. Earliest means they want the first free slot in
// the span ("il prima possibile", "entro venerdì"); a zero To means no
// upper bound.
type When struct {
	From, To time.Time
	Earliest bool
}

// Parts of the day, in minutes from midnight, as offices understand them:
// the morning is the usual opening of the counters, the afternoon the
// usual extra openings, the evening what a few Comuni offer once a week.
var (
	morning   = [2]int{9 * 60, 13 * 60}
	afternoon = [2]int{14 * 60, 18 * 60}
	evening   = [2]int{18 * 60, 21 * 60}
)

// exactWindow is how long after a named time ("alle 10") a slot may start
// and still be "at ten"; aboutWindow is the margin either side of "verso le
// 10".
const (
	exactWindow = 30
	aboutWindow = 30
)

var weekdays = map[string]time.Weekday{
	"lunedi": time.Monday, "martedi": time.Tuesday, "mercoledi": time.Wednesday,
	"giovedi": time.Thursday, "venerdi": time.Friday, "sabato": time.Saturday,
	"domenica": time.Sunday,
	"lun":      time.Monday, "mer": time.Wednesday, "gio": time.Thursday, "ven": time.Friday, "sab": time.Saturday, "dom": time.Sunday,
}

var months = map[string]time.Month{
	"gennaio": 1, "febbraio": 2, "marzo": 3, "aprile": 4, "maggio": 5, "giugno": 6,
	"luglio": 7, "agosto": 8, "settembre": 9, "ottobre": 10, "novembre": 11, "dicembre": 12,
	"gen": 1, "feb": 2, "mar": 3, "apr": 4, "mag": 5, "giu": 6, "lug": 7, "ago": 8,
	"set": 9, "sett": 9, "ott": 10, "nov": 11, "dic": 12,
}

var numberWords = map[string]int{
	"un": 1, "uno": 1, "una": 1, "primo": 1, "due": 2, "tre": 3, "quattro": 4, "cinque": 5,
	"sei": 6, "sette": 7, "otto": 8, "nove": 9, "dieci": 10, "undici": 11, "dodici": 12,
	"tredici": 13, "quattordici": 14, "quindici": 15, "sedici": 16, "diciassette": 17,
	"diciotto": 18, "diciannove": 19, "venti": 20, "ventuno": 21, "ventidue": 22,
	"ventitre": 23, "ventiquattro": 24, "venticinque": 25, "ventisei": 26, "ventisette": 27,
	"ventotto": 28, "ventinove": 29, "trenta": 30, "trentuno": 31,
}

// englishWhen maps the English words of simple time expressions to the
// Italian ones the grammar knows ("tomorrow morning", "next monday", "at
// 10", "after 3 pm"), the English fallback of issue 9.
var englishWhen = map[string]string{
	"today": "oggi", "tomorrow": "domani", "morning": "mattina", "afternoon": "pomeriggio",
	"evening": "sera", "tonight": "stasera", "noon": "mezzogiorno", "midday": "mezzogiorno",
	"monday": "lunedi", "tuesday": "martedi", "wednesday": "mercoledi", "thursday": "giovedi",
	"friday": "venerdi", "saturday": "sabato", "sunday": "domenica",
	"next": "prossimo", "week": "settimana", "month": "mese", "at": "alle", "after": "dopo",
	"before": "prima", "around": "verso", "in": "fra", "days": "giorni", "day": "giorno",
	"january": "gennaio", "february": "febbraio", "march": "marzo", "april": "aprile",
	"may": "maggio", "june": "giugno", "july": "luglio", "august": "agosto",
	"september": "settembre", "october": "ottobre", "november": "novembre", "december": "dicembre",
	"soon": "presto", "possible": "possibile",
}

// wtok is a token of a date expression: a word, a number, a numeric date
// (3/12, 3/12/2026) or a clock time (10:30).
type wtok struct {
	s          string
	num        int // number value, or -1
	d, m, y    int // numeric date
	h, min     int // clock time
	date, clck bool
}

func lexWhen(text string) []wtok {
	text = Fold(text)
	var raw []string
	var cur strings.Builder
	runes := []rune(text)
	for i, r := range runes {
		keep := unicode.IsLetter(r) || unicode.IsDigit(r)
		// Separators inside numbers: 3/12, 10:30, 10.30, 3-12.
		if !keep && (r == '/' || r == ':' || r == '.' || r == '-') && i > 0 && i+1 < len(runes) &&
			unicode.IsDigit(runes[i-1]) && unicode.IsDigit(runes[i+1]) {
			keep = true
		}
		if keep {
			cur.WriteRune(r)
			continue
		}
		if cur.Len() > 0 {
			raw = append(raw, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		raw = append(raw, cur.String())
	}
	for i, s := range raw {
		if it, ok := englishWhen[s]; ok {
			raw[i] = it
		}
	}
	var toks []wtok
	for i, s := range raw {
		t := wtok{s: s, num: -1}
		if n, err := strconv.Atoi(s); err == nil {
			t.num = n
		} else if n, ok := numberWords[s]; ok {
			t.num = n
		} else if strings.ContainsAny(s, "/:.-") {
			parts := strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == ':' || r == '.' || r == '-' })
			ns := make([]int, len(parts))
			ok := len(parts) >= 2 && len(parts) <= 3
			for j, p := range parts {
				n, err := strconv.Atoi(p)
				if err != nil {
					ok = false
				}
				ns[j] = n
			}
			prev := ""
			if i > 0 {
				prev = raw[i-1]
			}
			timeCtx := prev == "alle" || prev == "ore" || prev == "le" || prev == "dalle" || prev == "verso" || prev == "delle"
			switch {
			case !ok:
			case strings.Contains(s, ":") || (strings.Contains(s, ".") && timeCtx) || (len(ns) == 2 && ns[1] > 12):
				if len(ns) == 2 && ns[0] < 24 && ns[1] < 60 {
					t.clck, t.h, t.min = true, ns[0], ns[1]
				}
			default:
				if ns[0] >= 1 && ns[0] <= 31 && ns[1] >= 1 && ns[1] <= 12 {
					t.date, t.d, t.m = true, ns[0], ns[1]
					if len(ns) == 3 {
						t.y = ns[2]
						if t.y < 100 {
							t.y += 2000
						}
					}
				}
			}
		}
		toks = append(toks, t)
	}
	return toks
}

// whenParse collects what the text says before it is resolved.
type whenParse struct {
	// Days: [dayFrom, dayTo) as dates at midnight; zero when none named.
	dayFrom, dayTo time.Time
	dayExplicit    bool // an explicit calendar date (rolls to next year)
	// Time of day in minutes, -1 when none named.
	tFrom, tTo  int
	hourNeedsPM bool // a bare hour 1..7: afternoon unless "mattina"
	morningSaid bool
	pmSaid      bool
	earliest    bool
	untilOnly   bool // "entro …": from now to the end of what follows
}

// ParseWhen resolves an Italian date and time expression in loc, relative
// to now. It returns false when text names no time at all. The grammar:
//
//   - days: oggi, domani, dopodomani, stamattina, stasera; a weekday
//     ("venerdì", "questo venerdì": the next one, today included;
//     "venerdì prossimo": the one of next week, Monday to Sunday); a date
//     ("il 3 dicembre", "3 dic", "3/12", "3/12/2027", "il 3"); "fra due
//     giorni", "tra una settimana"; "la settimana prossima", "questa
//     settimana", "il mese prossimo", "fine mese";
//   - times: "alle 10", "alle 10:30", "alle 10 e mezza", "alle 11 meno un
//     quarto", "verso le 10", "dopo le 15", "dalle 10 alle 12", "tra le 10
//     e le 12", "prima delle 11", "mezzogiorno"; mattina 9–13, pomeriggio
//     14–18, sera 18–21; a bare hour from 1 to 7 is in the afternoon
//     unless the morning is named;
//   - urgency: "il prima possibile", "appena possibile", "subito", "entro
//     venerdì", "entro fine mese" (from now, Earliest).
//
// A date without a year that has already passed rolls to next year ("il 3
// gennaio" said in December); a day of the month alone rolls to next
// month; a time alone that has passed today means tomorrow. Days are built
// with time.Date in loc, so a day across a change of summer time lasts 23
// or 25 hours and "alle 10" is ten o'clock on the wall clock.
func ParseWhen(text string, now time.Time, loc *time.Location) (When, bool) {
	now = now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	day := func(t time.Time, n int) time.Time { return time.Date(t.Year(), t.Month(), t.Day()+n, 0, 0, 0, 0, loc) }
	toks := lexWhen(text)
	p := whenParse{tFrom: -1, tTo: -1}
	setDay := func(from time.Time, n int) {
		if p.dayFrom.IsZero() || !p.dayExplicit {
			p.dayFrom, p.dayTo = from, day(from, n)
		}
	}
	word := func(i int) string {
		if i >= 0 && i < len(toks) {
			return toks[i].s
		}
		return ""
	}
	nextWeek := false
	for i := 0; i < len(toks); i++ {
		w := toks[i].s
		if w == "settimana" && (word(i+1) == "prossima" || word(i-1) == "prossima") {
			nextWeek = true
		}
		if w == "mattina" || w == "mattino" || w == "mattinata" || w == "stamattina" || w == "stamani" {
			p.morningSaid = true
		}
		if w == "pomeriggio" || w == "sera" || w == "serata" || w == "stasera" {
			p.pmSaid = true
		}
	}
	// mondayOf returns the Monday starting the week of t.
	mondayOf := func(t time.Time) time.Time { return day(t, -((int(t.Weekday()) + 6) % 7)) }
	found, weekdaySet := false, false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		w := t.s
		switch {
		case w == "oggi":
			setDay(today, 1)
			found = true
		case w == "stamattina" || w == "stamani":
			setDay(today, 1)
			p.tFrom, p.tTo = morning[0], morning[1]
			found = true
		case w == "stasera":
			setDay(today, 1)
			p.tFrom, p.tTo = evening[0], evening[1]
			found = true
		case w == "domani":
			setDay(day(today, 1), 1)
			found = true
		case w == "dopodomani":
			setDay(day(today, 2), 1)
			found = true
		case w == "mattina" || w == "mattino" || w == "mattinata":
			if p.tFrom < 0 {
				p.tFrom, p.tTo = morning[0], morning[1]
			}
			found = true
		case w == "pomeriggio":
			if p.tFrom < 0 {
				p.tFrom, p.tTo = afternoon[0], afternoon[1]
			}
			found = true
		case w == "sera" || w == "serata":
			if p.tFrom < 0 {
				p.tFrom, p.tTo = evening[0], evening[1]
			}
			found = true
		case w == "mezzogiorno":
			p.tFrom, p.tTo = 12*60, 12*60+exactWindow
			found = true
		case isWeekday(w) && !(t.s == "mar" && i > 0 && toks[i-1].num > 0):
			wd := weekdays[w]
			var d time.Time
			if nextWeek || word(i+1) == "prossimo" || word(i+1) == "prossima" || word(i-1) == "prossimo" || word(i-1) == "prossima" {
				d = day(mondayOf(today), 7+(int(wd)+6)%7)
			} else {
				d = day(today, (int(wd)-int(today.Weekday())+7)%7)
			}
			// "lunedì 3": the number is the day of the month and wins.
			if i+1 < len(toks) && toks[i+1].num >= 1 && toks[i+1].num <= 31 && !isTimeWord(word(i-1)) {
				break
			}
			setDay(d, 1)
			weekdaySet = true
			found = true
		case t.date:
			y := t.y
			if y == 0 {
				y = today.Year()
			}
			d := time.Date(y, time.Month(t.m), t.d, 0, 0, 0, 0, loc)
			if t.y == 0 && d.Before(today) {
				d = time.Date(y+1, time.Month(t.m), t.d, 0, 0, 0, 0, loc)
			}
			p.dayFrom, p.dayTo, p.dayExplicit = d, day(d, 1), true
			found = true
		case t.clck:
			// Reached without a preceding time word ("10:30"): a time.
			i = p.timeAt(toks, i, "alle")
			found = true
		case w == "entro" && !isTimeWord(word(i+1)):
			p.untilOnly, p.earliest = true, true
		case w == "subito" || w == "asap" || w == "presto" && word(i-1) == "piu" ||
			w == "possibile" && word(i-1) == "as" ||
			w == "possibile" && (word(i-1) == "prima" || word(i-1) == "appena") ||
			w == "prima" && (word(i+1) == "data" || word(i+1) == "disponibilita") ||
			(w == "primo" && (word(i+1) == "posto" || word(i+1) == "appuntamento" || word(i+1) == "disponibile" || word(i+1) == "libero")) ||
			w == "quanto" && word(i+1) == "prima":
			p.earliest = true
			found = true
		case isTimeWord(w):
			if j, ok := p.timePhrase(toks, i); ok {
				i = j
				found = true
			}
		case (w == "fra" || w == "tra") && toks[min(i+1, len(toks)-1)].num > 0 && i+2 < len(toks):
			n := toks[i+1].num
			switch toks[i+2].s {
			case "giorno", "giorni":
				setDay(day(today, n), 1)
				found = true
				i += 2
			case "settimana", "settimane":
				setDay(day(today, 7*n), 1)
				found = true
				i += 2
			}
		case w == "settimana" && !weekdaySet:
			switch {
			case nextWeek:
				setDay(day(mondayOf(today), 7), 7)
				found = true
			case word(i-1) == "questa":
				p.dayFrom, p.dayTo = today, day(mondayOf(today), 7)
				found = true
			}
		case w == "mese" && (word(i+1) == "prossimo" || word(i-1) == "prossimo"):
			first := time.Date(today.Year(), today.Month()+1, 1, 0, 0, 0, 0, loc)
			p.dayFrom, p.dayTo = first, time.Date(today.Year(), today.Month()+2, 1, 0, 0, 0, 0, loc)
			found = true
		case w == "fine" && (word(i+1) == "mese" || word(i+2) == "mese"):
			next := time.Date(today.Year(), today.Month()+1, 1, 0, 0, 0, 0, loc)
			p.dayFrom, p.dayTo = day(next, -7), next
			if p.dayFrom.Before(today) {
				p.dayFrom = today
			}
			found = true
		case t.num >= 1 && t.num <= 31 && i+1 < len(toks) && months[toks[i+1].s] != 0:
			m := months[toks[i+1].s]
			y, explicitYear := today.Year(), false
			if i+2 < len(toks) && toks[i+2].num >= 2000 && toks[i+2].num < 2100 {
				y, explicitYear = toks[i+2].num, true
			}
			d := time.Date(y, m, t.num, 0, 0, 0, 0, loc)
			if !explicitYear && d.Before(today) {
				d = time.Date(y+1, m, t.num, 0, 0, 0, 0, loc)
			}
			p.dayFrom, p.dayTo, p.dayExplicit = d, day(d, 1), true
			found = true
			i++
			if explicitYear {
				i++
			}
		case t.num >= 1 && t.num <= 31 && (word(i-1) == "il" || word(i-1) == "l" || isWeekday(word(i-1))) && !isTimeWord(word(i-1)):
			d := time.Date(today.Year(), today.Month(), t.num, 0, 0, 0, 0, loc)
			if d.Before(today) {
				d = time.Date(today.Year(), today.Month()+1, t.num, 0, 0, 0, 0, loc)
			}
			p.dayFrom, p.dayTo, p.dayExplicit = d, day(d, 1), true
			found = true
		}
	}
	if !found {
		return When{}, false
	}
	if p.hourNeedsPM && !p.morningSaid {
		if p.tFrom >= 0 && p.tFrom < 8*60 {
			p.tFrom += 12 * 60
		}
		if p.tTo > 0 && p.tTo <= 8*60 {
			p.tTo += 12 * 60
		}
	}
	if p.pmSaid && p.tFrom >= 0 && p.tFrom < 12*60 && p.tFrom != afternoon[0] && p.tFrom != evening[0] && !p.morningSaid {
		p.tFrom += 12 * 60
		if p.tTo >= 0 && p.tTo <= 13*60 {
			p.tTo += 12 * 60
		}
	}
	at := func(d time.Time, minutes int) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), minutes/60, minutes%60, 0, 0, loc)
	}
	var w When
	w.Earliest = p.earliest
	switch {
	case !p.dayFrom.IsZero():
		w.From, w.To = p.dayFrom, p.dayTo
		if p.tFrom >= 0 {
			w.From = at(p.dayFrom, p.tFrom)
		}
		if p.tTo >= 0 {
			w.To = at(day(p.dayTo, -1), p.tTo)
		}
	case p.tFrom >= 0 || p.tTo >= 0:
		d := today
		end := p.tTo
		if end < 0 {
			end = 24 * 60
		}
		if !at(d, end).After(now) {
			d = day(today, 1)
		}
		w.From, w.To = d, day(d, 1)
		if p.tFrom >= 0 {
			w.From = at(d, p.tFrom)
		}
		if p.tTo >= 0 {
			w.To = at(d, p.tTo)
		}
	default:
		// Only urgency: from now, no upper bound.
		w.From = now
	}
	if p.untilOnly {
		w.From = now
	}
	if w.From.Before(now) && (w.To.IsZero() || w.To.After(now)) {
		w.From = now
	}
	return w, true
}

func isWeekday(w string) bool {
	_, ok := weekdays[w]
	return ok
}

func isTimeWord(w string) bool {
	switch w {
	case "alle", "ore", "verso", "dopo", "dalle", "prima", "delle", "le", "entro":
		return true
	}
	return false
}

// timePhrase parses a time expression starting at toks[i] (a time word)
// and returns the index of its last token.
func (p *whenParse) timePhrase(toks []wtok, i int) (int, bool) {
	w := toks[i].s
	next := func(j int) string {
		if j < len(toks) {
			return toks[j].s
		}
		return ""
	}
	j := i + 1
	// Skip the article: "dopo le", "prima delle", "verso le", "alle ore".
	for j < len(toks) && (toks[j].s == "le" || toks[j].s == "delle" || toks[j].s == "ore" || toks[j].s == "l") {
		j++
	}
	if j >= len(toks) || (toks[j].num < 0 && !toks[j].clck && toks[j].s != "mezzogiorno") {
		return i, false
	}
	kind := w
	if w == "prima" || w == "entro" {
		kind = "prima"
	}
	if w == "le" || w == "ore" || w == "delle" {
		kind = "alle"
	}
	if w == "verso" {
		kind = "verso"
	}
	if kind == "alle" && (next(j+1) == "alle" || next(j+1) == "e") && i > 0 && (toks[i-1].s == "tra" || toks[i-1].s == "fra") {
		kind = "dalle" // "tra le 10 e le 12"
	}
	return p.timeAt(toks, j, kind), true
}

// timeAt reads a time at toks[j] ("10", "10:30", "10 e mezza", "11 meno
// un quarto", "mezzogiorno") and applies it as kind: alle, verso, dopo,
// dalle, prima.
func (p *whenParse) timeAt(toks []wtok, j int, kind string) int {
	h, m := 0, 0
	t := toks[j]
	switch {
	case t.s == "mezzogiorno":
		h = 12
	case t.clck:
		h, m = t.h, t.min
	default:
		h = t.num
	}
	if h > 24 {
		return j
	}
	word := func(k int) string {
		if k < len(toks) {
			return toks[k].s
		}
		return ""
	}
	switch {
	case word(j+1) == "e" && (word(j+2) == "mezza" || word(j+2) == "mezzo"):
		m, j = 30, j+2
	case word(j+1) == "e" && word(j+2) == "un" && word(j+3) == "quarto":
		m, j = 15, j+3
	case word(j+1) == "e" && word(j+2) == "tre" && word(j+3) == "quarti":
		m, j = 45, j+3
	case word(j+1) == "e" && j+2 < len(toks) && toks[j+2].num > 0 && toks[j+2].num < 60 && word(j+3) != "le":
		m, j = toks[j+2].num, j+2
	case word(j+1) == "meno" && word(j+2) == "un" && word(j+3) == "quarto":
		h, m, j = h-1, 45, j+3
	}
	if h >= 1 && h <= 7 {
		p.hourNeedsPM = true
	}
	if word(j+1) == "di" && (word(j+2) == "mattina" || word(j+2) == "mattino") {
		p.morningSaid = true
	}
	at := h*60 + m
	switch kind {
	case "alle":
		p.tFrom, p.tTo = at, at+exactWindow
	case "verso":
		p.tFrom, p.tTo = at-aboutWindow, at+aboutWindow
	case "dopo":
		p.tFrom, p.tTo = at, 24*60
	case "prima":
		if p.tFrom < 0 || p.tFrom >= at {
			p.tFrom = 0
		}
		p.tTo = at
	case "dalle":
		p.tFrom, p.tTo = at, 24*60
		// "dalle 10 alle 12", "tra le 10 e le 12".
		k := j + 1
		if word(k) == "alle" || word(k) == "e" {
			k++
			for word(k) == "le" {
				k++
			}
			if k < len(toks) && (toks[k].num >= 0 || toks[k].clck) {
				var q whenParse
				q.tFrom, q.tTo = -1, -1
				k = q.timeAt(toks, k, "alle")
				p.tTo = q.tFrom
				if q.hourNeedsPM {
					p.hourNeedsPM = true
				}
				j = k
			}
		}
	}
	return j
}
