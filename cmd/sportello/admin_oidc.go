package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// `sportello tenant oidc ...` configures a Comune's OpenID providers from
// the command line, through the admin socket. The back office
// (/gestione/accesso) does the same from the browser, but only for
// someone already logged in: the first provider of a Comune, before it has
// any operator, and scripted installations need a way in that does not
// depend on a login. The save is the same replicated command the back
// office proposes (auth.Store.SaveProvider), so validation and the audit
// of the change do not depend on where it came from.

// nodeSecrets opens the secrets key of the node (auth.SecretsFile in the
// data directory), which seals the providers' client secrets and private
// keys. The node that initialises a cluster, and a node without a cluster
// identity (alone, plain TCP), create it when it is missing; a joining
// node never does: it must be given a copy of the cluster's file, and
// until then it refuses, in clear words, whatever needs a secret. A key
// made up by a joined node would seal what the others cannot open.
func nodeSecrets(cfg Config) (*auth.Secrets, error) {
	path := filepath.Join(cfg.DataDir, auth.SecretsFile)
	_, err := os.Stat(filepath.Join(pki.TLSDir(cfg.DataDir), pki.NodeKeyFile))
	alone := errors.Is(err, os.ErrNotExist) && cfg.Cluster.JoinToken == ""
	// run made the data directory; without one (a handler built by a
	// test) there is nowhere to keep a key, and none is created.
	_, dirErr := os.Stat(cfg.DataDir)
	if (cfg.Cluster.Init || alone) && dirErr == nil {
		return auth.CreateSecrets(path)
	}
	return auth.OpenSecrets(path)
}

// oidcRoutes adds the providers of a Comune to the admin socket.
func (a *adminServer) oidcRoutes(mux *http.ServeMux) {
	var dataDir string
	if a.status != nil {
		dataDir = a.status().DataDir
	}
	secrets, err := auth.OpenSecrets(filepath.Join(dataDir, auth.SecretsFile))
	if err != nil {
		// A malformed key file: every provider call reports it.
		a.log.Error("secrets key", "err", err)
		secrets, _ = auth.OpenSecrets(filepath.Join(dataDir, auth.SecretsFile+".missing"))
	}
	st := auth.NewStore(auth.Config{Proposer: a.node, DB: a.node.DB(), Secrets: secrets})
	mux.HandleFunc("GET /v1/tenants/{id}/oidc-providers", func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.tenantOf(w, r)
		if !ok {
			return
		}
		ps, err := st.Providers(r.Context(), id)
		if err != nil {
			a.failAuth(w, r, err)
			return
		}
		for i := range ps {
			ps[i] = withoutSecret(ps[i])
		}
		writeJSON(w, http.StatusOK, struct {
			Providers []auth.Provider `json:"providers"`
		}{ps})
	})
	mux.HandleFunc("POST /v1/tenants/{id}/oidc-providers", func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.tenantOf(w, r)
		if !ok {
			return
		}
		var p auth.Provider
		if !a.decode(w, r, &p) {
			return
		}
		// Sealed values and keys come only from this node's store: a
		// provider already using private_key_jwt keeps its keys.
		p.SealedSecret, p.Keys = "", nil
		if old, err := st.Provider(r.Context(), id, p.ID); err == nil && old.ClientAuth.Method() == auth.PrivateKeyJWT {
			p.Keys = old.Keys
		}
		saved, err := st.SaveProvider(r.Context(), id, p)
		if err != nil {
			a.failAuth(w, r, err)
			return
		}
		a.log.Info("OpenID provider saved", "tenant", id, "provider", saved.ID, "issuer", saved.Issuer)
		writeJSON(w, http.StatusCreated, withoutSecret(saved))
	})
	mux.HandleFunc("POST /v1/tenants/{id}/oidc-providers/{provider}/rotate-key", func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.tenantOf(w, r)
		if !ok {
			return
		}
		saved, err := st.RotateProviderKey(r.Context(), id, r.PathValue("provider"), r.URL.Query().Get("alg"))
		if err != nil {
			a.failAuth(w, r, err)
			return
		}
		a.log.Info("OpenID provider key rotated", "tenant", id, "provider", saved.ID, "kid", saved.Keys[0].ID)
		writeJSON(w, http.StatusOK, withoutSecret(saved))
	})
}

