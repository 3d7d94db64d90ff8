package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	authweb "github.com/sportello-virtuale/sportello/auth/web"
)

// The security headers of every kind of answer, through the real handler
// of newHandler (the access matrix's environment): citizen pages, the
// booking flow and a booking's page, the queue's ticket, kiosk and board,
// the call's waiting room, the back office, the logins, the JSON API, an
// event stream, the app's files and the static assets. Plain HTTP first;
// then the same handler behind TLS, where HSTS must appear.

// pageKind says which checks an answer gets.
type pageKind int

const (
	kindHTML   pageKind = iota // a page: CSP without inline script, no framing
	kindJSON                   // the API
	kindStream                 // an event stream (headers only)
	kindAsset                  // a static or generated file
)

// headerCase is one answer to check.
type headerCase struct {
	name, path string
	kind       pageKind
	// as is the session the request carries (anonymous for none).
	as who
	// status is the expected status; 0 accepts any (a route another
	// issue mounts later answers 404 until then, with the same headers).
	status int
	// call marks the pages that may use the camera and the microphone.
	call bool
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := newAccessEnv(t)
	handler := env.srv.Config.Handler
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}

	get := func(t *testing.T, ctx context.Context, c *http.Client, base, path string, as who, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = env.bariHost
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if as != anonymous {
			req.AddCookie(&http.Cookie{Name: authweb.SessionCookie, Value: env.cookies[as]})
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return res
	}
	post := func(t *testing.T, path, body string) []byte {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, env.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = env.bariHost
		req.Header.Set("Content-Type", "application/json")
		res, err := plain.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: got %d: %s", path, res.StatusCode, b)
		}
		return b
	}
	localPath := func(t *testing.T, raw string) string {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("parse %q: %v", raw, err)
		}
		return u.RequestURI()
	}

	// A video booking gives a booking's page and a call's waiting room;
	// a ticket gives the ticket page and its event stream.
	const service = "informazioni-e-reclami-urp"
	res := get(t, context.Background(), plain, env.srv.URL, "/api/v1/services/"+service+"/slots", anonymous)
	var slots struct {
		Slots []struct {
			Start     string `json:"start"`
			Remaining int    `json:"remaining"`
		} `json:"slots"`
	}
	if err := json.NewDecoder(res.Body).Decode(&slots); err != nil {
		t.Fatalf("slots: %v", err)
	}
	res.Body.Close()
	start := ""
	for _, s := range slots.Slots {
		if s.Remaining > 0 {
			start = s.Start
			break
		}
	}
	if start == "" {
		t.Fatal("no free slot for the demo service")
	}
	req, _ := json.Marshal(map[string]any{
		"service_id": service, "start": start, "channel": "video", "privacy_accepted": true,
		"citizen": map[string]string{"given_name": "Maria", "family_name": "Rossi", "fiscal_code": "RSSMRA85T10A562S", "email": "maria@example.it"},
	})
	var created struct {
		ManageURL string  `json:"manage_url"`
		JoinURL   *string `json:"join_url"`
	}
	if err := json.Unmarshal(post(t, "/api/v1/bookings", string(req)), &created); err != nil || created.JoinURL == nil {
		t.Fatalf("booking: %v, join_url %v", err, created.JoinURL)
	}
	var ticket struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}
	if err := json.Unmarshal(post(t, "/api/v1/offices/urp/tickets", `{"channel":"in_person"}`), &ticket); err != nil {
		t.Fatalf("ticket: %v", err)
	}
	ticketAPI := localPath(t, ticket.StatusURL)
	secret := url.QueryEscape(mustQuery(t, ticketAPI, "secret"))

	// The versioned stylesheet, as the layout links it.
	home := get(t, context.Background(), plain, env.srv.URL, "/", anonymous)
	body, _ := io.ReadAll(home.Body)
	home.Body.Close()
	css := regexp.MustCompile(`href="(/static/[^"]+/css/site\.css)"`).FindSubmatch(body)
	if css == nil {
		t.Fatalf("home page links no site.css")
	}

	cases := []headerCase{
		{name: "home", path: "/", status: 200},
		{name: "services", path: "/servizi", status: 200},
		{name: "service", path: "/servizi/" + service, status: 200},
		{name: "offices", path: "/uffici", status: 200},
		{name: "privacy", path: "/privacy", status: 200},
		{name: "not found", path: "/non-esiste", status: 404},
		{name: "booking flow", path: "/prenota", status: 200},
		{name: "booking flow, service chosen", path: "/prenota?servizio=" + service, status: 200},
		{name: "manage booking", path: localPath(t, created.ManageURL), status: 200},
		{name: "waiting room", path: localPath(t, *created.JoinURL), status: 200, call: true},
		// The call itself, once its room opens (any status: the headers
		// are the path's).
		{name: "citizen's call", path: strings.Replace(localPath(t, *created.JoinURL), "?", "/video?", 1), call: true},
		{name: "take a number", path: "/coda/urp", status: 200},
		{name: "ticket", path: "/coda/biglietto/" + ticket.ID + "?secret=" + secret, status: 200},
		{name: "kiosk", path: "/coda/urp/chiosco", status: 200},
		{name: "board", path: "/coda/urp/tabellone", status: 200},
		{name: "offline", path: "/offline", status: 200},
		{name: "back office home", path: "/gestione", as: admin, status: 200},
		{name: "back office offices", path: "/gestione/uffici", as: admin, status: 200},
		{name: "back office Comune", path: "/gestione/comune", as: admin, status: 200},
		{name: "back office users", path: "/gestione/utenti", as: admin, status: 200},
		{name: "back office audit", path: "/gestione/registro", as: admin, status: 200},
		{name: "operator's queue", path: "/gestione/coda", as: operator, status: 200},
		{name: "agenda", path: "/gestione/agenda", as: operator, status: 200},
		{name: "domains", path: "/gestione/domini", as: admin},
		{name: "operator's call", path: "/gestione/chiamate/prova", as: operator, call: true},
		{name: "back office, anonymous", path: "/gestione/uffici", status: http.StatusSeeOther},
		{name: "local login", path: "/_auth/locale", status: 200},
		{name: "login", path: "/_auth/login"},
		{name: "API offices", path: "/api/v1/offices", kind: kindJSON, status: 200},
		{name: "API OpenAPI", path: "/api/v1/openapi.json", kind: kindJSON, status: 200},
		{name: "API ticket", path: ticketAPI, kind: kindJSON, status: 200},
		{name: "API not found", path: "/api/v1/nessuna", kind: kindJSON, status: 404},
		{name: "ticket events", path: "/api/v1/tickets/" + ticket.ID + "/events?secret=" + secret, kind: kindStream, status: 200},
		{name: "stylesheet", path: string(css[1]), kind: kindAsset, status: 200},
		{name: "service worker", path: "/sw.js", kind: kindAsset, status: 200},
		{name: "manifest", path: "/manifest.webmanifest", kind: kindAsset, status: 200},
		{name: "icon", path: "/icons/icon-192.png", kind: kindAsset, status: 200},
	}

	check := func(t *testing.T, c *http.Client, base string, tc headerCase, tls bool) {
		t.Helper()
		var hdr []string
		if tc.kind == kindStream {
			hdr = []string{"Accept", "text/event-stream"}
		}
		// An event stream never ends: its headers are read, then the
		// request is cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res := get(t, ctx, c, base, tc.path, tc.as, hdr...)
		var b []byte
		if tc.kind != kindStream {
			b, _ = io.ReadAll(res.Body)
		}
		res.Body.Close()
		cancel()
		h := res.Header
		if tc.status != 0 && res.StatusCode != tc.status {
			t.Errorf("got %d, want %d", res.StatusCode, tc.status)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options %q, want nosniff", got)
		}
		hsts := h.Get("Strict-Transport-Security")
		switch {
		case !tls && hsts != "":
			t.Errorf("Strict-Transport-Security %q over plain HTTP", hsts)
		case tls && hsts != "max-age=31536000; includeSubDomains":
			// bari.localhost is under the base domain (localhost).
			t.Errorf("Strict-Transport-Security %q over TLS, want max-age=31536000; includeSubDomains", hsts)
		}
		if strings.HasPrefix(tc.path, "/static/") {
			return // assets carry their own strict CSP and no policy of pages
		}
		pp := h.Get("Permissions-Policy")
		want, refuse := "camera=(), microphone=()", "camera=(self)"
		if tc.call {
			want, refuse = "camera=(self), microphone=(self), display-capture=(self)", "camera=()"
		}
		if !strings.Contains(pp, want) || strings.Contains(pp, refuse) || !strings.Contains(pp, "geolocation=()") {
			t.Errorf("Permissions-Policy %q: want %s and geolocation=()", pp, want)
		}
		ct := h.Get("Content-Type")
		if !strings.HasPrefix(ct, "text/html") {
			if tc.kind == kindHTML && res.StatusCode != http.StatusSeeOther {
				t.Errorf("Content-Type %q, want a page", ct)
			}
			return
		}
		csp := h.Get("Content-Security-Policy")
		if csp == "" {
			t.Fatalf("page without Content-Security-Policy")
		}
		if !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q lacks frame-ancestors 'none'", csp)
		}
		if got := h.Get("Cross-Origin-Opener-Policy"); got != "same-origin" {
			t.Errorf("Cross-Origin-Opener-Policy %q, want same-origin", got)
		}
		if got := h.Get("Referrer-Policy"); got != "same-origin" && got != "no-referrer" {
			t.Errorf("Referrer-Policy %q, want same-origin or no-referrer", got)
		}
		scripts := directive(csp, "script-src")
		if scripts == "" {
			scripts = directive(csp, "default-src")
		}
		if strings.Contains(scripts, "'unsafe-inline'") || strings.Contains(scripts, "'unsafe-eval'") || strings.Contains(scripts, "'nonce-") {
			t.Errorf("CSP %q: scripts may run inline (%s)", csp, scripts)
		}
		if tag := inlineScript(b); tag != "" {
			t.Errorf("page has an inline script: %s", tag)
		}
	}

	for _, tc := range cases {
		t.Run("http/"+tc.name, func(t *testing.T) { check(t, plain, env.srv.URL, tc, false) })
	}

	// The same handler behind TLS: every answer carries HSTS.
	tlsSrv := httptest.NewTLSServer(handler)
	t.Cleanup(tlsSrv.Close)
	secure := tlsSrv.Client()
	secure.CheckRedirect = plain.CheckRedirect
	secure.Timeout = plain.Timeout
	for _, tc := range cases {
		t.Run("https/"+tc.name, func(t *testing.T) { check(t, secure, tlsSrv.URL, tc, true) })
	}
}

