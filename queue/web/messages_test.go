package web

import (
	"encoding/json"
	"html"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestCitizenCatalogComplete: every key of Italian exists in English and
// German and no language has a key Italian lacks; every text has the
// same fmt verbs, in the same order, as its Italian (a missing %s would
// print "%!s(MISSING)" or drop the desk); and every key the templates,
// the Go code and the scripts use is in the catalog.
func TestCitizenCatalogComplete(t *testing.T) {
	if m := citizenMessages.Missing(); len(m) > 0 {
		t.Errorf("missing keys: %v", m)
	}
	for lang, dict := range citizenMessages {
		for k, s := range dict {
			if a, b := verbs(messagesIT[k]), verbs(s); a != b {
				t.Errorf("%s:%s has verbs %q, Italian %q", lang, k, b, a)
			}
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s:%s is empty", lang, k)
			}
		}
	}
	for key, where := range usedKeys(t) {
		if strings.HasSuffix(key, ".") {
			// A prefix completed at run time ("state." + t.state).
			n := 0
			for k := range messagesIT {
				if strings.HasPrefix(k, key) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("%s uses keys %q…, which the catalog lacks", where, key)
			}
			continue
		}
		if _, ok := messagesIT[key]; !ok && key != "home" {
			t.Errorf("%s uses %q, which the catalog lacks", where, key)
		}
	}
	// The scripts' texts use only %s and %d, the verbs queue.js fills.
	for k := range scriptStrings("it") {
		if v := verbs(messagesIT[k]); strings.Trim(v, "%sd") != "" {
			t.Errorf("script text %s has verbs %q", k, v)
		}
	}
}

var verbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

func verbs(s string) string { return strings.Join(verbRE.FindAllString(s, -1), "") }

// usedKeys finds the catalog keys the citizen pages' templates ({{.T
// "key"}}), Go files (tr(lang, "key")) and scripts (T("key"),
// text("key")) name literally, with where each is used.
func usedKeys(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	scan := func(name, src string, re *regexp.Regexp) {
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			out[m[1]] = name
		}
	}
	pages, err := fs.Glob(citizenFS, "templates/coda_*.html")
	if err != nil || len(pages) != 6 {
		t.Fatalf("citizen templates: %v %v", pages, err)
	}
	for _, p := range pages {
		b, _ := citizenFS.ReadFile(p)
		scan(p, string(b), regexp.MustCompile(`\.T "([^"]+)"`))
	}
	for _, f := range []string{"citizen.go", "citizen_ticket.go", "kiosk.go", "kiosk_enrol.go", "confirm.go", "board.go", "waiting.go", "messages.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scan(f, string(b), regexp.MustCompile(`tr\([a-zA-Z]+, "([^"]+)"`))
		scan(f, string(b), regexp.MustCompile(`"((?:priority|channel)\.[a-z_]+)"`))
	}
	for _, f := range []string{"static/queue.js", "static/push.js"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scan(f, string(b), regexp.MustCompile(`\b(?:T|text)\("([^"]+)"`))
	}
	if len(out) < 100 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(out))
	}
	return out
}

// templateLiteral finds text a reader sees that is written in a
// template instead of coming from the catalog: letters between tags
// once the template actions are gone, and the visible attributes.
var (
	actionRE    = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	htmlTagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	visibleAttr = regexp.MustCompile(`\s(?:aria-label|title|alt|placeholder|aria-description)="([^"]*)"`)
	letterRE    = regexp.MustCompile(`\p{L}{2,}`)
)

