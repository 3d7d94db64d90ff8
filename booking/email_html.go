package booking

import (
	"bytes"
	"strings"
)

// The HTML part of the email, written by hand. It was an html/template;
// executing it cost the leader about a third of composing an email (40–50
// µs), nearly all of it reflection: a field lookup and a call of an
// escaping function through reflect for every one of its forty-odd
// actions. The page has one fixed shape, and every value goes through the
// escaper html/template chose for its place — text and attribute values
// (htmlEscape), links in href (safeURL then htmlEscape) — written here to
// give the same bytes: TestEmailHTMLMatchesTemplate and FuzzEmailHTML
// compare the two on every kind of notice and on arbitrary text.

// writeEmailHTML appends the HTML part of the email of v to buf.
func writeEmailHTML(buf *bytes.Buffer, v emailView) {
	l := v.L
	w := func(parts ...string) {
		for _, p := range parts {
			buf.WriteString(p)
		}
	}
	e := func(s string) { htmlEscape(buf, s) }
	const th = `<tr><th scope="row" style="text-align: left; padding-right: 1em;">`
	w("<!DOCTYPE html>\n<html lang=\"")
	e(v.Lang)
	w("\">\n<head><meta charset=\"utf-8\"><title>")
	e(v.Subject)
	w("</title></head>\n<body style=\"font-family: 'Titillium Web', Geneva, Tahoma, sans-serif; color: #1a1a1a; line-height: 1.5;\">\n<h1 style=\"font-size: 1.4em; color: #0066cc;\">")
	e(v.Heading)
	w("</h1>\n<p>")
	e(v.Greeting)
	w("</p>")
	switch {
	case v.Move && v.Previous != "":
		w("\n<p>")
		e(v.Intro)
		w(" ")
		e(l["previous"])
		w(": <s>")
		e(v.Previous)
		w("</s>.</p>")
	case v.Cancel && v.Reason != "":
		w("\n<p>")
		e(v.Intro)
		w("</p>\n<p><strong>")
		e(l["reason"])
		w(":</strong> ")
		e(v.Reason)
		w("</p>\n<p>")
		e(l["apology"])
		w("</p>")
	default:
		w("\n<p>")
		e(v.Intro)
		w("</p>")
	}
	w("\n<table role=\"presentation\" style=\"border-collapse: collapse;\">\n", th)
	e(l["code"])
	w("</th><td><strong>")
	e(v.Code)
	w("</strong></td></tr>\n")
	row := func(label, value string) {
		w(th)
		e(label)
		w("</th><td>")
		e(value)
		w("</td></tr>")
	}
	row(l["service"], v.Service)
	w("\n")
	row(l["when"], v.When)
	w("\n")
	row(l["channel"], v.Channel)
	w("\n")
	row(l["where"], v.Where)
	if v.Phone != "" {
		w("\n")
		row(l["call_number"], v.Phone)
	}
	if v.Details != "" {
		w("\n")
		row(l["details"], v.Details)
	}
	w("\n</table>")
	switch {
	case !v.Cancel:
		if len(v.WhatToBring) > 0 {
			w("\n<h2 style=\"font-size: 1.1em;\">")
			e(l["what_to_bring"])
			w("</h2>\n<ul>")
			for _, s := range v.WhatToBring {
				w("<li>")
				e(s)
				w("</li>")
			}
			w("</ul>")
		}
		if v.Prepare != "" {
			w("\n<h2 style=\"font-size: 1.1em;\">")
			e(l["prepare"])
			w("</h2>\n<p>")
			e(v.Prepare)
			w("</p>")
		}
		if v.JoinURL != "" {
			w("\n<p><a href=\"")
			urlAttr(buf, v.JoinURL)
			w("\" style=\"font-weight: bold;\">")
			e(l["join_action"])
			w("</a></p>")
		}
		if v.ConfirmURL != "" {
			w("\n<p>")
			e(v.ConfirmText)
			w(" <a href=\"")
			urlAttr(buf, v.ConfirmURL)
			w("\" style=\"font-weight: bold;\">")
			e(l["confirm_keep_action"])
			w("</a></p>")
		}
		if v.ManageURL != "" {
			w("\n<p><a href=\"")
			urlAttr(buf, v.ManageURL)
			w("\">")
			e(v.ManageAction)
			w("</a>")
			if v.ManageByShort != "" {
				w(" (")
				e(v.ManageByShort)
				w(")")
			}
			w(".\n")
			e(l["manage_secret_long"])
			w("</p>")
		}
		w("\n<p>")
		e(l["attachment"])
		w("</p>")
	case v.BookURL != "":
		w("\n<p><a href=\"")
		urlAttr(buf, v.BookURL)
		w("\">")
		e(l["book_new"])
		w("</a></p>")
	}
	w("\n<hr>\n<p style=\"font-size: 0.9em;\">")
	e(v.Tenant)
	w(" – ")
	e(v.Office)
	if v.OfficePhone != "" {
		w("<br>")
		e(l["phone"])
		w(": ")
		e(v.OfficePhone)
	}
	if v.OfficeEmail != "" {
		w("<br>")
		e(l["email"])
		w(": <a href=\"mailto:")
		// After "mailto:" html/template only normalises the value
		// (no scheme check), then escapes it for the attribute.
		var n strings.Builder
		normalizeURL(&n, v.OfficeEmail)
		e(n.String())
		w("\">")
		e(v.OfficeEmail)
		w("</a>")
	}
	w("<br>\n")
	e(l["automatic"])
	w("</p>\n</body>\n</html>\n")
}

// htmlEscape appends s escaped as html/template escapes a string in text
// and in a quoted attribute: NUL becomes U+FFFD, and " & ' + < > their
// character references; every other byte (also of invalid UTF-8) stays.
func htmlEscape(buf *bytes.Buffer, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var repl string
		switch s[i] {
		case 0:
			repl = "\uFFFD"
		case '"':
			repl = "&#34;"
		case '&':
			repl = "&amp;"
		case '\'':
			repl = "&#39;"
		case '+':
			repl = "&#43;"
		case '<':
			repl = "&lt;"
		case '>':
			repl = "&gt;"
		default:
			continue
		}
		buf.WriteString(s[start:i])
		buf.WriteString(repl)
		start = i + 1
	}
	buf.WriteString(s[start:])
}

// urlAttr appends the link s as html/template writes a value that is a
// whole href attribute: a scheme other than http, https and mailto makes
// it "#ZgotmplZ"; the rest is normalised (bytes that may not appear in a
// URL percent-encoded) and escaped for the attribute.
func urlAttr(buf *bytes.Buffer, s string) {
	if scheme, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(scheme, "/") &&
		!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "mailto") {
		buf.WriteString("#ZgotmplZ")
		return
	}
	var n strings.Builder
	normalizeURL(&n, s)
	htmlEscape(buf, n.String())
}

// normalizeURL writes s with every byte that is neither unreserved nor
// reserved in RFC 3986 percent-encoded (lower-case hex), leaving valid
// percent escapes as they are: html/template's URL normaliser.
func normalizeURL(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.Grow(len(s) + 16)
	written := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '!', '#', '$', '&', '*', '+', ',', '/', ':', ';', '=', '?', '@', '[', ']', '-', '.', '_', '~':
			continue
		case '%':
			if i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
				continue
			}
		}
		b.WriteString(s[written:i])
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
		written = i + 1
	}
	b.WriteString(s[written:])
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
