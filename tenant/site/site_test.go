package site_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

// hosts is a fixed Resolver for tests of the HTTP layer alone; the test
// with a real registry is TestWithRegistry.
type hosts map[string]tenant.Tenant

func (h hosts) Resolve(ctx context.Context, host string) (tenant.Tenant, error) {
	if t, ok := h[tenant.NormalizeHost(host)]; ok {
		return t, nil
	}
	return tenant.Tenant{}, fmt.Errorf("resolve %s: %w", host, tenant.ErrNotFound)
}

var (
	bari = tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", Region: "Regione Puglia", ISTAT: "072006",
		TimeZone: "Europe/Rome", Languages: []string{"it", "en", "de"},
		Branding: tenant.Branding{PrimaryColor: "#0066cc", LogoURL: "https://static.comune.bari.it/stemma.svg"},
		Sender:   tenant.Sender{Address: "urp@comune.bari.it"},
	}
	lecce = tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035", TimeZone: "Europe/Rome"}
)

// newServer returns a test server with the site's routes behind the
// Tenant middleware, for bari.test and lecce.test.
func newServer(t *testing.T, dev bool) (*site.Site, *httptest.Server) {
	t.Helper()
	s, err := site.New(site.Options{Resolver: hosts{"bari.test": bari, "lecce.test": lecce}, Dev: dev, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(s.Tenant(mux))
	t.Cleanup(srv.Close)
	return s, srv
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, srv *httptest.Server, host, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func checkSecurityHeaders(t *testing.T, r response) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, part := range []string{"default-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, part) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, part)
		}
	}
	if c := r.header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("Set-Cookie %v, want no cookies", c)
	}
}

func TestLayout(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, false)
	tests := []struct {
		path  string
		title string
	}{
		{"/", "<title>Comune di Bari</title>"},
		{"/privacy", "<title>Informativa sul trattamento dei dati personali - Comune di Bari</title>"},
		{"/accessibilita", "<title>Dichiarazione di accessibilità - Comune di Bari</title>"},
		{"/note-legali", "<title>Note legali - Comune di Bari</title>"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := get(t, srv, "bari.test:8080", tt.path)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, want 200; body:\n%s", r.status, r.body)
			}
			checkSecurityHeaders(t, r)
			if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
			}
			for _, want := range []string{
				tt.title,
				`<html lang="it">`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`class="it-header-slim-wrapper"`,
				`Regione Puglia`,
				`<nav class="site-nav" aria-label="Menu principale">`,
				`<a href="/servizi">Servizi</a>`,
				`<a href="/prenota">Prenota</a>`,
				`class="it-header-center-wrapper"`,
				`<div class="it-brand-title">Comune di Bari</div>`,
				`<img class="icon" src="https://static.comune.bari.it/stemma.svg" alt=""`,
				`<a class="visually-hidden-focusable" href="#main-container">Vai al contenuto</a>`,
				`<main id="main-container"`,
				`<a href="/prenota" data-element="appointment-booking">Prenota appuntamento</a>`,
				`<a href="/privacy" data-element="privacy-policy-link">`,
				`<a href="/accessibilita" data-element="accessibility-link">`,
				`<a href="/note-legali" data-element="legal-notes">`,
				`Codice ISTAT 072006`,
			} {
				if !strings.Contains(r.body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if tt.path != "/" && !strings.Contains(r.body, `aria-current="page"`) {
				t.Errorf("page has no current breadcrumb")
			}
			if strings.Contains(r.body, "Lecce") {
				t.Errorf("Bari's page names another Comune")
			}
			// The only script is the service worker's registration, which
			// the pages do not need (TestPWALayout checks it).
			if strings.Contains(swRegisterTag.ReplaceAllString(r.body, ""), "<script") {
				t.Errorf("the layout loads a script besides sw-register.js; pages must not need one")
			}
			if strings.Contains(r.body, " style=") {
				t.Errorf("inline style attribute, blocked by the CSP")
			}
		})
	}
	// The logo's origin is allowed for images, and only it.
	r := get(t, srv, "bari.test", "/")
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://static.comune.bari.it;") {
		t.Errorf("CSP %q does not allow the logo's origin", csp)
	}
	home := get(t, srv, "bari.test", "/")
	if !strings.Contains(home.body, `href="/prenota" data-element="appointment-booking">`) || !strings.Contains(home.body, "<h1>Comune di Bari</h1>") {
		t.Errorf("home lacks its heading or booking link:\n%s", home.body)
	}
	// Another Comune gets its own page, without Bari.
	l := get(t, srv, "LECCE.test", "/")
	if l.status != http.StatusOK || !strings.Contains(l.body, "Comune di Lecce") || strings.Contains(l.body, "Bari") {
		t.Errorf("Lecce's home: status %d, want 200 with Lecce and no Bari", l.status)
	}
	if !strings.Contains(l.body, "Servizi al cittadino") {
		t.Errorf("Lecce's slim header lacks the default label")
	}
}