// withoutSecret blanks the client secret: the admin socket writes it but
// never reads it back, so it does not end up in terminals and logs.
func withoutSecret(p auth.Provider) auth.Provider {
	p.ClientSecret, p.SealedSecret = "", ""
	p.Keys = slices.Clone(p.Keys)
	for i := range p.Keys {
		p.Keys[i].SealedPrivate = ""
	}
	return p
}

// tenantOIDC dispatches `sportello tenant oidc ...`.
func tenantOIDC(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return tenantOIDCAdd(args[1:], stdout, stderr)
		case "list":
			return tenantOIDCList(args[1:], stdout, stderr)
		case "rotate-key":
			return tenantOIDCRotate(args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, `Usage:
  sportello tenant oidc add COMUNE --id ID --name LABEL --issuer URL --client-id ID --client-secret-file FILE [flags]
  sportello tenant oidc list COMUNE [--data DIR] [--json]
  sportello tenant oidc rotate-key COMUNE --id ID [--alg RS256|ES256] [--data DIR] [--json]
`)
	return exitUsage
}

func tenantOIDCAdd(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("oidc add", stderr)
	var (
		p                auth.Provider
		scopes, acr, rls stringList
		secretFile       string
	)
	fs.StringVar(&p.ID, "id", "", "provider `id`, used in /_auth/login?provider=ID (required)")
	fs.StringVar(&p.Name, "name", "", "`label` of the login button, \"Accedi con MyID Puglia\" (required)")
	fs.StringVar(&p.Issuer, "issuer", "", "issuer `URL`; discovery starts there (required)")
	fs.StringVar(&p.ClientID, "client-id", "", "client `id` registered at the provider (required)")
	fs.StringVar(&secretFile, "client-secret-file", "", "`file` holding the client secret (\"-\": stdin); kept off the command line, which other users can see")
	clientAuth := fs.String("client-auth", "", "token endpoint authentication `method`: client_secret_basic (default), client_secret_post or private_key_jwt (the node draws a key pair and publishes it at https://<Comune host>/_auth/jwks)")
	fs.StringVar(&p.KeyAlg, "key-alg", "", "`algorithm` of the private_key_jwt key: RS256 (default) or ES256")
	fs.StringVar(&p.AssertionAudience, "assertion-aud", "", "aud of the private_key_jwt assertions: token_endpoint (default) or issuer (`which` the provider wants)")
	fs.Var(&scopes, "scope", "a `scope` requested besides openid (repeatable)")
	fs.Var(&acr, "acr", "an acr_values `value` (repeatable)")
	fs.Var(&rls, "role", "a `rule` GROUP=ROLE[:OFFICE,...]: members of GROUP get ROLE (operator, supervisor, comune_admin), on those offices (repeatable)")
	fs.StringVar(&p.Claims.Username, "claim-username", "", "`claim` with the username (default preferred_username)")
	fs.StringVar(&p.Claims.DisplayName, "claim-name", "", "`claim` with the display name (default name)")
	fs.StringVar(&p.Claims.Email, "claim-email", "", "`claim` with the email (default email)")
	fs.StringVar(&p.Claims.FiscalCode, "claim-fiscal-code", "", "`claim` with the fiscal code (default: the SPID/CIE names)")
	fs.StringVar(&p.Claims.Groups, "claim-groups", "", "`claim` with the groups (default groups)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello tenant oidc add COMUNE --id ID --name LABEL --issuer URL --client-id ID [flags]\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "sportello tenant oidc add: name one Comune")
		fs.Usage()
		return exitUsage
	}
	p.Scopes, p.ACRValues, p.ClientAuth = scopes, acr, auth.ClientAuth(*clientAuth)
	for _, r := range rls {
		rule, ok := parseRoleRule(r)
		if !ok {
			fmt.Fprintf(stderr, "sportello tenant oidc add: --role %q: want GROUP=ROLE or GROUP=ROLE:OFFICE,OFFICE\n", r)
			return exitUsage
		}
		p.Roles = append(p.Roles, rule)
	}
	if secretFile != "" {
		var b []byte
		if secretFile == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(secretFile)
		}
		if err != nil {
			fmt.Fprintf(stderr, "sportello tenant oidc add: client secret: %v\n", err)
			return exitUsage
		}
		p.ClientSecret = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var saved auth.Provider
	if err := newAdminClient(*dataDir).do(ctx, "POST", "/v1/tenants/"+pos[0]+"/oidc-providers", p, &saved); err != nil {
		return reportAdminError(stderr, "tenant oidc add", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, saved)
	}
	fmt.Fprintf(stdout, "Saved provider %s (%s) of %s; its redirect URI is https://<Comune host>/_auth/callback.\n", saved.ID, saved.Issuer, pos[0])
	printKeys(stdout, saved)
	return exitOK
}

