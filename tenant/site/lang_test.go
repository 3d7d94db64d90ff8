package site_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// bolzano offers German first, then Italian: its default is German.
var bolzano = tenant.Tenant{ID: "bolzano", Name: "Comune di Bolzano", ISTAT: "021008", TimeZone: "Europe/Rome", Languages: []string{"de", "it"}}

// newLangServer serves the site for bari.test (it, en, de), bz.test (de,
// it) and lecce.test (no languages: Italian only).
func newLangServer(t *testing.T, opts site.Options) *httptest.Server {
	t.Helper()
	opts.Resolver = hosts{"bari.test": bari, "bz.test": bolzano, "lecce.test": lecce}
	opts.Logger = clustertest.Logger(t)
	s, err := site.New(opts)
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(s.Tenant(mux))
	t.Cleanup(srv.Close)
	return srv
}

var htmlLang = regexp.MustCompile(`<html lang="([a-z]+)">`)

func pageLang(t *testing.T, body string) string {
	t.Helper()
	m := htmlLang.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no <html lang> in page:\n%s", body)
	}
	return m[1]
}

func TestLanguageNegotiation(t *testing.T) {
	t.Parallel()
	srv := newLangServer(t, site.Options{})
	tests := []struct {
		name, host, path string
		header           []string
		want             string
		cookie           string // the sv_lang the answer sets, "" for none
	}{
		{"default", "bari.test", "/", nil, "it", ""},
		{"query", "bari.test", "/?lang=en", nil, "en", "en"},
		{"query upper case", "bari.test", "/?lang=DE", nil, "de", "de"},
		{"query beats cookie and header", "bari.test", "/?lang=de", []string{"Cookie", "sv_lang=en", "Accept-Language", "en"}, "de", "de"},
		{"cookie", "bari.test", "/", []string{"Cookie", "sv_lang=de"}, "de", ""},
		{"cookie beats Accept-Language", "bari.test", "/", []string{"Cookie", "sv_lang=it", "Accept-Language", "de"}, "it", ""},
		{"Accept-Language region", "bari.test", "/", []string{"Accept-Language", "de-AT,de;q=0.9"}, "de", ""},
		{"Accept-Language q-values", "bari.test", "/", []string{"Accept-Language", "en;q=0.2, de;q=0.8"}, "de", ""},
		{"Accept-Language skips what is not offered", "bari.test", "/", []string{"Accept-Language", "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"}, "en", ""},
		{"Accept-Language q=0 refuses", "bari.test", "/", []string{"Accept-Language", "en;q=0, *"}, "it", ""},
		{"Accept-Language wildcard", "bz.test", "/", []string{"Accept-Language", "fr, *;q=0.1"}, "de", ""},
		{"Accept-Language nothing offered", "bz.test", "/", []string{"Accept-Language", "fr, es;q=0.5"}, "de", ""},
		{"Comune's first language is the default", "bz.test", "/", nil, "de", ""},
		{"query not offered falls back", "bari.test", "/?lang=fr", []string{"Accept-Language", "en"}, "en", ""},
		{"query the Comune does not offer", "lecce.test", "/?lang=de", nil, "it", ""},
		{"cookie the Comune does not offer", "lecce.test", "/", []string{"Cookie", "sv_lang=en", "Accept-Language", "de"}, "it", ""},
		{"bad cookie", "bari.test", "/", []string{"Cookie", "sv_lang=xx", "Accept-Language", "de"}, "de", ""},
		{"back office stays Italian", "bari.test", "/gestione/nulla?lang=en", []string{"Cookie", "sv_lang=de", "Accept-Language", "de"}, "it", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, srv, tt.host, tt.path, tt.header...)
			if got := pageLang(t, r.body); got != tt.want {
				t.Errorf("<html lang> = %q, want %q", got, tt.want)
			}
			var set *http.Cookie
			for _, c := range (&http.Response{Header: r.header}).Cookies() {
				if c.Name == site.LangCookie {
					set = c
				}
			}
			switch {
			case tt.cookie == "" && set != nil:
				t.Errorf("answer sets %s=%s, want no cookie", set.Name, set.Value)
			case tt.cookie != "" && set == nil:
				t.Errorf("answer sets no %s cookie, want %s", site.LangCookie, tt.cookie)
			case tt.cookie != "":
				if set.Value != tt.cookie || set.MaxAge < 300*24*3600 || set.SameSite != http.SameSiteLaxMode || !set.HttpOnly || set.Path != "/" || set.Secure {
					t.Errorf("cookie %+v, want %s for a year, Lax, HttpOnly, path /, not Secure on plain HTTP", set, tt.cookie)
				}
			}
			vary := strings.Join(r.header.Values("Vary"), ",")
			backOffice := strings.HasPrefix(tt.path, "/gestione")
			if hasVary := strings.Contains(vary, "Accept-Language") && strings.Contains(vary, "Cookie"); hasVary == backOffice {
				t.Errorf("Vary = %q (back office %v)", vary, backOffice)
			}
		})
	}
	// The page is written in the language it declares.
	if r := get(t, srv, "bari.test", "/", "Accept-Language", "en-GB"); !strings.Contains(r.body, "Book an appointment with the municipal offices") || strings.Contains(r.body, "Prenota un appuntamento con gli uffici") {
		t.Errorf("English home page lacks its English text:\n%s", r.body)
	}
	if r := get(t, srv, "bari.test", "/nulla", "Accept-Language", "de"); r.status != http.StatusNotFound || !strings.Contains(r.body, "Seite nicht gefunden") {
		t.Errorf("German 404: status %d, want Seite nicht gefunden:\n%s", r.status, r.body)
	}
}

