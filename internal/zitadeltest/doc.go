// Package zitadeltest runs, inside a test process, an OpenID provider
// built on github.com/zitadel/oidc/v3's op package: a provider Sportello
// did not write, used to test the operator login for interoperability.
// Its storage is in memory and its login step approves every
// authorization request for one preset user, so tests need no browser.
package zitadeltest
