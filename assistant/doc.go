// Package assistant is the understanding core of the virtual assistant: it
// normalises Italian text (case, accents, elisions, stopwords, typos,
// stemming, synonyms), ranks a Comune's services against a citizen's words
// with BM25, decides whether the best match is clear enough to act on, and
// resolves Italian date and time expressions ("domani mattina", "il 3
// dicembre dopo le 15") in the Comune's time zone.
//
// Everything runs on the Comune's own data, in process, with no external
// service. The package holds no mutable package-level state: an Index is
// built once from a catalogue and is then read-only, safe for concurrent
// use. Web handlers (booking/web, queue/web) import this package, never the
// other way round.
package assistant
