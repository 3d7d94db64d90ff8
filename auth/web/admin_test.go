package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The people of the back-office tests: anna administers bari (through
// her provider group), luigi has no role until anna gives him one.
var (
	anna = oidctest.User{Subject: "anna-1", Username: "abianchi", Password: "pw", Name: "Anna Bianchi",
		Email: "a.bianchi@comune.bari.it", Groups: []string{"amministratori"}}
	luigi = oidctest.User{Subject: "luigi-1", Username: "lverdi", Password: "pw", Name: "Luigi Verdi",
		Email: "l.verdi@comune.bari.it"}
)

// officesOf are the offices of every test Comune.
func officesOf(context.Context, tenant.ID) ([]authweb.OfficeRef, error) {
	return []authweb.OfficeRef{{ID: "anagrafe", Name: "Ufficio anagrafe"}, {ID: "tributi", Name: "Ufficio tributi"}}, nil
}

// startAdmin serves the auth routes with the back office of node, with
// GET /private as startRP has it, and configures provider "puglia" whose
// rules make group "amministratori" Comune administrators.
func startAdmin(t *testing.T, node *cluster.Node, op *oidctest.Provider) *rp {
	t.Helper()
	s, err := site.New(site.Options{Resolver: oneComune{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB()})
	h, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), HTTPClient: op.Client(),
		LoginLimit: authweb.LoginLimit{PerClient: 1000}, Offices: officesOf, Audit: node})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	mux.Handle("GET /private", h.RequireRole(auth.RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u, _ := authweb.SessionFrom(r.Context())
		fmt.Fprintf(w, "user=%s\ncsrf=%s\n", u.DisplayName, authweb.CSRFToken(r))
	})))
	srv := httptest.NewTLSServer(s.Tenant(h.Sessions(mux)))
	t.Cleanup(srv.Close)
	r := &rp{srv: srv, store: store}
	op.AddClient(clientID, clientSecret, srv.URL+"/_auth/callback", srv.URL+"/")
	op.AddUser(anna)
	op.AddUser(luigi)
	_, err = store.SaveProvider(context.Background(), bari.ID, auth.Provider{
		ID: "puglia", Name: "Accedi con puglia", Issuer: op.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
		Roles: []auth.RoleRule{{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loginAs logs a new browser in as u. A user without role lands on a 403
// page after the login; that is still a session.
func loginAs(t *testing.T, r *rp, op *oidctest.Provider, u oidctest.User) *browser {
	t.Helper()
	op.AutoLogin(u.Subject)
	b := newBrowser(t, r.srv.Client())
	b.login(r, "puglia")
	return b
}

// userID returns the ID of the user of bari with username.
func userID(t *testing.T, r *rp, username string) string {
	t.Helper()
	users, err := r.store.Users(context.Background(), bari.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Username == username {
			return u.ID
		}
	}
	t.Fatalf("no user %s among %v", username, users)
	return ""
}

// csrfOf returns the CSRF token of b's session (from /private).
func csrfOf(t *testing.T, r *rp, b *browser) string {
	t.Helper()
	ok, page := b.loggedIn(r)
	if !ok {
		t.Fatal("not logged in")
	}
	return field(page, "csrf")
}

// post sends a back-office form with the CSRF token and returns status,
// Location and body.
func post(b *browser, r *rp, path, csrf string, form url.Values) (int, string, string) {
	if form == nil {
		form = url.Values{}
	}
	if csrf != "" {
		form.Set(authweb.CSRFField, csrf)
	}
	return b.do(http.MethodPost, r.srv.URL+path, form)
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startAdmin(t, node, op)
	admin := loginAs(t, r, op, anna)
	user := loginAs(t, r, op, luigi)
	csrf := csrfOf(t, r, admin)
	luigiID, annaID := userID(t, r, "lverdi"), userID(t, r, "abianchi")
	ctx := context.Background()

	status, _, page := admin.get(r.srv.URL + "/gestione/utenti")
	if status != http.StatusOK || !strings.Contains(page, "Luigi Verdi") || !strings.Contains(page, "Amministratore del Comune") {
		t.Fatalf("users page: got %d, want 200 listing Luigi Verdi and Anna's role:\n%s", status, page)
	}
	if status, _, _ := user.get(r.srv.URL + "/private"); status != http.StatusForbidden {
		t.Fatalf("luigi before the grant: got %d, want 403", status)
	}

	t.Run("grant needs the CSRF token", func(t *testing.T) {
		form := url.Values{"role": {"operator"}, "offices": {"anagrafe"}}
		if status, _, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/ruoli", "", form); status != http.StatusForbidden {
			t.Errorf("POST without CSRF token: got %d, want 403", status)
		}
		if status, _, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/ruoli", "wrong", form); status != http.StatusForbidden {
			t.Errorf("POST with a wrong CSRF token: got %d, want 403", status)
		}
		if u, _ := r.store.User(ctx, bari.ID, luigiID); len(u.Assigned) != 0 {
			t.Errorf("grants after refused POSTs: got %v, want none", u.Assigned)
		}
	})

	t.Run("bad grants change nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			form url.Values
			want string
		}{
			{"appliance admin", url.Values{"role": {"appliance_admin"}}, "Scegli uno dei ruoli proposti."},
			{"operator without office", url.Values{"role": {"operator"}}, "almeno un ufficio"},
			{"unknown office", url.Values{"role": {"operator"}, "offices": {"segreto"}}, "tra quelli del Comune"},
		} {
			status, _, page := post(admin, r, "/gestione/utenti/"+luigiID+"/ruoli", csrf, tc.form)
			if status != http.StatusUnprocessableEntity || !strings.Contains(page, tc.want) {
				t.Errorf("%s: got %d, want 422 with %q:\n%s", tc.name, status, tc.want, page)
			}
		}
		if u, _ := r.store.User(ctx, bari.ID, luigiID); len(u.Assigned) != 0 {
			t.Errorf("grants after refused forms: got %v, want none", u.Assigned)
		}
	})

	t.Run("grant takes effect on the next request", func(t *testing.T) {
		status, loc, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/ruoli", csrf,
			url.Values{"role": {"operator"}, "offices": {"anagrafe"}})
		if status != http.StatusSeeOther || loc != "/gestione/utenti/"+luigiID+"?fatto=ruolo" {
			t.Fatalf("grant: got %d %q, want 303 to the user page", status, loc)
		}
		if ok, page := user.loggedIn(r); !ok || field(page, "user") != "Luigi Verdi" {
			t.Fatalf("luigi after the grant: logged in %v, page %q", ok, page)
		}
		if status, _, _ := user.get(r.srv.URL + "/private"); status != http.StatusOK {
			t.Errorf("luigi after the grant: got %d, want 200", status)
		}
		_, _, page := admin.get(r.srv.URL + "/gestione/utenti/" + luigiID + "?fatto=ruolo")
		if !strings.Contains(page, "Il ruolo è stato assegnato.") || !strings.Contains(page, "Operatore: Ufficio anagrafe") {
			t.Errorf("user page after the grant lacks the confirmation or the grant:\n%s", page)
		}
		// An operator is not a Comune administrator.
		if status, _, _ := user.get(r.srv.URL + "/gestione/utenti"); status != http.StatusForbidden {
			t.Errorf("operator on the users page: got %d, want 403", status)
		}
	})

	t.Run("an administrator cannot disable itself", func(t *testing.T) {
		status, _, page := post(admin, r, "/gestione/utenti/"+annaID+"/stato", csrf, url.Values{"disabled": {"1"}})
		if status != http.StatusUnprocessableEntity || !strings.Contains(page, "Non puoi disattivare il tuo stesso account.") {
			t.Errorf("disable self: got %d, want 422 with the reason", status)
		}
		if ok, _ := admin.loggedIn(r); !ok {
			t.Error("the administrator lost its session")
		}
	})

	t.Run("disable ends the sessions at once", func(t *testing.T) {
		status, _, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/stato", csrf, url.Values{"disabled": {"1"}})
		if status != http.StatusSeeOther {
			t.Fatalf("disable: got %d, want 303", status)
		}
		if ok, _ := user.loggedIn(r); ok {
			t.Error("luigi still logged in after being disabled")
		}
		if status, _, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/stato", csrf, url.Values{"disabled": {"0"}}); status != http.StatusSeeOther {
			t.Fatalf("enable: got %d, want 303", status)
		}
		again := loginAs(t, r, op, luigi)
		if ok, _ := again.loggedIn(r); !ok {
			t.Error("luigi cannot log in after being enabled again")
		}
		if status, _, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/sessioni", csrf, nil); status != http.StatusSeeOther {
			t.Fatalf("end sessions: got %d, want 303", status)
		}
		if ok, _ := again.loggedIn(r); ok {
			t.Error("luigi still logged in after his sessions were ended")
		}
	})

	t.Run("remove a grant", func(t *testing.T) {
		status, _, _ := post(admin, r, "/gestione/utenti/"+luigiID+"/ruoli/rimuovi", csrf, url.Values{"role": {"operator"}})
		if status != http.StatusSeeOther {
			t.Fatalf("remove: got %d, want 303", status)
		}
		if u, _ := r.store.User(ctx, bari.ID, luigiID); len(u.Assigned) != 0 {
			t.Errorf("grants after the removal: got %v, want none", u.Assigned)
		}
	})

	t.Run("the audit log shows the actions with their actor", func(t *testing.T) {
		status, _, page := admin.get(r.srv.URL + "/gestione/registro")
		if status != http.StatusOK {
			t.Fatalf("audit page: got %d, want 200", status)
		}
		for _, want := range []string{"Ruoli assegnati", "user=" + luigiID + " grants=operator:anagrafe",
			"user=" + luigiID + " disabled=true", "Sessioni dell&#39;utente chiuse", "Anna Bianchi", "Utente: Luigi Verdi"} {
			if !strings.Contains(page, want) {
				t.Errorf("audit page lacks %q:\n%s", want, page)
			}
		}
		if strings.Contains(page, "user="+annaID+" disabled=true") {
			t.Error("the refused self-disable is in the audit log")
		}
		entries, err := node.Audit(ctx, string(bari.ID), cluster.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Actor.ID != annaID && e.Actor.ID != luigiID {
				t.Errorf("audit row of an unknown actor: %+v", e)
			}
			if e.Type == auth.CommandSessionTouch {
				t.Errorf("a session touch is audited: %+v", e)
			}
		}
		// Filtered on luigi, who changed nothing but his own login.
		_, _, page = admin.get(r.srv.URL + "/gestione/registro?utente=" + luigiID)
		if strings.Contains(page, "Ruoli assegnati") {
			t.Error("the filter on luigi shows anna's actions")
		}
		if status, _, page := admin.get(r.srv.URL + "/gestione/registro?dal=ieri"); status != http.StatusUnprocessableEntity || !strings.Contains(page, "AAAA-MM-GG") {
			t.Errorf("bad date: got %d, want 422 with the expected form", status)
		}
	})
}

