// Package web serves a Comune's citizen booking pages and the /api/v1 JSON
// API over the booking.Book of the node. The pages follow the Designers
// Italia "Prenotazione appuntamento" flow in five steps and work without
// JavaScript: each step is a plain form that carries the choices made so
// far in hidden fields, so there is no server-side session and no cookie.
// The tenant of every request comes from the Host header, resolved by the
// tenant/site middleware, never from a parameter. Domain errors are mapped
// to status codes, API error bodies and Italian page messages in one place,
// errors.go. The API's public contract is the OpenAPI document
// openapi.json, served at /api/v1/openapi.json and checked by the tests
// against the real handlers.
package web
