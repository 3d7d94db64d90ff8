package site_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// TestDisabledComune runs the middleware over the real registry: while
// the Comune is disabled every path of both its hosts, the back office
// and the API included, answers 503 naming it; enabling brings the pages
// back at once, and deleting makes the hosts unknown.
func TestDisabledComune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := clustertest.Node(t, tenant.Register)
	reg := tenant.NewRegistry(n, n.DB(), "sportello.test")
	if _, err := reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006",
		Domains: []string{"servizi.comune.bari.it"}}); err != nil {
		t.Fatal(err)
	}
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	// Stand-ins for the back office's sign-in and an API of other packages.
	mux.HandleFunc("POST /gestione/accedi", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("signed in"))
	})
	mux.HandleFunc("GET /api/v1/servizi", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("[]"))
	})
	srv := httptest.NewServer(s.Tenant(mux))
	defer srv.Close()
	do := func(method, host, path string) response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return response{res.StatusCode, res.Header, string(b)}
	}
	hosts := []string{"bari.sportello.test", "servizi.comune.bari.it"}
	const msg = "Il servizio del Comune di Bari non è al momento disponibile."

	for _, h := range hosts {
		if r := do("GET", h, "/"); r.status != http.StatusOK {
			t.Fatalf("GET %s/ before disable: %d", h, r.status)
		}
	}
	if _, err := reg.Disable(ctx, "bari", "Convenzione scaduta"); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		for _, p := range []string{"/", "/prenota", "/gestione"} {
			r := do("GET", h, p)
			if r.status != http.StatusServiceUnavailable || !strings.Contains(html.UnescapeString(r.body), msg) {
				t.Errorf("GET %s%s while disabled: %d, want 503 saying %q", h, p, r.status, msg)
			}
			if strings.Contains(r.body, "Convenzione scaduta") {
				t.Errorf("GET %s%s shows the administrators' reason", h, p)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("GET %s%s: Cache-Control %q, want no-store", h, p, cc)
			}
			if r.header.Get("Content-Security-Policy") == "" {
				t.Errorf("GET %s%s: no Content-Security-Policy", h, p)
			}
		}
		if r := do("POST", h, "/gestione/accedi"); r.status != http.StatusServiceUnavailable || strings.Contains(r.body, "signed in") {
			t.Errorf("sign-in on %s while disabled: %d %q, want 503", h, r.status, r.body)
		}
		r := do("GET", h, "/api/v1/servizi")
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != http.StatusServiceUnavailable ||
			body.Error.Code != "tenant_disabled" || body.Error.Message != msg {
			t.Errorf("API on %s while disabled: %d %s (%v), want 503 tenant_disabled", h, r.status, r.body, err)
		}
	}
	// Assets are the same for every Comune and are still served.
	if r := do("GET", hosts[0], "/static/no-such-asset.css"); r.status == http.StatusServiceUnavailable {
		t.Errorf("static path while disabled: 503")
	}

	if _, err := reg.Enable(ctx, "bari"); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if r := do("GET", h, "/"); r.status != http.StatusOK {
			t.Errorf("GET %s/ after enable: %d, want 200", h, r.status)
		}
		if r := do("POST", h, "/gestione/accedi"); r.body != "signed in" {
			t.Errorf("sign-in on %s after enable: %d %q", h, r.status, r.body)
		}
	}

	if _, err := reg.Disable(ctx, "bari", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Delete(ctx, "bari", "bari"); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if r := do("GET", h, "/"); r.status != http.StatusNotFound || strings.Contains(r.body, "Bari") {
			t.Errorf("GET %s/ after delete: %d, want the neutral 404", h, r.status)
		}
	}
}
