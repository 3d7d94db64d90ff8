package main

import (
	"context"
	"crypto/rand"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/legal"
)

// The access matrix of the back office. Every route under /gestione that
// a web package registers is tried, through the real handler of
// newHandler, by each kind of person below, with GET and with POST; the
// table says what each must get. The routes are found in the source of
// the web packages, in the two forms they are written in: a pattern
// literal ("GET /gestione/utenti", auth/web) or a route table entry whose
// method and path are consecutive literals ({"GET", "/gestione/uffici",
// ...}, booking/web). So a new route without an entry in accessTable
// fails the test, and so does an entry whose route no longer exists.

// who is a kind of person trying a route, on bari's host.
type who int

const (
	anonymous         who = iota
	operatorOther         // operator of bari's office "tributi"
	operator              // operator of bari's office "anagrafe"
	supervisor            // supervisor of every office of bari
	operatorElsewhere     // operator of altamura's office "anagrafe"
	adminOther            // Comune administrator of altamura
	admin                 // Comune administrator of bari
	whoCount
)

var whoNames = [whoCount]string{"anonymous", "operator of another office", "operator", "supervisor",
	"operator of another Comune", "administrator of another Comune", "administrator"}

// expect is the status each kind of person gets; 0 means "not checked"
// (never used in accessTable: every cell is stated).
type expect [whoCount]int

// Statuses of people the back office refuses: an anonymous GET goes to the
// login (303), an anonymous POST gets 401, a logged-in person without the
// role 403. Operators and administrators of another Comune have no
// session on bari's host (a session belongs to one Comune): they are
// anonymous there.
const (
	toLogin      = http.StatusSeeOther
	unauthorized = http.StatusUnauthorized
	forbidden    = http.StatusForbidden
	notFound     = http.StatusNotFound
)

// adminGET is a page only a Comune administrator may see, answered with ok.
func adminGET(ok int) expect {
	return expect{toLogin, forbidden, forbidden, forbidden, toLogin, toLogin, ok}
}

// adminPOST is a form only a Comune administrator may send (with the
// CSRF token of its session), answered with ok.
func adminPOST(ok int) expect {
	return expect{unauthorized, forbidden, forbidden, forbidden, unauthorized, unauthorized, ok}
}

// staffGET is a page every operator, supervisor and administrator of the
// Comune may see (each sees only its own offices in it), answered with ok.
func staffGET(ok int) expect {
	return expect{toLogin, ok, ok, ok, toLogin, toLogin, ok}
}

// staffPOST is a form of the agenda: refused before any lookup to people
// without a session on the host, answered with ok to the others.
func staffPOST(ok int) expect {
	return expect{unauthorized, ok, ok, ok, unauthorized, unauthorized, ok}
}

// supervisorGET is a page for supervisors and the Comune administrator
// (the citizens' data requests), answered with ok.
func supervisorGET(ok int) expect {
	return expect{toLogin, forbidden, forbidden, ok, toLogin, toLogin, ok}
}

// supervisorPOST is a form for supervisors and the Comune administrator.
func supervisorPOST(ok int) expect {
	return expect{unauthorized, forbidden, forbidden, ok, unauthorized, unauthorized, ok}
}

// noMethod is a method the route does not have: the site's catch-all
// answers it with its 404 page before any back-office handler runs,
// whoever asks.
var noMethod = expect{notFound, notFound, notFound, notFound, notFound, notFound, notFound}

// route is one entry of the matrix.
type route struct {
	// path is the concrete URL tried, wildcards filled (the IDs named
	// below exist; {user} is replaced by the operator's user ID).
	path      string
	get, post expect
}

