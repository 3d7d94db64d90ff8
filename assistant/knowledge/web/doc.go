// Package web serves the back-office pages where a Comune's administrator
// teaches the virtual assistant (/gestione/assistente): the FAQ entries
// and synonym groups of package knowledge, and a test box that shows what
// the assistant would understand of a sentence and why (the terms it
// searched, the services it ranked with their scores, the FAQ it would
// quote). The pages are Italian, work without JavaScript, and every form
// is behind the Comune administrator's role and the session's CSRF token.
// Storage and the index live in package knowledge; nothing here writes
// but through it.
package web
