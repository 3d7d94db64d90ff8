// Package appio talks to App IO, the public administration's app, through
// its Services API: a profile check for a codice fiscale, then a message
// with a due date. Each Comune holds one API key per service (header
// Ocp-Apim-Subscription-Key); the key is sealed at rest (Sealer) and only
// the deliverer on the leader opens it.
//
// App IO is outside the machine, so the package also carries a test
// server (FakeServer) that speaks the documented API: it checks the key,
// answers profiles and records messages. It exists for tests only; it is
// not a mock of our own code but a stand-in for a remote service we may
// not call from a test.
package appio
