// Package tenant is the registry of the Comuni a cluster hosts: their
// names, ISTAT codes, host names, branding, time zone, languages, patron
// saints and email sender, and the calendar facts every Comune shares
// (Italian national holidays, Easter, Italian date formatting). Host names
// resolve to a Tenant here; the HTTP middleware that does it per request
// lives in tenant/site, since domain packages do not import net/http.
//
// Writes are the commands tenant.create and tenant.update, whose apply
// functions (added to a cluster.Registry by Register, with the schema) check
// every invariant themselves: a valid tenant, a unique ID, domains no other
// Comune uses and that are not under the base domain (stamped into the
// payload by the proposer). Registry proposes them and reads the local
// SQLite view; Registry.Resolve is also what decides which host names may
// get a certificate. Every row is keyed by the tenant ID.
//
// A Comune's service ends in two steps (lifecycle.go, DESIGN.md).
// tenant.disable keeps every row and makes Resolve answer the Comune with
// ErrDisabled: its hosts answer 503, its back office and API refuse, and
// no certificate is issued for its names; tenant.enable undoes it.
// tenant.delete, only for a disabled Comune, removes the registry's own
// rows (the Comune, its domains, its settings) and keeps a tombstone, so
// that its ID is never given to another Comune. It does not reach into
// other packages' tables: bookings, queues, users, call documents and
// audit rows keyed by the ID stay until the privacy package's erasure and
// retention remove them, as they remove any other data that has served
// its purpose.
package tenant