func TestUnknownHost(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, false)
	var first string
	for _, tt := range []struct{ host, path string }{
		{"milano.test", "/"},
		{"evil.example.org", "/privacy"},
		{"bari.test.evil.example.org", "/prenota"},
		{"127.0.0.1", "/"},
		{"", "/x"},
	} {
		r := get(t, srv, tt.host, tt.path)
		if r.status != http.StatusNotFound {
			t.Errorf("%s%s: status %d, want 404", tt.host, tt.path, r.status)
		}
		checkSecurityHeaders(t, r)
		for _, name := range []string{"Bari", "Lecce", "bari", "lecce", "milano", "evil"} {
			if strings.Contains(r.body, name) {
				t.Errorf("%s%s: 404 page contains %q", tt.host, tt.path, name)
			}
		}
		if !strings.Contains(r.body, "Pagina non trovata") || !strings.Contains(r.body, `<html lang="it">`) {
			t.Errorf("%s%s: 404 page is not the neutral Italian page:\n%s", tt.host, tt.path, r.body)
		}
		if first == "" {
			first = r.body
		} else if r.body != first {
			t.Errorf("%s%s: 404 body differs from another unknown host's", tt.host, tt.path)
		}
	}
	api := get(t, srv, "milano.test", "/api/v1/offices")
	if api.status != http.StatusNotFound || !strings.HasPrefix(api.header.Get("Content-Type"), "application/json") ||
		!strings.Contains(api.body, `"code":"not_found"`) {
		t.Errorf("API on unknown host: %d %s %s, want a JSON 404", api.status, api.header.Get("Content-Type"), api.body)
	}
	// A known Comune's unknown page is its own 404, in its layout.
	r := get(t, srv, "bari.test", "/non-esiste")
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "Comune di Bari") {
		t.Errorf("unknown page of Bari: status %d, want 404 in Bari's layout", r.status)
	}
}

var assetRef = regexp.MustCompile(`(?:href|src)="(/static/[^"#]+)`)

