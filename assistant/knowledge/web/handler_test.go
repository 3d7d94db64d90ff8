package web

import (
	"context"
	"crypto/rand"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The test cluster's base domain and the hosts of its two Comuni.
const (
	base      = "example.it"
	bariHost  = "bari.example.it"
	lecceHost = "lecce.example.it"
	issuer    = "https://id.example.it"
)

// env is the handler over a real one-node cluster with the real tenant
// registry, auth store, book and knowledge store, behind the site's
// Tenant middleware and auth/web's Sessions, as cmd/sportello mounts it.
type env struct {
	t     *testing.T
	store *knowledge.Store
	book  *booking.Book
	auth  *auth.Store
	srv   http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvs(t, []*cluster.Node{clustertest.Node(t, register)})[0]
}

func register(r *cluster.Registry) {
	tenant.Register(r)
	auth.Register(r)
	booking.Register(r)
	knowledge.Register(r)
}

// newEnvs builds the handler on each node of a cluster, and the two
// Comuni through the first.
func newEnvs(t *testing.T, nodes []*cluster.Node) []*env {
	t.Helper()
	var out []*env
	for _, n := range nodes {
		reg := tenant.NewRegistry(n, n.DB(), base)
		s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatalf("site.New: %v", err)
		}
		as := auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
		logins, err := authweb.New(authweb.Config{Store: as, Site: s, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatalf("authweb.New: %v", err)
		}
		book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
		store := knowledge.NewStore(n, n.DB(), book)
		h, err := New(Config{Site: s, Store: store, Book: book, Applied: n, Guard: logins,
			Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		mux := http.NewServeMux()
		h.Routes(mux)
		logins.Routes(mux)
		s.Routes(mux)
		out = append(out, &env{t: t, store: store, book: book, auth: as, srv: s.Tenant(logins.Sessions(mux))})
	}
	e := out[0]
	reg := tenant.NewRegistry(nodes[0], nodes[0].DB(), base)
	ctx := context.Background()
	for _, c := range []tenant.Tenant{
		{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"},
		{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035"},
	} {
		if _, err := reg.Create(ctx, c); err != nil {
			t.Fatalf("create %s: %v", c.ID, err)
		}
		if _, err := e.auth.SaveProvider(ctx, c.ID, auth.Provider{
			ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
			Roles: []auth.RoleRule{
				{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
				{Group: "operatori", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}},
			},
		}); err != nil {
			t.Fatalf("SaveProvider: %v", err)
		}
		e.office(c.ID, "anagrafe", "Anagrafe", "cie", "Carta d'identità elettronica", "Rilascio e rinnovo della carta d'identità.")
	}
	e.office("bari", "polizia", "Polizia locale", "ztl", "Permessi ZTL", "Permessi di accesso alla zona a traffico limitato.")
	return out
}

// office saves an office of Comune id with one service.
func (e *env) office(id tenant.ID, officeID, name, serviceID, service, desc string) {
	e.t.Helper()
	ctx := context.Background()
	var w booking.Week
	w[time.Monday] = []booking.Interval{{Start: 540, End: 720}}
	if _, err := e.book.SaveOffice(ctx, id, booking.Office{ID: officeID, Name: name, Address: "Piazza 1", Hours: w}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.book.SaveService(ctx, id, booking.Service{ID: serviceID, OfficeID: officeID, Name: service, Description: desc,
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1, HorizonDays: 30}); err != nil {
		e.t.Fatal(err)
	}
}

// response is a recorded answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// user is a logged-in browser of one Comune.
type user struct {
	e            *env
	host, cookie string
	csrf         string
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

func (e *env) do(method, host, target string, body io.Reader, header map[string]string) response {
	req := httptest.NewRequest(method, target, body)
	req.Host = host
	req.RemoteAddr = "192.0.2.20:40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func (u *user) get(target string) response {
	return u.e.do("GET", u.host, target, nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + u.cookie})
}

// post sends a form as the page would, with the session's CSRF token
// unless v has one.
func (u *user) post(target string, v url.Values) response {
	if _, ok := v[authweb.CSRFField]; !ok {
		c := url.Values{}
		for k, vs := range v {
			c[k] = slices.Clone(vs)
		}
		c.Set(authweb.CSRFField, u.csrf)
		v = c
	}
	return u.e.do("POST", u.host, target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type":   "application/x-www-form-urlencoded",
		"Origin":         "http://" + u.host,
		"Sec-Fetch-Site": "same-origin",
		"Cookie":         authweb.SessionCookie + "=" + u.cookie,
	})
}

// follow GETs the Location of a 303.
func (u *user) follow(r response) response {
	u.e.t.Helper()
	if r.Status != http.StatusSeeOther {
		u.e.t.Fatalf("got %d, want 303; body:\n%s", r.Status, text(r.Body))
	}
	return u.get(r.Header.Get("Location"))
}

// text returns the page's text without tags, spaces collapsed.
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

// TestFAQPages adds, edits and deletes an FAQ entry through the forms,
// and checks the refusals of bad input.
func TestFAQPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")

	r := admin.get("/gestione/assistente")
	wantText(t, "empty overview", r, http.StatusOK, "Assistente virtuale", "Prova l'assistente", "Nessuna domanda frequente.", "Nessun gruppo di sinonimi del Comune.")
	if strings.Contains(r.Body, "<script") {
		t.Error("the overview has a script: it must work without JavaScript")
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	r = admin.get("/gestione/assistente/faq/nuova")
	wantText(t, "new form", r, http.StatusOK, "Nuova domanda frequente", "Anagrafe", "Carta d'identità elettronica", "Polizia locale")
	if !strings.Contains(r.Body, `name="csrf" value="`+admin.csrf+`"`) || !strings.Contains(r.Body, `<label for="domanda"`) {
		t.Error("the form lacks the CSRF token or the question's label")
	}

	// Bad input: every error at once, announced, nothing stored.
	r = admin.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {strings.Repeat("a", 301)}, "risposta": {" "}, "servizio": {"nessuno"}})
	wantText(t, "bad FAQ", r, http.StatusUnprocessableEntity, "Controlla i dati inseriti",
		"Domanda: La domanda può avere al massimo 300 caratteri (ne ha 301).", "Risposta: Scrivi la risposta.",
		"Servizio: Il servizio scelto non esiste.")
	if !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `aria-invalid="true"`) || !strings.Contains(r.Body, `id="domanda-errore"`) {
		t.Error("the errors are not announced or not tied to their fields")
	}
	if !strings.Contains(r.Body, strings.Repeat("a", 301)) {
		t.Error("the form does not keep the text typed")
	}
	r = admin.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {"Serve la foto?"}, "risposta": {"Sì."}, "ufficio": {"altrove"}})
	wantText(t, "unknown office", r, http.StatusUnprocessableEntity, "Ufficio: L'ufficio scelto non esiste.")
	if faqs, _ := e.store.FAQs(context.Background(), "bari"); len(faqs) != 0 {
		t.Fatalf("bad input stored %d FAQ", len(faqs))
	}

	// A good one.
	r = admin.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {"Serve la fototessera per la carta d'identità?"},
		"risposta": {"Sì, una fototessera recente su sfondo chiaro."}, "servizio": {"cie"}, "ufficio": {"polizia"}})
	r = admin.follow(r)
	wantText(t, "after create", r, http.StatusOK, "Domanda frequente aggiunta", "Serve la fototessera per la carta d'identità?",
		"Servizio: Carta d'identità elettronica.", "Ufficio: Anagrafe.")
	faqs, _ := e.store.FAQs(context.Background(), "bari")
	if len(faqs) != 1 || faqs[0].OfficeID != "anagrafe" {
		t.Fatalf("stored %+v", faqs)
	}
	id := faqs[0].ID

	r = admin.get("/gestione/assistente/faq/" + id)
	wantText(t, "edit form", r, http.StatusOK, "Modifica domanda frequente", "Sì, una fototessera recente su sfondo chiaro.")
	if !strings.Contains(r.Body, `<option value="cie" selected>`) {
		t.Error("the edit form does not select the entry's service")
	}
	r = admin.follow(admin.post("/gestione/assistente/faq/"+id, url.Values{"domanda": {"Serve una foto?"}, "risposta": {"Sì, una.\r\n\r\nSu sfondo chiaro."}, "servizio": {""}}))
	wantText(t, "after edit", r, http.StatusOK, "Modifiche alla domanda frequente salvate.", "Serve una foto?")
	if !strings.Contains(r.Body, `<p class="mb-1">Sì, una.</p><p class="mb-1">Su sfondo chiaro.</p>`) {
		t.Error("the answer's lines are not shown as paragraphs")
	}
	if f, _ := e.store.FAQ(context.Background(), "bari", id); f.ServiceID != "" || f.OfficeID != "" || f.Answer != "Sì, una.\n\nSu sfondo chiaro." {
		t.Errorf("after the edit: %+v; want no service nor office, line ends kept", f)
	}

	r = admin.get("/gestione/assistente/faq/" + id + "/elimina")
	wantText(t, "confirm", r, http.StatusOK, "Vuoi eliminare questa domanda frequente?", "Serve una foto?")
	r = admin.follow(admin.post("/gestione/assistente/faq/"+id+"/elimina", url.Values{}))
	wantText(t, "after delete", r, http.StatusOK, "Domanda frequente eliminata.", "Nessuna domanda frequente.")
	if r := admin.get("/gestione/assistente/faq/" + id); r.Status != http.StatusNotFound {
		t.Errorf("deleted entry: got %d, want 404", r.Status)
	}
}

