package site_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// baseHosts is a fixed Resolver that also names its base domain, as
// *tenant.Registry does.
type baseHosts struct {
	hosts
	base string
}

func (b baseHosts) BaseDomain() string { return b.base }

// failing is a Resolver whose storage is down.
type failing struct{}

func (failing) Resolve(ctx context.Context, host string) (tenant.Tenant, error) {
	return tenant.Tenant{}, io.ErrUnexpectedEOF
}

func newHeaderSite(t *testing.T) *site.Site {
	t.Helper()
	s, err := site.New(site.Options{
		Resolver: baseHosts{hosts: hosts{"bari.example.it": bari, "servizi.comune.lecce.it": lecce}, base: "example.it"},
		Logger:   clustertest.Logger(t),
	})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	return s
}

// fetch GETs path on srv with the Host header host, through client.
func fetch(t *testing.T, client *http.Client, srv *httptest.Server, host, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func TestPageSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newHeaderSite(t)
	mux := http.NewServeMux()
	s.Routes(mux)
	// A stand-in call page, so that the policy of a 200 page is checked,
	// not only of the 404 page.
	mux.HandleFunc("GET /chiamata/{code}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "chiamata")
	})
	// A call page served elsewhere declares itself.
	mux.HandleFunc("GET /prova-chiamata", func(w http.ResponseWriter, r *http.Request) {
		site.AllowCallDevices(w.Header())
		io.WriteString(w, "chiamata")
	})
	srv := httptest.NewServer(s.Tenant(mux))
	t.Cleanup(srv.Close)
	client := srv.Client()

	for _, tt := range []struct {
		path string
		call bool
	}{
		{"/", false},
		{"/privacy", false},
		{"/offline", false},
		{"/pagina-che-non-esiste", false},
		{"/chiamata/BA-7K3Q9P", true},
		{"/gestione/chiamate/42", true},
		{"/gestione/chiamate", false},
		{"/gestione/chiamatella", false},
		{"/prova-chiamata", true},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := fetch(t, client, srv, "bari.example.it", tt.path)
			checkSecurityHeaders(t, r)
			if got := r.header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("Strict-Transport-Security %q over plain HTTP, want none", got)
			}
			if got := r.header.Get("Cross-Origin-Opener-Policy"); got != "same-origin" {
				t.Errorf("Cross-Origin-Opener-Policy %q, want same-origin", got)
			}
			pp := r.header.Get("Permissions-Policy")
			for _, f := range []string{"camera", "microphone", "display-capture"} {
				want := f + "=()"
				if tt.call {
					want = f + "=(self)"
				}
				if !strings.Contains(pp, want) {
					t.Errorf("Permissions-Policy %q lacks %s", pp, want)
				}
			}
			for _, f := range []string{"geolocation=()", "payment=()", "usb=()"} {
				if !strings.Contains(pp, f) {
					t.Errorf("Permissions-Policy %q lacks %s", pp, f)
				}
			}
			csp := r.header.Get("Content-Security-Policy")
			script := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp)
			if script == nil || strings.TrimSpace(script[1]) != "'self'" {
				t.Errorf("CSP %q: want script-src 'self' alone (no nonce, no inline script)", csp)
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP %q allows unsafe sources", csp)
			}
		})
	}

	// The Comune's colour is an inline <style>: its nonce must be the
	// one the policy's style-src admits.
	r := fetch(t, client, srv, "bari.example.it", "/")
	style := regexp.MustCompile(`<style nonce="([^"]+)">`).FindStringSubmatch(r.body)
	if style == nil {
		t.Fatalf("home page has no <style> for the colour")
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self' 'nonce-"+style[1]+"'") {
		t.Errorf("CSP %q does not admit the style's nonce %s", csp, style[1])
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]+</script>|\son[a-z]+="`).MatchString(r.body) {
		t.Errorf("home page has an inline script")
	}
}

func TestHSTS(t *testing.T) {
	t.Parallel()
	s := newHeaderSite(t)
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewTLSServer(s.Tenant(mux))
	t.Cleanup(srv.Close)
	client := srv.Client()
	for _, tt := range []struct {
		host, want string
	}{
		// Every name under the base domain is the service's.
		{"bari.example.it", "max-age=31536000; includeSubDomains"},
		{"BARI.example.it.", "max-age=31536000; includeSubDomains"},
		// A Comune's own domain: the names below it are the Comune's.
		{"servizi.comune.lecce.it", "max-age=31536000"},
		// An unknown name that reached us over TLS had a certificate
		// valid for it: its neutral 404 keeps HTTPS too.
		{"sconosciuto.example.org", "max-age=31536000"},
	} {
		r := fetch(t, client, srv, tt.host, "/")
		if got := r.header.Get("Strict-Transport-Security"); got != tt.want {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", tt.host, got, tt.want)
		}
	}
	// Assets pass the middleware without resolving, and keep HTTPS too.
	css := regexp.MustCompile(`href="(/static/[^"]+\.css)"`).FindStringSubmatch(fetch(t, client, srv, "bari.example.it", "/").body)
	if css == nil {
		t.Fatal("home page links no stylesheet")
	}
	if r := fetch(t, client, srv, "bari.example.it", css[1]); r.status != 200 || r.header.Get("Strict-Transport-Security") == "" {
		t.Errorf("%s over TLS: got %d, Strict-Transport-Security %q", css[1], r.status, r.header.Get("Strict-Transport-Security"))
	}
}

