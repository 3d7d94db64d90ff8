// Package oidctest runs a real OpenID Connect provider inside a test
// process, for the tests of auth/web and of anything that logs operators
// in. It is not a mock: it follows OpenID Connect Core and Discovery over
// real HTTPS (httptest's TLS server), with its own RSA signing key, a
// discovery document, a JWKS endpoint, an authorization endpoint (code
// flow, PKCE S256 required, RFC 9207 "iss" in the response), a login step
// a test drives over HTTP without a browser (automatic login of a chosen
// user, or a username/password form), a token endpoint (client_secret_basic
// and client_secret_post, single-use codes, PKCE check), a userinfo
// endpoint and an end_session endpoint (RP-initiated logout).
//
// Negative tests change what the provider signs through OnIDToken: other
// claims (issuer, audience, expiry, nonce), another key, an unknown key ID
// or no signature at all (alg "none"). Refusals of the provider itself
// (a reused code, a wrong verifier) are recorded and listed by Refusals.
//
// It is built on go-jose and net/http rather than zitadel/oidc's op
// package: op needs a storage of some twenty-five methods plus client and
// request types, and negative tests would still have to re-sign its
// tokens; DESIGN.md in package auth says more.
package oidctest
