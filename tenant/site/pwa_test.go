package site_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// swRegisterTag is the layout's only script: the worker's registration.
var swRegisterTag = regexp.MustCompile(`<script src="/static/[0-9a-f]{12}/js/sw-register\.js" defer></script>`)

// comuni is a Resolver whose Comuni can change while the server runs, as
// the registry's do when an administrator saves new settings.
type comuni struct {
	mu sync.Mutex
	m  map[string]tenant.Tenant
}

func (c *comuni) Resolve(ctx context.Context, host string) (tenant.Tenant, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[tenant.NormalizeHost(host)]; ok {
		return t, nil
	}
	return tenant.Tenant{}, fmt.Errorf("resolve %s: %w", host, tenant.ErrNotFound)
}

func (c *comuni) set(host string, t tenant.Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[host] = t
}

var (
	// lecceRed is a Comune with its own colour; lecceRedTheme is it as
	// the header shows it (already dark enough for white text).
	lecceRed = tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035", TimeZone: "Europe/Rome",
		Branding: tenant.Branding{PrimaryColor: "#8b1e3f"}}
	lecceRedTheme = color.NRGBA{0x8b, 0x1e, 0x3f, 0xff}
	// trento's logo is a PNG the test's fetcher serves.
	trento = tenant.Tenant{ID: "trento", Name: "Comune di Trento", ISTAT: "022205", TimeZone: "Europe/Rome",
		Branding: tenant.Branding{PrimaryColor: "#006633", LogoURL: "https://stemmi.test/trento.png"}}
)

