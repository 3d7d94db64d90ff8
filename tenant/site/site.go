package site

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Resolver finds the Comune that answers on a request's Host header.
// *tenant.Registry implements it. It returns an error matching
// tenant.ErrNotFound for an unknown host.
type Resolver interface {
	Resolve(ctx context.Context, host string) (tenant.Tenant, error)
}

// Options configures a Site.
type Options struct {
	// Resolver maps Host headers to Comuni; required.
	Resolver Resolver
	// Logger receives the site's errors; nil means slog.Default(). The
	// site adds the attribute component=site.
	Logger *slog.Logger
	// Dev turns off long caching of static files and parses the page
	// templates again on every render, so that templates read from disk
	// (os.DirFS) can be edited while the program runs.
	Dev bool
	// FetchLogo reads a Comune's logo given as an https URL, for the app
	// icons; nil means such logos are not read and the icons show the
	// drawn tile. Logos under /static/ are read from the embedded assets.
	// The function must refuse private addresses (the URL is typed by a
	// Comune's administrator) and bound the size, as PublicLogoFetcher()
	// does; the site gives it a context with a timeout.
	FetchLogo func(ctx context.Context, url string) ([]byte, error)
	// Assistant shows the virtual assistant on the citizen pages of every
	// Comune: a header link "Assistente virtuale" to /assistente and the
	// widget script /assistente/widget.js (the assistant package serves
	// both).
	Assistant bool
	// LegalPagesElsewhere leaves "/privacy" and "/accessibilita" to
	// another handler: the binary serves each Comune's own privacy
	// notice and accessibility statement, edited in the back office
	// (tenant/web). Without it the site serves generic ones.
	LegalPagesElsewhere bool
}

// Site is the HTTP frame shared by every web package: Host → Comune
// resolution, security headers, the page layout, error pages, the static
// assets and the Comune's own pages. It is safe for concurrent use and has
// no goroutines, so it needs no Start or Close.
type Site struct {
	resolver Resolver
	log      *slog.Logger
	dev      bool
	assets   *assets
	// own holds the templates of the pages the site serves itself
	// (home, privacy, accessibility, legal notes, errors).
	own *Templates
	// fetchLogo and icons serve the app icons (icons.go).
	fetchLogo func(ctx context.Context, url string) ([]byte, error)
	icons     iconCache
	// assistant is Options.Assistant.
	assistant bool
	// legalElsewhere is Options.LegalPagesElsewhere.
	legalElsewhere bool
}

// layoutFS holds the shared layout and the site's own pages.
//
//go:embed templates
var layoutFS embed.FS

// New returns a Site. It fails when opts has no Resolver or when the
// embedded templates do not parse (a bug caught by the package's tests).
func New(opts Options) (*Site, error) {
	if opts.Resolver == nil {
		return nil, errors.New("site: Options.Resolver is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	a, err := newAssets()
	if err != nil {
		return nil, err
	}
	s := &Site{
		resolver: opts.Resolver,
		log:      logger.With("component", "site"),
		dev:      opts.Dev,
		assets:   a,

		fetchLogo: opts.FetchLogo,
		assistant: opts.Assistant,

		legalElsewhere: opts.LegalPagesElsewhere,
	}
	pages, err := fs.Sub(layoutFS, "templates/pages")
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	if s.own, err = s.TemplatesWith(nil, pages, "*.html"); err != nil {
		return nil, err
	}
	return s, nil
}

// Routes mounts the static assets and the pages every Comune has: the home
// page (its name and the link to booking), "/privacy", "/accessibilita"
// and "/note-legali", the app's "/manifest.webmanifest", "/icons/…",
// "/sw.js" and "/offline" (pwa.go), plus "/" for every path no other
// route claims (the 404 page in the Comune's layout). The pages need the
// Tenant middleware around mux; without a Comune they answer with the
// neutral 404.
func (s *Site) Routes(mux *http.ServeMux) {
	mux.Handle("GET /static/", s.Static())
	s.pwaRoutes(mux)
	mux.HandleFunc("GET /{$}", s.page("home.html", "", nil))
	if !s.legalElsewhere {
		mux.HandleFunc("GET /privacy", s.page("privacy.html", "Informativa sul trattamento dei dati personali", nil))
		mux.HandleFunc("GET /accessibilita", s.page("accessibilita.html", "Dichiarazione di accessibilità", nil))
	}
	mux.HandleFunc("GET /note-legali", s.page("note_legali.html", "Note legali", nil))
	// Any path no package claims gets the 404 page in the Comune's layout
	// rather than the mux's plain text.
	mux.HandleFunc("/", s.notFound)
}

// page returns a handler rendering one of the site's own pages, with the
// home page as the first crumb.
func (s *Site) page(name, title string, data any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := TenantFrom(r.Context())
		if !ok {
			s.notFound(w, r)
			return
		}
		p := Page{Title: title, Data: data}
		if title == "" {
			p.Title = t.Name
		} else {
			p.Breadcrumbs = []Crumb{{Label: translate(LangFrom(r.Context()), "home"), URL: "/"}, {Label: title}}
		}
		s.own.Render(w, r, http.StatusOK, name, p)
	}
}
