package web

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"html"
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

// officeEnv serves the statistics and settings pages with the real
// auth/web guard and sessions from the real auth store. With a clock it
// is one node whose commands that clock stamps (the statistics need known
// times); without, a follower of a real three-node cluster. Bari has two
// offices, Anagrafe (desk "Sportello 1", service "Carta d'identità") and
// Tributi (desk "Sportello Tributi", service "IMU").
type officeEnv struct {
	t        *testing.T
	srv      http.Handler
	node     *cluster.Node
	q        *queue.Queue
	book     *booking.Book
	store    *auth.Store
	ten      tenant.Tenant
	anagrafe booking.Office
	tributi  booking.Office
	cie, imu booking.Service
	deskA    string
	deskT    string
}

const (
	officeHost   = "bari.example.it"
	officeIssuer = "https://id.example.it/realms/comuni"
)

// officeMonday is Monday 9 March 2026 in Rome, hh:mm.
func officeMonday(hh, mm int) time.Time {
	loc, _ := time.LoadLocation("Europe/Rome")
	return time.Date(2026, 3, 9, hh, mm, 0, 0, loc)
}

func newOfficeEnv(t *testing.T, clock *clustertest.Clock) *officeEnv {
	t.Helper()
	now := time.Now
	var n *cluster.Node
	if clock != nil {
		now = clock.Now
		n = clustertest.New(t, cluster.Config{Now: clock.Now}, tenant.Register, booking.Register, queue.Register, auth.Register)
		clustertest.Start(t, n)
	} else {
		nodes := clustertest.Cluster(t, 3, tenant.Register, booking.Register, queue.Register, auth.Register)
		leader := clustertest.Leader(t, nodes...)
		for _, m := range nodes {
			if m != leader {
				n = m
				break
			}
		}
	}
	ctx := context.Background()
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	e := &officeEnv{t: t, node: n}
	e.book = booking.NewBook(n, n.DB(), now, rand.Reader)
	e.q = queue.New(n, n.DB(), e.book, now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.store = auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Now: now})
	logins, err := authweb.New(authweb.Config{Store: e.store, Site: s, Logger: clustertest.Logger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Queue: e.q, Site: s, Logger: clustertest.Logger(t), Now: now, Guard: logins,
		SessionFrom: authweb.SessionFrom, Book: e.book})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e.srv = s.Tenant(logins.Sessions(mux))
	if e.ten, err = reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006", TimeZone: "Europe/Rome"}); err != nil {
		t.Fatal(err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 8*60 + 30, End: 12*60 + 30}}
	}
	office := func(name string) booking.Office {
		o, err := e.book.SaveOffice(ctx, e.ten.ID, booking.Office{Name: name, Address: "Corso Vittorio Emanuele 1", Hours: week})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	service := func(o booking.Office, name string) booking.Service {
		s, err := e.book.SaveService(ctx, e.ten.ID, booking.Service{
			OfficeID: o.ID, Name: name, Description: name + ".", Category: o.Name,
			Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
			MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.anagrafe, e.tributi = office("Anagrafe"), office("Tributi")
	e.cie, e.imu = service(e.anagrafe, "Carta d'identità"), service(e.tributi, "IMU")
	desk := func(o booking.Office, label string) string {
		w, err := e.book.WriteDesk(ctx, e.ten.ID, booking.Desk{OfficeID: o.ID, Label: label, Kind: booking.DeskCounter}, false)
		if err != nil {
			t.Fatalf("WriteDesk %s: %v", label, err)
		}
		if err := n.WaitApplied(ctx, w.Index); err != nil {
			t.Fatal(err)
		}
		return w.ID
	}
	e.deskA, e.deskT = desk(e.anagrafe, "Sportello 1"), desk(e.tributi, "Sportello Tributi")
	if _, err := e.store.SaveProvider(ctx, e.ten.ID, auth.Provider{ID: "regione", Name: "Accedi", Issuer: officeIssuer,
		ClientID: "sportello", ClientSecret: "segreto"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// officeUser is a logged-in browser.
type officeUser struct {
	e            *officeEnv
	cookie, csrf string
}

func (e *officeEnv) login(subject string, grants ...auth.Grant) *officeUser {
	e.t.Helper()
	ctx := context.Background()
	lr, cookie, err := e.store.Login(ctx, e.ten.ID, auth.Identity{Provider: "regione", Issuer: officeIssuer, Subject: subject, DisplayName: subject}, "", "")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SetGrants(ctx, e.ten.ID, lr.User.ID, grants); err != nil {
		e.t.Fatal(err)
	}
	return &officeUser{e: e, cookie: cookie, csrf: lr.Session.CSRF}
}

type officeAnswer struct {
	Status int
	Header http.Header
	Body   string
}

func (u *officeUser) send(method, target string, form url.Values) officeAnswer {
	u.e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://"+officeHost+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	} else {
		req = httptest.NewRequest(method, "http://"+officeHost+target, nil)
	}
	if u.cookie != "" {
		req.Header.Set("Cookie", authweb.SessionCookie+"="+u.cookie)
	}
	rec := httptest.NewRecorder()
	u.e.srv.ServeHTTP(rec, req)
	return officeAnswer{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func (u *officeUser) get(target string) officeAnswer { return u.send("GET", target, nil) }

// history plays Monday 9 March 2026, with the clock:
//
//	Anagrafe: 09:00 A001 and A002 (identity card) taken; 09:10 Sportello
//	1 calls A001 (waited 10 min), serves it 09:10–09:25; 09:30 A002
//	leaves the line.
//	Tributi: 09:05 A001 (IMU) taken; 09:45 Sportello Tributi calls it
//	(40 min), no-show at 09:50.
func (e *officeEnv) history(clock *clustertest.Clock) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	take := func(hh, mm int, o booking.Office, svc string) queue.Taken {
		clock.Set(officeMonday(hh, mm))
		k, err := e.q.Take(ctx, e.ten, queue.TakeRequest{OfficeID: o.ID, ServiceID: svc, Channel: queue.InPerson})
		if err != nil {
			t.Fatalf("Take at %02d:%02d: %v", hh, mm, err)
		}
		return k
	}
	must := func(_ queue.Ticket, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a1 := take(9, 0, e.anagrafe, e.cie.ID)
	a2 := take(9, 0, e.anagrafe, e.cie.ID)
	t1 := take(9, 5, e.tributi, e.imu.ID)
	clock.Set(officeMonday(9, 10))
	must(e.q.CallNext(ctx, e.ten, e.anagrafe.ID, e.deskA, nil))
	must(e.q.StartServing(ctx, e.ten.ID, a1.Ticket.ID, e.deskA))
	clock.Set(officeMonday(9, 25))
	must(e.q.Served(ctx, e.ten.ID, a1.Ticket.ID, e.deskA))
	clock.Set(officeMonday(9, 30))
	must(e.q.Cancel(ctx, e.ten.ID, a2.Ticket.ID, a2.Secret))
	clock.Set(officeMonday(9, 45))
	must(e.q.CallNext(ctx, e.ten, e.tributi.ID, e.deskT, nil))
	clock.Set(officeMonday(9, 50))
	must(e.q.NoShow(ctx, e.ten.ID, t1.Ticket.ID, e.deskT))
	clock.Set(officeMonday(12, 0))
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// officeText is a page's visible text on one line.
func officeText(body string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(body, " ")), " "))
}

// tableRows returns the cells' text of the page's rows of class
// "sv-stats-<kind>".
func tableRows(body, kind string) [][]string {
	rowRE := regexp.MustCompile(`(?s)<tr class="sv-stats-` + kind + `">(.*?)</tr>`)
	cellRE := regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	var out [][]string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(m[1], -1) {
			cells = append(cells, officeText(c[1]))
		}
		out = append(out, cells)
	}
	return out
}

// checkLabels checks that every input and select of a page has a label and
// that the page has one h1.
func checkLabels(t *testing.T, name, body string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`<(?:input|select)[^>]* id="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if !strings.Contains(body, `<label for="`+m[1]+`"`) && !strings.Contains(body, `for="`+m[1]+`"`) {
			t.Errorf("%s: field %s has no label", name, m[1])
		}
	}
	if n := strings.Count(body, "<h1"); n != 1 {
		t.Errorf("%s: %d h1 headings, want 1", name, n)
	}
}

// TestStatsScopeAndFigures checks the figures of a known day, and that a
// supervisor of Anagrafe sees only Anagrafe's.
func TestStatsScopeAndFigures(t *testing.T) {
	t.Parallel()
	clock := clustertest.NewClock(officeMonday(8, 45))
	e := newOfficeEnv(t, clock)
	e.history(clock)
	supA := e.login("sup-a", auth.Grant{Role: auth.RoleSupervisor, Offices: []string{e.anagrafe.ID}})
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	op := e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})

	// The default period is the current month.
	r := supA.get("/gestione/coda/statistiche")
	if r.Status != http.StatusOK {
		t.Fatalf("statistics: got %d\n%s", r.Status, r.Body)
	}
	txt := officeText(r.Body)
	for _, want := range []string{"Ufficio Anagrafe, dal 1 marzo 2026 al 31 marzo 2026", "09:00–10:00",
		"Carta d'identità", "Sportello 1", "Totale 2 1 1 0 1 0 10 min 10 min 15 min 15 min 2"} {
		if !strings.Contains(txt, want) {
			t.Errorf("page lacks %q:\n%s", want, txt)
		}
	}
	for _, other := range []string{"Tributi", "IMU", e.tributi.ID} {
		if strings.Contains(r.Body, other) {
			t.Errorf("Anagrafe's supervisor sees %q", other)
		}
	}
	checkLabels(t, "statistics", r.Body)
	for _, want := range []string{"<caption>", `<th scope="col">Ora</th>`, `<th scope="row">09:00–10:00</th>`, `<label for="dal"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if r := supA.get("/gestione/coda/statistiche?ufficio=" + e.tributi.ID); r.Status != http.StatusForbidden {
		t.Errorf("Tributi's figures to Anagrafe's supervisor: got %d, want 403", r.Status)
	}
	if r := supA.get("/gestione/coda/statistiche.csv?ufficio=" + e.tributi.ID); r.Status != http.StatusForbidden {
		t.Errorf("Tributi's CSV to Anagrafe's supervisor: got %d, want 403", r.Status)
	}
	if r := op.get("/gestione/coda/statistiche"); r.Status != http.StatusForbidden {
		t.Errorf("operator: got %d, want 403", r.Status)
	}

	// The administrator sees both offices; Tributi alone on request.
	r = admin.get("/gestione/coda/statistiche?dal=2026-03-09&al=09/03/2026")
	txt = officeText(r.Body)
	if r.Status != http.StatusOK || !strings.Contains(txt, "Tutti i tuoi uffici (2), dal 9 marzo 2026 al 9 marzo 2026") ||
		!strings.Contains(txt, "Totale 3 2 1 1 1 0 25 min 40 min 15 min 15 min 2") {
		t.Errorf("administrator: got %d\n%s", r.Status, txt)
	}
	r = admin.get("/gestione/coda/statistiche?dal=2026-03-09&al=2026-03-09&ufficio=" + e.tributi.ID)
	if rows := tableRows(r.Body, "sportello"); len(rows) != 1 ||
		!slices.Equal(rows[0], []string{"Tributi", "Sportello Tributi", "1", "1", "0", "1", "0", "0", "40 min", "40 min", "—", "—", "—"}) {
		t.Errorf("Tributi's desks: %q", rows)
	}
	// A day without tickets.
	if r := admin.get("/gestione/coda/statistiche?dal=2026-03-10&al=2026-03-10"); !strings.Contains(officeText(r.Body), "Nessun biglietto nel periodo.") {
		t.Errorf("empty day:\n%s", officeText(r.Body))
	}
}

// TestStatsCSVMatchesPage checks that the CSV holds the page's rows.
func TestStatsCSVMatchesPage(t *testing.T) {
	t.Parallel()
	clock := clustertest.NewClock(officeMonday(8, 45))
	e := newOfficeEnv(t, clock)
	e.history(clock)
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	const q = "?dal=2026-03-01&al=2026-03-31"
	page := admin.get("/gestione/coda/statistiche" + q)
	r := admin.get("/gestione/coda/statistiche.csv" + q)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("CSV: got %d, %q, %q", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
	}
	if !strings.Contains(page.Body, `href="/gestione/coda/statistiche.csv?al=2026-03-31&amp;dal=2026-03-01"`) {
		t.Errorf("the page does not link its CSV")
	}
	records, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, r.Body)
	}
	if strings.Join(records[0], ",") != strings.Join(statsHeader, ",") {
		t.Errorf("header %q", records[0])
	}
	// minutes turns the CSV's minutes into the page's label.
	minutes := func(s string) string {
		if s == "" {
			return "—"
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("minutes %q: %v", s, err)
		}
		return durationLabel(time.Duration(f*float64(time.Minute)), 1)
	}
	// asPage is a CSV record as the page's row shows it.
	asPage := func(rec []string) []string {
		row := []string{}
		switch rec[0] {
		case "servizio", "sportello":
			row = append(row, rec[1])
		}
		row = append(row, rec[2])
		row = append(row, rec[3:9]...)
		for _, m := range rec[9:13] {
			row = append(row, minutes(m))
		}
		if rec[0] == "sportello" {
			return append(row, "—")
		}
		return append(row, rec[13])
	}
	got := map[string][][]string{}
	for _, rec := range records[1:] {
		got[rec[0]] = append(got[rec[0]], asPage(rec))
	}
	for kind, section := range map[string]string{"ora": "ora", "servizio": "servizio", "sportello": "sportello"} {
		want := tableRows(page.Body, kind)
		if len(want) == 0 || joinRows(got[section]) != joinRows(want) {
			t.Errorf("%s: CSV\n%s\npage\n%s", kind, joinRows(got[section]), joinRows(want))
		}
	}
	if tot := got["totale"]; len(tot) != 1 || strings.Join(tot[0], " ") != "Totale 3 2 1 1 1 0 25 min 40 min 15 min 15 min 2" {
		t.Errorf("total: %q", tot)
	}
	if strings.Contains(r.Body, "\ufeff") {
		t.Errorf("CSV has a byte-order mark; booking's has none")
	}
}

// TestStatsPeriodErrors checks the filters' Italian errors.
func TestStatsPeriodErrors(t *testing.T) {
	t.Parallel()
	clock := clustertest.NewClock(officeMonday(8, 45))
	e := newOfficeEnv(t, clock)
	sup := e.login("sup", auth.Grant{Role: auth.RoleSupervisor})
	for _, c := range []struct{ query, field, msg string }{
		{"?dal=2026-03-31&al=2026-03-01", "al", "L'ultimo giorno precede il primo."},
		{"?dal=2026-01-01&al=2027-01-02", "al", "Il periodo può durare al massimo 366 giorni."},
		{"?dal=31/02/2026&al=2026-03-01", "dal", "Scrivi il giorno come gg/mm/aaaa"},
	} {
		r := sup.get("/gestione/coda/statistiche" + c.query)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(officeText(r.Body), c.msg) ||
			!strings.Contains(r.Body, `id="`+c.field+`-errore"`) || !strings.Contains(r.Body, `aria-invalid="true"`) ||
			!strings.Contains(r.Body, `<a href="#`+c.field+`">`) {
			t.Errorf("%s: got %d\n%s", c.query, r.Status, officeText(r.Body))
		}
		if r := sup.get("/gestione/coda/statistiche.csv" + c.query); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("CSV %s: got %d, want 422", c.query, r.Status)
		}
	}
	// A leap year's 366 days are allowed.
	if r := sup.get("/gestione/coda/statistiche?dal=2028-01-01&al=2028-12-31"); r.Status != http.StatusOK {
		t.Errorf("366 days: got %d", r.Status)
	}
}

func joinRows(rows [][]string) string {
	var b strings.Builder
	for _, row := range rows {
		b.WriteString(strings.Join(row, " | "))
		b.WriteString("\n")
	}
	return b.String()
}