// TestSynonymPagesAndTry adds synonym groups and uses the test box to see
// their effect.
func TestSynonymPagesAndTry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")

	// Before: "varco" means nothing to the assistant.
	r := admin.get("/gestione/assistente?prova=" + url.QueryEscape("mi hanno multato al varco"))
	wantText(t, "try before", r, http.StatusOK, "Risultato della prova", "Parole cercate")

	r = admin.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"varco\n"}})
	wantText(t, "one phrase", r, http.StatusUnprocessableEntity, "Frasi: Scrivi almeno due frasi equivalenti, una per riga.")
	r = admin.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"varco\r\nper il"}})
	wantText(t, "stopwords", r, http.StatusUnprocessableEntity, "contiene solo parole troppo comuni")
	r = admin.follow(admin.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"varco\r\n\r\nzona a traffico limitato\r\n"}}))
	wantText(t, "after create", r, http.StatusOK, "Gruppo di sinonimi aggiunto", "«varco» · «zona a traffico limitato»", "Frasi equivalenti tra loro.")
	r = admin.follow(admin.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"documento elettronico"}, "servizio": {"cie"}}))
	wantText(t, "service group", r, http.StatusOK, "Altri nomi del servizio: Carta d'identità elettronica.")

	r = admin.get("/gestione/assistente?prova=" + url.QueryEscape("permesso per il varco"))
	wantText(t, "try after", r, http.StatusOK, "aggiunta da un gruppo di sinonimi", "Permessi ZTL", "Polizia locale", "Punteggio", "Fiducia")
	r = admin.get("/gestione/assistente?prova=" + url.QueryEscape("documento elettronico"))
	wantText(t, "try the service group", r, http.StatusOK, "Carta d'identità elettronica")
	r = admin.get("/gestione/assistente?prova=" + url.QueryEscape("il senso della vita"))
	wantText(t, "try nonsense", r, http.StatusOK, "L'assistente non ha capito")
	r = admin.get("/gestione/assistente?prova=" + url.QueryEscape("carta didentita"))
	wantText(t, "try a typo", r, http.StatusOK, "corretta da «didentita»")
	r = admin.get("/gestione/assistente?prova=")
	wantText(t, "try nothing", r, http.StatusUnprocessableEntity, "Scrivi una frase da provare")

	groups, _ := e.store.Synonyms(context.Background(), "bari")
	if len(groups) != 2 {
		t.Fatalf("stored %d groups, want 2", len(groups))
	}
	id := groups[0].ID
	r = admin.get("/gestione/assistente/sinonimi/" + id)
	if !strings.Contains(r.Body, "varco\nzona a traffico limitato</textarea>") {
		t.Errorf("edit form does not show the phrases one per line:\n%s", r.Body)
	}
	r = admin.follow(admin.post("/gestione/assistente/sinonimi/"+id, url.Values{"frasi": {"varco\nZTL\nzona a traffico limitato"}}))
	wantText(t, "after edit", r, http.StatusOK, "Modifiche al gruppo di sinonimi salvate.", "«ZTL»")
	r = admin.follow(admin.post("/gestione/assistente/sinonimi/"+id+"/elimina", url.Values{}))
	wantText(t, "after delete", r, http.StatusOK, "Gruppo di sinonimi eliminato.")
}

