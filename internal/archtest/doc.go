// Package archtest holds guard-rail tests over the whole module: the import
// direction of ARCHITECTURE.md, domain packages free of net/http, and a doc
// comment on every package. It has no code of its own.
package archtest
