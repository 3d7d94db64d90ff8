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
package tenant
