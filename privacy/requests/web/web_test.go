package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
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
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

const (
	base      = "example.it"
	bariHost  = "bari.example.it"
	lecceHost = "lecce.example.it"
	issuer    = "https://id.example.it"
)

func register(r *cluster.Registry) {
	tenant.Register(r)
	auth.Register(r)
	booking.Register(r)
	queue.Register(r)
	media.Register(r)
	docs.Register(r)
	privacy.Register(r)
	requests.Register(r)
}

// env is the handler over a real one-node cluster, with the real tenant
// registry, login, book, queue, documents and erasure, behind the site's
// Tenant middleware and auth/web's Sessions as cmd/sportello mounts it,
// and the package's emails delivered to a real SMTP server.
type env struct {
	t     *testing.T
	node  *cluster.Node
	book  *booking.Book
	docs  *docs.Store
	store *requests.Store
	auth  *auth.Store
	srv   http.Handler
	mail  *smtptest.Server
	bari  tenant.Tenant
	lecce tenant.Tenant
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvs(t, 1)[0]
}

// newEnvs builds the handler on each node of an n-node cluster, and the
// two Comuni with their offices through the first.
func newEnvs(t *testing.T, n int) []*env {
	t.Helper()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	setup := func(node *cluster.Node) {
		node.HandleOutbox(requests.OutboxKind, requests.EmailDeliverer(sender, "Sportello <noreply@example.it>", time.Now, clustertest.Logger(t)))
	}
	var nodes []*cluster.Node
	if n == 1 {
		node := clustertest.New(t, cluster.Config{}, register)
		setup(node)
		clustertest.Start(t, node)
		nodes = []*cluster.Node{node}
	} else {
		nodes = clustertest.ClusterWith(t, n, setup, register)
	}
	var envs []*env
	for _, node := range nodes {
		envs = append(envs, newEnvOn(t, node, srv))
	}
	e := envs[0]
	ctx := context.Background()
	reg := tenant.NewRegistry(e.node, e.node.DB(), base)
	for _, c := range []tenant.Tenant{
		{ID: "bari", Name: "Comune di Bari", ISTAT: "072006", Languages: []string{"it", "en", "de"}},
		{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035"},
	} {
		created, err := reg.Create(ctx, c)
		if err != nil {
			t.Fatalf("create %s: %v", c.ID, err)
		}
		for _, x := range envs {
			if c.ID == "bari" {
				x.bari = created
			} else {
				x.lecce = created
			}
		}
		if _, err := e.auth.SaveProvider(ctx, c.ID, auth.Provider{
			ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
			Roles: []auth.RoleRule{
				{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
				{Group: "supervisori", Grant: auth.Grant{Role: auth.RoleSupervisor}},
				{Group: "operatori", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}},
			},
		}); err != nil {
			t.Fatalf("SaveProvider: %v", err)
		}
		var w booking.Week
		for d := time.Sunday; d <= time.Saturday; d++ {
			w[d] = []booking.Interval{{Start: 0, End: 24*60 - 30}}
		}
		if _, err := e.book.SaveOffice(ctx, c.ID, booking.Office{ID: "anagrafe", Name: "Anagrafe", Address: "Piazza 1", Hours: w}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.book.SaveService(ctx, c.ID, booking.Service{ID: "cie", OfficeID: "anagrafe", Name: "Carta d'identità elettronica",
			Description: "Rilascio.", Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 5,
			HorizonDays: 30, MaxActivePerCitizen: 5}); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range envs[1:] {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := x.node.WaitApplied(wctx, e.node.AppliedIndex()); err != nil {
			t.Fatalf("catch up: %v", err)
		}
		cancel()
	}
	return envs
}

// newEnvOn builds the handler of one node.
func newEnvOn(t *testing.T, n *cluster.Node, srv *smtptest.Server) *env {
	t.Helper()
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
	book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
	q := queue.New(n, n.DB(), book, time.Now, rand.Reader)
	ds := docs.NewStore(n, nil, time.Now)
	st := requests.NewStore(n, n.DB(), time.Now, rand.Reader)
	ex := &requests.Exporter{Book: book, Queue: q, Docs: ds, Store: st, DB: n.DB(),
		DocURL: func(id string) string { return "/gestione/privacy/documenti/" + id }}
	h, err := New(Config{Site: s, Store: st, Exporter: ex, Eraser: privacy.NewService(n, n.DB(), privacy.Options{}),
		Files: ds, Fresh: n, Guard: logins, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	return &env{t: t, node: n, book: book, docs: ds, store: st, auth: as, srv: s.Tenant(logins.Sessions(mux)), mail: srv}
}

// bookFor books the n-th free slot of Comune tn for a citizen.
func (e *env) bookFor(tn tenant.Tenant, n int, c booking.Citizen) booking.Booking {
	e.t.Helper()
	ctx := context.Background()
	today := time.Now().In(tn.Location())
	slots, err := e.book.Slots(ctx, tn, "cie", civil.DateOf(today.AddDate(0, 0, 1)), civil.DateOf(today.AddDate(0, 0, 8)))
	if err != nil {
		e.t.Fatal(err)
	}
	var free []booking.Slot
	for _, s := range slots {
		if s.Remaining > 0 {
			free = append(free, s)
		}
	}
	cr, err := e.book.Create(ctx, tn, booking.Request{ServiceID: "cie", Start: free[n].Start, Channel: booking.InPerson,
		Citizen: c, PrivacyAccepted: true}, "https://"+string(tn.ID)+".example.it")
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return cr.Booking
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func (e *env) do(method, host, target, addr string, body io.Reader, header map[string]string) response {
	req := httptest.NewRequest(method, target, body)
	req.Host = host
	req.RemoteAddr = addr + ":40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// user is a logged-in browser of one Comune.
type user struct {
	e                  *env
	host, cookie, csrf string
}

func (e *env) login(id tenant.ID, host, subject string, groups ...string) *user {
	e.t.Helper()
	lr, cookie, err := e.auth.Login(context.Background(), id, auth.Identity{
		Provider: "regione", Issuer: issuer, Subject: subject, DisplayName: subject, Groups: groups,
	}, "", "")
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	return &user{e: e, host: host, cookie: cookie, csrf: lr.Session.CSRF}
}

func (u *user) get(target string) response {
	return u.e.do("GET", u.host, target, "192.0.2.20", nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + u.cookie})
}

func (u *user) post(target string, v url.Values) response {
	if _, ok := v[authweb.CSRFField]; !ok {
		v.Set(authweb.CSRFField, u.csrf)
	}
	return u.e.do("POST", u.host, target, "192.0.2.20", strings.NewReader(v.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + u.host, "Sec-Fetch-Site": "same-origin",
		"Cookie": authweb.SessionCookie + "=" + u.cookie,
	})
}

// citizen is an anonymous browser with its own cookie jar of one cookie.
type citizen struct {
	e            *env
	host, addr   string
	accessCookie string
}

func (c *citizen) headers(form bool) map[string]string {
	h := map[string]string{}
	if form {
		h["Content-Type"] = "application/x-www-form-urlencoded"
		h["Origin"] = "http://" + c.host
		h["Sec-Fetch-Site"] = "same-origin"
	}
	if c.accessCookie != "" {
		h["Cookie"] = accessCookie + "=" + c.accessCookie
	}
	return h
}

func (c *citizen) get(target string) response {
	return c.e.do("GET", c.host, target, c.addr, nil, c.headers(false))
}

func (c *citizen) post(target string, v url.Values) response {
	r := c.e.do("POST", c.host, target, c.addr, strings.NewReader(v.Encode()), c.headers(true))
	for _, sc := range (&http.Response{Header: r.Header}).Cookies() {
		if sc.Name == accessCookie {
			c.accessCookie = sc.Value
		}
	}
	return r
}

func text(body string) string {
	s := regexp.MustCompile(`</?(code|span|strong|a|em)\b[^>]*>`).ReplaceAllString(body, "")
	s = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func wantText(t *testing.T, what string, r response, status int, wants ...string) {
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

// linkTo waits for the link email to addr and returns its path.
func (e *env) linkTo(addr string, nth int) string {
	e.t.Helper()
	re := regexp.MustCompile(`https?://[^/\s]+(/privacy/richiesta/[A-Za-z0-9_-]+)`)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var links []string
		for _, m := range e.mail.Messages() {
			if strings.Join(m.To, ",") != addr {
				continue
			}
			if m := re.FindStringSubmatch(plainText(e.t, m.Data)); m != nil {
				links = append(links, m[1])
			}
		}
		if len(links) >= nth {
			return links[nth-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("no link %d to %s", nth, addr)
	return ""
}

func plainText(t *testing.T, raw []byte) string {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err != nil {
			return ""
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(p)
			return string(b)
		}
	}
}

var (
	maria = booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria.rossi@example.it"}
	mario = booking.Citizen{GivenName: "Mario", FamilyName: "Rossi", FiscalCode: "MRARSS80A01H501T", Email: "mario.rossi@example.it"}
)

// TestCitizenPages runs the citizen's request through the pages: the
// same answer for a known and an unknown address, the link by email, a
// confirmation before spending it, the data of that address only, the
// JSON download, the erasure request, the link's single use, the
// access's Comune, the cross-site refusal and the rate limit.
func TestCitizenPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bm := e.bookFor(e.bari, 0, maria)
	bo := e.bookFor(e.bari, 1, mario)

	c := &citizen{e: e, host: bariHost, addr: "192.0.2.30"}
	r := c.get("/privacy/richiesta")
	wantText(t, "form", r, http.StatusOK, "Richiedi i tuoi dati personali", "Il tuo indirizzo email")
	if !strings.Contains(r.Body, `<label for="email"`) || !strings.Contains(r.Body, `method="post" action="/privacy/richiesta"`) {
		t.Error("the form lacks its label or is not a plain form")
	}
	r = c.post("/privacy/richiesta", url.Values{"email": {"non-valido"}})
	wantText(t, "bad address", r, http.StatusUnprocessableEntity, "Scrivi un indirizzo email valido")
	if !strings.Contains(r.Body, `aria-invalid="true"`) || !strings.Contains(r.Body, `role="alert"`) {
		t.Error("the error is not announced or not tied to its field")
	}
	known := c.post("/privacy/richiesta", url.Values{"email": {"Maria.Rossi@example.it"}})
	wantText(t, "sent", known, http.StatusOK, "Controlla la tua casella di posta", "30 minuti")
	unknown := c.post("/privacy/richiesta", url.Values{"email": {"sconosciuto@example.it"}})
	if unknown.Status != known.Status || unknown.Body != known.Body {
		t.Errorf("the answers differ for a known and an unknown address:\n%s\n---\n%s", text(known.Body), text(unknown.Body))
	}
	// Cross-site posts are refused.
	r = e.do("POST", bariHost, "/privacy/richiesta", "192.0.2.31", strings.NewReader("email=x%40example.it"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if r.Status != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", r.Status)
	}

	link := e.linkTo("maria.rossi@example.it", 1)
	// Opening the link shows a button and spends nothing.
	for range 2 {
		wantText(t, "confirm", c.get(link), http.StatusOK, "Mostra i miei dati")
	}
	// Without the access there are no data.
	wantText(t, "no access", c.get("/privacy/i-miei-dati"), http.StatusForbidden, "apri il collegamento")
	r = c.post(link, url.Values{})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/privacy/i-miei-dati" || c.accessCookie == "" {
		t.Fatalf("open: %d %q cookie %q", r.Status, r.Header.Get("Location"), c.accessCookie)
	}
	if sc := r.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || !strings.Contains(sc, "Path=/privacy") {
		t.Errorf("access cookie %q", sc)
	}
	r = c.get("/privacy/i-miei-dati")
	wantText(t, "data", r, http.StatusOK, "I tuoi dati personali", bm.Code, "maria.rossi@example.it", "Chiedi la cancellazione")
	if strings.Contains(r.Body, bo.Code) || strings.Contains(r.Body, "mario") {
		t.Error("the citizen's page shows another citizen's booking")
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	j := c.get("/privacy/i-miei-dati/dati.json")
	var ex requests.Export
	if j.Status != http.StatusOK || !strings.HasPrefix(j.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("json: %d %s", j.Status, j.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal([]byte(j.Body), &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Scope != requests.ScopeCitizen || ex.Subject.Email != "maria.rossi@example.it" || ex.Subject.FiscalCode != "" ||
		len(ex.Bookings) != 1 || ex.Bookings[0].Code != bm.Code {
		t.Errorf("json export %+v", ex)
	}
	// The link is single use.
	other := &citizen{e: e, host: bariHost, addr: "192.0.2.32"}
	wantText(t, "second use", other.post(link, url.Values{}), http.StatusGone, "già stato usato o è scaduto")
	// The access is Bari's only.
	inLecce := &citizen{e: e, host: lecceHost, addr: "192.0.2.30", accessCookie: c.accessCookie}
	wantText(t, "access in Lecce", inLecce.get("/privacy/i-miei-dati"), http.StatusForbidden, "scaduto")

	// The erasure request needs the page's token.
	r = c.post("/privacy/i-miei-dati/cancellazione", url.Values{"nota": {"Non uso più il servizio."}})
	if r.Status != http.StatusForbidden {
		t.Errorf("erasure request without token: %d, want 403", r.Status)
	}
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(c.get("/privacy/i-miei-dati").Body)
	if m == nil {
		t.Fatal("the data page has no token")
	}
	r = c.post("/privacy/i-miei-dati/cancellazione", url.Values{"csrf": {m[1]}, "nota": {"Non uso più il servizio."}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("erasure request: %d\n%s", r.Status, text(r.Body))
	}
	wantText(t, "after request", c.get(r.Header.Get("Location")), http.StatusOK, "Abbiamo registrato la tua richiesta", "Da decidere")
	list, err := e.store.Requests(context.Background(), "bari")
	if err != nil || len(list) != 1 || list[0].Email != "maria.rossi@example.it" || list[0].Origin != requests.OriginCitizen {
		t.Errorf("requests %+v, %v", list, err)
	}

	// The rate limit of the form (3 a minute, burst 3) per address.
	flood := &citizen{e: e, host: bariHost, addr: "198.51.100.7"}
	for i := range 3 {
		if r := flood.post("/privacy/richiesta", url.Values{"email": {"flood@example.it"}}); r.Status != http.StatusOK {
			t.Fatalf("post %d: %d", i+1, r.Status)
		}
	}
	wantText(t, "flood", flood.post("/privacy/richiesta", url.Values{"email": {"flood@example.it"}}), http.StatusTooManyRequests, "troppe richieste")
}

// TestBackOfficeAccess checks who may do what: supervisors search and
// export, the Comune administrator decides, an operator without the role
// gets 403, another Comune's administrator gets 404 for Bari's request
// and document, and forms without the CSRF token are refused.
func TestBackOfficeAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	bm := e.bookFor(e.bari, 0, maria)
	bo := e.bookFor(e.bari, 1, mario)
	bl := e.bookFor(e.lecce, 0, maria)
	// Waiting lists: Maria's entry (with a phone she left only there)
	// is in her readable export, Mario's on the same list is not.
	wm := maria
	wm.Phone = "3339876543"
	for _, c := range []booking.Citizen{wm, mario} {
		if _, err := e.book.JoinWaitlist(ctx, e.bari, booking.WaitRequest{ServiceID: "cie", Citizen: c,
			Days: []time.Weekday{time.Tuesday}, PrivacyAccepted: true}, "https://"+bariHost); err != nil {
			t.Fatalf("JoinWaitlist: %v", err)
		}
	}
	d, err := e.docs.Put(ctx, "bari", "stanza", "booking:"+bm.ID, "Maria", "ricevuta.pdf",
		bytes.NewReader([]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\nx\n%%EOF\n")), docs.Policy{})
	if err != nil {
		t.Fatal(err)
	}

	sup := e.login("bari", bariHost, "supervisore", "supervisori")
	op := e.login("bari", bariHost, "operatore", "operatori")
	admin := e.login("bari", bariHost, "amministratrice", "amministratori")
	lecceAdmin := e.login("lecce", lecceHost, "admin-lecce", "amministratori")

	wantText(t, "search", sup.get("/gestione/privacy"), http.StatusOK, "Richieste sui dati personali", "Codice fiscale", "Indirizzo email")
	for _, rt := range []string{"/gestione/privacy", "/gestione/privacy/richieste"} {
		if r := op.get(rt); r.Status != http.StatusForbidden {
			t.Errorf("operator GET %s: %d, want 403", rt, r.Status)
		}
	}
	if r := op.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {maria.FiscalCode}}); r.Status != http.StatusForbidden {
		t.Errorf("operator export: %d, want 403", r.Status)
	}
	// Anonymous: to the login.
	if r := e.do("GET", bariHost, "/gestione/privacy", "192.0.2.20", nil, nil); r.Status != http.StatusSeeOther {
		t.Errorf("anonymous: %d, want 303 to the login", r.Status)
	}

	r := sup.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {"corto"}})
	wantText(t, "bad cf", r, http.StatusUnprocessableEntity, "Il codice fiscale deve avere 16 caratteri")
	if !strings.Contains(r.Body, `href="#codice_fiscale"`) || !strings.Contains(r.Body, `id="codice_fiscale"`) || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Error("the error summary does not link to the field, or the field is not marked invalid")
	}
	r = sup.post("/gestione/privacy/esporta", url.Values{})
	wantText(t, "empty", r, http.StatusUnprocessableEntity, "Scrivi il codice fiscale")
	r = sup.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {maria.FiscalCode}, "formato": {"html"}})
	wantText(t, "export", r, http.StatusOK, "Dati personali", bm.Code, "ricevuta.pdf", "Scarica in formato JSON",
		"Liste d'attesa (1)", "Stato: in attesa", wm.Phone, "Giorni indicati: martedì")
	if strings.Contains(r.Body, bo.Code) || strings.Contains(r.Body, bl.Code) {
		t.Error("the export page shows Mario's or Lecce's booking")
	}
	if strings.Contains(r.Body, mario.Email) || strings.Contains(r.Body, mario.FiscalCode) {
		t.Error("the export page shows Mario's waiting-list entry")
	}
	if !strings.Contains(r.Body, `href="/gestione/privacy/documenti/`+d.ID+`"`) {
		t.Error("the export lacks the document's link")
	}
	r = sup.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {maria.FiscalCode}, "formato": {"json"}})
	var ex requests.Export
	if err := json.Unmarshal([]byte(r.Body), &ex); err != nil || r.Header.Get("Content-Disposition") == "" {
		t.Fatalf("json export: %v %q", err, r.Header.Get("Content-Disposition"))
	}
	if len(ex.Bookings) != 1 || ex.Bookings[0].ID != bm.ID || len(ex.Documents) != 1 {
		t.Errorf("json export %+v", ex)
	}
	if r := sup.get("/gestione/privacy/documenti/" + d.ID); r.Status != http.StatusOK || !strings.HasPrefix(r.Body, "%PDF") {
		t.Errorf("document: %d", r.Status)
	}
	if r := lecceAdmin.get("/gestione/privacy/documenti/" + d.ID); r.Status != http.StatusNotFound {
		t.Errorf("Lecce's admin, Bari's document: %d, want 404", r.Status)
	}
	// Lecce's export of the same codice fiscale: Lecce's booking only.
	r = lecceAdmin.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {maria.FiscalCode}})
	wantText(t, "Lecce export", r, http.StatusOK, bl.Code)
	if strings.Contains(r.Body, bm.Code) {
		t.Error("Lecce's export shows Bari's booking")
	}

	// Filing needs the CSRF token.
	r = sup.post("/gestione/privacy/richieste", url.Values{"codice_fiscale": {maria.FiscalCode}, authweb.CSRFField: {"sbagliato"}})
	if r.Status != http.StatusForbidden {
		t.Errorf("filing without token: %d, want 403", r.Status)
	}
	r = sup.post("/gestione/privacy/richieste", url.Values{"codice_fiscale": {maria.FiscalCode}, "email": {maria.Email}, "nota": {"Allo sportello"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("file: %d\n%s", r.Status, text(r.Body))
	}
	loc := r.Header.Get("Location")
	id := strings.TrimPrefix(strings.Split(loc, "?")[0], "/gestione/privacy/richieste/")
	page := sup.get(loc)
	wantText(t, "filed", page, http.StatusOK, "Richiesta di cancellazione registrata", "Da decidere", "supervisore")
	if strings.Contains(page.Body, `name="decisione"`) {
		t.Error("a supervisor is offered the decision")
	}
	wantText(t, "list", sup.get("/gestione/privacy/richieste"), http.StatusOK, id, maria.FiscalCode)
	if r := sup.post("/gestione/privacy/richieste/"+id+"/decisione", url.Values{"decisione": {"approva"}}); r.Status != http.StatusForbidden {
		t.Errorf("supervisor decides: %d, want 403", r.Status)
	}
	// Another Comune's administrator: not found.
	if r := lecceAdmin.get("/gestione/privacy/richieste/" + id); r.Status != http.StatusNotFound {
		t.Errorf("Lecce's admin, Bari's request: %d, want 404", r.Status)
	}
	if r := lecceAdmin.post("/gestione/privacy/richieste/"+id+"/decisione", url.Values{"decisione": {"approva"}}); r.Status != http.StatusNotFound {
		t.Errorf("Lecce's admin decides Bari's request: %d, want 404", r.Status)
	}
	if r := lecceAdmin.get("/gestione/privacy/richieste"); strings.Contains(r.Body, id) {
		t.Error("Lecce's list shows Bari's request")
	}

	// The administrator: a refusal needs a reason; then approve.
	wantText(t, "admin page", admin.get("/gestione/privacy/richieste/"+id), http.StatusOK, "Registra la decisione")
	r = admin.post("/gestione/privacy/richieste/"+id+"/decisione", url.Values{"decisione": {"rifiuta"}})
	wantText(t, "refusal without reason", r, http.StatusUnprocessableEntity, "Scrivi il motivo del rifiuto")
	r = admin.post("/gestione/privacy/richieste/"+id+"/decisione", url.Values{})
	wantText(t, "no decision", r, http.StatusUnprocessableEntity, "Scegli se accogliere o respingere")
	r = admin.post("/gestione/privacy/richieste/"+id+"/decisione", url.Values{"decisione": {"approva"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", r.Status, text(r.Body))
	}
	wantText(t, "approved", admin.get(r.Header.Get("Location")), http.StatusOK, "Richiesta accolta", "Accolta", "amministratrice", "Cancellazione eseguita", "solo un'impronta")
	r = admin.post("/gestione/privacy/richieste/"+id+"/decisione", url.Values{"decisione": {"rifiuta"}, "motivo": {"tardi"}})
	wantText(t, "decided twice", r, http.StatusConflict, "già stata decisa")
	// Maria's booking in Bari is erased; Lecce's is untouched.
	r = sup.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {maria.FiscalCode}, "formato": {"json"}})
	ex = requests.Export{}
	if err := json.Unmarshal([]byte(r.Body), &ex); err != nil || len(ex.Bookings) != 0 {
		t.Errorf("after the erasure: %v, %d bookings", err, len(ex.Bookings))
	}
	r = lecceAdmin.post("/gestione/privacy/esporta", url.Values{"codice_fiscale": {maria.FiscalCode}})
	wantText(t, "Lecce after", r, http.StatusOK, bl.Code)
}

// TestCitizenAcrossNodes runs the citizen's pages on three real nodes:
// the form on one, the link spent on another, the data read on the
// third at once (it catches up with the leader when the access is not
// there yet), and the spent link refused everywhere.
func TestCitizenAcrossNodes(t *testing.T) {
	t.Parallel()
	es := newEnvs(t, 3)
	bm := es[0].bookFor(es[0].bari, 0, maria)
	at := func(i int, c *citizen) *citizen {
		return &citizen{e: es[i], host: c.host, addr: c.addr, accessCookie: c.accessCookie}
	}
	c := &citizen{e: es[1], host: bariHost, addr: "192.0.2.40"}
	wantText(t, "sent", c.post("/privacy/richiesta", url.Values{"email": {maria.Email}}), http.StatusOK, "Controlla la tua casella di posta")
	link := es[0].linkTo(maria.Email, 1)
	c = at(2, c)
	if r := c.post(link, url.Values{}); r.Status != http.StatusSeeOther || c.accessCookie == "" {
		t.Fatalf("open on node3: %d", r.Status)
	}
	c = at(0, c)
	wantText(t, "data on node1", c.get("/privacy/i-miei-dati"), http.StatusOK, bm.Code)
	for i := range es {
		other := &citizen{e: es[i], host: bariHost, addr: "192.0.2.41"}
		if r := other.post(link, url.Values{}); r.Status != http.StatusGone {
			t.Errorf("second use on node%d: %d, want 410", i+1, r.Status)
		}
	}
}
