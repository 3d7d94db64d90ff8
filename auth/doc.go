// Package auth will hold operators' and administrators' login through each
// Comune's OpenID Connect provider (go-oidc), sessions, roles, CSRF
// protection and citizen verification. Its pages will live in auth/web.
package auth
