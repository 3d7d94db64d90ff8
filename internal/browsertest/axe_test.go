package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAxe runs the vendored axe-core in real Chromium on two pages served
// under a Content Security Policy that forbids every script: one that
// breaks three WCAG rules (an image without text, a field without a
// label, grey on white), which Axe must report, and a clean one, where it
// must find nothing. The check can therefore fail, and works on pages
// that refuse inline scripts.
func TestAxe(t *testing.T) {
	bin := Chromium(t)
	pages := map[string]string{
		"/bad": `<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Brutta</title></head><body>
<main><h1>Pagina brutta</h1><img src="/x.png"><form><input type="text" name="q"></form>
<p style="color:#bbb;background:#fff">Testo poco leggibile</p></main></body></html>`,
		"/good": `<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Bella</title></head><body>
<main><h1>Pagina bella</h1><form><label for="q">Cerca</label><input id="q" type="text" name="q"></form>
<p>Testo leggibile</p></main></body></html>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// The inline style of /bad needs style-src 'unsafe-inline'; no
		// script of any origin may run.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(body))
	}))
	defer srv.Close()
	bctx := Headless(t, bin)

	check := func(path string) []Violation {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+path)); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		v, err := Axe(ctx)
		if err != nil {
			t.Fatalf("axe on %s: %v", path, err)
		}
		return v
	}
	ids := map[string]bool{}
	for _, v := range check("/bad") {
		ids[v.ID] = true
		if len(v.Nodes) == 0 || v.Nodes[0].HTML == "" || len(v.Nodes[0].Target) == 0 {
			t.Errorf("violation without elements: %s", v)
		}
	}
	for _, want := range []string{"image-alt", "label", "color-contrast"} {
		if !ids[want] {
			t.Errorf("axe %s did not report %s on /bad; it reported %v", AxeVersion(), want, ids)
		}
	}
	if v := check("/good"); len(v) != 0 {
		for _, x := range v {
			t.Errorf("/good: %s", x)
		}
	}
	if !strings.HasPrefix(AxeVersion(), "4.") {
		t.Errorf("vendored axe-core %q, want a 4.x", AxeVersion())
	}
}
