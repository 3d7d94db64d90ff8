package web

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/media/sfu"
)

// TestCallCatalogComplete: every key of Italian exists in English and
// German and no language has one Italian lacks; every text has its
// Italian's fmt verbs in the same order; every key the template and
// call.js name is in the catalog.
func TestCallCatalogComplete(t *testing.T) {
	if m := callMessages.Missing(); len(m) > 0 {
		t.Errorf("missing keys: %v", m)
	}
	verbs := func(s string) string { return strings.Join(verbRE.FindAllString(s, -1), "") }
	for lang, dict := range callMessages {
		for k, s := range dict {
			if a, b := verbs(messagesIT[k]), verbs(s); a != b {
				t.Errorf("%s:%s has verbs %q, Italian %q", lang, k, b, a)
			}
			if strings.HasPrefix(k, "js.") && strings.Trim(verbs(s), "%sd") != "" {
				t.Errorf("%s:%s: call.js fills only %%s and %%d, not %q", lang, k, verbs(s))
			}
			if strings.TrimSpace(s) == "" && k != "js.decimal" {
				t.Errorf("%s:%s is empty", lang, k)
			}
		}
	}
	tmpl, _ := files.ReadFile("templates/chiamata.html")
	js, _ := files.ReadFile("static/call.js")
	used := map[string]string{}
	for _, m := range regexp.MustCompile(`\.T "([^"]+)"`).FindAllStringSubmatch(string(tmpl), -1) {
		used[m[1]] = "chiamata.html"
	}
	for _, m := range regexp.MustCompile(`\bT\("([^"]+)"`).FindAllStringSubmatch(string(js), -1) {
		used["js."+m[1]] = "call.js"
	}
	// Keys call.js builds: T("error." + code), T(type), T(type + ".label"),
	// mediaErrorText(err, "device.…").
	for _, m := range regexp.MustCompile(`"(device\.[a-z]+)"`).FindAllStringSubmatch(string(js), -1) {
		used["js."+m[1]] = "call.js"
	}
	for _, k := range []string{"js.error.room_full", "js.error.lobby_full", "js.error.forbidden", "js.admit", "js.admit.label", "js.refuse", "js.refuse.label"} {
		used[k] = "call.js"
	}
	if len(used) < 90 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for k, where := range used {
		if strings.HasSuffix(k, ".") {
			continue // a prefix completed at run time, listed above
		}
		if _, ok := messagesIT[k]; !ok {
			t.Errorf("%s uses %q, which the catalog lacks", where, k)
		}
	}
}

var verbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestCallTemplateHasNoLiterals: the call page's template holds no text
// of its own (between tags, or in a visible attribute), only catalog
// keys; call.js holds no Italian string either.
func TestCallTemplateHasNoLiterals(t *testing.T) {
	var (
		actionRE = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
		tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
		attrRE   = regexp.MustCompile(`\s(?:aria-label|title|alt|placeholder|aria-description)="([^"]*)"`)
		letterRE = regexp.MustCompile(`\p{L}{2,}`)
	)
	literals := func(src string) []string {
		var out []string
		src = actionRE.ReplaceAllString(src, "")
		for _, m := range attrRE.FindAllStringSubmatch(src, -1) {
			if letterRE.MatchString(m[1]) {
				out = append(out, m[1])
			}
		}
		for _, s := range tagRE.Split(src, -1) {
			if s = strings.TrimSpace(html.UnescapeString(s)); letterRE.MatchString(s) {
				out = append(out, s)
			}
		}
		return out
	}
	if got := literals(`<p>{{.T "a"}}</p><div aria-label="Partecipanti"></div><h2>Sala d'attesa</h2>`); len(got) != 2 {
		t.Fatalf("the scan finds %q in a template with two literals", got)
	}
	tmpl, _ := files.ReadFile("templates/chiamata.html")
	if l := literals(string(tmpl)); len(l) > 0 {
		t.Errorf("chiamata.html has text outside the catalog: %q", l)
	}
	// A string literal of call.js with an Italian word is a text left
	// behind: the texts come from the page.
	js, _ := files.ReadFile("static/call.js")
	italian := regexp.MustCompile(`(?i)\b(il|la|di|non|sei|è|chiamata|videocamera|microfono|documento|partecipante|riprova|schermo)\b`)
	jsString := regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	for _, line := range strings.Split(string(js), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue // comments may quote the page's Italian
		}
		for _, m := range jsString.FindAllStringSubmatch(line, -1) {
			if strings.Contains(m[1], " ") && italian.MatchString(m[1]) {
				t.Errorf("call.js has the Italian literal %q", m[1])
			}
		}
	}
}

