// Package web is the HTTP side of operators' login: the OpenID Connect
// relying party of every Comune (GET /_auth/login, GET /_auth/callback,
// POST /_auth/logout), the session cookie, the middleware that loads the
// session of each request, the provider chooser page, the RequireRole check and the CSRF token of
// back-office forms.
//
// POST /_auth/backchannel-logout?provider=ID receives the provider's
// back-channel logout tokens (register it as backchannel_logout_uri).
//
// The relying party uses go-oidc for discovery and ID token verification
// and x/oauth2 for the code exchange; the flow's secrets (state, nonce,
// PKCE verifier) and the sessions live in the replicated state through
// package auth, so that any node can finish a login another began and
// accept a session another created.
//
// # Wiring
//
//	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB()})
//	aw, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: log})
//	aw.Routes(tenantMux)
//	root.Handle("/", s.Tenant(aw.Sessions(tenantMux)))
//	// a back-office route:
//	tenantMux.Handle("GET /backoffice/", aw.RequireRole(auth.RoleOperator, h))
//
// # Cookies
//
// __Host-sportello_session holds the session's secret and the log index
// that created it (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain);
// __Host-sportello_login binds a login in progress to the browser that
// began it and lives as long as the flow. Nothing else is stored in the
// browser.
package web