// TestAdminOtherComune: an administrator of bari cannot see or change a
// user of altamura through bari's pages (the Comune is the host's).
func TestAdminOtherComune(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startAdmin(t, node, op)
	admin := loginAs(t, r, op, anna)
	csrf := csrfOf(t, r, admin)
	ctx := context.Background()
	if _, err := r.store.SaveProvider(ctx, "altamura", auth.Provider{ID: "puglia", Name: "Accedi", Issuer: op.Issuer(),
		ClientID: clientID, ClientSecret: clientSecret}); err != nil {
		t.Fatal(err)
	}
	lr, _, err := r.store.Login(ctx, "altamura", auth.Identity{Provider: "puglia", Issuer: op.Issuer(), Subject: "gino",
		Username: "gino", DisplayName: "Gino Altamurano"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	other := lr.User.ID
	if _, _, page := admin.get(r.srv.URL + "/gestione/utenti"); strings.Contains(page, "Gino Altamurano") {
		t.Error("bari's users page lists a user of altamura")
	}
	if status, _, _ := admin.get(r.srv.URL + "/gestione/utenti/" + other); status != http.StatusNotFound {
		t.Errorf("altamura's user through bari: got %d, want 404", status)
	}
	for _, path := range []string{"/ruoli", "/stato", "/sessioni"} {
		status, _, _ := post(admin, r, "/gestione/utenti/"+other+path, csrf,
			url.Values{"role": {"operator"}, "offices": {"anagrafe"}, "disabled": {"1"}})
		if status != http.StatusNotFound {
			t.Errorf("POST %s on altamura's user through bari: got %d, want 404", path, status)
		}
	}
	if u, err := r.store.User(ctx, "altamura", other); err != nil || u.Disabled || len(u.Assigned) != 0 {
		t.Errorf("altamura's user after bari's attempts: %+v, %v; want unchanged", u, err)
	}
	if es, _ := node.Audit(ctx, "altamura", cluster.AuditFilter{}); len(es) != 0 {
		t.Errorf("audit rows in altamura: got %+v, want none", es)
	}
}

func TestAdminProviders(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startAdmin(t, node, op)
	admin := loginAs(t, r, op, anna)
	csrf := csrfOf(t, r, admin)
	ctx := context.Background()

	status, _, page := admin.get(r.srv.URL + "/gestione/accesso")
	if status != http.StatusOK || !strings.Contains(page, op.Issuer()) {
		t.Fatalf("providers page: got %d, want 200 with the issuer", status)
	}
	if strings.Contains(page, clientSecret) {
		t.Error("the providers page shows the client secret")
	}
	status, _, page = admin.get(r.srv.URL + "/gestione/accesso/puglia")
	if status != http.StatusOK || strings.Contains(page, clientSecret) {
		t.Errorf("edit page: got %d, secret shown %v; want 200 without the secret", status, strings.Contains(page, clientSecret))
	}

	t.Run("bad input, Italian errors, nothing saved", func(t *testing.T) {
		form := url.Values{"id": {"Toscana!"}, "name": {""}, "issuer": {"ftp://id.example.it"}, "client_id": {""},
			"roles": {"gruppo | capo"}}
		status, _, page := post(admin, r, "/gestione/accesso/nuovo", csrf, form)
		if status != http.StatusUnprocessableEntity || !strings.Contains(page, "il ruolo deve essere operatore") {
			t.Fatalf("bad rule: got %d, want 422 naming the line:\n%s", status, page)
		}
		form.Set("roles", "gruppo | operatore")
		status, _, page = post(admin, r, "/gestione/accesso/nuovo", csrf, form)
		for _, want := range []string{"L&#39;emittente deve usare https.", "Indica il nome mostrato", "Riga 1: Un operatore deve essere assegnato"} {
			if !strings.Contains(page, want) {
				t.Errorf("bad provider: page lacks %q", want)
			}
		}
		if status != http.StatusUnprocessableEntity {
			t.Errorf("bad provider: got %d, want 422", status)
		}
		if ps, _ := r.store.Providers(ctx, bari.ID); len(ps) != 1 {
			t.Errorf("providers after refused forms: got %d, want 1", len(ps))
		}
	})

	t.Run("add, edit keeping the secret, delete", func(t *testing.T) {
		form := url.Values{"id": {"toscana"}, "name": {"Accedi con Toscana"}, "issuer": {"https://id.toscana.it/realms/comuni"},
			"client_id": {"bari"}, "client_secret": {"s3greto"}, "scopes": {"profile email"}, "acr_values": {"https://www.spid.gov.it/SpidL2"},
			"claim_groups": {"ruoli"}, "roles": {"operatori-anagrafe | operatore | anagrafe, tributi\nsupervisori | supervisore"}}
		if status, loc, page := post(admin, r, "/gestione/accesso/nuovo", csrf, form); status != http.StatusSeeOther || loc != "/gestione/accesso?fatto=salvato" {
			t.Fatalf("add: got %d %q:\n%s", status, loc, page)
		}
		p, err := r.store.Provider(ctx, bari.ID, "toscana")
		if err != nil {
			t.Fatal(err)
		}
		if p.ClientSecret != "s3greto" || p.Claims.Groups != "ruoli" || len(p.Roles) != 2 ||
			len(p.Roles[0].Grant.Offices) != 2 || p.Roles[1].Grant.Role != auth.RoleSupervisor || p.ACRValues[0] != "https://www.spid.gov.it/SpidL2" {
			t.Errorf("saved provider: got %+v", p)
		}
		if status, _, _ := post(admin, r, "/gestione/accesso/nuovo", csrf, form); status != http.StatusUnprocessableEntity {
			t.Errorf("add with an existing ID: got %d, want 422", status)
		}
		form.Set("name", "Toscana")
		form.Set("client_secret", "")
		if status, _, _ := post(admin, r, "/gestione/accesso/toscana", csrf, form); status != http.StatusSeeOther {
			t.Fatalf("edit: got %d, want 303", status)
		}
		if p, _ := r.store.Provider(ctx, bari.ID, "toscana"); p.Name != "Toscana" || p.ClientSecret != "s3greto" {
			t.Errorf("after the edit with an empty secret: name %q secret %q, want Toscana and the old secret", p.Name, p.ClientSecret)
		}
		if status, _, _ := post(admin, r, "/gestione/accesso/toscana/elimina", "", nil); status != http.StatusForbidden {
			t.Errorf("delete without CSRF: got %d, want 403", status)
		}
		if status, _, _ := post(admin, r, "/gestione/accesso/toscana/elimina", csrf, nil); status != http.StatusSeeOther {
			t.Errorf("delete: got %d, want 303", status)
		}
		if _, err := r.store.Provider(ctx, bari.ID, "toscana"); err == nil {
			t.Error("provider still there after the delete")
		}
		_, _, page := admin.get(r.srv.URL + "/gestione/registro")
		for _, want := range []string{"Fornitore di identità salvato", "Fornitore di identità eliminato", "provider=toscana"} {
			if !strings.Contains(page, want) {
				t.Errorf("audit page lacks %q", want)
			}
		}
		if strings.Contains(page, "s3greto") {
			t.Error("the audit page shows a client secret")
		}
	})
}

// TestAdminAcrossNodes: on a two-node cluster, a grant given through the
// leader's pages holds on the follower, and a user disabled through the
// follower's pages (a forwarded, audited command) is logged out on the
// leader; both nodes show the same audit log.
func TestAdminAcrossNodes(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	nodes := clustertest.Cluster(t, 2, auth.Register)
	r1 := startAdmin(t, nodes[0], op)
	admin := loginAs(t, r1, op, anna)
	user := loginAs(t, r1, op, luigi)
	csrf := csrfOf(t, r1, admin)
	luigiID := userID(t, r1, "lverdi")
	// The second node's server; the browsers' cookies (for 127.0.0.1)
	// go to both, as behind a load balancer.
	r2 := startAdmin(t, nodes[1], op)
	synced := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		idx := max(nodes[0].AppliedIndex(), nodes[1].AppliedIndex())
		for _, n := range nodes {
			if err := n.WaitApplied(ctx, idx); err != nil {
				t.Fatal(err)
			}
		}
	}

	if status, _, _ := post(admin, r1, "/gestione/utenti/"+luigiID+"/ruoli", csrf,
		url.Values{"role": {"operator"}, "offices": {"tributi"}}); status != http.StatusSeeOther {
		t.Fatalf("grant on node 1: got %d, want 303", status)
	}
	synced()
	if ok, _ := user.loggedIn(r2); !ok {
		t.Fatal("luigi refused on node 2 after the grant given on node 1")
	}
	if status, _, _ := post(admin, r2, "/gestione/utenti/"+luigiID+"/stato", csrf, url.Values{"disabled": {"1"}}); status != http.StatusSeeOther {
		t.Fatalf("disable on node 2: got %d, want 303", status)
	}
	synced()
	if ok, _ := user.loggedIn(r1); ok {
		t.Error("luigi still logged in on node 1 after being disabled on node 2")
	}
	ctx := context.Background()
	var logs [2][]cluster.AuditEntry
	for i, n := range nodes {
		es, err := n.Audit(ctx, string(bari.ID), cluster.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = es
	}
	if len(logs[0]) < 2 || fmt.Sprint(logs[0]) != fmt.Sprint(logs[1]) {
		t.Errorf("audit logs: node 1 %+v, node 2 %+v; want the same two rows or more", logs[0], logs[1])
	}
	_, _, page := admin.get(r2.srv.URL + "/gestione/registro")
	for _, want := range []string{"grants=operator:tributi", "disabled=true", "Anna Bianchi"} {
		if !strings.Contains(page, want) {
			t.Errorf("node 2's audit page lacks %q", want)
		}
	}
}
