// Package site is the HTTP frame every web package shares: it resolves the
// request's Host to a Comune (the Tenant middleware), sets the security
// headers, renders pages in the common Designers Italia / Bootstrap Italia
// layout, writes error pages, serves the embedded static assets and the
// pages every Comune has (home, privacy notice, accessibility statement,
// legal notes). It holds no domain logic; domain packages never import it.
//
// # Wiring
//
//	s, err := site.New(site.Options{Resolver: registry, Logger: log,
//		FetchLogo: site.PublicLogoFetcher()}) // https logos for the app icons
//	mux := http.NewServeMux()
//	s.Routes(mux)                    // /static/, /, /privacy, /accessibilita, /note-legali,
//	                                 // the app: /manifest.webmanifest, /icons/, /sw.js, /offline
//	bookingweb.Routes(mux, ...)      // other packages mount their own routes
//	handler := s.Tenant(mux)         // Host → Comune for every request
//
// Requests under /static/ pass the Tenant middleware without resolving.
// Every other request on a host no Comune answers on gets the neutral 404
// page: the same bytes for every unknown host and path, naming no Comune
// (under /api/ a JSON error instead).
//
// # Pages
//
// A web package embeds its page files and parses them once:
//
//	//go:embed templates
//	var files embed.FS
//	pages, err := s.Templates(files, "templates/*.html")
//	...
//	pages.Render(w, r, http.StatusOK, "booking_step1.html", site.Page{
//		Title:       "Prenotazione appuntamento",
//		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Prenotazione appuntamento"}},
//		Data:        step1{...},
//	})
//
// Each page file is its own template set named by its base name, parsed
// with the layout and with the package's partials (files whose name starts
// with "_"). A page defines {{define "content"}} (inside <main>, after the
// breadcrumbs; it starts with the page's <h1>) and may define "title" (the
// <title> text), "head" (extra elements in <head>) and "scripts" (extra
// elements at the end of <body>, e.g. <script src="{{static "..."}}" defer>;
// pages must work without them). Scripts are files only: the policy has
// no nonce for scripts, so an inline <script> or an onclick= never runs.
// An inline <style> needs nonce="{{.Nonce}}".
// The only script the layout loads is static/js/sw-register.js, on
// citizen pages (see PWA); no page needs it.
//
// # The dot: View
//
// Every template gets a View:
//
//	.Tenant      tenant.Tenant  the Comune (zero on neutral pages)
//	.HasTenant   bool           false on the neutral pages of unknown hosts
//	.Lang        string         the page's language: "it", "en" or "de"
//	                            (negotiated, see Languages; "it" on
//	                            /gestione and on neutral pages)
//	.Page        site.Page      what the handler passed
//	.Data        any            .Page.Data
//	.Nonce       string         the request's CSP nonce (also .CSP)
//	.Path        string         the request's URL path
//	.Status      int            the response status
//	.Theme       template.CSS   the Comune's colour rules (used by the layout)
//	.T key args  string         the string of key in .Lang: the package's
//	                            catalog (TemplatesWith), then the layout's
//	                            (i18n.go), then the same in Italian; args
//	                            fill its %s/%d verbs. The template function
//	                            T does the same where the dot is not the
//	                            View (partials, inside {{with .Data}}).
//	.PWA         bool           a citizen page of a Comune: not /gestione,
//	                            not a neutral page (links the manifest,
//	                            registers the worker)
//	.ThemeColor  string         the header's colour, "#rrggbb"
//	.Assistant   bool           Options.Assistant (the layout links the
//	                            virtual assistant on citizen pages)
//	.LangLinks   []LangLink     the language switch (empty with one
//	                            language, on /gestione, on neutral
//	                            pages, on Templates' Italian-only pages
//	                            and on pages answering a POST)
//	.DocumentTitle, .CrumbItems used by the layout
//
// # Template functions
//
// Dates and times are shown in the page's language (.Lang) in the
// Comune's time zone (the tenant's TimeZone, Europe/Rome): the functions
// take a time.Time (or *time.Time); the date functions also take a
// civil.Date. A zero time or nil gives "". Times are 24-hour in every
// language. The same formats are exported for Go code (FormatDate,
// FormatDateTime, FormatTime, FormatTimeRange, FormatDay, FormatMonth,
// FormatShortDate, MonthName, WeekdayName), for a time already in the
// Comune's zone.
//
//	                  it                            en / de
//	fmtDate t         "giovedì 11 marzo 2027"       "Thursday 11 March 2027" / "Donnerstag, 11. März 2027"
//	fmtTime t         "10:00"                       "10:00"
//	fmtDateTime t     "giovedì 11 marzo 2027 ore 10:00"
//	                                                "Thursday 11 March 2027 at 10:00" /
//	                                                "Donnerstag, 11. März 2027, 10:00 Uhr"
//	fmtTimeRange a b  "dalle 10:00 alle 10:30"      "from 10:00 to 10:30" / "von 10:00 bis 10:30 Uhr"
//	fmtShortDate t    "11/03/2027"                  "11/03/2027" / "11.03.2027"
//	fmtMonth t        "marzo 2027"                  "March 2027" / "März 2027"
//	fmtWeekday t      "giovedì"                     "Thursday" / "Donnerstag"
//	isoDate t         "2027-03-11" (for value= of date inputs)
//	isoDateTime t     "2027-03-11T10:00:00+01:00" (for <time datetime=>)
//	ucfirst s         upper-cases the first letter: "Giovedì 11 marzo 2027"
//	static p          the versioned URL of an embedded asset:
//	                  {{static "vendor/bootstrap-italia/svg/sprites.svg"}}
//	icon name [class] an icon of the kit's sprite, aria-hidden:
//	                  {{icon "it-calendar"}}, {{icon "it-clock" "icon-sm"}}
//	T key args        .T as a function: {{T "flow.next"}}
//
// # Languages
//
// Citizen pages are written in Italian (the default), English or German
// (Languages()); each Comune offers some of them (tenant.Languages, the
// first being its default; OfferedLanguages). The Tenant middleware
// negotiates the language of every request of a Comune (Negotiate), in
// this order:
//
//  1. ?lang=xx, when the Comune offers xx: the language switch's links.
//     The answer remembers the choice in the cookie sv_lang (LangCookie;
//     one year, SameSite=Lax, HttpOnly, Secure over TLS).
//  2. The sv_lang cookie, when the Comune offers that language.
//  3. Accept-Language: the offered language with the highest q (a
//     regional tag counts for its language, q=0 refuses, * stands for
//     the first offered language not named).
//  4. The Comune's first language.
//
// Handlers read the result with LangFrom(ctx) (WithLang sets it in tests
// and in non-HTTP code); answers carry Vary: Accept-Language, Cookie.
// The back office (/gestione…) and the operators' login (/_auth/…) stay
// Italian: they are not negotiated and set no cookie. The layout shows
// the language switch (a <nav> labelled "Lingua"/"Language"/"Sprache",
// a link per offered language in its own name, with lang and hreflang,
// the current one aria-current) when a Comune offers more than one.
//
// Pages parsed with Templates stay Italian whatever the request
// negotiated (.Lang "it", Italian dates, no switch), so that a package
// whose pages have no catalog yet never declares another language over
// Italian text; TemplatesWith makes a package's pages follow the request.
//
// A web package keeps its strings in a catalog of its own, Go maps in
// messages_it.go, messages_en.go and messages_de.go joined in a
// site.Messages, and parses its pages with TemplatesWith(catalog, …);
// its Go code translates with Translate(catalog, LangFrom(ctx), key,
// args…). Italian is the reference: a test of the package asserts that
// catalog.Missing(Languages()...) is empty, so that every language has
// exactly Italian's keys. A key missing at run time falls back to
// Italian, then to the key itself, never to an empty text.
//
// # Assets
//
// static/vendor/bootstrap-italia is a subset of the npm package
// bootstrap-italia at the version in its VERSION file, written by
// static/vendor/update.sh and checked against static/vendor/SHA256SUMS
// (update.sh --verify). static/css holds our own CSS: fonts.css declares
// Titillium Web from the vendored woff2 files (bootstrap-italia 2.2+ loads
// fonts only from JavaScript) and site.css has the layout's additions.
// Asset URLs carry a version (a hash of every asset) and are cached for a
// year.
//
// # PWA
//
// Each Comune's host is an installable app (DESIGN.md, "PWA", says why it
// works as it does). Routes(mux) mounts:
//
//	GET /manifest.webmanifest  the Comune's manifest (name, colours, icons)
//	GET /icons/{name}          icon-192.png, icon-512.png, maskable-512.png,
//	                           apple-touch-icon.png, badge-96.png, drawn
//	                           from the branding (Options.FetchLogo reads
//	                           an https logo, PublicLogoFetcher() is the
//	                           safe one; without it, the drawn tile)
//	GET /sw.js                 the service worker (pwa/sw.js), scope "/"
//	GET /offline               the page the worker shows without network
//
// Citizen pages (View.PWA) link the manifest and load
// /static/<version>/js/sw-register.js, which registers /sw.js. A page
// tells the worker where a ticket lives, so that a click on the ticket's
// notification opens it:
//
//	navigator.serviceWorker.ready.then(r => r.active.postMessage(
//		{type: "remember-ticket", id: ticketID, url: location.href}))
//
// (only same-origin URLs are kept, the last 20 tickets). The worker shows
// a push payload {"title","body","tag","ticket_id","kind","lang"} as a
// notification; a click focuses a window on /coda/biglietto/<ticket_id>
// (or a /chiamata/ page), else opens the remembered URL, else "/".
//
// # Security
//
// Every page has X-Content-Type-Options: nosniff, Referrer-Policy:
// same-origin, X-Frame-Options: DENY, Cross-Origin-Opener-Policy, a
// Permissions-Policy that denies camera, microphone, screen capture,
// geolocation, payment, USB and the like (call pages, under /chiamata/
// and /gestione/chiamate/, may use the first three) and a
// Content-Security-Policy with default-src 'self', frame-ancestors
// 'none', manifest-src and worker-src 'self', script-src 'self' and a
// per-request nonce for inline styles. Over TLS every answer carries
// Strict-Transport-Security (one year; with includeSubDomains on hosts
// under the base domain only). A handler that needs another policy sets
// the header before Render, keeping Nonce(r.Context()) in style-src. The
// only cookie the site sets is sv_lang, the language a citizen chose with
// the language switch.
//
// RedirectHTTPS is the handler of the plain-HTTP port: it sends known
// hosts to https with 308, answers unknown ones with the neutral 404, and
// hands ACME HTTP-01 challenges to the certificate manager. The Comune's primary colour reaches the page only as CSS built
// from a validated #rrggbb, darkened when needed to keep WCAG AA contrast
// with white text.
package site
