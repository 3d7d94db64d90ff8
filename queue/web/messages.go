package web

import (
	"strings"

	"github.com/sportello-virtuale/sportello/tenant/site"
)

// citizenMessages are the strings of the queue's citizen pages (ticket
// form, ticket, waiting room, kiosk, board) and of their scripts, one
// file per language (messages_it.go, messages_en.go, messages_de.go).
// The back office's pages (desk, configuration, statistics) stay
// Italian and keep their own text.
var citizenMessages = site.Messages{"it": messagesIT, "en": messagesEN, "de": messagesDE}

// tr returns key's text in lang, with fmt args when given.
func tr(lang, key string, args ...any) string {
	return site.Translate(citizenMessages, lang, key, args...)
}

// scriptPrefixes are the key prefixes of the texts queue.js and push.js
// show. The pages hand them over in a JSON element (id "coda-testi"), in
// the page's language, so the scripts hold no text of their own.
var scriptPrefixes = []string{"state.", "room.", "wait.", "desk.", "proof.", "board.js.", "push.js."}

// scriptStrings returns the scripts' texts in lang, by key.
func scriptStrings(lang string) map[string]string {
	out := map[string]string{}
	for k := range messagesIT {
		for _, p := range scriptPrefixes {
			if strings.HasPrefix(k, p) {
				out[k] = tr(lang, k)
				break
			}
		}
	}
	return out
}

// place is how a sentence names a desk in lang: "sportello 4" ("desk 4",
// "Schalter 4") for a bare number, the label itself otherwise ("Stanza
// 12"), so that no page says "sportello Sportello 4". queue.js has the
// same rule with the same key.
func place(lang, desk string) string {
	if desk != "" && strings.Trim(desk, "0123456789") == "" {
		return tr(lang, "desk.number", desk)
	}
	return desk
}

// voiceLang is the BCP 47 tag of the hall board's speech synthesis for a
// page language: the voice must read the phrase in the language it is
// written in.
func voiceLang(lang string) string {
	switch lang {
	case "en":
		return "en-GB"
	case "de":
		return "de-DE"
	}
	return "it-IT"
}

// problemText is a problem's message in lang: the catalog's text of its
// code, or, for a code the catalog does not know, the Italian message
// classify gives (the API's).
func problemText(lang string, p problem) string {
	if _, ok := messagesIT["problem."+p.Code]; ok {
		return tr(lang, "problem."+p.Code)
	}
	return p.Message
}

// fieldText is the message of a queue's field error in lang: the
// catalog's text of the field, or the queue's own (Italian) message for
// a field the citizen's pages never send.
func fieldText(lang, field, msg string) string {
	if _, ok := messagesIT["field."+field]; ok {
		return tr(lang, "field."+field)
	}
	return msg
}