func TestStatic(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, false)
	page := get(t, srv, "bari.test", "/")
	refs := assetRef.FindAllStringSubmatch(page.body, -1)
	if len(refs) < 3 {
		t.Fatalf("page links %d assets, want at least 3", len(refs))
	}
	byExt := map[string]string{}
	for _, m := range refs {
		r := get(t, srv, "bari.test", m[1])
		if r.status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", m[1], r.status)
			continue
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q, want a year, immutable", m[1], cc)
		}
		byExt[m[1][strings.LastIndexByte(m[1], '.'):]] = m[1]
	}
	version := strings.Split(byExt[".css"], "/")[2]
	css := "/static/" + version + "/vendor/bootstrap-italia/css/bootstrap-italia.min.css"
	tests := []struct {
		path, contentType, cache string
		minLen                   int
	}{
		{"/static/" + version + "/vendor/bootstrap-italia/css/bootstrap-italia.min.css", "text/css; charset=utf-8", "immutable", 100000},
		{"/static/" + version + "/vendor/bootstrap-italia/js/bootstrap-italia.bundle.min.js", "text/javascript; charset=utf-8", "immutable", 100000},
		{"/static/" + version + "/vendor/bootstrap-italia/svg/sprites.svg", "image/svg+xml", "immutable", 1000},
		{"/static/" + version + "/vendor/bootstrap-italia/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600.woff2", "font/woff2", "immutable", 1000},
		{"/static/" + version + "/css/fonts.css", "text/css; charset=utf-8", "immutable", 100},
		{"/static/css/site.css", "text/css; charset=utf-8", "no-cache", 100},
		{"/static/000000000000/css/site.css", "text/css; charset=utf-8", "no-cache", 100},
		{"/static/vendor/bootstrap-italia/LICENSE", "text/plain; charset=utf-8", "no-cache", 100},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			// Static files answer on any host, known or not.
			r := get(t, srv, "unknown.test", tt.path)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, want 200", r.status)
			}
			if got := r.header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := r.header.Get("Cache-Control"); !strings.Contains(got, tt.cache) {
				t.Errorf("Cache-Control %q, want %s", got, tt.cache)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no nosniff header")
			}
			if len(r.body) < tt.minLen {
				t.Errorf("body %d bytes, want at least %d", len(r.body), tt.minLen)
			}
		})
	}
	// Every font named by fonts.css is served.
	fonts := get(t, srv, "bari.test", "/static/"+version+"/css/fonts.css")
	urls := regexp.MustCompile(`url\("\.\./([^"]+)"\)`).FindAllStringSubmatch(fonts.body, -1)
	if len(urls) != 4 {
		t.Errorf("fonts.css names %d fonts, want 4 weights", len(urls))
	}
	for _, u := range urls {
		if r := get(t, srv, "bari.test", "/static/"+version+"/"+u[1]); r.status != http.StatusOK || r.header.Get("Content-Type") != "font/woff2" {
			t.Errorf("font %s: %d %s, want 200 font/woff2", u[1], r.status, r.header.Get("Content-Type"))
		}
	}
	// gzip when asked, identical once decompressed; conditional requests.
	plain := get(t, srv, "bari.test", css)
	zipped := get(t, srv, "bari.test", css, "Accept-Encoding", "gzip")
	if zipped.header.Get("Content-Encoding") != "gzip" || len(zipped.body) >= len(plain.body)/2 {
		t.Errorf("gzip: encoding %q, %d bytes of %d", zipped.header.Get("Content-Encoding"), len(zipped.body), len(plain.body))
	} else if zr, err := gzip.NewReader(strings.NewReader(zipped.body)); err != nil {
		t.Errorf("gzip body: %v", err)
	} else if b, _ := io.ReadAll(zr); !bytes.Equal(b, []byte(plain.body)) {
		t.Errorf("decompressed body differs from the plain one")
	}
	if r := get(t, srv, "bari.test", css, "If-None-Match", plain.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", r.status)
	}
	for _, p := range []string{"/static/", "/static/css/", "/static/vendor/update.sh", "/static/vendor/SHA256SUMS", "/static/../site.go", "/static/" + version + "/nope.css"} {
		if r := get(t, srv, "bari.test", p); r.status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, r.status)
		}
	}
}

func TestStaticDev(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, true)
	page := get(t, srv, "bari.test", "/")
	m := assetRef.FindStringSubmatch(page.body)
	if r := get(t, srv, "bari.test", m[1]); r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("Dev: Cache-Control %q, want no-cache", r.header.Get("Cache-Control"))
	}
}

