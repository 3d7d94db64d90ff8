package web

import (
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// citizenTemplates are the templates a citizen sees: the ones that must
// hold no text outside the catalog. The gestione_* pages stay Italian.
func citizenTemplates(t *testing.T) []string {
	t.Helper()
	pages, err := fs.Glob(templateFS, "templates/privacy_*.html")
	if err != nil || len(pages) != 3 {
		t.Fatalf("citizen templates: %v %v", pages, err)
	}
	return append(pages, "templates/_partials.html")
}

var verbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

func verbs(s string) string { return strings.Join(verbRE.FindAllString(s, -1), "") }

// TestCatalogComplete: every language has exactly Italian's keys, each
// text has Italian's fmt verbs in the same order (a lost %s would print
// "%!s(MISSING)" or drop the date), no text is empty, and every key the
// templates and the Go code name is in the catalog.
func TestCatalogComplete(t *testing.T) {
	if m := messages.Missing(); len(m) > 0 {
		t.Errorf("missing keys: %v", m)
	}
	for lang, dict := range messages {
		for k, s := range dict {
			if a, b := verbs(messagesIT[k]), verbs(s); a != b {
				t.Errorf("%s:%s has verbs %q, Italian %q", lang, k, b, a)
			}
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s:%s is empty", lang, k)
			}
		}
	}
	used := map[string]string{}
	for _, p := range citizenTemplates(t) {
		b, _ := templateFS.ReadFile(p)
		for _, m := range regexp.MustCompile(`\bT "([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = p
		}
	}
	for _, f := range []string{"citizen.go", "handler.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`tr\([a-zA-Z.()]+, "([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
		// citizenRefuse translates the key it is given.
		for _, m := range regexp.MustCompile(`citizenRefuse\(w, r, [a-zA-Z.]+, "([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
	}
	// The partials build these keys from the domain's values.
	for _, v := range []string{"booked", "arrived", "served", "no_show", "cancelled_by_citizen", "cancelled_by_office"} {
		used["outcome."+v] = "pr-outcome"
	}
	for _, v := range []string{"in_person", "video", "phone"} {
		used["channel."+v] = "pr-channel"
	}
	for _, v := range []string{"waiting", "offered", "booked", "left", "lapsed"} {
		used["waitstatus."+v] = "pr-waitstatus"
	}
	for d := time.Sunday; d <= time.Saturday; d++ {
		used["weekday."+strings.ToLower(d.String())] = "privacy_export.html"
	}
	if len(used) < 60 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for key, where := range used {
		if _, ok := messagesIT[key]; !ok && key != "home" {
			t.Errorf("%s uses %q, which the catalog lacks", where, key)
		}
	}
	for k := range messagesIT {
		if _, ok := used[k]; !ok {
			t.Errorf("%q is in the catalog but nothing uses it", k)
		}
	}
}

// Visible text of a template outside its actions: letters between tags
// and in the attributes a reader or a screen reader gets.
var (
	actionRE    = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	htmlTagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	visibleAttr = regexp.MustCompile(`\s(?:aria-label|title|alt|placeholder|aria-description)="([^"]*)"`)
	letterRE    = regexp.MustCompile(`\p{L}{2,}`)
)

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

// TestCitizenTemplatesHaveNoLiterals: the citizen's templates (and the
// partials they share with the back office) hold no text of their own,
// so no language shows Italian left behind.
func TestCitizenTemplatesHaveNoLiterals(t *testing.T) {
	if got := literals(`<p>{{T "a"}}</p><button aria-label="Chiudi">{{T "b"}}</button><p>Nessuna.</p>`); len(got) != 2 {
		t.Fatalf("the scan finds %q in a template with two literals", got)
	}
	for _, p := range citizenTemplates(t) {
		b, _ := templateFS.ReadFile(p)
		if l := literals(string(b)); len(l) > 0 {
			t.Errorf("%s has text outside the catalog: %q", p, l)
		}
	}
}

// TestCitizenPagesSpeakTheLanguage runs the citizen's request in English
// and German through the real site middleware: the form, its field
// error, the confirmation, the data page and the error pages follow the
// language, with no Italian left; the back office's export of the same
// data stays Italian.
func TestCitizenPagesSpeakTheLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bm := e.bookFor(e.bari, 0, maria)
	c := &citizen{e: e, host: bariHost, addr: "192.0.2.40"}

	type check struct {
		what      string
		r         response
		status    int
		want, not []string
	}
	var checks []check
	add := func(what string, r response, status int, want, not []string) {
		checks = append(checks, check{what, r, status, want, not})
	}
	add("form en", c.get("/privacy/richiesta?lang=en"), 200,
		[]string{`<html lang="en"`, "Request your personal data", "Your email address", "Send me the link"}, []string{"Richiedi", "indirizzo"})
	add("form de", c.get("/privacy/richiesta?lang=de"), 200,
		[]string{`<html lang="de"`, "Ihre personenbezogenen Daten anfordern", "Ihre E-Mail-Adresse", "Link senden", "Datenschutz"}, []string{"Richiedi", "indirizzo"})
	add("bad address de", c.post("/privacy/richiesta?lang=de", url.Values{"email": {"nein"}}), 422,
		[]string{tr("de", "form.err.email"), tr("de", "errors.title")}, []string{"Scrivi", "Controlla"})
	add("sent en", c.post("/privacy/richiesta?lang=en", url.Values{"email": {"maria.rossi@example.it"}}), 200,
		[]string{"Check your inbox", "30 minutes"}, []string{"Controlla"})
	add("no access de", c.get("/privacy/i-miei-dati?lang=de"), 403, []string{tr("de", "err.no_access")}, []string{"apri il collegamento"})
	link := e.linkTo("maria.rossi@example.it", 1)
	add("confirm de", c.get(link+"?lang=de"), 200, []string{"Ihre personenbezogenen Daten öffnen", "Meine Daten anzeigen"}, []string{"Mostra"})
	if r := c.post(link+"?lang=en", url.Values{}); r.Status != http.StatusSeeOther || c.accessCookie == "" {
		t.Fatalf("open: %d", r.Status)
	}
	add("data en", c.get("/privacy/i-miei-dati?lang=en"), 200,
		[]string{"Your personal data", "Everything Sportello keeps in", "Bookings (1)", "(code " + bm.Code + ")", "Outcome: booked; channel: in person",
			"Queue numbers (0)", "Ask for erasure", "Download as JSON", "as of"},
		[]string{"Prenotazioni", "Nessun", "Chiedi", "prenotato", "in presenza"})
	add("data de", c.get("/privacy/i-miei-dati?lang=de"), 200,
		[]string{"Ihre personenbezogenen Daten", "Buchungen (1)", "Ergebnis: gebucht; Art: vor Ort", "Löschung beantragen", "speichert, Stand:"},
		[]string{"Prenotazioni", "Nessun", "Chiedi"})
	long := strings.Repeat("x", 1001)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(checks[len(checks)-1].r.Body)
	if m == nil {
		t.Fatal("the data page has no token")
	}
	add("long note en", c.post("/privacy/i-miei-dati/cancellazione?lang=en", url.Values{"csrf": {m[1]}, "nota": {long}}), 422,
		[]string{"The note can have at most 1000 characters.", "Check the data you entered"}, []string{"La nota"})
	add("csrf de", c.post("/privacy/i-miei-dati/cancellazione?lang=de", url.Values{"csrf": {"x"}}), 403, []string{tr("de", "err.csrf")}, nil)
	add("used link en", (&citizen{e: e, host: bariHost, addr: "192.0.2.41"}).post(link+"?lang=en", url.Values{}), 410,
		[]string{"it has already been used or has expired"}, []string{"già"})

	for _, ch := range checks {
		if ch.r.Status != ch.status {
			t.Errorf("%s: status %d, want %d:\n%s", ch.what, ch.r.Status, ch.status, text(ch.r.Body))
			continue
		}
		page := html.UnescapeString(ch.r.Body)
		for _, w := range ch.want {
			if !strings.Contains(page, w) && !strings.Contains(text(ch.r.Body), w) {
				t.Errorf("%s: no %q:\n%s", ch.what, w, text(ch.r.Body))
			}
		}
		for _, n := range ch.not {
			if strings.Contains(text(ch.r.Body), n) {
				t.Errorf("%s: still says %q", ch.what, n)
			}
		}
	}

	// The emails follow the page: the link asked from the English page
	// is English, the receipt of a request filed from the German page
	// German.
	if r := c.post("/privacy/i-miei-dati/cancellazione?lang=de", url.Values{"csrf": {m[1]}, "nota": {"Bitte löschen."}}); r.Status != http.StatusSeeOther {
		t.Fatalf("erasure request in German: %d", r.Status)
	}
	var linkMail, receipt string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && (linkMail == "" || receipt == "") {
		for _, msg := range e.mail.Messages() {
			body := plainText(t, msg.Data)
			switch {
			case strings.Contains(body, "/privacy/richiesta/"):
				linkMail = body
			case strings.Contains(body, "Nummer") || strings.Contains(body, "numero"):
				receipt = body
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(linkMail, "Open the link below by") || strings.Contains(linkMail, "Apri") {
		t.Errorf("the link asked in English:\n%s", linkMail)
	}
	if !strings.Contains(receipt, "Die Gemeinde hat Ihren Antrag auf Löschung") || strings.Contains(receipt, "registrato") {
		t.Errorf("the receipt of a request filed in German:\n%s", receipt)
	}

	// The back office's export of the same citizen stays Italian, even
	// for a browser that asks for English.
	u := e.login("bari", bariHost, "sup", "supervisori")
	r := u.post("/gestione/privacy/esporta?lang=en", url.Values{"email": {"maria.rossi@example.it"}})
	wantText(t, "operator export", r, http.StatusOK, "Dati personali", "Prenotazioni (1)", "Esito: prenotato; modalità: in presenza", "Registra la richiesta")
}
