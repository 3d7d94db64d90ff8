package web

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// deskEnv is the desk page served by a follower of a real three-node
// cluster, with the real auth/web guard and sessions from the real auth
// store. Bari has two offices, Anagrafe (desks "a-1", "a-2") and Tributi
// (desk "t-1"), each with a service; Anagrafe also has a remote station
// for video and phone ("a-v"). Both offices take tickets at any hour, so
// that the tests do not depend on the time they run at.
type deskEnv struct {
	t    *testing.T
	srv  http.Handler
	q    *queue.Queue
	book *booking.Book
	reg  *tenant.Registry
	// node is the follower the page runs on.
	node     *cluster.Node
	store    *auth.Store
	ten      tenant.Tenant
	anagrafe booking.Office
	tributi  booking.Office
	service  booking.Service
	// desks maps the tests' names of the desks ("a-1") to their IDs.
	desks map[string]string
}

const (
	deskHost   = "bari.example.it"
	deskIssuer = "https://id.example.it/realms/comuni"
)

func newDeskEnv(t *testing.T) *deskEnv {
	t.Helper()
	nodes := clustertest.Cluster(t, 3, tenant.Register, booking.Register, queue.Register, auth.Register)
	leader := clustertest.Leader(t, nodes...)
	var n *cluster.Node
	for _, m := range nodes {
		if m != leader {
			n = m
			break
		}
	}
	ctx := context.Background()
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
	q := queue.New(n, n.DB(), book, time.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
	logins, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Queue: q, Site: s, Logger: clustertest.Logger(t), Guard: logins, SessionFrom: authweb.SessionFrom, Book: book, Changes: n})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e := &deskEnv{t: t, srv: s.Tenant(logins.Sessions(mux)), q: q, book: book, reg: reg, node: n, store: store, desks: map[string]string{}}
	if e.ten, err = reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"}); err != nil {
		t.Fatal(err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	office := func(name string) booking.Office {
		o, err := book.SaveOffice(ctx, e.ten.ID, booking.Office{Name: name, Address: "Corso Vittorio Emanuele 1", Hours: week})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	e.anagrafe, e.tributi = office("Anagrafe"), office("Tributi")
	if e.service, err = book.SaveService(ctx, e.ten.ID, booking.Service{
		OfficeID: e.anagrafe.ID, Name: "Carta d'identità", Description: "CIE.", Category: "Anagrafe",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	// Configured before the desks: waiting for the last desk to be
	// applied on this node waits for the configuration too.
	for _, o := range []string{e.anagrafe.ID, e.tributi.ID} {
		e.alwaysOpen(o)
	}
	for _, d := range []booking.Desk{
		{ID: "a-1", OfficeID: e.anagrafe.ID, Label: "Sportello 1", Kind: booking.DeskCounter},
		{ID: "a-2", OfficeID: e.anagrafe.ID, Label: "Sportello 2", Kind: booking.DeskCounter},
		{ID: "t-1", OfficeID: e.tributi.ID, Label: "Sportello Tributi", Kind: booking.DeskCounter},
		{ID: "a-v", OfficeID: e.anagrafe.ID, Label: "Postazione video", Kind: booking.DeskRemote},
	} {
		w, err := book.WriteDesk(ctx, e.ten.ID, d, false)
		if err != nil {
			t.Fatalf("WriteDesk %s: %v", d.ID, err)
		}
		if err := n.WaitApplied(ctx, w.Index); err != nil {
			t.Fatal(err)
		}
		// WriteDesk draws the ID: the tests name desks by label.
		e.desks[d.ID] = w.ID
	}
	if _, err := store.SaveProvider(ctx, e.ten.ID, auth.Provider{ID: "regione", Name: "Accedi", Issuer: deskIssuer,
		ClientID: "sportello", ClientSecret: "segreto"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// alwaysOpen lets the office take tickets at any hour.
func (e *deskEnv) alwaysOpen(office string) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.q.Config(ctx, e.ten.ID, office)
	if err != nil {
		e.t.Fatal(err)
	}
	c.AlwaysOpen = true
	if err := e.q.Configure(ctx, e.ten.ID, c); err != nil {
		e.t.Fatalf("Configure %s: %v", office, err)
	}
}

// deskUser is a logged-in browser.
type deskUser struct {
	e            *deskEnv
	cookie, csrf string
}

func (e *deskEnv) login(subject string, grants ...auth.Grant) *deskUser {
	t := e.t
	t.Helper()
	ctx := context.Background()
	lr, cookie, err := e.store.Login(ctx, e.ten.ID, auth.Identity{Provider: "regione", Issuer: deskIssuer, Subject: subject, DisplayName: subject}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGrants(ctx, e.ten.ID, lr.User.ID, grants); err != nil {
		t.Fatal(err)
	}
	return &deskUser{e: e, cookie: cookie, csrf: lr.Session.CSRF}
}

type deskPage struct {
	Status int
	Header http.Header
	Body   string
}

func (e *deskEnv) send(method, target string, form url.Values, cookie string) deskPage {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://"+deskHost+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	} else {
		req = httptest.NewRequest(method, "http://"+deskHost+target, nil)
	}
	if cookie != "" {
		req.Header.Set("Cookie", authweb.SessionCookie+"="+cookie)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return deskPage{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func (u *deskUser) get(target string) deskPage { return u.e.send("GET", target, nil, u.cookie) }

// post sends the form with the session's CSRF token and the office and
// desk.
func (u *deskUser) post(target, office, desk string) deskPage {
	if id, ok := u.e.desks[desk]; ok {
		desk = id
	}
	return u.e.send("POST", target, url.Values{deskCSRFField: {u.csrf}, qDeskOffice: {office}, qDesk: {desk}}, u.cookie)
}

// take enters a walk-in ticket at office.
func (e *deskEnv) take(office string, p queue.Priority) queue.Ticket {
	e.t.Helper()
	k, err := e.q.Take(context.Background(), e.ten, queue.TakeRequest{OfficeID: office, Channel: queue.InPerson, Priority: p})
	if err != nil {
		e.t.Fatalf("Take: %v", err)
	}
	return k.Ticket
}

// numbers returns the numbers of tickets.
func deskNumbers(ts []queue.Ticket) []string {
	var out []string
	for _, k := range ts {
		out = append(out, k.Number)
	}
	return out
}

var deskNumberRE = regexp.MustCompile(`class="sv-number">([A-Z][0-9]{3})<`)

// shownLine returns the numbers of the page's line, in the page's order.
func deskShownLine(body string) []string {
	var out []string
	for _, m := range deskNumberRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// state is the office's line and what its desks hold, as text, to prove
// that a refused request changed nothing.
func (e *deskEnv) state(office string) string {
	e.t.Helper()
	ctx := context.Background()
	line, err := e.q.Line(ctx, e.ten, office)
	if err != nil {
		e.t.Fatal(err)
	}
	s := strings.Join(deskNumbers(line), ",")
	for _, d := range []string{"a-1", "a-2", "t-1"} {
		k, ok, err := e.q.AtDesk(ctx, e.ten, office, e.desks[d])
		if err != nil {
			e.t.Fatal(err)
		}
		if ok {
			s += " " + d + "=" + k.Number + ":" + string(k.State)
		}
	}
	return s
}

func (e *deskEnv) line(office string) []string {
	e.t.Helper()
	line, err := e.q.Line(context.Background(), e.ten, office)
	if err != nil {
		e.t.Fatal(err)
	}
	return deskNumbers(line)
}

func TestDeskCSRFFieldMatchesAuthWeb(t *testing.T) {
	if deskCSRFField != authweb.CSRFField {
		t.Fatalf("deskCSRFField %q, authweb.CSRFField %q", deskCSRFField, authweb.CSRFField)
	}
}

// TestDeskCallStartServe drives one ticket through the page: the line is
// shown in the order Queue.Line gives, "Chiama il prossimo" calls its
// first, then "Inizia" and "Servito" close it.
func TestDeskCallStartServe(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a, o := e.anagrafe.ID, e.tributi.ID
	e.take(a, queue.NoPriority)
	e.take(a, queue.NoPriority)
	first := e.take(a, queue.Pregnancy)
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})

	r := op.get("/gestione/coda?ufficio=" + a + "&sportello=" + e.desks["a-1"])
	if r.Status != http.StatusOK {
		t.Fatalf("page: got %d\n%s", r.Status, r.Body)
	}
	want := e.line(a)
	if got := deskShownLine(r.Body); !slices.Equal(got, want) || want[0] != first.Number {
		t.Errorf("line shown %v, Queue.Line %v (priority %s first)", got, want, first.Number)
	}
	if !strings.Contains(r.Body, "Precedenza: gravidanza") || !strings.Contains(r.Body, "Chiama il prossimo") {
		t.Errorf("page lacks the priority mark or the call button")
	}
	if !strings.Contains(r.Body, `http-equiv="refresh"`) {
		t.Errorf("page does not reload itself")
	}
	if strings.Contains(r.Body, `value="`+o+`"`) {
		t.Errorf("page offers an office outside the grant")
	}
	checkDeskAccessible(t, "free desk", r.Body)
	if r := op.get("/gestione/coda?ufficio=" + a); r.Status != http.StatusOK || !strings.Contains(r.Body, "Scegli lo sportello da cui chiami") ||
		!slices.Equal(deskShownLine(r.Body), want) {
		t.Errorf("page without a desk: got %d, want the line and the desk prompt", r.Status)
	} else {
		checkDeskAccessible(t, "no desk", r.Body)
	}
	// The desk of another office (the form keeps the desk when the
	// office changes) is dropped with a message, not refused.
	if r := op.get("/gestione/coda?ufficio=" + a + "&sportello=" + e.desks["t-1"]); r.Status != http.StatusOK ||
		!strings.Contains(r.Body, "non è di questo ufficio") || strings.Contains(r.Body, "Chiama il prossimo") {
		t.Errorf("desk of another office: got %d, want the office without a desk and a message", r.Status)
	} else {
		checkDeskAccessible(t, "desk of another office", r.Body)
	}
	if r := op.get("/gestione/coda?ufficio=" + a + "&auto=0"); strings.Contains(r.Body, `http-equiv="refresh"`) {
		t.Errorf("auto=0: the page still reloads itself")
	}

	r = op.post("/gestione/coda/chiama", a, "a-1")
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "esito=chiamato") {
		t.Fatalf("call: got %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	k, ok, err := e.q.AtDesk(context.Background(), e.ten, a, e.desks["a-1"])
	if err != nil || !ok || k.ID != first.ID || k.State != queue.Called {
		t.Fatalf("after the call the desk holds %+v %v %v, want %s called", k, ok, err, first.Number)
	}
	r = op.get(r.Header.Get("Location"))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Biglietto <strong>"+first.Number+"</strong>") ||
		!strings.Contains(r.Body, "Biglietto chiamato") {
		t.Fatalf("page after the call: got %d, want the called ticket and the confirmation\n%s", r.Status, r.Body)
	}
	if got, want := deskShownLine(r.Body), e.line(a); !slices.Equal(got, want) || len(want) != 2 {
		t.Errorf("line after the call %v, want %v", got, want)
	}
	checkDeskAccessible(t, "called ticket", r.Body)
	// The desk remembers the choice: the bare page opens on it.
	remembered, _, _ := strings.Cut(r.Header.Get("Set-Cookie"), ";")
	if !strings.HasPrefix(remembered, deskCookie+"=") {
		t.Errorf("no cookie remembering the desk: %q", remembered)
	}

	// A second call while the desk holds a ticket is refused.
	before := e.state(a)
	r = op.post("/gestione/coda/chiama", a, "a-1")
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, "ha già un biglietto") || strings.Contains(r.Body, `http-equiv="refresh"`) {
		t.Errorf("call on a busy desk: got %d, want 409 with the message and no reload", r.Status)
	}
	checkDeskAccessible(t, "busy desk", r.Body)
	if after := e.state(a); after != before {
		t.Errorf("refused call changed %s into %s", before, after)
	}

	for _, s := range []struct {
		path  string
		state queue.State
	}{{"inizia", queue.Serving}, {"servito", queue.Served}} {
		r = op.post("/gestione/coda/"+first.ID+"/"+s.path, a, "a-1")
		if r.Status != http.StatusSeeOther {
			t.Fatalf("%s: got %d\n%s", s.path, r.Status, r.Body)
		}
		k, err := e.q.Ticket(context.Background(), e.ten.ID, first.ID)
		if err != nil || k.State != s.state {
			t.Fatalf("after %s: %s %v, want %s", s.path, k.State, err, s.state)
		}
		if s.state == queue.Serving {
			if p := op.get(r.Header.Get("Location")); !strings.Contains(p.Body, ">Servito<") {
				t.Errorf("serving ticket's page has no Servito button")
			}
		}
	}
	r = op.post("/gestione/coda/"+first.ID+"/servito", a, "a-1")
	if r.Status != http.StatusConflict {
		t.Errorf("serving a served ticket: got %d, want 409", r.Status)
	}
	if r := e.send("GET", "/gestione/coda", nil, op.cookie+"; "+remembered); r.Status != http.StatusOK || !strings.Contains(r.Body, "Lo sportello è libero") {
		t.Errorf("bare page after serving: got %d, want the free desk", r.Status)
	}
}

// TestDeskRefusals tries the page as people who may not act, with forged
// forms; nothing changes.
func TestDeskRefusals(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a, o := e.anagrafe.ID, e.tributi.ID
	k1 := e.take(a, queue.NoPriority)
	e.take(a, queue.NoPriority)
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	other := e.login("op-t", auth.Grant{Role: auth.RoleOperator, Offices: []string{o}})
	sup := e.login("sup", auth.Grant{Role: auth.RoleSupervisor})
	before := e.state(a)

	if r := e.send("GET", "/gestione/coda", nil, ""); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/_auth/login") {
		t.Errorf("anonymous: got %d %q, want 303 to the login", r.Status, r.Header.Get("Location"))
	}
	if r := e.send("POST", "/gestione/coda/chiama", url.Values{qDeskOffice: {a}, qDesk: {e.desks["a-1"]}}, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous POST: got %d, want 401", r.Status)
	}
	if r := other.get("/gestione/coda?ufficio=" + a); r.Status != http.StatusForbidden || strings.Contains(r.Body, k1.Number) {
		t.Errorf("other office's operator on the page: got %d, want 403 without the line", r.Status)
	}
	if r := other.post("/gestione/coda/chiama", a, "a-1"); r.Status != http.StatusForbidden {
		t.Errorf("other office's operator calls: got %d, want 403", r.Status)
	}
	// A forged step: the ticket of Anagrafe with the operator's own
	// office and desk.
	if r := other.post("/gestione/coda/"+k1.ID+"/inizia", o, "t-1"); r.Status != http.StatusForbidden {
		t.Errorf("other office's operator starts a ticket: got %d, want 403", r.Status)
	}
	// CSRF token missing or wrong.
	for _, tok := range []string{"", "sbagliato"} {
		v := url.Values{qDeskOffice: {a}, qDesk: {e.desks["a-1"]}}
		if tok != "" {
			v.Set(deskCSRFField, tok)
		}
		if r := e.send("POST", "/gestione/coda/chiama", v, op.cookie); r.Status != http.StatusForbidden {
			t.Errorf("call with CSRF token %q: got %d, want 403", tok, r.Status)
		}
	}
	// A desk of another office, posted with the operator's office.
	if r := op.post("/gestione/coda/chiama", a, "t-1"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "non esiste") {
		t.Errorf("desk of another office: got %d, want 422", r.Status)
	}
	if r := op.post("/gestione/coda/chiama", "", ""); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("no office nor desk: got %d, want 422", r.Status)
	}
	if after := e.state(a); after != before {
		t.Fatalf("refused requests changed %s into %s", before, after)
	}

	// Empty line of Tributi.
	if r := other.post("/gestione/coda/chiama", o, "t-1"); r.Status != http.StatusConflict || !strings.Contains(r.Body, "Nessuno in attesa") {
		t.Errorf("empty line: got %d, want 409 Nessuno in attesa", r.Status)
	}
	// A supervisor of every office may serve too; a step from the
	// wrong desk is refused.
	if r := sup.post("/gestione/coda/chiama", a, "a-1"); r.Status != http.StatusSeeOther {
		t.Fatalf("supervisor calls: got %d", r.Status)
	}
	mid := e.state(a)
	if r := op.post("/gestione/coda/"+k1.ID+"/inizia", a, "a-2"); r.Status != http.StatusConflict || !strings.Contains(r.Body, "un altro sportello") {
		t.Errorf("start from the wrong desk: got %d, want 409", r.Status)
	}
	if r := op.post("/gestione/coda/"+k1.ID+"/richiama", a, "a-1"); r.Status != http.StatusSeeOther {
		t.Errorf("recall: got %d, want 303", r.Status)
	}
	if r := op.post("/gestione/coda/"+k1.ID+"/assente", a, "a-1"); r.Status != http.StatusSeeOther {
		t.Errorf("no-show: got %d, want 303", r.Status)
	}
	if k, _ := e.q.Ticket(context.Background(), e.ten.ID, k1.ID); k.State != queue.NoShow || k.Recalls != 1 {
		t.Errorf("after recall and no-show: %s, %d recalls (state before: %s)", k.State, k.Recalls, mid)
	}
	if r := op.post("/gestione/coda/nessuno/inizia", a, "a-1"); r.Status != http.StatusNotFound {
		t.Errorf("unknown ticket: got %d, want 404", r.Status)
	}
}

var (
	deskIDRE      = regexp.MustCompile(`\bid="([^"]*)"`)
	deskLabelRE   = regexp.MustCompile(`<label\b[^>]*\bfor="([^"]*)"`)
	deskControlRE = regexp.MustCompile(`<(input|textarea|select)\b[^>]*>`)
	deskAttrRE    = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
	deskHeadingRE = regexp.MustCompile(`<h([1-6])\b`)
)

// checkDeskAccessible checks what the page must have for screen readers
// and keyboards: the language, unique ids, a label for every visible
// control, aria-describedby pointing at existing elements, every button
// named, and headings that never skip a level.
func checkDeskAccessible(t *testing.T, name, body string) {
	t.Helper()
	if !strings.Contains(body, `<html lang="it">`) {
		t.Errorf("%s: no <html lang=\"it\">", name)
	}
	ids := map[string]int{}
	for _, m := range deskIDRE.FindAllStringSubmatch(body, -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("%s: id %q used %d times", name, id, n)
		}
	}
	labels := map[string]bool{}
	for _, m := range deskLabelRE.FindAllStringSubmatch(body, -1) {
		labels[m[1]] = true
	}
	for _, c := range deskControlRE.FindAllString(body, -1) {
		attrs := map[string]string{}
		for _, m := range deskAttrRE.FindAllStringSubmatch(c, -1) {
			attrs[m[1]] = m[2]
		}
		if attrs["type"] == "hidden" || attrs["type"] == "submit" {
			continue
		}
		if !labels[attrs["id"]] {
			t.Errorf("%s: control without a label: %s", name, c)
		}
		for _, ref := range strings.Fields(attrs["aria-describedby"]) {
			if ids[ref] == 0 {
				t.Errorf("%s: aria-describedby=%q points to no element", name, ref)
			}
		}
	}
	if strings.Contains(body, "<button") && regexp.MustCompile(`<button\b[^>]*>\s*</button>`).MatchString(body) {
		t.Errorf("%s: a button without a name", name)
	}
	start, end := strings.Index(body, "<main"), strings.Index(body, "</main>")
	if start < 0 || end < start {
		t.Fatalf("%s: no <main>", name)
	}
	prev := 0
	for _, m := range deskHeadingRE.FindAllStringSubmatch(body[start:end], -1) {
		lvl, _ := strconv.Atoi(m[1])
		if lvl > prev+1 {
			t.Errorf("%s: heading h%d after h%d", name, lvl, prev)
		}
		prev = lvl
	}
}