// printKeys tells where the provider finds the keys of private_key_jwt.
func printKeys(w io.Writer, p auth.Provider) {
	if p.ClientAuth.Method() != auth.PrivateKeyJWT || len(p.Keys) == 0 {
		return
	}
	fmt.Fprintf(w, "It authenticates with private_key_jwt: register the JWKS URI https://<Comune host>/_auth/jwks at the provider (current key %s, %s).\n", p.Keys[0].ID, p.Keys[0].Alg)
}

// tenantOIDCRotate rolls the private_key_jwt key of a provider.
func tenantOIDCRotate(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("oidc rotate-key", stderr)
	id := fs.String("id", "", "provider `id` (required)")
	alg := fs.String("alg", "", "`algorithm` of the new key: RS256 or ES256 (default: the provider's)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 1 || *id == "" {
		fmt.Fprintln(stderr, "usage: sportello tenant oidc rotate-key COMUNE --id ID [--alg RS256|ES256] [--data DIR] [--json]")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var saved auth.Provider
	path := "/v1/tenants/" + pos[0] + "/oidc-providers/" + url.PathEscape(*id) + "/rotate-key?alg=" + url.QueryEscape(*alg)
	if err := newAdminClient(*dataDir).do(ctx, "POST", path, nil, &saved); err != nil {
		return reportAdminError(stderr, "tenant oidc rotate-key", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, saved)
	}
	fmt.Fprintf(stdout, "New key %s for provider %s of %s; the previous key stays published until the next rotation.\n", saved.Keys[0].ID, saved.ID, pos[0])
	printKeys(stdout, saved)
	return exitOK
}

// parseRoleRule parses GROUP=ROLE[:OFFICE,...].
func parseRoleRule(s string) (auth.RoleRule, bool) {
	group, grant, ok := strings.Cut(s, "=")
	if !ok || group == "" || grant == "" {
		return auth.RoleRule{}, false
	}
	role, offices, _ := strings.Cut(grant, ":")
	r := auth.RoleRule{Group: group, Grant: auth.Grant{Role: auth.Role(role)}}
	if offices != "" {
		r.Grant.Offices = strings.Split(offices, ",")
	}
	return r, true
}

func tenantOIDCList(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("oidc list", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: sportello tenant oidc list COMUNE [--data DIR] [--json]")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var out struct {
		Providers []auth.Provider `json:"providers"`
	}
	if err := newAdminClient(*dataDir).do(ctx, "GET", "/v1/tenants/"+pos[0]+"/oidc-providers", nil, &out); err != nil {
		return reportAdminError(stderr, "tenant oidc list", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tISSUER\tCLIENT ID")
	for _, p := range out.Providers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Issuer, p.ClientID)
	}
	tw.Flush()
	return exitOK
}