// TestCallPageSpeaksTheLanguage: through the real site middleware,
// ?lang=en and ?lang=de give the call page in English and German: its
// headings, controls and aria-labels, the texts call.js gets, and the
// documents listed on load; Italian stays the default.
func TestCallPageSpeaksTheLanguage(t *testing.T) {
	e := newEnv(t, sfu.Config{Loopback: true})
	e.upload = func(who, room string) string { return "/call/" + who + "/docs" }
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.StatusCode)
		}
		return html.UnescapeString(string(b))
	}
	for _, c := range []struct {
		path, lang string
		want, not  []string
	}{
		{"/call/operatore?lang=en", "en", []string{`<html lang="en"`, "Video call: Anagrafe, prova", "Join with audio only", `aria-label="Call controls"`, `aria-label="Participants"`, "End for everyone", "Share screen"}, []string{"Videochiamata", "Termina per tutti", "Controlli della chiamata"}},
		{"/call/cittadino?lang=de", "de", []string{`<html lang="de"`, "Videoanruf: Anagrafe, prova", "Nur mit Ton beitreten", `aria-label="Steuerung des Anrufs"`, `aria-label="Teilnehmende"`, "Dokument senden", "Warteraum"}, []string{"Videochiamata", "Sala d'attesa", "Entra solo"}},
		{"/call/cittadino", "it", []string{`<html lang="it"`, "Videochiamata: Anagrafe, prova", "Entra solo con l'audio", `aria-label="Controlli della chiamata"`}, nil},
	} {
		page := get(c.path)
		for _, w := range c.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: no %q", c.path, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(page, n) {
				t.Errorf("%s: still says %q", c.path, n)
			}
		}
		m := regexp.MustCompile(`(?s)<script type="application/json" id="call-testi">(.*?)</script>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no #call-testi", c.path)
		}
		var texts map[string]string
		if err := json.Unmarshal([]byte(m[1]), &texts); err != nil {
			t.Fatalf("%s: #call-testi: %v", c.path, err)
		}
		if texts["js.screen_of"] != messagesByLang(c.lang)["js.screen_of"] || len(texts) != len(scriptStrings("it")) {
			t.Errorf("%s: call.js gets %d texts, screen_of %q", c.path, len(texts), texts["js.screen_of"])
		}
	}
	// Documents listed on load name their sender and size in the page's
	// language.
	s := Session{Participant: sfu.Participant{ID: "me"}, Documents: []DocumentNotice{
		Notice("d1", "a.pdf", 3<<19, "/d1", "me", ""),
		Notice("d2", "b.pdf", 2048, "/d2", "other", "Anna"),
		Notice("d3", "c.pdf", 10, "/d3", "gone", ""),
	}}
	for lang, want := range map[string][]docView{
		"it": {{"d1", "a.pdf", "/d1", "1,5 MB", "da te"}, {"d2", "b.pdf", "/d2", "2 KB", "da Anna"}, {"d3", "c.pdf", "/d3", "1 KB", "da un partecipante"}},
		"en": {{"d1", "a.pdf", "/d1", "1.5 MB", "from you"}, {"d2", "b.pdf", "/d2", "2 KB", "from Anna"}, {"d3", "c.pdf", "/d3", "1 KB", "from a participant"}},
		"de": {{"d1", "a.pdf", "/d1", "1,5 MB", "von Ihnen"}, {"d2", "b.pdf", "/d2", "2 KB", "von Anna"}, {"d3", "c.pdf", "/d3", "1 KB", "von einer teilnehmenden Person"}},
	} {
		got := docViews(lang, s)
		for i := range want {
			if i >= len(got) || got[i] != want[i] {
				t.Errorf("%s: documents %+v, want %+v", lang, got, want)
				break
			}
		}
	}
}

func messagesByLang(lang string) map[string]string { return callMessages[lang] }
