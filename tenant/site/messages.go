package site

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// Messages are a web package's strings: language → key → text. A text may
// hold fmt verbs, filled by the args of Translate or .T. Italian is the
// reference: it has every key, and every other language must have exactly
// Italian's keys (Missing checks it, each package's test calls Missing).
// A package keeps its catalog as Go maps, one file per language
// (messages_it.go, messages_en.go, messages_de.go), read-only after
// package initialisation.
type Messages map[string]map[string]string

// Missing returns "lang:key" for every key of Italian missing in one of
// langs, and "lang:key" for every key of another language (any language of
// m, and langs) that Italian lacks, sorted. With no langs it checks every
// language of Languages(). A complete catalog gives an empty slice.
func (m Messages) Missing(langs ...string) []string {
	if len(langs) == 0 {
		langs = Languages()
	}
	var out []string
	it := m[defaultLang]
	for _, l := range langs {
		if l == defaultLang {
			continue
		}
		for k := range it {
			if _, ok := m[l][k]; !ok {
				out = append(out, l+":"+k)
			}
		}
	}
	for l, dict := range m {
		if l == defaultLang {
			continue
		}
		for k := range dict {
			if _, ok := it[k]; !ok {
				out = append(out, l+":"+k)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// supported are the languages Sportello has catalogs for, Italian first.
var supported = [...]string{"it", "en", "de"}

// languageNames are the languages' own names, as the language switch
// shows them: a citizen looks for their language written in it.
var languageNames = map[string]string{"it": "Italiano", "en": "English", "de": "Deutsch"}

// Languages returns the languages Sportello's pages are written in,
// Italian (the default) first: {"it", "en", "de"}.
func Languages() []string { return supported[:] }

// LanguageName returns lang's own name ("Deutsch" for "de"), or lang
// itself for a language Sportello does not know.
func LanguageName(lang string) string {
	if n, ok := languageNames[lang]; ok {
		return n
	}
	return lang
}

// isSupported reports whether Sportello has a catalog for lang.
func isSupported(lang string) bool { return slices.Contains(supported[:], lang) }

// NormalizeLang returns lang when it is one of Languages(), else "it": the
// language a booking, an email or a page is written in.
func NormalizeLang(lang string) string {
	if isSupported(lang) {
		return lang
	}
	return defaultLang
}

// WithLang returns ctx carrying lang, as the Tenant middleware does after
// negotiating it; tests and non-HTTP callers use it to render a page in a
// language.
func WithLang(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, langKey, NormalizeLang(lang))
}

// LangFrom returns the request's language, negotiated by the Tenant
// middleware (see Negotiate); "it" outside it and on the back office.
func LangFrom(ctx context.Context) string {
	if l, ok := ctx.Value(langKey).(string); ok && l != "" {
		return l
	}
	return defaultLang
}

// Translate returns the text of key in lang: from m, then from the
// layout's own catalog, then the same two in Italian, then the key itself
// (so a missing key shows on the page instead of an empty text). With
// args the text is a fmt format.
func Translate(m Messages, lang, key string, args ...any) string {
	s, ok := lookup(m, lang, key)
	if !ok && lang != defaultLang {
		s, ok = lookup(m, defaultLang, key)
	}
	if !ok {
		s = key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// lookup finds key in lang in m, then in the layout's catalog.
func lookup(m Messages, lang, key string) (string, bool) {
	if s, ok := m[lang][key]; ok {
		return s, true
	}
	s, ok := dictionaries[lang][key]
	return s, ok
}
