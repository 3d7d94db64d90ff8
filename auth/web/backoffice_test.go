package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// errGone is the test's "not found" error of a domain package.
var errGone = errors.New("gone")

// backOfficeEnv serves, behind the site's Tenant middleware and the
// handler's Sessions as cmd/sportello mounts them, three BackOffice
// routes of a pretend package, with a 64-byte cap:
//
//	GET  /bo/pagina   prints the Comune, the user and the session's token
//	POST /bo/pagina   prints the form's field "nome"
//	GET  /bo/errore   answers ?tipo= through BackOfficeFail
type backOfficeEnv struct {
	t       *testing.T
	store   *auth.Store
	h       *authweb.Handler
	srv     http.Handler
	reached int
}

func newBackOfficeEnv(t *testing.T) *backOfficeEnv {
	t.Helper()
	node := clustertest.Node(t, auth.Register)
	s, err := site.New(site.Options{Resolver: oneComune{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB()})
	h, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SaveProvider(context.Background(), bari.ID, auth.Provider{
		ID: "regione", Name: "Accedi", Issuer: "https://idp.example", ClientID: clientID, ClientSecret: clientSecret,
		Roles: []auth.RoleRule{{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}}},
	}); err != nil {
		t.Fatal(err)
	}
	e := &backOfficeEnv{t: t, store: store, h: h}
	mux := http.NewServeMux()
	page := h.BackOffice(auth.RoleComuneAdmin, 64, func(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
		e.reached++
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, "nome=%s\n", r.PostForm.Get("nome"))
			return
		}
		fmt.Fprintf(w, "comune=%s\nutente=%s\ncsrf=%s\n", t.ID, u.DisplayName, s.CSRF)
	})
	mux.Handle("GET /bo/pagina", page)
	mux.Handle("POST /bo/pagina", page)
	mux.Handle("GET /bo/errore", h.BackOffice(auth.RoleComuneAdmin, 64, func(w http.ResponseWriter, r *http.Request, _ tenant.Tenant, _ auth.Session, _ auth.User) {
		err := map[string]error{
			"grande":   &http.MaxBytesError{Limit: 64},
			"assente":  fmt.Errorf("read: %w", errGone),
			"scaduto":  context.DeadlineExceeded,
			"inatteso": errors.New("disk on fire"),
		}[r.URL.Query().Get("tipo")]
		h.BackOfficeFail(w, r, nil, err, errGone)
	}))
	e.srv = s.Tenant(h.Sessions(mux))
	return e
}

// login returns the session cookie and CSRF token of a new session of a
// user in groups.
func (e *backOfficeEnv) login(subject string, groups ...string) (cookie, csrf string) {
	e.t.Helper()
	lr, cookie, err := e.store.Login(context.Background(), bari.ID, auth.Identity{
		Provider: "regione", Issuer: "https://idp.example", Subject: subject, DisplayName: "Anna " + subject, Groups: groups,
	}, "", "")
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	return cookie, lr.Session.CSRF
}

