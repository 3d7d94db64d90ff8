// Package web serves the citizen side of the virtual queue as a JSON API
// under /api/v1 (take a ticket, follow it, leave the line) for every
// Comune on the node, resolved from the request's Host by tenant/site.
// It holds no queue logic: rules, numbering and ordering live in package
// queue, and errors become status codes in one place (errors.go).
package web
