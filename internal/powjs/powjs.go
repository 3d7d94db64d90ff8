// Package powjs holds the browser's side of the proof of work that
// booking and the queue ask of remote citizens: one SHA-256 solver in
// JavaScript, which each web package serves in front of its own page
// script, so that the two forms run the same code. The server's check is
// each package's own (booking/fair_pow.go, queue/web/pow.go); both hash
// the challenge followed by the decimal counter.
package powjs

import _ "embed"

//go:embed pow.js
var source string

// Source returns the solver's script.
func Source() string { return source }

// With returns the script a page is served: the solver, then page, the
// page's own script, which uses the global sportelloPow. The result is
// also the page's Web Worker, which runs only the solver's part.
func With(page string) string { return source + "\n" + page }