// TestAccess: only the Comune's administrator, with the session's CSRF
// token, on the Comune's own host; another Comune's entries are not
// found.
func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	f, err := e.store.SaveFAQ(ctx, "bari", knowledge.FAQ{Question: "Dove si paga?", Answer: "Allo sportello."})
	if err != nil {
		t.Fatal(err)
	}
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	operator := e.login("bari", bariHost, "op-1", "operatori")
	lecceAdmin := e.login("lecce", lecceHost, "admin-2", "amministratori")

	// Anonymous: the login for a page, 401 or 403 for a form.
	if r := e.do("GET", bariHost, "/gestione/assistente", nil, nil); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/_auth/login") {
		t.Errorf("anonymous GET: %d %s, want a redirect to the login", r.Status, r.Header.Get("Location"))
	}
	for _, path := range []string{"/gestione/assistente", "/gestione/assistente/faq/nuova", "/gestione/assistente/sinonimi/nuovo", "/gestione/assistente/faq/" + f.ID} {
		if r := operator.get(path); r.Status != http.StatusForbidden {
			t.Errorf("operator GET %s: %d, want 403", path, r.Status)
		}
	}
	if r := operator.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {"X?"}, "risposta": {"Y."}}); r.Status != http.StatusForbidden {
		t.Errorf("operator POST: %d, want 403", r.Status)
	}
	// CSRF: a missing token, or another session's, is refused.
	for name, tok := range map[string]string{"missing": "", "another session's": lecceAdmin.csrf} {
		r := admin.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {"X?"}, "risposta": {"Y."}, authweb.CSRFField: {tok}})
		if r.Status != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d, want 403", name, r.Status)
		}
		r = admin.post("/gestione/assistente/faq/"+f.ID+"/elimina", url.Values{authweb.CSRFField: {tok}})
		if r.Status != http.StatusForbidden {
			t.Errorf("%s CSRF token on delete: %d, want 403", name, r.Status)
		}
	}
	if faqs, _ := e.store.FAQs(ctx, "bari"); len(faqs) != 1 {
		t.Errorf("refused posts changed the FAQ: %d entries", len(faqs))
	}
	// Lecce's administrator does not see Bari's entry, on its own host
	// nor with its session on Bari's.
	for _, path := range []string{"/gestione/assistente/faq/" + f.ID, "/gestione/assistente/faq/" + f.ID + "/elimina"} {
		if r := lecceAdmin.get(path); r.Status != http.StatusNotFound {
			t.Errorf("Lecce GET %s: %d, want 404", path, r.Status)
		}
	}
	if r := lecceAdmin.post("/gestione/assistente/faq/"+f.ID, url.Values{"domanda": {"Presa?"}, "risposta": {"Sì."}}); r.Status != http.StatusNotFound {
		t.Errorf("Lecce edits Bari's entry: %d, want 404", r.Status)
	}
	if r := lecceAdmin.post("/gestione/assistente/faq/"+f.ID+"/elimina", url.Values{}); r.Status != http.StatusNotFound {
		t.Errorf("Lecce deletes Bari's entry: %d, want 404", r.Status)
	}
	r := lecceAdmin.get("/gestione/assistente")
	wantText(t, "Lecce's overview", r, http.StatusOK, "Nessuna domanda frequente.")
	if strings.Contains(r.Body, "Dove si paga?") {
		t.Error("Lecce's overview shows Bari's FAQ")
	}
	lecceOnBari := &user{e: e, host: bariHost, cookie: lecceAdmin.cookie, csrf: lecceAdmin.csrf}
	if r := lecceOnBari.get("/gestione/assistente"); r.Status == http.StatusOK {
		t.Errorf("Lecce's session on Bari's host: %d, want a refusal", r.Status)
	}
	if got, err := e.store.FAQ(ctx, "bari", f.ID); err != nil || got != f {
		t.Errorf("Bari's entry after Lecce's attempts: %+v, %v", got, err)
	}
}

