// Package web serves the call page of a video appointment and its
// WebSocket: the page (device check, waiting room, call, end) in the
// Comune's layout, its script call.js, and the glue that hands an
// upgraded socket to the SFU (media/sfu). It does not decide who may
// join: the caller (cmd/sportello, from a booking's join link or an
// operator's session) resolves the request into a Session and calls
// Page or Socket; this package only shows and connects it. See DESIGN.md.
package web
