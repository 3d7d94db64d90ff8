package site

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// swSource is the service worker, written by hand; serviceWorker fills
// in its version and precache list for each Comune.
//
//go:embed pwa/sw.js
var swSource string

// defaultThemeColor is the kit's blue, the colour of a Comune that set
// none (the layout keeps the kit's colours then, too).
const defaultThemeColor = "#0066cc"

// Cache-Control of the PWA's answers. The manifest and the worker are
// revalidated on every use, so a deploy or a new colour shows at once;
// icons change only with the branding and may be kept a day.
const (
	cacheIcons = "public, max-age=86400"
	cacheShell = "no-cache"
)

// shellAssets are the embedded assets the offline page needs; the worker
// stores them when it installs.
var shellAssets = []string{
	"vendor/bootstrap-italia/css/bootstrap-italia.min.css",
	"css/fonts.css",
	"css/site.css",
	"vendor/bootstrap-italia/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-300.woff2",
	"vendor/bootstrap-italia/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.woff2",
	"vendor/bootstrap-italia/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600.woff2",
	"vendor/bootstrap-italia/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-700.woff2",
	"vendor/bootstrap-italia/svg/sprites.svg",
	swRegisterAsset,
}

// swRegisterAsset is the script that registers the worker on citizen
// pages (static/js/sw-register.js).
const swRegisterAsset = "js/sw-register.js"

// pwaRoutes mounts the PWA's routes: the manifest, the icons, the worker
// at the root (so its scope is the whole host) and the offline page.
func (s *Site) pwaRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /manifest.webmanifest", s.withTenant(s.manifest))
	mux.HandleFunc("GET /sw.js", s.withTenant(s.serviceWorker))
	mux.HandleFunc("GET /icons/{name}", s.withTenant(s.appIcon))
	mux.HandleFunc("GET /offline", s.withTenant(s.offline))
}

// withTenant answers the neutral 404 when the request has no Comune.
func (s *Site) withTenant(h func(http.ResponseWriter, *http.Request, tenant.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := TenantFrom(r.Context())
		if !ok {
			s.notFound(w, r)
			return
		}
		h(w, r, t)
	}
}

// themeColor is the colour of the Comune's header, as the layout paints
// it: the branding colour darkened to keep white text readable.
func themeColor(t tenant.Tenant) string {
	c, ok := parseColor(t.Branding.PrimaryColor)
	if !ok {
		return defaultThemeColor
	}
	return c.accessible().hex()
}

// settingsStamp identifies what the installed app shows of a Comune:
// name, labels and branding. It changes when the administrator changes
// them, which renews the icons and the worker's cache.
func settingsStamp(t tenant.Tenant) string {
	b, _ := json.Marshal(struct {
		Name, Region, ISTAT string
		Branding            tenant.Branding
	}{t.Name, t.Region, t.ISTAT, t.Branding})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// shortName is the name under the icon on a home screen, where there is
// room for a dozen letters: the Comune's name without "Comune di".
func shortName(name string) string {
	for _, p := range []string{"Comune di ", "Comune dell'", "Comune della ", "Comune del ", "Città di ", "Città metropolitana di "} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			return rest
		}
	}
	return name
}

// webManifest is the W3C Web App Manifest of a Comune.
type webManifest struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	ShortName       string         `json:"short_name"`
	Description     string         `json:"description"`
	Lang            string         `json:"lang"`
	Dir             string         `json:"dir"`
	StartURL        string         `json:"start_url"`
	Scope           string         `json:"scope"`
	Display         string         `json:"display"`
	ThemeColor      string         `json:"theme_color"`
	BackgroundColor string         `json:"background_color"`
	Categories      []string       `json:"categories"`
	Icons           []manifestIcon `json:"icons"`
}

type manifestIcon struct {
	Src     string `json:"src"`
	Sizes   string `json:"sizes"`
	Type    string `json:"type"`
	Purpose string `json:"purpose"`
}

