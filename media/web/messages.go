package web

import (
	"strings"

	"github.com/sportello-virtuale/sportello/tenant/site"
)

// callMessages are the call page's strings, one file per language
// (messages_it.go, messages_en.go, messages_de.go). Keys under "js." are
// also call.js's: the page hands them over in the JSON element
// #call-testi, so the script holds no text of its own.
var callMessages = site.Messages{"it": messagesIT, "en": messagesEN, "de": messagesDE}

// tr returns key's text in lang, with fmt args when given.
func tr(lang, key string, args ...any) string {
	return site.Translate(callMessages, lang, key, args...)
}

// scriptStrings returns call.js's texts in lang, by key.
func scriptStrings(lang string) map[string]string {
	out := map[string]string{}
	for k := range messagesIT {
		if strings.HasPrefix(k, "js.") {
			out[k] = tr(lang, k)
		}
	}
	return out
}
