package web

import "github.com/sportello-virtuale/sportello/tenant/site"

// messages are the strings of the package's pages, one file per language
// (messages_it.go, messages_en.go, messages_de.go). The citizen's pages
// follow the request's language; the back office's pages (gestione_*)
// share the partials and the export page with them but are always
// rendered in Italian, because site negotiates no language under
// /gestione.
var messages = site.Messages{"it": messagesIT, "en": messagesEN, "de": messagesDE}

// tr returns key's text in lang, with fmt args when given.
func tr(lang, key string, args ...any) string {
	return site.Translate(messages, lang, key, args...)
}