func TestRedirectHTTPS(t *testing.T) {
	t.Parallel()
	s := newHeaderSite(t)
	acme := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "token:"+strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/"))
	})
	serve := func(h http.Handler, method, host, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	h := s.RedirectHTTPS(443, acme)
	for _, tt := range []struct {
		name, method, host, target string
		status                     int
		location                   string
	}{
		{"subdomain", "GET", "bari.example.it", "/prenota?servizio=cie&x=%2F", 308, "https://bari.example.it/prenota?servizio=cie&x=%2F"},
		{"case, dot and port 80", "GET", "Bari.Example.IT.:80", "/", 308, "https://bari.example.it/"},
		{"own domain", "POST", "servizi.comune.lecce.it", "/coda/urp", 308, "https://servizi.comune.lecce.it/coda/urp"},
		{"double slash stays a path", "GET", "bari.example.it", "//evil.example/x", 308, "https://bari.example.it//evil.example/x"},
		{"escaped path kept", "GET", "bari.example.it", "/servizi/carta%20identit%C3%A0", 308, "https://bari.example.it/servizi/carta%20identit%C3%A0"},
		{"unknown host", "GET", "evil.example", "/", 404, ""},
		{"other port", "GET", "bari.example.it:8443", "/", 404, ""},
		{"IP literal", "GET", "192.0.2.1", "/", 404, ""},
		{"IPv6 literal", "GET", "[2001:db8::1]", "/", 404, ""},
		{"odd characters", "GET", "bari.example.it@evil.example", "/", 404, ""},
		{"empty host", "GET", "", "/", 404, ""},
		{"challenge for any host", "GET", "evil.example", "/.well-known/acme-challenge/abc", 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, tt.method, tt.host, tt.target)
			if rec.Code != tt.status {
				t.Fatalf("got %d, want %d; body %q", rec.Code, tt.status, rec.Body.String())
			}
			if got := rec.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
				t.Errorf("Strict-Transport-Security %q on plain HTTP", got)
			}
			if tt.status == 404 && strings.Contains(rec.Body.String(), "Bari") {
				t.Errorf("neutral 404 names a Comune: %s", rec.Body.String())
			}
		})
	}
	if rec := serve(h, "GET", "evil.example", "/.well-known/acme-challenge/abc"); rec.Body.String() != "token:abc" {
		t.Errorf("challenge answered %q, want the ACME handler's", rec.Body.String())
	}
	// The same bytes for every unknown host: the answer reveals nothing.
	a, b := serve(h, "GET", "uno.example", "/x"), serve(h, "GET", "bari.example.it:81", "/y")
	if a.Body.String() != b.Body.String() {
		t.Errorf("neutral 404 differs between hosts")
	}
	if rec := serve(s.RedirectHTTPS(8443, nil), "GET", "bari.example.it", "/a?b=c"); rec.Header().Get("Location") != "https://bari.example.it:8443/a?b=c" {
		t.Errorf("Location %q, want the https port in it", rec.Header().Get("Location"))
	}
	if rec := serve(s.RedirectHTTPS(443, nil), "GET", "bari.example.it", "/.well-known/acme-challenge/abc"); rec.Code != 404 {
		t.Errorf("challenge without a handler: got %d, want 404", rec.Code)
	}

	// The port of the listener itself is accepted (an unprivileged
	// listener); a real server sets the local address.
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	if r := fetch(t, client, srv, "bari.example.it:"+port, "/uffici"); r.status != 308 || r.header.Get("Location") != "https://bari.example.it/uffici" {
		t.Errorf("Host with the listener's port: got %d %q, want 308 to https://bari.example.it/uffici", r.status, r.header.Get("Location"))
	}

	// A failing registry is a neutral 503, never a redirect.
	fs, err := site.New(site.Options{Resolver: failing{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(fs.RedirectHTTPS(443, nil), "GET", "bari.example.it", "/"); rec.Code != 503 || rec.Header().Get("Location") != "" {
		t.Errorf("failing resolver: got %d Location %q, want 503 and none", rec.Code, rec.Header().Get("Location"))
	}
}