// literals returns the visible texts of a template that are not actions.
func literals(src string) []string {
	var out []string
	noActions := actionRE.ReplaceAllString(src, "")
	for _, m := range visibleAttr.FindAllStringSubmatch(noActions, -1) {
		if letterRE.MatchString(m[1]) {
			out = append(out, m[1])
		}
	}
	for _, s := range htmlTagRE.Split(noActions, -1) {
		if s = strings.TrimSpace(html.UnescapeString(s)); letterRE.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

// TestCitizenTemplatesHaveNoLiterals: the citizen pages' templates hold
// no text of their own, only catalog keys, so no language shows Italian
// left behind.
func TestCitizenTemplatesHaveNoLiterals(t *testing.T) {
	if got := literals(`<p>{{.T "a"}}</p><button aria-label="Chiudi">{{.T "b"}}</button><p>Sala d'attesa</p>`); len(got) != 2 {
		t.Fatalf("the scan finds %q in a template with two literals", got)
	}
	pages, _ := fs.Glob(citizenFS, "templates/coda_*.html")
	for _, p := range pages {
		b, _ := citizenFS.ReadFile(p)
		if l := literals(string(b)); len(l) > 0 {
			t.Errorf("%s has text outside the catalog: %q", p, l)
		}
	}
	// A string literal of the scripts with an Italian word is a text
	// left behind: their texts come from the page.
	if got := italianLiterals("// \"il numero\"\nsay(\"Sei il prossimo\"); x(\"a b\");"); len(got) != 1 {
		t.Fatalf("the script scan finds %q in a script with one Italian text", got)
	}
	for _, f := range []string{"static/queue.js", "static/push.js"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if l := italianLiterals(string(b)); len(l) > 0 {
			t.Errorf("%s has Italian literals %q", f, l)
		}
	}
}

var (
	jsStringRE = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	italianRE  = regexp.MustCompile(`(?i)\b(il|la|di|non|sei|numero|coda|turno|riprova|notifiche|chiamata|prima)\b`)
)

// italianLiterals returns a script's string literals, outside comment
// lines, that hold a phrase with an Italian word.
func italianLiterals(src string) []string {
	var out []string
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		for _, m := range jsStringRE.FindAllStringSubmatch(line, -1) {
			if strings.Contains(m[1], " ") && italianRE.MatchString(m[1]) {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// TestCitizenPagesSpeakTheLanguage: through the real site middleware,
// ?lang=en and ?lang=de give the form, the ticket, the kiosk and the
// board in English and German, their scripts' texts and the board's
// voice in that language, and no Italian; the form hands the page's
// language to the ticket.
func TestCitizenPagesSpeakTheLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	office := "/coda/" + e.bari.office.ID
	type check struct {
		path, lang string
		want, not  []string
	}
	checks := []check{
		{office + "?lang=en", "en", []string{`<html lang="en"`, "Take a number", "How would you like to be served?", "By video call", `name="lingua" value="en"`}, []string{"Prendi il numero", "Come vuoi"}},
		{office + "?lang=de", "de", []string{`<html lang="de"`, "Nummer ziehen", "Wie möchten Sie bedient werden?", "Per Videoanruf"}, []string{"Prendi il numero", "Allo sportello"}},
		{office + "/chiosco?lang=de", "de", []string{"Ich habe einen Termin", "Vorrang (Behinderung, Schwangerschaft)"}, []string{"Ho una prenotazione"}},
		{office + "/chiosco?lang=en&precedenza=1", "en", []string{"people with disabilities and pregnant women have priority", "Pregnancy"}, []string{"Gravidanza"}},
		{office + "/tabellone?lang=en", "en", []string{"Calls – Anagrafe", `data-coda-voice-lang="en-GB"`, "Turn on sound and voice"}, []string{"Chiamate", "Attiva"}},
		{office + "/tabellone?lang=de", "de", []string{"Aufrufe – Anagrafe", `data-coda-voice-lang="de-DE"`}, []string{"Chiamate"}},
		{office + "/tabellone", "it", []string{"Chiamate – Anagrafe", `data-coda-voice-lang="it-IT"`, "Attiva suono e voce"}, nil},
	}
	for _, c := range checks {
		p := e.browse("GET", e.bari.host, c.path, nil)
		if p.Status != 200 {
			t.Errorf("%s: status %d", c.path, p.Status)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(html.UnescapeString(p.Body), w) {
				t.Errorf("%s: no %q", c.path, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(html.UnescapeString(p.Body), n) {
				t.Errorf("%s: still says %q", c.path, n)
			}
		}
		if strings.Contains(c.path, "tabellone") {
			s := scriptTexts(t, p.Body)
			if want := tr(c.lang, "board.js.speak", "%s", "%s"); s["board.js.speak"] != want {
				t.Errorf("%s: the board speaks %q, want %q", c.path, s["board.js.speak"], want)
			}
		}
	}

	// A take from the English form: the ticket's page follows in
	// English, with the script's texts in English and its state label
	// from the catalog; a bad channel is an English field error.
	res := e.browse("POST", e.bari.host, office+"?lang=en", url.Values{"canale": {"fax"}, "lingua": {"en"}})
	if res.Status != 422 || !strings.Contains(html.UnescapeString(res.Body), tr("en", "field.channel")) {
		t.Errorf("bad channel in English: %d, want 422 with %q", res.Status, tr("en", "field.channel"))
	}
	res = e.browse("POST", e.bari.host, office+"?lang=de", url.Values{"canale": {"in_person"}, "lingua": {"de"}})
	loc := res.Header.Get("Location")
	if res.Status != 303 || loc == "" {
		t.Fatalf("take in German: %d", res.Status)
	}
	ticket := e.browse("GET", e.bari.host, loc+"&lang=de", nil)
	body := html.UnescapeString(ticket.Body)
	for _, w := range []string{"Ihre Nummer", "Wartend", "Warteschlange verlassen", "Mit einer Mitteilung benachrichtigen"} {
		if !strings.Contains(body, w) {
			t.Errorf("German ticket page: no %q", w)
		}
	}
	s := scriptTexts(t, ticket.Body)
	if s["state.called"] != "Sie sind an der Reihe: %s" || s["desk.number"] != "Schalter %s" || s["push.js.done"] == "" {
		t.Errorf("German ticket page: the scripts get %v", s)
	}
	// The confirmation of leaving, in German too.
	u, _ := url.Parse(loc)
	ask := e.browse("POST", e.bari.host, u.Path+"?lang=de", url.Values{"secret": {u.Query().Get("secret")}})
	if !strings.Contains(html.UnescapeString(ask.Body), "Möchten Sie die Warteschlange wirklich verlassen?") {
		t.Errorf("German confirmation: %d", ask.Status)
	}
	// An error page of the queue in the page's language.
	if nf := e.browse("GET", e.bari.host, "/coda/biglietto/x?secret=nope&lang=en", nil); !strings.Contains(html.UnescapeString(nf.Body), tr("en", "problem.not_found")) {
		t.Errorf("English 404: %d without %q", nf.Status, tr("en", "problem.not_found"))
	}
}

// scriptTexts decodes the page's JSON element of the scripts' texts.
func scriptTexts(t *testing.T, body string) map[string]string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="coda-testi">(.*?)</script>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no #coda-testi on the page")
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(m[1]), &out); err != nil {
		t.Fatalf("#coda-testi: %v in %s", err, m[1])
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) < 20 {
		t.Errorf("#coda-testi has only %v", keys)
	}
	return out
}