// manifest answers GET /manifest.webmanifest for the request's Comune.
func (s *Site) manifest(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	color := themeColor(t)
	// The manifest is one per Comune, kept by the browser for every
	// visitor: it speaks the Comune's own first language.
	lang := OfferedLanguages(t)[0]
	m := webManifest{
		// The id stays the same when start_url changes, so an installed
		// app is recognised as the same app.
		ID:              "/",
		Name:            t.Name + " – Sportello",
		ShortName:       shortName(t.Name),
		Description:     translate(lang, "app.description", t.Name),
		Lang:            lang,
		Dir:             "ltr",
		StartURL:        "/?fonte=app",
		Scope:           "/",
		Display:         "standalone",
		ThemeColor:      color,
		BackgroundColor: color,
		Categories:      []string{"government"},
		Icons: []manifestIcon{
			{Src: "/icons/icon-192.png", Sizes: "192x192", Type: "image/png", Purpose: "any"},
			{Src: "/icons/icon-512.png", Sizes: "512x512", Type: "image/png", Purpose: "any"},
			{Src: "/icons/maskable-512.png", Sizes: "512x512", Type: "image/png", Purpose: "maskable"},
		},
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		s.Error(w, r, http.StatusInternalServerError, "")
		return
	}
	serveGenerated(w, r, "application/manifest+json", cacheShell, b)
}

// swVersion is the worker's version for a Comune: the embedded assets,
// the worker's own source and the Comune's settings. Any change installs
// a new worker, whose activation drops the old cache.
func (s *Site) swVersion(t tenant.Tenant) string {
	sum := sha256.Sum256([]byte(s.assets.version + "\x00" + swSource + "\x00" + settingsStamp(t)))
	return hex.EncodeToString(sum[:8])
}

// precacheList is what the worker stores when it installs.
func (s *Site) precacheList() []string {
	list := []string{"/offline", "/icons/icon-192.png", "/icons/badge-96.png"}
	for _, a := range shellAssets {
		list = append(list, s.assets.path(a))
	}
	return list
}

// serviceWorker answers GET /sw.js.
func (s *Site) serviceWorker(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	version, _ := json.Marshal(s.swVersion(t))
	precache, _ := json.Marshal(s.precacheList())
	src := strings.Replace(swSource, "__VERSION__", string(version), 1)
	src = strings.Replace(src, "__PRECACHE__", string(precache), 1)
	// A worker runs under the policy of its own script: it may fetch from
	// this host only, which is all it does (it leaves other origins to the
	// browser).
	w.Header().Set("Content-Security-Policy", "default-src 'self'")
	serveGenerated(w, r, "text/javascript; charset=utf-8", cacheShell, []byte(src))
}

// offline answers GET /offline, the page the worker shows when the
// network fails. It holds no citizen's data, so it may be stored.
func (s *Site) offline(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	lang := LangFrom(r.Context())
	title := translate(lang, "offline.title")
	w.Header().Set("Cache-Control", cacheShell)
	s.own.Render(w, r, http.StatusOK, "offline.html", Page{
		Title:       title,
		Breadcrumbs: []Crumb{{Label: translate(lang, "home"), URL: "/"}, {Label: title}},
	})
}

// serveGenerated writes a body computed by the site, with a strong ETag
// of its bytes so that revalidations answer 304.
func serveGenerated(w http.ResponseWriter, r *http.Request, contentType, cache string, body []byte) {
	sum := sha256.Sum256(body)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cache)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// PWA reports whether the page is a citizen page of a Comune, which links
// the manifest and registers the service worker; the back office
// (/gestione) and the neutral pages of unknown hosts do neither.
func (v View) PWA() bool {
	return v.HasTenant && !isBackOffice(v.Path)
}

// ThemeColor is the colour of the browser's bar on the Comune's pages.
func (v View) ThemeColor() string { return themeColor(v.Tenant) }

func isBackOffice(path string) bool {
	return path == "/gestione" || strings.HasPrefix(path, "/gestione/")
}