// render renders one page template for tenant tn and returns the body.
func render(t *testing.T, s *site.Site, tn tenant.Tenant, page string, data any) string {
	t.Helper()
	files := fstest.MapFS{
		"pages/dates.html": {Data: []byte(`{{define "content"}}` +
			`[{{fmtDate .Data}}|{{fmtTime .Data}}|{{fmtDateTime .Data}}|{{isoDateTime .Data}}|{{fmtMonth .Data}}|{{fmtShortDate .Data}}|{{ucfirst (fmtWeekday .Data)}}]` +
			`{{end}}`)},
		"pages/civil.html": {Data: []byte(`{{define "content"}}[{{fmtDate .Data}}|{{isoDate .Data}}]{{end}}`)},
		"pages/range.html": {Data: []byte(`{{define "content"}}[{{fmtTimeRange (index .Data 0) (index .Data 1)}}]{{end}}`)},
	}
	ts, err := s.Templates(files, "pages/*.html")
	if err != nil {
		t.Fatalf("Templates: %v", err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(site.WithTenant(context.Background(), tn))
	rec := httptest.NewRecorder()
	ts.Render(rec, req, http.StatusOK, page, site.Page{Title: "Prova", Data: data})
	if rec.Code != http.StatusOK {
		t.Fatalf("Render: status %d:\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	i, j := strings.Index(body, "["), strings.LastIndex(body, "]")
	if i < 0 || j < i {
		t.Fatalf("no output in page:\n%s", body)
	}
	return html.UnescapeString(body[i : j+1])
}

func TestDateFormatting(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"winter", utc("2027-03-11T09:00:00Z"), "[giovedì 11 marzo 2027|10:00|giovedì 11 marzo 2027 ore 10:00|2027-03-11T10:00:00+01:00|marzo 2027|11/03/2027|Giovedì]"},
		{"before spring DST", utc("2026-03-29T00:30:00Z"), "[domenica 29 marzo 2026|01:30|domenica 29 marzo 2026 ore 01:30|2026-03-29T01:30:00+01:00|marzo 2026|29/03/2026|Domenica]"},
		{"after spring DST", utc("2026-03-29T01:30:00Z"), "[domenica 29 marzo 2026|03:30|domenica 29 marzo 2026 ore 03:30|2026-03-29T03:30:00+02:00|marzo 2026|29/03/2026|Domenica]"},
		{"summer", utc("2026-03-30T08:00:00Z"), "[lunedì 30 marzo 2026|10:00|lunedì 30 marzo 2026 ore 10:00|2026-03-30T10:00:00+02:00|marzo 2026|30/03/2026|Lunedì]"},
		{"midnight in Rome, not in UTC", utc("2026-10-24T22:30:00Z"), "[domenica 25 ottobre 2026|00:30|domenica 25 ottobre 2026 ore 00:30|2026-10-25T00:30:00+02:00|ottobre 2026|25/10/2026|Domenica]"},
		{"first 02:30 of autumn DST", utc("2026-10-25T00:30:00Z"), "[domenica 25 ottobre 2026|02:30|domenica 25 ottobre 2026 ore 02:30|2026-10-25T02:30:00+02:00|ottobre 2026|25/10/2026|Domenica]"},
		{"second 02:30 of autumn DST", utc("2026-10-25T01:30:00Z"), "[domenica 25 ottobre 2026|02:30|domenica 25 ottobre 2026 ore 02:30|2026-10-25T02:30:00+01:00|ottobre 2026|25/10/2026|Domenica]"},
		{"after autumn DST", utc("2026-10-26T09:00:00Z"), "[lunedì 26 ottobre 2026|10:00|lunedì 26 ottobre 2026 ore 10:00|2026-10-26T10:00:00+01:00|ottobre 2026|26/10/2026|Lunedì]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, s, bari, "dates.html", tt.at); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	// The same instant in another Comune's zone.
	ny := lecce
	ny.TimeZone = "America/New_York"
	if got, want := render(t, s, ny, "dates.html", utc("2027-03-11T03:00:00Z")), "[mercoledì 10 marzo 2027|22:00|mercoledì 10 marzo 2027 ore 22:00|2027-03-10T22:00:00-05:00|marzo 2027|10/03/2027|Mercoledì]"; got != want {
		t.Errorf("New York: got %s, want %s", got, want)
	}
	// And Rome again, after the other zone's set was made.
	if got := render(t, s, bari, "dates.html", utc("2027-03-11T09:00:00Z")); !strings.Contains(got, "ore 10:00") {
		t.Errorf("Rome after New York: got %s", got)
	}
	if got, want := render(t, s, bari, "civil.html", civil.Date{Year: 2026, Month: time.October, Day: 4}), "[domenica 4 ottobre 2026|2026-10-04]"; got != want {
		t.Errorf("civil.Date: got %s, want %s", got, want)
	}
	if got, want := render(t, s, bari, "civil.html", time.Time{}), "[|]"; got != want {
		t.Errorf("zero time: got %s, want %s", got, want)
	}
	if got, want := render(t, s, bari, "range.html", []time.Time{utc("2026-10-25T01:30:00Z"), utc("2026-10-25T02:00:00Z")}), "[dalle 02:30 alle 03:00]"; got != want {
		t.Errorf("fmtTimeRange: got %s, want %s", got, want)
	}
}

func TestPrimaryColor(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	tests := []struct {
		name    string
		color   string
		want    string // in the <style> element; "" means no <style>
		notWant []string
	}{
		{"valid", "#0066cc", ".it-header-center-wrapper{background:#0066cc}", nil},
		{"upper-case", "#1A5E20", ".it-header-center-wrapper{background:#1a5e20}", nil},
		{"too light is darkened", "#ffd700", "--bs-primary:#", []string{"background:#ffd700"}},
		{"css injection", "#000;}</style><script>alert(1)</script>", "", []string{"alert(1)", "<script>"}},
		{"url", "url(https://evil.example/x)", "", []string{"evil.example"}},
		{"short form", "#06c", "", nil},
		{"empty", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := bari
			tn.Branding.PrimaryColor = tt.color
			req := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(site.WithTenant(context.Background(), tn))
			rec := httptest.NewRecorder()
			s.Error(rec, req, http.StatusConflict, "Lo slot non è più disponibile.")
			body := rec.Body.String()
			if rec.Code != http.StatusConflict || !strings.Contains(body, "Lo slot non è più disponibile.") {
				t.Fatalf("Error page: status %d, want 409 with the message", rec.Code)
			}
			style := regexp.MustCompile(`(?s)<style nonce="([^"]+)">(.*?)</style>`).FindStringSubmatch(body)
			if tt.want == "" {
				if style != nil {
					t.Errorf("got a <style> for colour %q, want none: %s", tt.color, style[0])
				}
			} else {
				if style == nil {
					t.Fatalf("no <style> for colour %q", tt.color)
				}
				if !strings.Contains(style[2], tt.want) {
					t.Errorf("style %s lacks %s", style[2], tt.want)
				}
				if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "'nonce-"+style[1]+"'") {
					t.Errorf("CSP %q does not allow the style's nonce %s", csp, style[1])
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
		})
	}
}

func TestTemplatesErrors(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	tests := []struct {
		name     string
		files    fstest.MapFS
		patterns []string
	}{
		{"no content", fstest.MapFS{"a.html": {Data: []byte(`hello`)}}, []string{"*.html"}},
		{"no match", fstest.MapFS{"a.html": {Data: []byte(`{{define "content"}}{{end}}`)}}, []string{"*.tmpl"}},
		{"same name twice", fstest.MapFS{
			"x/a.html": {Data: []byte(`{{define "content"}}{{end}}`)},
			"y/a.html": {Data: []byte(`{{define "content"}}{{end}}`)},
		}, []string{"x/*.html", "y/*.html"}},
		{"syntax", fstest.MapFS{"a.html": {Data: []byte(`{{define "content"}}{{.Data{{end}}`)}}, []string{"*.html"}},
		{"unknown func", fstest.MapFS{"a.html": {Data: []byte(`{{define "content"}}{{nope .}}{{end}}`)}}, []string{"*.html"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Templates(tt.files, tt.patterns...); err == nil {
				t.Errorf("Templates succeeded, want an error")
			}
		})
	}
}

func TestRenderPages(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, false)
	files := fstest.MapFS{
		"t/_item.html":  {Data: []byte(`{{define "item"}}<li>{{.}}</li>{{end}}`)},
		"t/list.html":   {Data: []byte(`{{define "title"}}Elenco personalizzato{{end}}{{define "content"}}<h1>{{.Page.Title}}</h1><ul>{{range .Data}}{{template "item" .}}{{end}}</ul>{{icon "it-calendar" "icon-sm"}}{{end}}`)},
		"t/broken.html": {Data: []byte(`{{define "content"}}{{.Data.Missing}}{{end}}`)},
	}
	ts, err := s.Templates(files, "t/*.html")
	if err != nil {
		t.Fatalf("Templates: %v", err)
	}
	do := func(page string, data any) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/elenco", nil).WithContext(site.WithTenant(context.Background(), bari))
		rec := httptest.NewRecorder()
		ts.Render(rec, req, http.StatusAccepted, page, site.Page{
			Title:       "Elenco",
			Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Elenco"}},
			Data:        data,
		})
		return rec
	}
	rec := do("list.html", []string{"uno", "<due>"})
	body := rec.Body.String()
	for _, want := range []string{
		"<title>Elenco personalizzato</title>",
		"<li>uno</li><li>&lt;due&gt;</li>",
		`<li class="breadcrumb-item"><a href="/">Home</a>`,
		`<li class="breadcrumb-item active" aria-current="page">Elenco</li>`,
		`<svg class="icon icon-sm" aria-hidden="true" focusable="false"><use href="/static/`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if rec.Code != http.StatusAccepted {
		t.Errorf("status %d, want 202", rec.Code)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	checkSecurityHeaders(t, response{rec.Code, rec.Header(), body})
	if _, err := s.Templates(files, "t/_*.html"); err == nil {
		t.Errorf("Templates with partials only succeeded, want no content error")
	}

	for _, tt := range []struct{ page string }{{"broken.html"}, {"missing.html"}} {
		rec := do(tt.page, []string{"x"})
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "Comune di Bari") ||
			!strings.Contains(rec.Body.String(), "Errore del servizio") {
			t.Errorf("%s: status %d, want a 500 page in the Comune's layout:\n%s", tt.page, rec.Code, rec.Body)
		}
	}
}

// TestWithRegistry runs the middleware over the real registry on a real
// one-node cluster.
func TestWithRegistry(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, tenant.Register)
	reg := tenant.NewRegistry(n, n.DB(), "sportello.example.it")
	if _, err := reg.Create(context.Background(), tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006", Domains: []string{"servizi.comune.bari.it"},
	}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(s.Tenant(mux))
	t.Cleanup(srv.Close)
	for _, host := range []string{"bari.sportello.example.it", "servizi.comune.bari.it:443"} {
		if r := get(t, srv, host, "/"); r.status != http.StatusOK || !strings.Contains(r.body, "Comune di Bari") {
			t.Errorf("%s: status %d, want Bari's home", host, r.status)
		}
	}
	if r := get(t, srv, "lecce.sportello.example.it", "/"); r.status != http.StatusNotFound || strings.Contains(r.body, "Bari") {
		t.Errorf("unknown Comune: status %d, want the neutral 404", r.status)
	}
}

func TestTranslations(t *testing.T) {
	t.Parallel()
	// The view falls back to Italian and then to the key.
	v := site.View{Lang: "de"}
	if got := v.T("skip.content"); got != "Zum Inhalt springen" {
		t.Errorf("de skip.content = %q", got)
	}
	// Every layout key is translated (TestLayoutCatalogComplete), so the
	// fallback shows with a package's catalog that lacks German.
	m := site.Messages{"it": {"only.it": "Solo in italiano %d"}, "de": {"skip.content": "Überschrieben"}}
	if got := site.Translate(m, "de", "only.it", 3); got != "Solo in italiano 3" {
		t.Errorf("de only.it = %q, want the Italian fallback", got)
	}
	if got := site.Translate(m, "de", "skip.content"); got != "Überschrieben" {
		t.Errorf("de skip.content with a package catalog = %q, want the package's text first", got)
	}
	if got := site.Translate(m, "en", "error.409"); got != "Conflicting request" {
		t.Errorf("en error.409 = %q, want the layout's English", got)
	}
	if got := v.T("no.such.key"); got != "no.such.key" {
		t.Errorf("missing key = %q, want the key", got)
	}
	if got := (site.View{Lang: "it"}).T("footer.istat", "072006"); got != "Codice ISTAT 072006" {
		t.Errorf("it footer.istat = %q", got)
	}
}

// TestDevReparse checks that with Dev a page edited on disk shows at the
// next render.
func TestDevReparse(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, true)
	dir := t.TempDir()
	file := dir + "/p.html"
	write := func(text string) {
		if err := os.WriteFile(file, []byte(`{{define "content"}}`+text+`{{end}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("prima versione")
	ts, err := s.Templates(os.DirFS(dir), "*.html")
	if err != nil {
		t.Fatalf("Templates: %v", err)
	}
	show := func() string {
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(site.WithTenant(context.Background(), bari))
		rec := httptest.NewRecorder()
		ts.Render(rec, req, http.StatusOK, "p.html", site.Page{})
		return rec.Body.String()
	}
	if !strings.Contains(show(), "prima versione") {
		t.Fatalf("first render lacks the page")
	}
	write("seconda versione")
	if !strings.Contains(show(), "seconda versione") {
		t.Errorf("Dev render does not show the edited page")
	}
}
