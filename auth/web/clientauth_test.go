package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
	"github.com/sportello-virtuale/sportello/internal/zitadeltest"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// startRPSecrets is startRP with a secrets key (nil: none).
func startRPSecrets(t *testing.T, node *cluster.Node, client *http.Client, secrets *auth.Secrets) *rp {
	t.Helper()
	s, err := site.New(site.Options{Resolver: oneComune{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB(), Secrets: secrets})
	h, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), HTTPClient: client,
		LoginLimit: authweb.LoginLimit{PerClient: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	mux.Handle("GET /private", h.RequireRole(auth.RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u, _ := authweb.SessionFrom(r.Context())
		fmt.Fprintf(w, "user=%s\n", u.DisplayName)
	})))
	srv := httptest.NewTLSServer(s.Tenant(h.Sessions(mux)))
	t.Cleanup(srv.Close)
	return &rp{srv: srv, store: store}
}

// fetchJWKS returns a function that reads the JWKS of r, as a provider
// reads the jwks_uri registered for the client.
func fetchJWKS(r *rp) func() (jose.JSONWebKeySet, error) {
	return func() (jose.JSONWebKeySet, error) {
		var set jose.JSONWebKeySet
		resp, err := r.srv.Client().Get(r.srv.URL + "/_auth/jwks")
		if err != nil {
			return set, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return set, fmt.Errorf("JWKS: %s", resp.Status)
		}
		err = json.NewDecoder(resp.Body).Decode(&set)
		return set, err
	}
}

// TestLoginPrivateKeyJWT logs in with private_key_jwt on a three-node
// cluster: the provider is saved through node 1, which draws the key;
// node 2 signs the client assertion with the key it opened from the
// replicated state, and the provider verifies it against node 2's JWKS.
// After a rotation the new key signs and the JWKS publishes both; a
// provider that only knows the old key refuses; a node without the
// secrets key refuses the login before leaving for the provider.
func TestLoginPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	nodes := clustertest.Cluster(t, 3, auth.Register)
	key, err := auth.CreateSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	r1 := startRPSecrets(t, nodes[0], op.Client(), key)
	r2 := startRPSecrets(t, nodes[1], op.Client(), key)
	op.AddKeyClient(clientID, fetchJWKS(r2), r2.srv.URL+"/_auth/callback")
	op.AddUser(mario)
	op.AutoLogin(mario.Subject)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	saved, err := r1.store.SaveProvider(ctx, bari.ID, auth.Provider{
		ID: "puglia", Name: "Accedi con MyID", Issuer: op.Issuer(), ClientID: clientID, ClientAuth: auth.PrivateKeyJWT,
		Roles: []auth.RoleRule{{Group: "operatori-anagrafe", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, nodes[0].AppliedIndex()); err != nil {
			t.Fatal(err)
		}
	}

	// The JWKS: the public key, with kid and alg, and nothing private.
	set, err := fetchJWKS(r2)()
	if err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != saved.Keys[0].ID || set.Keys[0].Algorithm != "RS256" ||
		!set.Keys[0].IsPublic() || set.Keys[0].Use != "sig" {
		t.Fatalf("JWKS %+v, %v", set, err)
	}

	b := newBrowser(t, r2.srv.Client())
	b.login(r2, "puglia")
	if ok, page := b.loggedIn(r2); !ok || field(page, "user") != "Mario Rossi" {
		t.Fatalf("not logged in: %s", page)
	}
	as := op.Assertions()
	if len(as) != 1 {
		t.Fatalf("assertions %+v, refusals %v", as, op.Refusals())
	}
	c := as[0].Claims
	if c.Issuer != clientID || c.Subject != clientID || len(c.Audience) != 1 || c.Audience[0] != op.Issuer()+"/token" ||
		c.ID == "" || c.Expiry == nil || c.Expiry.Time().Sub(time.Now()) > 5*time.Minute || as[0].KeyID != saved.Keys[0].ID {
		t.Errorf("assertion %+v kid %s, want iss=sub=%s aud=%s/token kid %s", c, as[0].KeyID, clientID, op.Issuer(), saved.Keys[0].ID)
	}

	// Rotation: the new key signs, both are published.
	rotated, err := r1.store.RotateProviderKey(ctx, bari.ID, "puglia", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].WaitApplied(ctx, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	if set, err := fetchJWKS(r2)(); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS after rotation: %d keys, %v", len(set.Keys), err)
	}
	b2 := newBrowser(t, r2.srv.Client())
	b2.login(r2, "puglia")
	if as := op.Assertions(); len(as) != 2 || as[1].KeyID != rotated.Keys[0].ID || as[1].Claims.ID == as[0].Claims.ID {
		t.Errorf("after rotation: assertions %+v, want the new key %s and a fresh jti", as, rotated.Keys[0].ID)
	}

	// A provider that registered only the first key refuses the new one.
	old, err := saved.Keys[0].PublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	op.AddKeyClient(clientID, func() (jose.JSONWebKeySet, error) { return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{old}}, nil },
		r2.srv.URL+"/_auth/callback")
	b3 := newBrowser(t, r2.srv.Client())
	cb := b3.authorize(b3.startLogin(r2, "puglia"))
	if status, _, _ := b3.get(cb); status == http.StatusSeeOther {
		t.Error("login accepted by a provider that does not know the signing key")
	}
	if rs := op.Refusals(); len(rs) == 0 || !strings.Contains(rs[len(rs)-1], "kid") {
		t.Errorf("provider refusals %v, want the unknown kid", rs)
	}

	// A node whose secrets.key is missing cannot open the key: it refuses
	// the code exchange, without sending anything to the provider.
	missing, err := auth.OpenSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	r3 := startRPSecrets(t, nodes[2], op.Client(), missing)
	op.AddKeyClient(clientID, fetchJWKS(r2), r3.srv.URL+"/_auth/callback")
	before := len(op.Assertions()) + len(op.Refusals())
	b4 := newBrowser(t, r3.srv.Client())
	cb = b4.authorize(b4.startLogin(r3, "puglia"))
	if status, _, _ := b4.get(cb); status == http.StatusSeeOther {
		t.Error("a node without the secrets key finished a login")
	}
	if after := len(op.Assertions()) + len(op.Refusals()); after != before {
		t.Errorf("the node without the key still called the token endpoint (%d → %d)", before, after)
	}
	// Its JWKS still works: publishing needs no private key.
	resp, err := r3.srv.Client().Get(r3.srv.URL + "/_auth/jwks")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), `"kid"`) != 2 || strings.Contains(string(body), `"d"`) {
		t.Errorf("JWKS of the node without key: %d %s", resp.StatusCode, body)
	}
}

