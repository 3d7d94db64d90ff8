package main

import (
	"context"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

var callVerbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestCallStatusCatalog: every language of the status page has exactly
// Italian's keys with Italian's fmt verbs; every key the template and
// callStatus name is in the catalog; the template holds no visible text
// of its own.
func TestCallStatusCatalog(t *testing.T) {
	if m := callStatusMessages.Missing(); len(m) > 0 {
		t.Errorf("missing keys: %v", m)
	}
	it := callStatusMessages["it"]
	for lang, dict := range callStatusMessages {
		for k, s := range dict {
			a := strings.Join(callVerbRE.FindAllString(it[k], -1), "")
			if b := strings.Join(callVerbRE.FindAllString(s, -1), ""); a != b {
				t.Errorf("%s:%s has verbs %q, Italian %q", lang, k, b, a)
			}
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s:%s is empty", lang, k)
			}
		}
	}
	page, err := fs.ReadFile(callTemplates, "templates/chiamata_stato.html")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\bT "([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	for _, k := range []string{"call.not_open", "call.not_open.auto", "call.not_open.manual", "call.ended", "call.ended.text"} {
		used = append(used, []string{"", k})
	}
	if len(used) < 8 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for _, m := range used {
		if _, ok := it[m[1]]; !ok {
			t.Errorf("%q is used but not in the catalog", m[1])
		}
	}
	// Visible text outside the template's actions: letters between tags.
	noActions := regexp.MustCompile(`(?s)\{\{.*?\}\}`).ReplaceAllString(string(page), "")
	for _, s := range regexp.MustCompile(`(?s)<[^>]*>`).Split(noActions, -1) {
		if s = strings.TrimSpace(html.UnescapeString(s)); regexp.MustCompile(`\p{L}{2,}`).MatchString(s) {
			t.Errorf("chiamata_stato.html has text outside the catalog: %q", s)
		}
	}
}

// TestCallStatusLanguages renders the status page of a call not open
// yet, with and without the reload, and of a closed one, through the
// real site middleware of a Comune offering Italian, English and
// German: ?lang=en and ?lang=de give the page in that language with no
// Italian left, and Italian stays the default.
func TestCallStatusLanguages(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, tenant.Register)
	tenants := tenant.NewRegistry(node, node.DB(), "example.it")
	if _, err := tenants.Create(context.Background(), tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006",
		Languages: []string{"it", "en", "de"}}); err != nil {
		t.Fatal(err)
	}
	s, err := site.New(site.Options{Resolver: tenants, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(callTemplates, "templates")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := s.TemplatesWith(callStatusMessages, sub, "chiamata_stato.html")
	if err != nil {
		t.Fatal(err)
	}
	// The page as citizenCall renders it, from the same callStatus.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stato", func(w http.ResponseWriter, r *http.Request) {
		lang := site.LangFrom(r.Context())
		reload := ""
		if r.URL.Query().Get("auto") != "0" {
			reload = "/stato?auto=0"
		}
		d := callStatus(lang, r.URL.Query().Get("fine") == "1", "/chiamata/ABC?t=x", reload)
		pages.Render(w, r, http.StatusOK, "chiamata_stato.html", site.Page{Title: site.Translate(callStatusMessages, lang, "call.title"), Data: d})
	})
	h := s.Tenant(mux)
	cases := []struct {
		query     string
		want, not []string
	}{
		{"", []string{`<html lang="it"`, "Videochiamata", "Tieni aperta questa pagina", "ogni 5 secondi", "Torna alla sala d'attesa"}, nil},
		{"?lang=en", []string{`<html lang="en"`, "Video call", "The call is not open yet", "Keep this page open", "every 5 seconds",
			"Stop the automatic refresh", "Back to the waiting room"}, []string{"chiamata", "Torna"}},
		{"?lang=de&auto=0", []string{`<html lang="de"`, "Videoanruf", "Laden Sie diese Seite neu", "Zurück zum Warteraum"},
			[]string{"chiamata", "Torna", "Sekunden"}},
		{"?lang=de&fine=1", []string{"Der Anruf ist beendet", "Die Seite aktualisiert sich alle 5 Sekunden"}, []string{"terminata"}},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/stato"+c.query, nil)
		req.Host = "bari.example.it"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := html.UnescapeString(rec.Body.String())
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", c.query, rec.Code)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q", c.query, w)
			}
		}
		visible := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
		for _, n := range c.not {
			if strings.Contains(visible, n) {
				t.Errorf("%s: still says %q", c.query, n)
			}
		}
	}
}