// logoPNG is a 300×150 red rectangle, the test's coat of arms.
func logoPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 300, 150))
	for y := 0; y < 150; y++ {
		for x := 0; x < 300; x++ {
			img.SetNRGBA(x, y, color.NRGBA{200, 0, 0, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// newPWAServer serves bari.test (the kit's blue, an SVG logo), lecce.test
// (its red) and trento.test (a PNG logo, fetched by FetchLogo).
func newPWAServer(t *testing.T) (*site.Site, *httptest.Server, *comuni) {
	t.Helper()
	logo := logoPNG(t)
	res := &comuni{m: map[string]tenant.Tenant{"bari.test": bari, "lecce.test": lecceRed, "trento.test": trento}}
	s, err := site.New(site.Options{Resolver: res, Logger: clustertest.Logger(t),
		FetchLogo: func(ctx context.Context, url string) ([]byte, error) {
			switch url {
			case "https://stemmi.test/trento.png":
				return logo, nil
			case "https://static.comune.bari.it/stemma.svg":
				return []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), nil
			}
			return nil, errors.New("no such logo")
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(s.Tenant(mux))
	t.Cleanup(srv.Close)
	return s, srv, res
}

type manifestJSON struct {
	ID, Name, Description, Lang, Dir string
	StartURL                         string `json:"start_url"`
	Scope, Display                   string
	ThemeColor                       string `json:"theme_color"`
	BackgroundColor                  string `json:"background_color"`
	ShortName2                       string `json:"short_name"`
	Icons                            []struct{ Src, Sizes, Type, Purpose string }
}

func TestManifestPerComune(t *testing.T) {
	t.Parallel()
	_, srv, _ := newPWAServer(t)
	read := func(host string) (manifestJSON, response) {
		r := get(t, srv, host, "/manifest.webmanifest")
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", host, r.status)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/manifest+json" {
			t.Errorf("%s: Content-Type %q, want application/manifest+json", host, ct)
		}
		var m manifestJSON
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			t.Fatalf("%s: %v\n%s", host, err, r.body)
		}
		return m, r
	}
	b, br := read("bari.test")
	l, lr := read("LECCE.test:443")
	want := map[string][2]string{
		"name":             {b.Name, "Comune di Bari – Sportello"},
		"short_name":       {b.ShortName2, "Bari"},
		"lang":             {b.Lang, "it"},
		"dir":              {b.Dir, "ltr"},
		"start_url":        {b.StartURL, "/?fonte=app"},
		"scope":            {b.Scope, "/"},
		"display":          {b.Display, "standalone"},
		"theme_color":      {b.ThemeColor, "#0066cc"},
		"background_color": {b.BackgroundColor, "#0066cc"},
		"lecce name":       {l.Name, "Comune di Lecce – Sportello"},
		"lecce short_name": {l.ShortName2, "Lecce"},
		"lecce theme":      {l.ThemeColor, "#8b1e3f"},
		"lecce background": {l.BackgroundColor, "#8b1e3f"},
	}
	for k, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", k, v[0], v[1])
		}
	}
	if !strings.Contains(b.Description, "Comune di Bari") || strings.Contains(lr.body, "Bari") || strings.Contains(br.body, "Lecce") {
		t.Errorf("a manifest names the wrong Comune:\n%s\n%s", br.body, lr.body)
	}
	icons := map[string]string{}
	for _, i := range b.Icons {
		if i.Type != "image/png" {
			t.Errorf("icon %s: type %q", i.Src, i.Type)
		}
		icons[i.Sizes+" "+i.Purpose] = i.Src
	}
	for k, src := range map[string]string{"192x192 any": "/icons/icon-192.png", "512x512 any": "/icons/icon-512.png",
		"512x512 maskable": "/icons/maskable-512.png"} {
		if icons[k] != src {
			t.Errorf("manifest icon %s = %q, want %s (icons %v)", k, icons[k], src, icons)
		}
	}
	// Revalidation answers 304.
	again := get(t, srv, "bari.test", "/manifest.webmanifest", "If-None-Match", br.header.Get("ETag"))
	if br.header.Get("ETag") == "" || again.status != http.StatusNotModified {
		t.Errorf("revalidating the manifest: ETag %q, status %d, want 304", br.header.Get("ETag"), again.status)
	}
}

func decodePNG(t *testing.T, r response) image.Image {
	t.Helper()
	img, format, err := image.Decode(strings.NewReader(r.body))
	if err != nil || format != "png" {
		t.Fatalf("decode icon: %v (format %q)", err, format)
	}
	return img
}

func nrgba(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

func near(a, b color.NRGBA) bool {
	d := func(x, y uint8) bool { return max(x, y)-min(x, y) < 8 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

var (
	white       = color.NRGBA{255, 255, 255, 255}
	transparent = color.NRGBA{}
	logoRed     = color.NRGBA{200, 0, 0, 255}
	kitBlue     = color.NRGBA{0x00, 0x66, 0xcc, 0xff}
)

func TestIcons(t *testing.T) {
	t.Parallel()
	_, srv, res := newPWAServer(t)
	type probe struct {
		x, y int
		want color.NRGBA
	}
	tests := []struct {
		host, name string
		size       int
		probes     []probe
	}{
		// No usable logo (Bari's is an SVG): a tile in the colour with
		// the white mark; "any" icons have rounded, transparent corners,
		// maskable ones fill the square.
		{"bari.test", "icon-192.png", 192, []probe{{0, 0, transparent}, {96, 20, kitBlue}, {96, 125, white}}},
		{"bari.test", "icon-512.png", 512, []probe{{0, 0, transparent}, {256, 40, kitBlue}, {256, 333, white}}},
		{"bari.test", "maskable-512.png", 512, []probe{{0, 0, kitBlue}, {511, 511, kitBlue}, {256, 170, white}}},
		{"bari.test", "apple-touch-icon.png", 180, []probe{{0, 0, kitBlue}, {90, 60, white}}},
		{"bari.test", "badge-96.png", 96, []probe{{0, 0, transparent}, {48, 48, white}}},
		{"lecce.test", "maskable-512.png", 512, []probe{{0, 0, lecceRedTheme}, {256, 170, white}}},
		// Trento's PNG logo, centred on white.
		{"trento.test", "icon-512.png", 512, []probe{{0, 0, transparent}, {256, 256, logoRed}, {256, 100, white}, {40, 256, white}}},
		{"trento.test", "maskable-512.png", 512, []probe{{0, 0, white}, {256, 256, logoRed}, {60, 256, white}}},
	}
	for _, tt := range tests {
		r := get(t, srv, tt.host, "/icons/"+tt.name)
		if r.status != http.StatusOK {
			t.Errorf("%s %s: status %d", tt.host, tt.name, r.status)
			continue
		}
		if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "image/png" || cc != "public, max-age=86400" {
			t.Errorf("%s %s: Content-Type %q, Cache-Control %q", tt.host, tt.name, ct, cc)
		}
		img := decodePNG(t, r)
		if b := img.Bounds(); b.Dx() != tt.size || b.Dy() != tt.size {
			t.Errorf("%s %s: %v, want %dx%d", tt.host, tt.name, b, tt.size, tt.size)
		}
		for _, p := range tt.probes {
			if got := nrgba(img, p.x, p.y); !near(got, p.want) {
				t.Errorf("%s %s: pixel (%d,%d) = %v, want %v", tt.host, tt.name, p.x, p.y, got, p.want)
			}
		}
		if etag := r.header.Get("ETag"); etag == "" || get(t, srv, tt.host, "/icons/"+tt.name, "If-None-Match", etag).status != http.StatusNotModified {
			t.Errorf("%s %s: ETag %q does not revalidate", tt.host, tt.name, etag)
		}
	}
	if r := get(t, srv, "bari.test", "/icons/other.png"); r.status != http.StatusNotFound {
		t.Errorf("unknown icon: status %d, want 404", r.status)
	}

	// New settings give new icons at once, under a new ETag.
	before := get(t, srv, "lecce.test", "/icons/maskable-512.png")
	green := lecceRed
	green.Branding.PrimaryColor = "#1a5e20"
	res.set("lecce.test", green)
	after := get(t, srv, "lecce.test", "/icons/maskable-512.png")
	if after.header.Get("ETag") == before.header.Get("ETag") {
		t.Errorf("the icon's ETag did not change with the colour")
	}
	if got := nrgba(decodePNG(t, after), 0, 0); !near(got, color.NRGBA{0x1a, 0x5e, 0x20, 0xff}) {
		t.Errorf("icon after the colour changed: corner %v, want the new green", got)
	}
}

func TestServiceWorkerScript(t *testing.T) {
	t.Parallel()
	_, srv, res := newPWAServer(t)
	b := get(t, srv, "bari.test", "/sw.js")
	if b.status != http.StatusOK {
		t.Fatalf("status %d", b.status)
	}
	for k, v := range map[string]string{
		"Content-Type":            "text/javascript; charset=utf-8",
		"Cache-Control":           "no-cache",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'self'",
	} {
		if got := b.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if b.header.Get("Service-Worker-Allowed") != "" {
		t.Errorf("the worker widens its scope; served at / it needs no header")
	}
	version := regexp.MustCompile(`const VERSION = "([0-9a-f]{16})";`).FindStringSubmatch(b.body)
	if version == nil || strings.Contains(b.body, "__VERSION__") || strings.Contains(b.body, "__PRECACHE__") {
		t.Fatalf("the worker's version is not filled in:\n%.600s", b.body)
	}
	home := get(t, srv, "bari.test", "/")
	css := regexp.MustCompile(`href="(/static/[0-9a-f]{12}/css/site\.css)"`).FindStringSubmatch(home.body)
	if css == nil {
		t.Fatal("home links no versioned site.css")
	}
	for _, want := range []string{`"/offline"`, `"/icons/icon-192.png"`, `"` + css[1] + `"`, `/js/sw-register.js"`,
		`path.startsWith('/api/')`, `path.startsWith('/gestione/')`, `'/_auth'`, `'/_demo'`, `text/event-stream`, `no-store`, `private`,
		`showNotification`, `'Aggiornamento dal Comune'`, `'remember-ticket'`, `clients.claim()`, `'/coda/biglietto/'`} {
		if !strings.Contains(b.body, want) {
			t.Errorf("the worker lacks %s", want)
		}
	}
	// The same Comune gets the same worker (no reinstall on every visit);
	// another Comune, or new settings, another version.
	if again := get(t, srv, "bari.test", "/sw.js"); again.body != b.body {
		t.Errorf("the worker changes between two requests")
	}
	if again := get(t, srv, "bari.test", "/sw.js", "If-None-Match", b.header.Get("ETag")); again.status != http.StatusNotModified {
		t.Errorf("revalidating the worker: status %d, want 304", again.status)
	}
	l := get(t, srv, "lecce.test", "/sw.js")
	if strings.Contains(l.body, version[1]) {
		t.Errorf("Lecce's worker has Bari's version")
	}
	renamed := bari
	renamed.Name = "Comune di Bari (BA)"
	res.set("bari.test", renamed)
	if strings.Contains(get(t, srv, "bari.test", "/sw.js").body, version[1]) {
		t.Errorf("the worker's version did not change with the Comune's name, so the stored offline page would keep the old one")
	}
}

func TestOfflinePage(t *testing.T) {
	t.Parallel()
	_, srv, _ := newPWAServer(t)
	r := get(t, srv, "lecce.test", "/offline")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	checkSecurityHeaders(t, r)
	if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache (the worker stores it; it holds no personal data)", cc)
	}
	for _, want := range []string{"<title>Sei offline - Comune di Lecce</title>", "<h1>Sei offline</h1>", "Cosa puoi fare",
		`<a class="btn btn-primary" href="">Riprova</a>`, `<meta name="robots" content="noindex">`, "Comune di Lecce"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("offline page lacks %s", want)
		}
	}
	if strings.Contains(r.body, "Bari") {
		t.Errorf("Lecce's offline page names Bari")
	}
	// Only this host's assets: the page must render from the worker's cache.
	for _, m := range regexp.MustCompile(`(?:href|src)="([^"]*)"`).FindAllStringSubmatch(r.body, -1) {
		if strings.HasPrefix(m[1], "http") || strings.HasPrefix(m[1], "//") {
			t.Errorf("offline page loads %s from elsewhere", m[1])
		}
	}
}

func TestPWALayout(t *testing.T) {
	t.Parallel()
	s, srv, _ := newPWAServer(t)
	r := get(t, srv, "lecce.test", "/privacy")
	for _, want := range []string{`<link rel="manifest" href="/manifest.webmanifest">`, `<meta name="theme-color" content="#8b1e3f">`,
		`<link rel="apple-touch-icon" href="/icons/apple-touch-icon.png">`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("citizen page lacks %s", want)
		}
	}
	if tags := swRegisterTag.FindAllString(r.body, -1); len(tags) != 1 {
		t.Errorf("citizen page loads sw-register.js %d times, want once", len(tags))
	} else {
		js := get(t, srv, "lecce.test", regexp.MustCompile(`src="([^"]+)"`).FindStringSubmatch(tags[0])[1])
		if js.status != http.StatusOK || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			!strings.Contains(js.body, "serviceWorker.register('/sw.js'") {
			t.Errorf("sw-register.js: status %d, type %q", js.status, js.header.Get("Content-Type"))
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"manifest-src 'self'", "worker-src 'self'", "default-src 'self'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	// A back-office page gets the colour but neither the manifest nor the
	// worker: an operator's browser must not cache the citizens' shell
	// from there, nor offer to install it.
	pages, err := s.Templates(fstest.MapFS{"p.html": {Data: []byte(`{{define "content"}}<h1>Gestione</h1>{{end}}`)}}, "*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/gestione", "/gestione/utenti"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req = req.WithContext(site.WithTenant(req.Context(), lecceRed))
		rec := httptest.NewRecorder()
		pages.Render(rec, req, http.StatusOK, "p.html", site.Page{Title: "Gestione"})
		body := rec.Body.String()
		if strings.Contains(body, "manifest") || strings.Contains(body, "sw-register") {
			t.Errorf("%s links the manifest or the worker", path)
		}
		if !strings.Contains(body, `<meta name="theme-color" content="#8b1e3f">`) {
			t.Errorf("%s lacks the theme colour", path)
		}
	}
	// The neutral page of an unknown host has none of it.
	n := get(t, srv, "milano.test", "/")
	if strings.Contains(n.body, "manifest") || strings.Contains(n.body, "<script") || strings.Contains(n.body, "theme-color") {
		t.Errorf("the neutral page links the app")
	}
}

// TestPWATenantIsolation: the app's files exist only for a Comune's
// host; others get the neutral 404, the same bytes as any unknown page.
func TestPWATenantIsolation(t *testing.T) {
	t.Parallel()
	_, srv, _ := newPWAServer(t)
	neutral := get(t, srv, "milano.test", "/x").body
	for _, path := range []string{"/manifest.webmanifest", "/sw.js", "/icons/icon-192.png", "/icons/maskable-512.png", "/offline"} {
		for _, host := range []string{"milano.test", "bari.test.evil.example.org", "127.0.0.1"} {
			r := get(t, srv, host, path)
			if r.status != http.StatusNotFound || r.body != neutral {
				t.Errorf("%s%s: status %d, want the neutral 404", host, path, r.status)
			}
		}
	}
	// Two Comuni on one server never get each other's icons.
	if get(t, srv, "bari.test", "/icons/icon-512.png").body == get(t, srv, "lecce.test", "/icons/icon-512.png").body {
		t.Errorf("Bari and Lecce got the same icon")
	}
}
