// Package web serves a Comune's own pages that are not booking, queue or
// calls: for now its legal documents, the privacy notice at /privacy and
// the accessibility statement at /accessibilita, and their editors in the
// back office (/gestione/comune/privacy, /gestione/comune/accessibilita),
// which only the Comune's administrator may use. The documents live in
// tenant/legal; this package renders them in the Comune's layout and
// turns forms into saves.
package web