func TestNegotiateSecureCookie(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "https://bari.test/?lang=en", nil)
	if lang, chosen := site.Negotiate(req, []string{"it", "en"}); lang != "en" || !chosen {
		t.Errorf("Negotiate = %q, %v; want en, chosen", lang, chosen)
	}
	// Over TLS the middleware marks the cookie Secure.
	s, err := site.New(site.Options{Resolver: hosts{"bari.test": bari}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req.Host = "bari.test"
	s.Tenant(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := site.LangFrom(r.Context()); got != "en" {
			t.Errorf("LangFrom = %q, want en", got)
		}
	})).ServeHTTP(rec, req)
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != site.LangCookie || !c[0].Secure {
		t.Errorf("cookies over TLS %+v, want one Secure sv_lang", c)
	}
}

var switchLink = regexp.MustCompile(`<a href="([^"]*)" lang="([a-z]+)" hreflang="([a-z]+)"( aria-current="true")?>([^<]+)</a>`)

func TestLanguageSwitch(t *testing.T) {
	t.Parallel()
	srv := newLangServer(t, site.Options{})
	r := get(t, srv, "bari.test", "/privacy?x=1", "Accept-Language", "en")
	i := strings.Index(r.body, `<nav class="sv-lang-switch" aria-label="Language">`)
	if i < 0 {
		t.Fatalf("no language switch labelled in English:\n%s", r.body)
	}
	nav := r.body[i : i+strings.Index(r.body[i:], "</nav>")]
	got := switchLink.FindAllStringSubmatch(nav, -1)
	want := [][]string{
		{"/privacy?lang=it&amp;x=1", "it", "it", "", "Italiano"},
		{"/privacy?lang=en&amp;x=1", "en", "en", ` aria-current="true"`, "English"},
		{"/privacy?lang=de&amp;x=1", "de", "de", "", "Deutsch"},
	}
	if len(got) != len(want) {
		t.Fatalf("switch links %q, want %d", got, len(want))
	}
	for k := range want {
		if !reflect.DeepEqual(got[k][1:], want[k]) {
			t.Errorf("link %d = %q, want %q", k, got[k][1:], want[k])
		}
	}
	// Following a link switches the page and remembers the choice.
	r = get(t, srv, "bari.test", "/privacy?lang=de&x=1")
	if pageLang(t, r.body) != "de" || !strings.Contains(r.header.Get("Set-Cookie"), "sv_lang=de") {
		t.Errorf("after the switch: lang %s, Set-Cookie %q", pageLang(t, r.body), r.header.Get("Set-Cookie"))
	}
	// One language, the back office and unknown hosts: no switch.
	for _, c := range []struct{ host, path string }{{"lecce.test", "/"}, {"bari.test", "/gestione/x"}, {"nobody.test", "/"}} {
		if r := get(t, srv, c.host, c.path); strings.Contains(r.body, "sv-lang-switch") {
			t.Errorf("%s%s shows the language switch", c.host, c.path)
		}
	}
}

