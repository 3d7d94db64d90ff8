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
//
// The citizen pages speak the language tenant/site negotiated (Italian,
// English or German): their strings are in the catalog messages_it.go,
// messages_en.go and messages_de.go, read by .T and T in the templates
// and by tr in the Go code. Domain messages arrive in Italian and are
// translated by their text (tr.msg), each being the Italian text of an
// "err." key. A booking made on the pages records the page's language;
// POST /api/v1/bookings takes "lang", which also sets the language of
// that answer's messages (Italian without it, whatever Accept-Language
// says). The back office is Italian.
package web