// directive returns the sources of one directive of a CSP, "" without it.
func directive(csp, name string) string {
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if d == name || strings.HasPrefix(d, name+" ") {
			return strings.TrimSpace(strings.TrimPrefix(d, name))
		}
	}
	return ""
}

var (
	scriptTag    = regexp.MustCompile(`(?is)<script\b[^>]*>`)
	eventHandler = regexp.MustCompile(`(?is)<[a-z][^>]*\son[a-z]+\s*=`)
	jsURL        = regexp.MustCompile(`(?i)(href|src|action)\s*=\s*"\s*javascript:`)
)

// inlineScript returns the first inline script of an HTML page: a
// <script> without src (JSON data blocks run nothing and are allowed), an
// event handler attribute or a javascript: URL; "" for none.
func inlineScript(page []byte) string {
	for _, tag := range scriptTag.FindAll(page, -1) {
		lower := bytes.ToLower(tag)
		if !bytes.Contains(lower, []byte(" src=")) && !bytes.Contains(lower, []byte(`type="application/json"`)) {
			return string(tag)
		}
	}
	if m := eventHandler.Find(page); m != nil {
		return string(m)
	}
	if m := jsURL.Find(page); m != nil {
		return string(m)
	}
	return ""
}

// mustQuery returns a query parameter of a request URI.
func mustQuery(t *testing.T, uri, key string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Query().Get(key) == "" {
		t.Fatalf("%s has no %s", uri, key)
	}
	return u.Query().Get(key)
}
