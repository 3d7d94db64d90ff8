// Package web serves citizens' data-protection requests (package
// privacy/requests): the back office at /gestione/privacy, where a
// supervisor or the Comune administrator searches a citizen, downloads
// their export and files an erasure request, and the administrator
// decides it; and the citizen's own pages at /privacy/richiesta, where an
// email address is verified by a one-time link before its data is shown.
package web