// accessTable has an entry for every pattern path under /gestione that a
// web package registers (methods apart: GET and POST are both tried).
var accessTable = map[string]route{
	// auth/web: users, providers, audit log.
	"/gestione/utenti":                    {path: "/gestione/utenti", get: adminGET(200), post: noMethod},
	"/gestione/utenti/{id}":               {path: "/gestione/utenti/{user}", get: adminGET(200), post: noMethod},
	"/gestione/utenti/{id}/ruoli":         {path: "/gestione/utenti/{user}/ruoli", get: noMethod, post: adminPOST(http.StatusUnprocessableEntity)},
	"/gestione/utenti/{id}/ruoli/rimuovi": {path: "/gestione/utenti/{user}/ruoli/rimuovi", get: noMethod, post: adminPOST(http.StatusUnprocessableEntity)},
	"/gestione/utenti/{id}/sessioni":      {path: "/gestione/utenti/nessuno/sessioni", get: noMethod, post: adminPOST(http.StatusNotFound)},
	"/gestione/utenti/{id}/stato":         {path: "/gestione/utenti/{user}/stato", get: noMethod, post: adminPOST(http.StatusSeeOther)},
	"/gestione/accesso":                   {path: "/gestione/accesso", get: adminGET(200), post: noMethod},
	"/gestione/accesso/nuovo":             {path: "/gestione/accesso/nuovo", get: adminGET(200), post: adminPOST(http.StatusUnprocessableEntity)},
	"/gestione/accesso/{id}":              {path: "/gestione/accesso/test", get: adminGET(200), post: adminPOST(http.StatusUnprocessableEntity)},
	"/gestione/accesso/{id}/elimina":      {path: "/gestione/accesso/nessuno/elimina", get: noMethod, post: adminPOST(http.StatusNotFound)},
	"/gestione/registro":                  {path: "/gestione/registro", get: adminGET(200), post: noMethod},

	// booking/web: the home (any logged-in person), offices, services,
	// closures and openings.
	"/gestione":        {path: "/gestione", get: expect{toLogin, 200, 200, 200, toLogin, toLogin, 200}, post: noMethod},
	"/gestione/uffici": {path: "/gestione/uffici", get: adminGET(200), post: noMethod},
	// An empty form is refused with 422; an unknown ID is 404 (for the
	// administrator only: the others are refused before the lookup, which
	// shows the route is there).
	"/gestione/uffici/nuovo":          {path: "/gestione/uffici/nuovo", get: adminGET(200), post: adminPOST(422)},
	"/gestione/uffici/{id}":           {path: "/gestione/uffici/urp", get: adminGET(200), post: adminPOST(422)},
	"/gestione/uffici/{id}/archivio":  {path: "/gestione/uffici/nessuno/archivio", get: noMethod, post: adminPOST(404)},
	"/gestione/servizi":               {path: "/gestione/servizi", get: adminGET(200), post: noMethod},
	"/gestione/servizi/nuovo":         {path: "/gestione/servizi/nuovo", get: adminGET(200), post: adminPOST(422)},
	"/gestione/servizi/{id}":          {path: "/gestione/servizi/informazioni-e-reclami-urp", get: adminGET(200), post: adminPOST(422)},
	"/gestione/servizi/{id}/archivio": {path: "/gestione/servizi/nessuno/archivio", get: noMethod, post: adminPOST(404)},
	"/gestione/chiusure":              {path: "/gestione/chiusure", get: adminGET(200), post: adminPOST(422)},
	"/gestione/chiusure/{id}/rimuovi": {path: "/gestione/chiusure/nessuna/rimuovi", get: noMethod, post: adminPOST(404)},
	"/gestione/aperture":              {path: "/gestione/aperture", get: noMethod, post: adminPOST(422)},
	"/gestione/aperture/{id}/rimuovi": {path: "/gestione/aperture/nessuna/rimuovi", get: noMethod, post: adminPOST(404)},
	"/gestione/comune":                {path: "/gestione/comune", get: adminGET(200), post: adminPOST(422)},

	// booking/web: the desks of the offices (Comune administrator). No
	// desk "nessuno" exists: the administrator gets 404, the others are
	// refused before the lookup.
	"/gestione/sportelli":               {path: "/gestione/sportelli", get: adminGET(200), post: noMethod},
	"/gestione/sportelli/nuovo":         {path: "/gestione/sportelli/nuovo", get: adminGET(200), post: adminPOST(422)},
	"/gestione/sportelli/{id}":          {path: "/gestione/sportelli/nessuno", get: adminGET(404), post: adminPOST(404)},
	"/gestione/sportelli/{id}/archivio": {path: "/gestione/sportelli/nessuno/archivio", get: noMethod, post: adminPOST(404)},

	// booking/web: the agenda (operators of an office, its supervisors and
	// the administrator) and the statistics (supervisors, administrator).
	// An unknown booking is 404 to whoever may use the agenda at all.
	"/gestione/agenda":              {path: "/gestione/agenda", get: staffGET(200), post: noMethod},
	"/gestione/agenda/cerca":        {path: "/gestione/agenda/cerca?cerca=rossi", get: staffGET(200), post: noMethod},
	"/gestione/agenda/{id}/arrivo":  {path: "/gestione/agenda/nessuna/arrivo", get: noMethod, post: staffPOST(404)},
	"/gestione/agenda/{id}/servito": {path: "/gestione/agenda/nessuna/servito", get: noMethod, post: staffPOST(404)},
	"/gestione/agenda/{id}/assente": {path: "/gestione/agenda/nessuna/assente", get: noMethod, post: staffPOST(404)},
	"/gestione/agenda/{id}/nota":    {path: "/gestione/agenda/nessuna/nota", get: noMethod, post: staffPOST(404)},
	"/gestione/agenda/{id}/annulla": {path: "/gestione/agenda/nessuna/annulla", get: noMethod, post: staffPOST(404)},
	"/gestione/statistiche":         {path: "/gestione/statistiche", get: expect{toLogin, forbidden, forbidden, 200, toLogin, toLogin, 200}, post: noMethod},

	// queue/web: the operator's desk page (operators of an office, its
	// supervisors and the administrator, each on their own offices). A
	// call without office and desk is 422; an unknown ticket is 404 to
	// whoever may use the page at all.
	"/gestione/coda":                  {path: "/gestione/coda", get: staffGET(200), post: noMethod},
	"/gestione/coda/chiama":           {path: "/gestione/coda/chiama", get: noMethod, post: staffPOST(422)},
	"/gestione/coda/{id}/inizia":      {path: "/gestione/coda/nessuno/inizia", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/servito":     {path: "/gestione/coda/nessuno/servito", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/assente":     {path: "/gestione/coda/nessuno/assente", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/richiama":    {path: "/gestione/coda/nessuno/richiama", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/chiama":      {path: "/gestione/coda/nessuno/chiama", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/attesa":      {path: "/gestione/coda/nessuno/attesa", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/riprendi":    {path: "/gestione/coda/nessuno/riprendi", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/{id}/trasferisci": {path: "/gestione/coda/nessuno/trasferisci", get: staffGET(404), post: staffPOST(404)},
	"/gestione/coda/aggiungi":         {path: "/gestione/coda/aggiungi", get: noMethod, post: staffPOST(422)},
	"/gestione/coda/pausa":            {path: "/gestione/coda/pausa", get: noMethod, post: staffPOST(422)},
	"/gestione/coda/riapri":           {path: "/gestione/coda/riapri", get: noMethod, post: staffPOST(422)},
	"/gestione/coda/eventi":           {path: "/gestione/coda/eventi", get: staffGET(404), post: noMethod},
	// The poster is of the person's first office: the operator of
	// another office has one the booking package does not know (404).
	"/gestione/coda/cartello":             {path: "/gestione/coda/cartello", get: expect{toLogin, notFound, 200, 200, toLogin, toLogin, 200}, post: noMethod},
	"/gestione/coda/cartello.svg":         {path: "/gestione/coda/cartello.svg", get: expect{toLogin, notFound, 200, 200, toLogin, toLogin, 200}, post: noMethod},
	"/gestione/coda/appio":                {path: "/gestione/coda/appio", get: adminGET(200), post: adminPOST(http.StatusUnprocessableEntity)},
	"/gestione/coda/{id}/rilascia":        {path: "/gestione/coda/nessuno/rilascia", get: noMethod, post: staffPOST(404)},
	"/gestione/coda/chioschi":             {path: "/gestione/coda/chioschi", get: supervisorGET(200), post: supervisorPOST(404)},
	"/gestione/coda/chioschi/{id}/revoca": {path: "/gestione/coda/chioschi/nessuno/revoca", get: noMethod, post: supervisorPOST(404)},
	// queue/web: the queue's statistics (supervisors, administrator) and
	// settings (administrator). An empty settings form is 422.
	"/gestione/coda/statistiche":     {path: "/gestione/coda/statistiche", get: expect{toLogin, forbidden, forbidden, 200, toLogin, toLogin, 200}, post: noMethod},
	"/gestione/coda/statistiche.csv": {path: "/gestione/coda/statistiche.csv", get: expect{toLogin, forbidden, forbidden, 200, toLogin, toLogin, 200}, post: noMethod},
	"/gestione/coda/impostazioni":    {path: "/gestione/coda/impostazioni", get: adminGET(200), post: adminPOST(http.StatusUnprocessableEntity)},

	// cmd/sportello (calls.go): a ticket's video call and its uploads
	// (operators of the ticket's office, its supervisors, the
	// administrator). An unknown ticket is 404 to whoever may serve a
	// line at all.
	// certs/web: the Comune's host names and their certificates. A form
	// without a name is 422; a name that is not one of the Comune's own
	// domains is 404 (to the administrator; the others are refused first).
	"/gestione/domini":                           {path: "/gestione/domini", get: adminGET(200), post: adminPOST(http.StatusUnprocessableEntity)},
	"/gestione/domini/{dominio}/rimuovi":         {path: "/gestione/domini/nessuno.comune.bari.it/rimuovi", get: adminGET(http.StatusNotFound), post: adminPOST(http.StatusNotFound)},
	"/gestione/chiamate/{ticket}":                {path: "/gestione/chiamate/nessuno", get: staffGET(404), post: noMethod},
	"/gestione/chiamate/{ticket}/documenti":      {path: "/gestione/chiamate/nessuno/documenti", get: staffGET(404), post: staffPOST(404)},
	"/gestione/chiamate/{ticket}/documenti/{id}": {path: "/gestione/chiamate/nessuno/documenti/nessuno", get: staffGET(404), post: noMethod},
	"/gestione/chiamate/{ticket}/invito":         {path: "/gestione/chiamate/nessuno/invito", get: staffGET(404), post: staffPOST(404)},
	"/gestione/chiamate/{ticket}/invito/revoca":  {path: "/gestione/chiamate/nessuno/invito/revoca", get: noMethod, post: staffPOST(404)},
	// booking/web: a document of a booking's video call, on the agenda.
	"/gestione/documenti/{id}": {path: "/gestione/documenti/nessuno", get: staffGET(404), post: noMethod},
	// tenant/web: the Comune's privacy notice and accessibility statement
	// ("/gestione/comune/"+kind, and …/ripristina). A form without a text
	// is 422.
	"/gestione/comune/": {path: "/gestione/comune/privacy", get: adminGET(200), post: adminPOST(422)},
	// booking/web: fair access (the suspicious patterns' report) and the
	// waiting list's hold time and App IO key of a service.
	"/gestione/statistiche/anomalie":      {path: "/gestione/statistiche/anomalie", get: adminGET(200), post: noMethod},
	"/gestione/servizi/{id}/lista-attesa": {path: "/gestione/servizi/nessuno/lista-attesa", get: adminGET(404), post: adminPOST(404)},
	"/gestione/servizi/{id}/app-io":       {path: "/gestione/servizi/nessuno/app-io", get: adminGET(404), post: adminPOST(404)},
	// privacy/web: retention per data class and legal holds (Comune
	// administrator). An empty retention form saves the defaults (303);
	// a hold without a booking code is 422; lifting a hold that does not
	// exist changes nothing (303).
	"/gestione/comune/privacy-dati":                      {path: "/gestione/comune/privacy-dati", get: adminGET(200), post: adminPOST(303)},
	"/gestione/comune/privacy-dati/blocchi":              {path: "/gestione/comune/privacy-dati/blocchi", get: noMethod, post: adminPOST(422)},
	"/gestione/comune/privacy-dati/blocchi/{id}/rimuovi": {path: "/gestione/comune/privacy-dati/blocchi/nessuno/rimuovi", get: noMethod, post: adminPOST(303)},
	// privacy/requests/web: a citizen's data (export, erasure requests);
	// only the Comune administrator decides a request.
	"/gestione/privacy":                          {path: "/gestione/privacy", get: supervisorGET(200), post: noMethod},
	"/gestione/privacy/esporta":                  {path: "/gestione/privacy/esporta", get: noMethod, post: supervisorPOST(422)},
	"/gestione/privacy/documenti/{id}":           {path: "/gestione/privacy/documenti/nessuno", get: supervisorGET(404), post: noMethod},
	"/gestione/privacy/richieste":                {path: "/gestione/privacy/richieste", get: supervisorGET(200), post: supervisorPOST(422)},
	"/gestione/privacy/richieste/{id}":           {path: "/gestione/privacy/richieste/nessuna", get: supervisorGET(404), post: noMethod},
	"/gestione/privacy/richieste/{id}/decisione": {path: "/gestione/privacy/richieste/nessuna/decisione", get: noMethod, post: adminPOST(404)},
	// assistant/knowledge/web: the assistant's FAQ and synonyms (Comune
	// administrator). An empty form is 422; an unknown entry is 404.
	"/gestione/assistente":                       {path: "/gestione/assistente", get: adminGET(200), post: noMethod},
	"/gestione/assistente/faq/nuova":             {path: "/gestione/assistente/faq/nuova", get: adminGET(200), post: adminPOST(422)},
	"/gestione/assistente/faq/{id}":              {path: "/gestione/assistente/faq/nessuna", get: adminGET(404), post: adminPOST(404)},
	"/gestione/assistente/faq/{id}/elimina":      {path: "/gestione/assistente/faq/nessuna/elimina", get: adminGET(404), post: adminPOST(404)},
	"/gestione/assistente/sinonimi/nuovo":        {path: "/gestione/assistente/sinonimi/nuovo", get: adminGET(200), post: adminPOST(422)},
	"/gestione/assistente/sinonimi/{id}":         {path: "/gestione/assistente/sinonimi/nessuno", get: adminGET(404), post: adminPOST(404)},
	"/gestione/assistente/sinonimi/{id}/elimina": {path: "/gestione/assistente/sinonimi/nessuno/elimina", get: adminGET(404), post: adminPOST(404)},
}

// routePattern matches a back-office pattern literal; routeMethod and
// routePath the two literals of a route table entry.
var (
	routePattern = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE) (/gestione(?:/\S*)?)$`)
	routeMethod  = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE)$`)
	routePath    = regexp.MustCompile(`^/gestione(?:/\S*)?$`)
)

// stringLit returns the value of a string literal expression.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// backOfficeRoutes returns the paths of the /gestione patterns written in
// the non-test Go files of the module's web packages (and of this
// command), with the methods each has.
func backOfficeRoutes(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.Base(filepath.Dir(p))
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || (dir != "web" && dir != "sportello") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, ok := stringLit(n); ok {
					if m := routePattern.FindStringSubmatch(s); m != nil {
						out[m[2]] = append(out[m[2]], m[1])
					}
				}
			case *ast.CompositeLit:
				for i := 0; i+1 < len(n.Elts); i++ {
					method, ok1 := stringLit(n.Elts[i])
					path, ok2 := stringLit(n.Elts[i+1])
					if ok1 && ok2 && routeMethod.MatchString(method) && routePath.MatchString(path) {
						out[path] = append(out[path], method)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAccessMatrix tries every back-office route as each kind of person.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	routes := backOfficeRoutes(t)
	var missing []string
	for p := range routes {
		if _, ok := accessTable[p]; !ok {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	for _, p := range missing {
		t.Errorf("route %s (%s) has no entry in accessTable: add one saying who may GET and POST it", p, strings.Join(routes[p], ", "))
	}
	for p := range accessTable {
		if _, ok := routes[p]; !ok {
			t.Errorf("accessTable has %s, which no web package registers: remove it", p)
		}
	}

	env := newAccessEnv(t)
	for pattern, rt := range accessTable {
		path := strings.ReplaceAll(rt.path, "{user}", env.operatorID)
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			want := rt.get
			if method == http.MethodPost {
				want = rt.post
			}
			for w := who(0); w < whoCount; w++ {
				if got := env.try(t, method, path, w); got != want[w] {
					t.Errorf("%s %s (route %s) as %s: got %d, want %d", method, path, pattern, whoNames[w], got, want[w])
				}
			}
		}
	}
}

// accessEnv is one node with the real handler, two Comuni and a session
// for each kind of person.
type accessEnv struct {
	srv        *httptest.Server
	bariHost   string
	sessions   [whoCount]auth.LoginResult
	cookies    [whoCount]string
	operatorID string
}

func newAccessEnv(t *testing.T) *accessEnv {
	t.Helper()
	node := clustertest.Node(t, tenant.Register, booking.Register, queue.Register, queue.RegisterAppIO, auth.Register, push.Register,
		media.Register, docs.Register, knowledge.Register, legal.Register, privacy.Register, requests.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := defaultConfig()
	tenants := tenant.NewRegistry(node, node.DB(), cfg.BaseDomain)
	bari := demoTenant()
	altamura := demoTenant()
	altamura.ID, altamura.Name, altamura.ISTAT, altamura.CodePrefix = "altamura", "Comune di Altamura", "072004", "AL"
	altamura.Sender = tenant.Sender{Name: "Comune di Altamura", Address: "noreply@altamura.localhost"}
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	// bari is the demo Comune, with its offices and services (urp, ...).
	if _, err := seedDemo(ctx, tenants, book, queue.New(node, node.DB(), book, time.Now, rand.Reader), clustertest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.Create(ctx, altamura); err != nil {
		t.Fatalf("create altamura: %v", err)
	}
	calls, err := newCalls(cfg, node, nil, clustertest.Logger(t)) // the call routes, without TURN
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(calls.close)
	// The node's secrets key, as every node made by run has: the pages
	// that seal what they save (App IO keys) are mounted only with it.
	secrets, err := auth.CreateSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	handler, err := newHandler(cfg, runOptions{calls: calls, secrets: secrets}, node, tenants, book, nil, &pushWiring{}, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	env := &accessEnv{srv: httptest.NewServer(handler), bariHost: tenants.PrimaryHost(bari)}
	t.Cleanup(env.srv.Close)

	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB()})
	const issuer = "https://id.example.it/realms/comuni"
	for _, ten := range []tenant.ID{bari.ID, altamura.ID} {
		if _, err := store.SaveProvider(ctx, ten, auth.Provider{ID: "test", Name: "Accedi", Issuer: issuer,
			ClientID: "sportello", ClientSecret: "segreto"}); err != nil {
			t.Fatal(err)
		}
	}
	grants := [whoCount][]auth.Grant{
		operatorOther:     {{Role: auth.RoleOperator, Offices: []string{"tributi"}}},
		operator:          {{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}},
		supervisor:        {{Role: auth.RoleSupervisor}},
		operatorElsewhere: {{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}},
		adminOther:        {{Role: auth.RoleComuneAdmin}},
		admin:             {{Role: auth.RoleComuneAdmin}},
	}
	for w := operatorOther; w < whoCount; w++ {
		ten := bari.ID
		if w == adminOther || w == operatorElsewhere {
			ten = altamura.ID
		}
		lr, cookie, err := store.Login(ctx, ten, auth.Identity{Provider: "test", Issuer: issuer,
			Subject: "sub-" + strconv.Itoa(int(w)), Username: "u" + strconv.Itoa(int(w)), DisplayName: whoNames[w]}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetGrants(ctx, ten, lr.User.ID, grants[w]); err != nil {
			t.Fatal(err)
		}
		env.sessions[w], env.cookies[w] = lr, cookie
	}
	env.operatorID = env.sessions[operator].User.ID
	return env
}

// try sends method path to bari's host as w (with the CSRF token of w's
// session on a POST) and returns the status. A POST that succeeds may
// change state (disable the operator): the next one enables it again.
func (e *accessEnv) try(t *testing.T, method, path string, w who) int {
	t.Helper()
	var body io.Reader
	form := url.Values{}
	if method == http.MethodPost {
		if w != anonymous {
			form.Set(authweb.CSRFField, e.sessions[w].Session.CSRF)
		}
		// The state form re-enables the operator, so that the matrix
		// does not lock the operator out for the cells after it.
		form.Set("disabled", "0")
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = e.bariHost
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if w != anonymous {
		req.AddCookie(&http.Cookie{Name: authweb.SessionCookie, Value: e.cookies[w]})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