// do sends a request with the session cookie (none for "") and header.
func (e *backOfficeEnv) do(method, target, body, cookie string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", authweb.SessionCookie+"="+cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

func TestBackOffice(t *testing.T) {
	t.Parallel()
	e := newBackOfficeEnv(t)
	admin, token := e.login("admin-1", "amministratori")
	nobody, nobodyToken := e.login("user-1")

	rec := e.do("GET", "/bo/pagina", "", admin, nil)
	if want := "comune=bari\nutente=Anna admin-1\ncsrf=" + token + "\n"; rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Fatalf("admin's GET: got %d %q, want 200 %q", rec.Code, rec.Body.String(), want)
	}
	if cc, fo := rec.Header().Get("Cache-Control"), rec.Header().Get("X-Frame-Options"); cc != "no-store" || fo != "DENY" {
		t.Errorf("headers: Cache-Control %q, X-Frame-Options %q, want no-store and DENY", cc, fo)
	}

	tokenHeader := map[string]string{authweb.CSRFHeader: token}
	for _, c := range []struct {
		name, cookie, body string
		header             map[string]string
		status             int
		page               string
	}{
		{"form with the token", admin, url.Values{"nome": {"Anna"}, authweb.CSRFField: {token}}.Encode(), nil, http.StatusOK, "nome=Anna\n"},
		{"token in the header", admin, "nome=Bea", tokenHeader, http.StatusOK, "nome=Bea\n"},
		{"no token", admin, "nome=Anna", nil, http.StatusForbidden, ""},
		{"another session's token", admin, url.Values{"nome": {"Anna"}, authweb.CSRFField: {nobodyToken}}.Encode(), nil, http.StatusForbidden, ""},
		{"cross-site", admin, "nome=Anna", map[string]string{authweb.CSRFHeader: token, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, ""},
		{"body over the cap", admin, "nome=" + strings.Repeat("a", 100), tokenHeader, http.StatusRequestEntityTooLarge, ""},
		{"malformed body", admin, "nome=%zz", tokenHeader, http.StatusBadRequest, ""},
		{"user without the role", nobody, url.Values{authweb.CSRFField: {nobodyToken}}.Encode(), nil, http.StatusForbidden, ""},
		{"anonymous", "", "nome=Anna", nil, http.StatusUnauthorized, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.reached
			rec := e.do("POST", "/bo/pagina", c.body, c.cookie, c.header)
			if rec.Code != c.status {
				t.Fatalf("got %d, want %d; body %q", rec.Code, c.status, rec.Body.String())
			}
			if reached := e.reached > before; reached != (c.status == http.StatusOK) {
				t.Errorf("page reached: %v, want %v", reached, c.status == http.StatusOK)
			}
			if c.page != "" && rec.Body.String() != c.page {
				t.Errorf("page: got %q, want %q", rec.Body.String(), c.page)
			}
		})
	}

	if rec := e.do("GET", "/bo/pagina", "", "", nil); rec.Code != http.StatusSeeOther ||
		!strings.HasPrefix(rec.Header().Get("Location"), "/_auth/login?return=") {
		t.Errorf("anonymous GET: got %d %q, want a redirect to the login", rec.Code, rec.Header().Get("Location"))
	}
	for tipo, status := range map[string]int{"grande": http.StatusRequestEntityTooLarge, "assente": http.StatusNotFound,
		"scaduto": http.StatusServiceUnavailable, "inatteso": http.StatusInternalServerError} {
		if rec := e.do("GET", "/bo/errore?tipo="+tipo, "", admin, nil); rec.Code != status {
			t.Errorf("BackOfficeFail of %s: got %d, want %d", tipo, rec.Code, status)
		}
	}
}

func TestAfterSaveAndSavedFlash(t *testing.T) {
	t.Parallel()
	e := newBackOfficeEnv(t)
	for _, c := range []struct {
		index uint64
		want  string
	}{{7, "/gestione/x?esito=salvato&indice=7"}, {0, "/gestione/x?esito=salvato"}} {
		rec := httptest.NewRecorder()
		e.h.AfterSave(rec, httptest.NewRequest("POST", "/gestione/x", nil), "/gestione/x", "salvato", c.index)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != c.want {
			t.Errorf("AfterSave index %d: got %d %q, want 303 %q", c.index, rec.Code, rec.Header().Get("Location"), c.want)
		}
	}

	flashes := map[string]string{"salvato": "Modifiche salvate."}
	var waited []uint64
	wait := func(ctx context.Context, index uint64) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("wait without a deadline")
		}
		waited = append(waited, index)
		return nil
	}
	for _, c := range []struct {
		target string
		wait   func(context.Context, uint64) error
		flash  string
		waited []uint64
	}{
		{"/gestione/x?esito=salvato&indice=7", wait, "Modifiche salvate.", []uint64{7}},
		{"/gestione/x?esito=salvato", wait, "Modifiche salvate.", nil},
		{"/gestione/x?esito=salvato&indice=7", nil, "Modifiche salvate.", nil},
		{"/gestione/x?esito=%3Cscript%3E&indice=3", wait, "", []uint64{3}},
		{"/gestione/x", wait, "", nil},
	} {
		waited = nil
		if got := e.h.SavedFlash(httptest.NewRequest("GET", c.target, nil), c.wait, flashes); got != c.flash {
			t.Errorf("SavedFlash %s: got %q, want %q", c.target, got, c.flash)
		}
		if fmt.Sprint(waited) != fmt.Sprint(c.waited) {
			t.Errorf("SavedFlash %s waited for %v, want %v", c.target, waited, c.waited)
		}
	}
	// A node that does not catch up in time still shows the page.
	late := func(context.Context, uint64) error { return context.DeadlineExceeded }
	if got := e.h.SavedFlash(httptest.NewRequest("GET", "/gestione/x?esito=salvato&indice=9", nil), late, flashes); got != "Modifiche salvate." {
		t.Errorf("SavedFlash after a late wait: got %q, want the confirmation", got)
	}
}