func TestAssistantLink(t *testing.T) {
	t.Parallel()
	const link, script = `<a href="/assistente"`, `<script src="/assistente/widget.js" defer></script>`
	on := newLangServer(t, site.Options{Assistant: true})
	r := get(t, on, "bari.test", "/")
	if !strings.Contains(r.body, link) || !strings.Contains(r.body, ">Assistente virtuale</a>") || !strings.Contains(r.body, script) {
		t.Errorf("citizen page lacks the assistant's link or script:\n%s", r.body)
	}
	if r := get(t, on, "bari.test", "/", "Accept-Language", "de"); !strings.Contains(r.body, ">Virtueller Assistent</a>") {
		t.Errorf("German page lacks the assistant's German link")
	}
	for _, c := range []struct{ host, path string }{{"bari.test", "/gestione/x"}, {"nobody.test", "/"}} {
		if r := get(t, on, c.host, c.path); strings.Contains(r.body, link) || strings.Contains(r.body, script) {
			t.Errorf("%s%s links the assistant", c.host, c.path)
		}
	}
	off := newLangServer(t, site.Options{})
	if r := get(t, off, "bari.test", "/"); strings.Contains(r.body, link) || strings.Contains(r.body, script) {
		t.Errorf("assistant linked without Options.Assistant")
	}
	// The footer links the privacy notice and the accessibility statement.
	for _, want := range []string{`<a href="/privacy" data-element="privacy-policy-link">Informativa privacy</a>`, `<a href="/accessibilita" data-element="accessibility-link">Dichiarazione di accessibilità</a>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("footer lacks %s", want)
		}
	}
}

func TestFormatPerLanguage(t *testing.T) {
	t.Parallel()
	at := time.Date(2027, 3, 11, 9, 5, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct{ lang, date, dateTime, rng, month, short string }{
		{"it", "giovedì 11 marzo 2027", "giovedì 11 marzo 2027 ore 09:05", "dalle 09:05 alle 13:05", "marzo 2027", "11/03/2027"},
		{"en", "Thursday 11 March 2027", "Thursday 11 March 2027 at 09:05", "from 09:05 to 13:05", "March 2027", "11/03/2027"},
		{"de", "Donnerstag, 11. März 2027", "Donnerstag, 11. März 2027, 09:05 Uhr", "von 09:05 bis 13:05 Uhr", "März 2027", "11.03.2027"},
		{"fr", "giovedì 11 marzo 2027", "giovedì 11 marzo 2027 ore 09:05", "dalle 09:05 alle 13:05", "marzo 2027", "11/03/2027"},
	}
	for _, tt := range tests {
		d := civil.DateOf(at)
		got := []string{site.FormatDate(tt.lang, at), site.FormatDateTime(tt.lang, at), site.FormatTimeRange(tt.lang, at, at.Add(4*time.Hour)), site.FormatMonth(tt.lang, d), site.FormatShortDate(tt.lang, d), site.FormatTime(tt.lang, at.Add(12*time.Hour))}
		want := []string{tt.date, tt.dateTime, tt.rng, tt.month, tt.short, "21:05"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q, want %q", tt.lang, got, want)
		}
	}
	// Every weekday and month has a name in every language.
	for _, l := range site.Languages() {
		for m := time.January; m <= time.December; m++ {
			if site.MonthName(l, m) == "" {
				t.Errorf("%s: no name for %s", l, m)
			}
		}
		for d := time.Sunday; d <= time.Saturday; d++ {
			if site.WeekdayName(l, d) == "" {
				t.Errorf("%s: no name for %s", l, d)
			}
		}
	}
}

// TestTemplatesFollowLang renders a package's page with its own catalog
// in each language: .T and T read the package's text, then the layout's,
// and the date functions write the page's language.
func TestTemplatesFollowLang(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	files := fstest.MapFS{
		"p/page.html":  {Data: []byte(`{{define "content"}}[{{.T "greet" "Ada"}}|{{template "part"}}|{{.T "nav.services"}}|{{fmtDate .Data}}|{{fmtDateTime .Data}}|{{fmtWeekday .Data}}]{{end}}`)},
		"p/_part.html": {Data: []byte(`{{define "part"}}{{T "bye"}}{{end}}`)},
	}
	m := site.Messages{
		"it": {"greet": "Ciao %s", "bye": "Arrivederci"},
		"en": {"greet": "Hello %s", "bye": "Goodbye"},
		"de": {"greet": "Hallo %s"},
	}
	ts, err := s.TemplatesWith(m, files, "p/*.html")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)
	for lang, want := range map[string]string{
		"it": "[Ciao Ada|Arrivederci|Servizi|giovedì 11 marzo 2027|giovedì 11 marzo 2027 ore 10:00|giovedì]",
		"en": "[Hello Ada|Goodbye|Services|Thursday 11 March 2027|Thursday 11 March 2027 at 10:00|Thursday]",
		"de": "[Hallo Ada|Arrivederci|Dienste|Donnerstag, 11. März 2027|Donnerstag, 11. März 2027, 10:00 Uhr|Donnerstag]",
	} {
		ctx := site.WithLang(site.WithTenant(context.Background(), bari), lang)
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		ts.Render(rec, req, http.StatusOK, "page.html", site.Page{Title: "x", Data: at})
		body := rec.Body.String()
		i, j := strings.Index(body, "[H"), strings.LastIndex(body, "]")
		if i < 0 {
			i = strings.Index(body, "[C")
		}
		if i < 0 || j < i {
			t.Fatalf("%s: no output:\n%s", lang, body)
		}
		if got := html.UnescapeString(body[i : j+1]); got != want {
			t.Errorf("%s: got %s, want %s", lang, got, want)
		}
		if got := pageLang(t, body); got != lang {
			t.Errorf("%s: <html lang=%q>", lang, got)
		}
	}
	if got := m.Missing("it", "en", "de"); !reflect.DeepEqual(got, []string{"de:bye"}) {
		t.Errorf("Missing = %q, want [de:bye]", got)
	}
}

func TestMissing(t *testing.T) {
	t.Parallel()
	m := site.Messages{
		"it": {"a": "A", "b": "B"},
		"en": {"a": "A", "b": "B", "extra": "X"},
		"de": {"a": "A"},
	}
	if got, want := m.Missing(), []string{"de:b", "en:extra"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Missing() = %q, want %q", got, want)
	}
	if got, want := m.Missing("en"), []string{"en:extra"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Missing(en) = %q, want %q", got, want)
	}
	// A language asked for but absent lacks every key.
	if got, want := (site.Messages{"it": {"a": "A"}}).Missing("fr"), []string{"fr:a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Missing(fr) = %q, want %q", got, want)
	}
	if got := site.LangFrom(context.Background()); got != "it" {
		t.Errorf("LangFrom without a language = %q, want it", got)
	}
	if got := site.LangFrom(site.WithLang(context.Background(), "xx")); got != "it" {
		t.Errorf("LangFrom of an unknown language = %q, want it", got)
	}
}

// TestTemplatesStayItalian checks that pages parsed with Templates (no
// catalog) are Italian whatever the request negotiated, and show no
// language switch.
func TestTemplatesStayItalian(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	files := fstest.MapFS{"p/page.html": {Data: []byte(`{{define "content"}}[{{fmtDate .Data}}|{{.T "nav.services"}}]{{end}}`)}}
	ts, err := s.Templates(files, "p/*.html")
	if err != nil {
		t.Fatal(err)
	}
	ctx := site.WithLang(site.WithTenant(context.Background(), bari), "de")
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	ts.Render(rec, req, http.StatusOK, "page.html", site.Page{Title: "x", Data: time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)})
	body := rec.Body.String()
	if pageLang(t, body) != "it" || !strings.Contains(body, "[giovedì 11 marzo 2027|Servizi]") || strings.Contains(body, "sv-lang-switch") {
		t.Errorf("Templates page under de:\n%s", body)
	}
}

// TestNoSwitchOnFormAnswers checks that a page answering a POST shows no
// language switch (its link would lose the posted data) but keeps the
// negotiated language.
func TestNoSwitchOnFormAnswers(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	files := fstest.MapFS{"p/page.html": {Data: []byte(`{{define "content"}}[{{.T "nav.services"}}]{{end}}`)}}
	ts, err := s.TemplatesWith(nil, files, "p/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		ctx := site.WithLang(site.WithTenant(context.Background(), bari), "en")
		req := httptest.NewRequest(method, "/prenota", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		ts.Render(rec, req, http.StatusOK, "page.html", site.Page{Title: "x"})
		body := rec.Body.String()
		if !strings.Contains(body, "[Services]") {
			t.Errorf("%s: page not in English:\n%s", method, body)
		}
		if got, want := strings.Contains(body, "sv-lang-switch"), method == http.MethodGet; got != want {
			t.Errorf("%s: language switch shown %v, want %v", method, got, want)
		}
	}
}