// TestAdminPrivateKeyJWT sets a provider to private_key_jwt from the back
// office: the key is drawn with the algorithm the provider's discovery
// allows, the page shows the JWKS address and the public key, the
// rotation button rolls the key, and an edit keeps it.
func TestAdminPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t, oidctest.WithAuthSigningAlgs("ES256"))
	node := clustertest.Node(t, auth.Register)
	key, err := auth.CreateSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	r := startAdminSecrets(t, node, op.Client(), key)
	srv, store := r.srv, r.store
	op.AddClient(clientID, clientSecret, srv.URL+"/_auth/callback")
	op.AddUser(anna)
	ctx := context.Background()
	if _, err := store.SaveProvider(ctx, bari.ID, auth.Provider{
		ID: "puglia", Name: "Accedi con puglia", Issuer: op.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
		Roles: []auth.RoleRule{{Group: "amministratori", Grant: auth.Grant{Role: auth.RoleComuneAdmin}}},
	}); err != nil {
		t.Fatal(err)
	}
	admin := loginAs(t, r, op, anna)
	csrf := csrfOf(t, r, admin)

	form := map[string][]string{"id": {"toscana"}, "name": {"Accedi con Toscana"}, "issuer": {op.Issuer()},
		"client_id": {"bari"}, "client_auth": {"private_key_jwt"}, "scopes": {"profile"}}
	if status, loc, page := post(admin, r, "/gestione/accesso/nuovo", csrf, form); status != http.StatusSeeOther {
		t.Fatalf("add: got %d %q:\n%s", status, loc, page)
	}
	p, err := store.Provider(ctx, bari.ID, "toscana")
	if err != nil || p.ClientAuth != auth.PrivateKeyJWT || len(p.Keys) != 1 || p.Keys[0].Alg != auth.AlgES256 {
		t.Fatalf("saved: %+v, %v", p, err)
	}
	status, _, page := admin.get(srv.URL + "/gestione/accesso/toscana")
	for _, want := range []string{srv.URL + "/_auth/jwks", p.Keys[0].ID, `value="private_key_jwt" checked`, "Genera una nuova chiave"} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("provider page (%d) lacks %q", status, want)
		}
	}
	rotate := map[string][]string{"azione": {"nuova_chiave"}}
	if status, _, _ := post(admin, r, "/gestione/accesso/toscana", "", rotate); status != http.StatusForbidden {
		t.Errorf("rotation without CSRF: got %d, want 403", status)
	}
	if status, loc, _ := post(admin, r, "/gestione/accesso/toscana", csrf, rotate); status != http.StatusSeeOther || loc != "/gestione/accesso/toscana?fatto=chiave" {
		t.Fatalf("rotation: got %d %q", status, loc)
	}
	q, _ := store.Provider(ctx, bari.ID, "toscana")
	if len(q.Keys) != 2 || q.Keys[1].ID != p.Keys[0].ID {
		t.Fatalf("after rotation: %+v", q.Keys)
	}
	form["name"] = []string{"Toscana"}
	if status, _, _ := post(admin, r, "/gestione/accesso/toscana", csrf, form); status != http.StatusSeeOther {
		t.Fatalf("edit: got %d", status)
	}
	if e, _ := store.Provider(ctx, bari.ID, "toscana"); e.Name != "Toscana" || len(e.Keys) != 2 || e.Keys[0].ID != q.Keys[0].ID {
		t.Errorf("edit changed the keys: %+v", e.Keys)
	}
	if _, _, page := admin.get(srv.URL + "/gestione/accesso/toscana?fatto=chiave"); !strings.Contains(page, "nuova chiave") {
		t.Error("no confirmation of the rotation")
	}

	// On a node without the secrets key the page still shows, and a save
	// is refused naming the key file, changing nothing.
	missing, err := auth.OpenSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	bare := startAdminSecrets(t, node, op.Client(), missing)
	if status, _, page := admin.get(bare.srv.URL + "/gestione/accesso/puglia"); status != http.StatusOK || strings.Contains(page, clientSecret) {
		t.Errorf("edit page on the node without key: %d", status)
	}
	form = map[string][]string{"name": {"Altro nome"}, "issuer": {op.Issuer()}, "client_id": {clientID}, "client_auth": {"client_secret_basic"}}
	if status, _, page := post(admin, bare, "/gestione/accesso/puglia", csrf, form); status != http.StatusInternalServerError || !strings.Contains(page, "secrets.key") {
		t.Errorf("save on the node without key: %d, want 500 naming secrets.key", status)
	}
	if p, _ := store.Provider(ctx, bari.ID, "puglia"); p.Name != "Accedi con puglia" || p.ClientSecret != clientSecret {
		t.Errorf("the refused save changed the provider: %q %q", p.Name, p.ClientSecret)
	}
}

