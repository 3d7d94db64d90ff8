package web

import (
	"context"
	"crypto/rand"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

const (
	base     = "example.it"
	bariHost = "bari.example.it"
	issuer   = "https://id.example.it"
)

func register(r *cluster.Registry) {
	tenant.Register(r)
	auth.Register(r)
	booking.Register(r)
	privacy.Register(r)
}

// env is the handler over a real one-node cluster, behind the site's
// Tenant middleware and auth/web's Sessions, as cmd/sportello mounts it.
type env struct {
	t    *testing.T
	node *cluster.Node
	auth *auth.Store
	book *booking.Book
	priv *privacy.Service
	srv  http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n := clustertest.Node(t, register)
	reg := tenant.NewRegistry(n, n.DB(), base)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
	logins, err := authweb.New(authweb.Config{Store: as, Site: s, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	priv := privacy.NewService(n, n.DB(), privacy.Options{Logger: clustertest.Logger(t)})
	h, err := New(Config{Site: s, Privacy: priv, Applied: n, Guard: logins, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e := &env{t: t, node: n, auth: as, book: booking.NewBook(n, n.DB(), time.Now, rand.Reader), priv: priv,
		srv: s.Tenant(logins.Sessions(mux))}
	ctx := context.Background()
	if _, err := reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006", CodePrefix: "BA"}); err != nil {
		t.Fatal(err)
	}
	if _, err := as.SaveProvider(ctx, "bari", auth.Provider{
		ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
		Roles: []auth.RoleRule{
			{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
			{Group: "operatori", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

type user struct {
	e                  *env
	cookie, csrf, name string
}

func (e *env) login(subject string, groups ...string) *user {
	e.t.Helper()
	lr, cookie, err := e.auth.Login(context.Background(), "bari", auth.Identity{
		Provider: "regione", Issuer: issuer, Subject: subject, DisplayName: "Anna " + subject, Groups: groups,
	}, "", "")
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	return &user{e: e, cookie: cookie, csrf: lr.Session.CSRF}
}

func (e *env) do(method, target string, body io.Reader, header map[string]string) response {
	req := httptest.NewRequest(method, target, body)
	req.Host = bariHost
	req.RemoteAddr = "192.0.2.20:40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func (u *user) get(target string) response {
	return u.e.do("GET", target, nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + u.cookie})
}

func (u *user) post(target string, v url.Values) response {
	v.Set(authweb.CSRFField, u.csrf)
	return u.e.do("POST", target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + bariHost,
		"Sec-Fetch-Site": "same-origin", "Cookie": authweb.SessionCookie + "=" + u.cookie,
	})
}

func (u *user) follow(r response) response {
	u.e.t.Helper()
	if r.Status != http.StatusSeeOther {
		u.e.t.Fatalf("got %d, want 303; page:\n%s", r.Status, text(r.Body))
	}
	return u.get(r.Header.Get("Location"))
}

func text(body string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func want(t *testing.T, what string, r response, status int, wants ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d; page:\n%s", what, r.Status, status, text(r.Body))
		return
	}
	page := text(r.Body)
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("%s: page lacks %q:\n%s", what, w, page)
		}
	}
}

// TestRetentionPage sets the retention through the form, refuses bad
// days, puts a booking under legal hold (audited) and lifts it; an
// operator cannot reach the page.
func TestRetentionPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.login("admin-1", "amministratori")

	r := admin.get(Page)
	want(t, "page", r, http.StatusOK, "Conservazione dei dati personali", "Dati personali delle prenotazioni (giorni)",
		"Predefinito: 90 giorni.", "Predefinito: 30 giorni.", "Predefinito: 365 giorni.", "Nessuna prenotazione bloccata.")
	if strings.Contains(r.Body, "<script") || !strings.Contains(r.Body, `name="csrf" value="`+admin.csrf+`"`) {
		t.Error("the page needs JavaScript or lacks the CSRF token")
	}

	// Bad days: every error at once, nothing stored.
	r = admin.post(Page, url.Values{"giorni-bookings": {"0"}, "giorni-tickets": {"tanti"}, "giorni-audit": {"400"}})
	want(t, "bad days", r, http.StatusUnprocessableEntity, "Controlla i dati inseriti",
		"Dati personali delle prenotazioni: Indica un numero intero di giorni tra 1 e 3650",
		"Biglietti della coda: Indica un numero intero")
	if !strings.Contains(r.Body, `aria-invalid="true"`) || !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `value="tanti"`) {
		t.Error("the refused form does not announce its errors or lost the typed value")
	}
	if own, _ := e.priv.OwnDays(ctx, "bari"); len(own) != 0 {
		t.Fatalf("refused form stored %v", own)
	}

	r = admin.follow(admin.post(Page, url.Values{"giorni-bookings": {"60"}, "giorni-tickets": {""}, "giorni-audit": {"730"}}))
	want(t, "saved", r, http.StatusOK, "Tempi di conservazione salvati")
	if !strings.Contains(r.Body, `name="giorni-bookings" value="60"`) {
		t.Error("the saved value is not shown")
	}
	pol, _ := e.priv.Policy(ctx, "bari")
	if pol.DaysOf(privacy.ClassBookings) != 60 || pol.DaysOf(privacy.ClassTickets) != 30 || pol.DaysOf(privacy.ClassAudit) != 730 {
		t.Errorf("policy %v", pol.Days)
	}

	// A legal hold on a booking.
	b := e.booking(t)
	r = admin.post(Page+"/blocchi", url.Values{"codice": {"BA-NESSUNO"}, "motivo": {""}})
	want(t, "bad hold", r, http.StatusUnprocessableEntity, "Nessuna prenotazione del Comune ha questo codice.", "Indica il motivo del blocco")
	r = admin.follow(admin.post(Page+"/blocchi", url.Values{"codice": {strings.ToLower(b.Code)}, "motivo": {"Contenzioso n. 12/2026"}}))
	want(t, "hold", r, http.StatusOK, "Blocco per obbligo di legge aggiunto", b.Code, "Contenzioso n. 12/2026", "Anna admin-1")
	var audited int
	if err := e.node.DB().QueryRow(`SELECT COUNT(*) FROM cluster_audit WHERE tenant = 'bari' AND type = ? AND actor_id <> ''`,
		privacy.CmdHold).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit rows of the hold: %d %v", audited, err)
	}
	// The held booking survives its citizen's erasure.
	if _, err := e.priv.EraseCitizen(ctx, "bari", privacy.Subject{Email: "maria@example.it"}, "prova"); err != nil {
		t.Fatal(err)
	}
	var email string
	if err := e.node.DB().QueryRow(`SELECT email FROM booking_bookings WHERE tenant = 'bari' AND id = ?`, b.ID).Scan(&email); err != nil || email == "" {
		t.Errorf("the held booking was erased: %q %v", email, err)
	}
	r = admin.follow(admin.post(Page+"/blocchi/"+b.ID+"/rimuovi", url.Values{}))
	want(t, "lift", r, http.StatusOK, "Blocco rimosso", "Nessuna prenotazione bloccata.")

	op := e.login("op-1", "operatori")
	if r := op.get(Page); r.Status != http.StatusForbidden {
		t.Errorf("operator got %d, want 403", r.Status)
	}
}

// booking makes one booking of Comune bari.
func (e *env) booking(t *testing.T) booking.Booking {
	t.Helper()
	ctx := context.Background()
	var w booking.Week
	for d := time.Sunday; d <= time.Saturday; d++ {
		w[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	off, err := e.book.SaveOffice(ctx, "bari", booking.Office{ID: "anagrafe", Name: "Anagrafe", Address: "Piazza 1", Hours: w})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := e.book.SaveService(ctx, "bari", booking.Service{ID: "cie", OfficeID: off.ID, Name: "CIE", Description: "CIE.",
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1, HorizonDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant.Tenant{ID: "bari", Name: "Comune di Bari", CodePrefix: "BA", TimeZone: "Europe/Rome"}
	loc := tn.Location()
	// Three days ahead, or the first day after that is not a national
	// holiday: the office, open every day, is closed on those.
	day := time.Now().In(loc).AddDate(0, 0, 3)
	for closed, _ := tn.ClosedOn(civil.DateOf(day)); closed; closed, _ = tn.ClosedOn(civil.DateOf(day)) {
		day = day.AddDate(0, 0, 1)
	}
	start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, loc)
	c, err := e.book.Create(ctx, tn, booking.Request{ServiceID: svc.ID, Start: start, Channel: booking.InPerson, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"}},
		"https://"+bariHost)
	if err != nil {
		t.Fatal(err)
	}
	return c.Booking
}
