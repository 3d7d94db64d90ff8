// Package tenant is the registry of the Comuni a cluster hosts: their
// names, ISTAT codes, host names, branding, time zone, languages, patron
// saints and email sender, and the calendar facts every Comune shares
// (Italian national holidays). Host names resolve to a Tenant here; the HTTP
// middleware that does it per request lives in tenant/site, since domain
// packages do not import net/http.
package tenant