// startAdminSecrets serves the auth routes and the back office of node
// with a secrets key, and GET /private printing the CSRF token.
func startAdminSecrets(t *testing.T, node *cluster.Node, client *http.Client, key *auth.Secrets) *rp {
	t.Helper()
	s, err := site.New(site.Options{Resolver: oneComune{}, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB(), Secrets: key})
	h, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), HTTPClient: client,
		LoginLimit: authweb.LoginLimit{PerClient: 1000}, Offices: officesOf, Audit: node})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	mux.Handle("GET /private", h.RequireRole(auth.RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "csrf=%s\n", authweb.CSRFToken(r))
	})))
	srv := httptest.NewTLSServer(s.Tenant(h.Sessions(mux)))
	t.Cleanup(srv.Close)
	return &rp{srv: srv, store: store}
}

// TestInteropZitadelPrivateKeyJWT logs in with private_key_jwt at
// zitadel/oidc's op, which verifies the assertion with its own code
// against the keys of our /_auth/jwks; op wants the issuer as audience.
func TestInteropZitadelPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	op := zitadeltest.Start(t, zitadeltest.User{
		Subject: mario.Subject, Username: mario.Username, Name: mario.Name, Email: mario.Email,
		FiscalNumber: mario.FiscalNumber, Groups: mario.Groups,
	})
	node := clustertest.Node(t, auth.Register)
	key, err := auth.CreateSecrets(filepath.Join(t.TempDir(), auth.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	r := startRPSecrets(t, node, op.Client(), key)
	op.AddKeyClient(clientID, fetchJWKS(r), []string{r.srv.URL + "/_auth/callback"}, []string{r.srv.URL + "/"})
	p := auth.Provider{
		ID: "zitadel", Name: "Accedi con zitadel", Issuer: op.Issuer(), ClientID: clientID,
		ClientAuth: auth.PrivateKeyJWT, AssertionAudience: auth.AudienceIssuer, KeyAlg: auth.AlgES256,
		Scopes: []string{"profile", "email"},
		Roles:  []auth.RoleRule{{Group: "operatori-anagrafe", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}}},
	}
	if _, err := r.store.SaveProvider(context.Background(), bari.ID, p); err != nil {
		t.Fatal(err)
	}
	login := func() (int, string) {
		b := newBrowser(t, r.srv.Client())
		next := b.startLogin(r, "zitadel")
		for range 5 {
			status, loc, body := b.get(next)
			if status != http.StatusFound && status != http.StatusSeeOther {
				t.Fatalf("provider %s: got %d %s, want a redirect", next, status, body)
			}
			u, _ := url.Parse(next)
			l, err := u.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if next = l.String(); strings.HasPrefix(next, r.srv.URL+"/_auth/callback?") {
				break
			}
		}
		status, loc, _ := b.get(next)
		return status, loc
	}
	if status, loc := login(); status != http.StatusSeeOther || loc != "/private" {
		t.Fatalf("callback: got %d %q, want 303 to /private", status, loc)
	}
	// With the token endpoint as audience, op refuses the assertion.
	saved, err := r.store.Provider(context.Background(), bari.ID, "zitadel")
	if err != nil {
		t.Fatal(err)
	}
	saved.AssertionAudience = auth.AudienceTokenEndpoint
	if _, err := r.store.SaveProvider(context.Background(), bari.ID, saved); err != nil {
		t.Fatal(err)
	}
	if status, _ := login(); status == http.StatusSeeOther {
		t.Error("zitadel accepted an assertion whose aud is not its issuer")
	}
}
