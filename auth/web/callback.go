package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
)

// callback finishes a login: GET /_auth/callback?code&state[&iss]. The
// state is consumed first, whatever follows, so it never serves twice.
// Then, in order: the provider must still have the flow's issuer; the
// RFC 9207 iss parameter, when sent (and it must be when the provider
// advertises it), must be that issuer (mix-up defence); the code is
// exchanged with the PKCE verifier at that provider's token endpoint; the
// ID token is verified (signature by a key of the provider's JWKS, iss,
// aud, exp, nonce, azp); the claims are mapped; the login is recorded,
// ending the browser's previous session, and the new session's cookie is
// set.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		h.fail(w, r, errMissingState)
		return
	}
	var binding string
	if c, err := r.Cookie(FlowCookie); err == nil {
		binding = c.Value
	}
	f, err := h.store.ConsumeLogin(ctx, t.ID, state, binding)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	clearCookie(w, FlowCookie)
	p, err := h.store.Provider(ctx, t.ID, f.Provider)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, raw, err := h.verify(ctx, r, p, f)
	if err != nil {
		h.fail(w, r, fmt.Errorf("login of %s with %s: %w", t.ID, p.ID, err))
		return
	}
	var previous string
	if c, err := r.Cookie(SessionCookie); err == nil {
		previous = c.Value
	}
	res, cookie, err := h.store.Login(ctx, t.ID, id, raw, previous)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(ctx, "login", "tenant", t.ID, "provider", p.ID, "user", res.User.ID)
	// A session cookie (no Max-Age): the session's own timeouts decide.
	setCookie(w, SessionCookie, cookie, 0)
	http.Redirect(w, r, localPath(f.Return), http.StatusSeeOther)
}

// verify checks the provider's answer to flow f and returns the identity
// and the raw ID token.
func (h *Handler) verify(ctx context.Context, r *http.Request, p auth.Provider, f auth.Flow) (auth.Identity, string, error) {
	q := r.URL.Query()
	if p.Issuer != f.Issuer {
		return auth.Identity{}, "", fmt.Errorf("provider's issuer changed during the login: %w", errMixUp)
	}
	d, err := h.discover(ctx, f.Issuer)
	if err != nil {
		return auth.Identity{}, "", err
	}
	iss, sent := q["iss"]
	switch {
	case sent && (len(iss) != 1 || iss[0] != f.Issuer):
		return auth.Identity{}, "", fmt.Errorf("iss %q in the answer, flow began with %q: %w", iss, f.Issuer, errMixUp)
	case !sent && d.issParam:
		return auth.Identity{}, "", fmt.Errorf("answer without the iss the provider advertises: %w", errMixUp)
	}
	if e := q.Get("error"); e != "" {
		return auth.Identity{}, "", fmt.Errorf("%w: %s: %s", errProviderDenied, e, q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return auth.Identity{}, "", fmt.Errorf("answer without code: %w", errBadResponse)
	}
	if err := p.SecretsError(); err != nil {
		// Checked before the token request: a node that cannot open the
		// client's credentials must not look like a provider refusal.
		return auth.Identity{}, "", err
	}
	cfg, opts, err := h.tokenClient(r, p, d)
	if err != nil {
		return auth.Identity{}, "", err
	}
	tok, err := cfg.Exchange(h.clientContext(ctx), code, append(opts, oauth2.VerifierOption(f.Verifier))...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return auth.Identity{}, "", fmt.Errorf("code exchange refused: %w: %w", errBadResponse, err)
		}
		return auth.Identity{}, "", fmt.Errorf("code exchange: %w: %w", errUnreachable, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return auth.Identity{}, "", fmt.Errorf("token response without id_token: %w", errBadResponse)
	}
	v := d.provider.Verifier(&oidc.Config{ClientID: p.ClientID, Now: h.now})
	idt, err := v.Verify(h.clientContext(ctx), raw)
	if err != nil {
		return auth.Identity{}, "", fmt.Errorf("ID token: %w: %w", errBadResponse, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return auth.Identity{}, "", fmt.Errorf("ID token nonce differs from the flow's: %w", errBadResponse)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return auth.Identity{}, "", fmt.Errorf("ID token claims: %w: %w", errBadResponse, err)
	}
	azp, hasAzp := claims["azp"].(string)
	switch {
	case hasAzp && azp != p.ClientID:
		return auth.Identity{}, "", fmt.Errorf("ID token azp %q is not our client: %w", azp, errBadResponse)
	case len(idt.Audience) > 1 && !hasAzp:
		return auth.Identity{}, "", fmt.Errorf("ID token for several audiences without azp: %w", errBadResponse)
	case !slices.Contains(idt.Audience, p.ClientID):
		return auth.Identity{}, "", fmt.Errorf("ID token audience: %w", errBadResponse)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return auth.Identity{}, "", fmt.Errorf("at_hash: %w: %w", errBadResponse, err)
		}
	}
	return p.MapClaims(idt.Issuer, idt.Subject, claims), raw, nil
}

// tokenClient returns the OAuth 2.0 client of p for the code exchange,
// authenticated with p's method: the secret in the Authorization header
// (client_secret_basic, the default) or in the form (client_secret_post),
// or a client assertion signed with p's current key (private_key_jwt,
// RFC 7523), whose audience is the token endpoint or, when the provider
// asks for it, the issuer. The method is set, not detected, so that a
// refused secret is not retried another way.
func (h *Handler) tokenClient(r *http.Request, p auth.Provider, d *discovered) (*oauth2.Config, []oauth2.AuthCodeOption, error) {
	cfg := h.oauthConfig(r, p, d)
	switch p.ClientAuth.Method() {
	case auth.ClientSecretPost:
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	case auth.PrivateKeyJWT:
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		cfg.ClientSecret = ""
		a, err := p.ClientAssertion(p.AssertionAudienceFor(cfg.Endpoint.TokenURL), h.now(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("client assertion of %s: %w", p.ID, err)
		}
		return cfg, []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("client_assertion_type", auth.AssertionType),
			oauth2.SetAuthURLParam("client_assertion", a),
		}, nil
	default:
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	return cfg, nil, nil
}
