package site

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Page is what a handler hands to Render.
type Page struct {
	// Title is the page's title, shown in the browser tab before the
	// Comune's name; a page may define its own "title" template instead.
	Title string
	// Breadcrumbs are shown above the content; the last crumb, the current
	// page, has no URL.
	Breadcrumbs []Crumb
	// Data is the page's own data, .Data in its templates.
	Data any
}

// Crumb is one step of the breadcrumbs.
type Crumb struct{ Label, URL string }

// View is the data of every template (the dot), documented in doc.go.
type View struct {
	// Tenant is the Comune of the request; the zero Tenant when HasTenant
	// is false (the neutral pages of unknown hosts).
	Tenant    tenant.Tenant
	HasTenant bool
	// Lang is the page's language: the one the Tenant middleware
	// negotiated (LangFrom), "it" on the back office and neutral pages.
	Lang string
	// Page is what the handler rendered; Data is Page.Data.
	Page Page
	Data any
	// Nonce is the request's CSP nonce, for the rare inline <script> or
	// <style>: <script nonce="{{.Nonce}}">.
	Nonce string
	// Path is the request's URL path.
	Path string
	// Status is the response's status code.
	Status int
	// Theme is the CSS of the Comune's primary colour ("" for none).
	Theme template.CSS
	// Assistant is Options.Assistant: the layout links the virtual
	// assistant on citizen pages of a Comune.
	Assistant bool

	// msgs is the catalog of the package that renders the page (see
	// TemplatesWith), read by T before the layout's own.
	msgs Messages
	// query is the request's query string, kept by the language switch's
	// links.
	query url.Values
	// monolingual marks a page of Templates (Italian only), which shows
	// no language switch.
	monolingual bool
	// posted marks a page answering a form (not GET or HEAD), which
	// shows no language switch: see LangLinks.
	posted bool
}

// T returns the string of key in the page's language, with fmt args when
// given: {{.T "footer.booking"}}. It looks in the rendering package's
// catalog (TemplatesWith), then in the layout's (i18n.go), then in
// Italian (see Translate).
func (v View) T(key string, args ...any) string { return Translate(v.msgs, v.Lang, key, args...) }

// CSP returns the request's CSP nonce; it is Nonce under another name.
func (v View) CSP() string { return v.Nonce }

// DocumentTitle is the default <title>: "<Page.Title> - <Comune>", without
// repeating the Comune's name when it is the page's title.
func (v View) DocumentTitle() string {
	site := v.Tenant.Name
	if !v.HasTenant {
		site = v.T("neutral.name")
	}
	switch v.Page.Title {
	case "", site:
		return site
	}
	return v.Page.Title + " - " + site
}

// CrumbItem is a breadcrumb as the layout shows it.
type CrumbItem struct {
	Label, URL string
	// Current is true for the last crumb, the page itself, shown without
	// a link and marked aria-current.
	Current bool
}

// CrumbItems returns the page's breadcrumbs for the layout.
func (v View) CrumbItems() []CrumbItem {
	items := make([]CrumbItem, 0, len(v.Page.Breadcrumbs))
	for i, c := range v.Page.Breadcrumbs {
		last := i == len(v.Page.Breadcrumbs)-1
		items = append(items, CrumbItem{Label: c.Label, URL: c.URL, Current: last || c.URL == ""})
	}
	return items
}

// Templates are the page templates of one web package, each page file
// parsed with the shared layout into a template set of its own.
type Templates struct {
	site *Site
	msgs Messages
	// multilingual is true for TemplatesWith: the pages follow the
	// request's language. Templates' pages are Italian.
	multilingual bool
	fsys         fs.FS
	patterns     []string
	pages        map[string]*pageSet
}

// pageSet is one page with the layout. base is never executed, only
// cloned: html/template refuses to clone a set once it ran. Each clone has
// the date functions bound to one time zone and one language; there are
// as many as zones of Comuni rendered (in practice one, Europe/Rome) times
// the languages (three).
type pageSet struct {
	base *template.Template
	msgs Messages

	mu     sync.Mutex
	byZone map[string]*template.Template
}

// Templates parses the page templates of a web package from fsys. Every
// file matched by patterns is a page and its own template set, named by its
// base name ("booking_step1.html"), holding the shared layout, the page and
// the package's partials: matched files whose base name starts with "_"
// ("_slot_list.html"), which are parsed into every page and are not pages
// themselves. A page defines {{define "content"}} and may define "title"
// (the <title> text), "head" (more elements in <head>) and "scripts" (at
// the end of <body>). Two pages with the same base name are an error.
//
// The pages are Italian whatever language the request negotiated (.Lang
// is "it", the dates are Italian, no language switch): a package whose
// pages have no catalog yet must not declare <html lang="en"> over
// Italian text. TemplatesWith makes them follow the request.
func (s *Site) Templates(fsys fs.FS, patterns ...string) (*Templates, error) {
	t, err := s.TemplatesWith(nil, fsys, patterns...)
	if err != nil {
		return nil, err
	}
	t.multilingual = false
	return t, nil
}

// TemplatesWith is Templates with the package's catalog: .T in its pages
// (and in the layout) reads m first, then the layout's catalog, in the
// page's language and then in Italian.
func (s *Site) TemplatesWith(m Messages, fsys fs.FS, patterns ...string) (*Templates, error) {
	t := &Templates{site: s, msgs: m, multilingual: true, fsys: fsys, patterns: patterns}
	pages, err := s.parse(fsys, patterns, m)
	if err != nil {
		return nil, err
	}
	t.pages = pages
	return t, nil
}

