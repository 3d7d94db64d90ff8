// Package auth is the domain side of operators' and administrators' login:
// each Comune's OpenID Connect providers (issuer, client, scopes,
// acr_values, claim mapping and the rules that turn groups into roles),
// the users those providers vouch for (keyed by issuer and subject, never
// by email), their roles, their sessions with idle and absolute timeouts,
// and the short-lived, single-use state of a login in progress (state,
// nonce, PKCE verifier).
//
// Everything is replicated: every write is a command (auth.provider.save,
// auth.flow.begin, auth.flow.consume, auth.login, auth.session.touch, ...)
// applied by every node, so a session created through one node is valid
// on all of them. Apply functions decide with the command's leader-stamped
// time, never the local clock; random values (session IDs, state, nonce,
// verifier) are drawn by the proposing node and only their SHA-256 hashes
// are stored where a stored value would let a reader act as the user.
//
// The package does not import net/http: the OpenID Connect exchange
// (discovery, code exchange, ID token verification with go-oidc), cookies
// and CSRF checks live in auth/web. DESIGN.md explains the choices.
package auth