// TestRouteTable checks the table against the documentation of Routes.
func TestRouteTable(t *testing.T) {
	src, err := os.ReadFile("handler.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range RouteTable() {
		method, path, _ := strings.Cut(rt, " ")
		if !regexp.MustCompile(`//\t` + method + ` +` + regexp.QuoteMeta(path) + `( |\n)`).Match(src) {
			t.Errorf("route %q is not documented on Routes", rt)
		}
	}
	if n := len(RouteTable()); n != 13 {
		t.Errorf("%d routes, want 13", n)
	}
}

// TestSaveOnOneNodeShownOnAnother saves through a follower and follows
// the redirect on the leader and back: each page shows the save (it
// waits for the index the redirect carries), and the test box on the
// other node already uses the new synonyms.
func TestSaveOnOneNodeShownOnAnother(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 2, register)
	envs := newEnvs(t, nodes)
	admin := envs[0].login("bari", bariHost, "admin-1", "amministratori")
	onFollower := &user{e: envs[1], host: bariHost, cookie: admin.cookie, csrf: admin.csrf}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[1].WaitApplied(ctx, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	r := onFollower.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"varco\nzona a traffico limitato"}})
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "indice=") {
		t.Fatalf("save on the follower: %d %q, want a redirect with the index", r.Status, r.Header.Get("Location"))
	}
	wantText(t, "on the leader", admin.get(r.Header.Get("Location")), http.StatusOK, "Gruppo di sinonimi aggiunto", "«varco»")
	r = admin.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {"Dove si ritira il permesso per il varco?"}, "risposta": {"Al comando."}, "servizio": {"ztl"}})
	wantText(t, "on the follower", onFollower.follow(r), http.StatusOK, "Domanda frequente aggiunta", "Dove si ritira il permesso per il varco?")
	r = onFollower.get("/gestione/assistente?prova=" + url.QueryEscape("permesso per il varco"))
	wantText(t, "try on the follower", r, http.StatusOK, "aggiunta da un gruppo di sinonimi", "Permessi ZTL", "Dove si ritira il permesso per il varco?")
}