func (s *Site) parse(fsys fs.FS, patterns []string, msgs Messages) (map[string]*pageSet, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("site: templates: no patterns")
	}
	var pagesFiles, partials []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		matches, err := fs.Glob(fsys, pat)
		if err != nil {
			return nil, fmt.Errorf("site: templates %q: %w", pat, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("site: templates %q: no file matches", pat)
		}
		for _, m := range matches {
			if seen[m] {
				continue
			}
			seen[m] = true
			if strings.HasPrefix(path.Base(m), "_") {
				partials = append(partials, m)
			} else {
				pagesFiles = append(pagesFiles, m)
			}
		}
	}
	if len(pagesFiles) == 0 {
		return nil, fmt.Errorf("site: templates %q: only partials, no page", patterns)
	}
	sort.Strings(pagesFiles)
	sort.Strings(partials)
	pages := map[string]*pageSet{}
	for _, f := range pagesFiles {
		name := path.Base(f)
		if _, dup := pages[name]; dup {
			return nil, fmt.Errorf("site: templates: two pages named %s", name)
		}
		t := template.New(name).Funcs(s.funcs(time.UTC, defaultLang, msgs))
		if _, err := t.ParseFS(layoutFS, "templates/layout/*.html"); err != nil {
			return nil, fmt.Errorf("site: layout: %w", err)
		}
		if len(partials) > 0 {
			if _, err := t.ParseFS(fsys, partials...); err != nil {
				return nil, fmt.Errorf("site: templates: %w", err)
			}
		}
		if _, err := t.ParseFS(fsys, f); err != nil {
			return nil, fmt.Errorf("site: page %s: %w", f, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("site: page %s defines no \"content\" template", f)
		}
		pages[name] = &pageSet{base: t, msgs: msgs, byZone: map[string]*template.Template{}}
	}
	return pages, nil
}

// forZone returns the page's set with its date functions in loc and
// lang.
func (p *pageSet) forZone(s *Site, loc *time.Location, lang string) (*template.Template, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := loc.String() + "\x00" + lang
	if t, ok := p.byZone[key]; ok {
		return t, nil
	}
	t, err := p.base.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(s.funcs(loc, lang, p.msgs))
	p.byZone[key] = t
	return t, nil
}

// Render writes page with the layout, for the Comune of the request, with
// status. The page is executed into a buffer first: a template error gives
// a clean 500 page and is logged, never half a page. Render sets the
// security headers when the Tenant middleware did not, Content-Type, and
// Cache-Control: no-store unless the handler set another (pages may show
// a citizen's data).
func (t *Templates) Render(w http.ResponseWriter, r *http.Request, status int, page string, p Page) {
	v := t.site.view(r, status, p)
	v.msgs = t.msgs
	if !t.multilingual {
		v.Lang, v.monolingual = defaultLang, true
	}
	t.site.render(w, r, t, status, page, v)
}

func (s *Site) view(r *http.Request, status int, p Page) View {
	ten, ok := TenantFrom(r.Context())
	v := View{
		Tenant:    ten,
		HasTenant: ok,
		Lang:      defaultLang,
		Page:      p,
		Data:      p.Data,
		Path:      r.URL.Path,
		Status:    status,
		query:     r.URL.Query(),
		posted:    r.Method != http.MethodGet && r.Method != http.MethodHead,
	}
	if ok {
		v.Lang = LangFrom(r.Context())
		v.Assistant = s.assistant
		v.Theme = themeCSS(ten.Branding.PrimaryColor)
		v.Nonce = Nonce(r.Context())
		if v.Nonce == "" {
			v.Nonce = newNonce()
		}
	}
	return v
}

func (s *Site) render(w http.ResponseWriter, r *http.Request, ts *Templates, status int, page string, v View) {
	pages := ts.pages
	if s.dev && ts.fsys != nil {
		var err error
		if pages, err = s.parse(ts.fsys, ts.patterns, ts.msgs); err != nil {
			s.renderFailed(w, r, ts, page, err)
			return
		}
	}
	set, ok := pages[page]
	if !ok {
		s.renderFailed(w, r, ts, page, fmt.Errorf("no page %q", page))
		return
	}
	loc := time.UTC
	if v.HasTenant {
		loc = v.Tenant.Location()
	}
	tmpl, err := set.forZone(s, loc, NormalizeLang(v.Lang))
	if err != nil {
		s.renderFailed(w, r, ts, page, err)
		return
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.renderFailed(w, r, ts, page, err)
		return
	}
	h := w.Header()
	if h.Get("Content-Security-Policy") == "" {
		setPageHeaders(h, v.Nonce, v.Tenant)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderFailed logs a template failure and answers 500, with the site's
// error page unless the error page itself failed.
func (s *Site) renderFailed(w http.ResponseWriter, r *http.Request, ts *Templates, page string, err error) {
	s.log.ErrorContext(r.Context(), "render page", "page", page, "path", r.URL.Path, "err", err)
	if ts == s.own && page == errorPage {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, translate(defaultLang, "error.message.500"))
		return
	}
	s.Error(w, r, http.StatusInternalServerError, "")
}
