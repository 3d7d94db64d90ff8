// Package legal keeps each Comune's legal pages: the privacy notice
// (GDPR art. 13) and the accessibility statement (AgID's model). A Comune
// starts with Italian templates filled in with its own data (name,
// address, data protection officer, retention), which its administrator
// may replace with an edited text in a restricted markup: paragraphs,
// headings, lists, links and emphasis, sanitised by Sanitize both when
// the text is proposed and again in apply, so that no node ever stores
// or serves markup outside that set.
//
// Every write is the replicated command legal.save; the tenant ID is the
// command's tenant and the first column of every row and query. The
// pages that show and edit the documents live in tenant/web; this
// package speaks no HTTP.
package legal
