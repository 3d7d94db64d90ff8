package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// callbackPath is the redirect URI's path, to register at the provider as
// https://<host>/_auth/callback for each host of the Comune.
const callbackPath = "/_auth/callback"

// oauthConfig is the OAuth 2.0 client of provider p on the request's host.
func (h *Handler) oauthConfig(r *http.Request, p auth.Provider, d *discovered) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: d.provider.Endpoint(),
		RedirectURL: h.origin(r) + callbackPath, Scopes: append([]string{oidc.ScopeOpenID}, p.Scopes...),
	}
}

// choice is a provider on the chooser page.
type choice struct{ Name, URL string }

// choose shows the Comune's providers, each a link that begins a login
// with it (and the same return path).
func (h *Handler) choose(w http.ResponseWriter, r *http.Request, ps []auth.Provider) {
	if h.pages == nil {
		h.fail(w, r, errNoProvider)
		return
	}
	var data struct{ Providers []choice }
	for _, p := range ps {
		v := url.Values{"provider": {p.ID}}
		if ret := r.URL.Query().Get("return"); ret != "" {
			v.Set("return", localPath(ret))
		}
		data.Providers = append(data.Providers, choice{Name: p.Name, URL: "/_auth/login?" + v.Encode()})
	}
	h.pages.Render(w, r, http.StatusOK, "accedi.html", site.Page{
		Title:       "Accesso per il personale",
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Accesso per il personale"}},
		Data:        data,
	})
}

// login begins a login: GET /_auth/login?provider=ID&return=/path. With no
// provider and exactly one configured, that one is used. The flow is
// recorded in the replicated state, the browser gets the binding cookie
// and is sent to the provider with state, nonce and a PKCE S256
// challenge.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ctx := r.Context()
	id := r.URL.Query().Get("provider")
	if id == "" {
		ps, err := h.store.Providers(ctx, t.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if len(ps) != 1 {
			h.choose(w, r, ps)
			return
		}
		id = ps[0].ID
	}
	p, err := h.store.Provider(ctx, t.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.discover(ctx, p.Issuer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.limiter.allow(h.clientKey(r), h.now()) {
		w.Header().Set("Retry-After", "60")
		h.fail(w, r, errTooManyLogins)
		return
	}
	f, err := h.store.BeginLogin(ctx, t.ID, p.ID, localPath(r.URL.Query().Get("return")))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier), oidc.Nonce(f.Nonce)}
	if len(p.ACRValues) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(p.ACRValues, " ")))
	}
	setCookie(w, FlowCookie, f.Binding, h.store.FlowTTL())
	http.Redirect(w, r, h.oauthConfig(r, p, d).AuthCodeURL(f.State, opts...), http.StatusSeeOther)
}
