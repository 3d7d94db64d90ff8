// Package mailpage lays out Sportello's automatic emails: one Comune's
// name, a heading, a few paragraphs, at most one link and a footer, as a
// plain-text part and a self-contained HTML part (nothing fetched from
// elsewhere), in one multipart/alternative message, UTF-8 and
// quoted-printable.
//
// It holds the layout only. The words, their language and who the email
// goes to are the calling package's (privacy/requests, booking's waiting
// list, the queue's notices): each keeps its own catalog and frozen notice. The Message-ID and
// the MIME boundary derive from a key the caller names, so a resend of
// the same notice after a failure or a change of leader carries the same
// Message-ID and mail clients see one message.
package mailpage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Page is what one email says, already in its language.
type Page struct {
	// Lang is the language of the words: <html lang> and
	// Content-Language.
	Lang string
	// Subject is the email's subject; Heading the page's title ("" is
	// the subject).
	Subject, Heading string
	// Tenant is the Comune's name, shown above the heading.
	Tenant string
	// Hello is an optional greeting paragraph ("Gentile Maria,").
	Hello string
	// Lines are the paragraphs.
	Lines []string
	// Link is an optional address. LinkText, when set, is the sentence
	// that introduces it; LinkLabel, when set, is the anchor's text, and
	// the address is then shown below it as well, for a reader whose
	// client does not follow links.
	Link, LinkText, LinkLabel string
	// After are paragraphs below the link (what happens next, what to
	// do if the citizen did not ask).
	After []string
	// Footer closes the email, below a rule.
	Footer string
}

func (p Page) heading() string {
	if p.Heading != "" {
		return p.Heading
	}
	return p.Subject
}

// Text is the plain-text part.
func (p Page) Text() string {
	var b strings.Builder
	b.WriteString(p.Tenant + "\n\n" + p.heading() + "\n\n")
	if p.Hello != "" {
		b.WriteString(p.Hello + "\n\n")
	}
	for _, l := range p.Lines {
		b.WriteString(l + "\n\n")
	}
	if p.Link != "" {
		if p.LinkText != "" {
			b.WriteString(p.LinkText + "\n")
		}
		b.WriteString(p.Link + "\n\n")
	}
	for _, l := range p.After {
		b.WriteString(l + "\n\n")
	}
	b.WriteString("-- \n" + p.Footer + "\n")
	return b.String()
}

// page is the HTML layout; html/template escapes every field.
var page = template.Must(template.New("mailpage").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #1a1a1a;">
<p style="font-size: 0.9em; color: #5c6f82;">{{.Tenant}}</p>
<h1 style="font-size: 1.4em;">{{.Heading}}</h1>
{{with .Hello}}<p>{{.}}</p>
{{end}}{{range .Lines}}<p>{{.}}</p>
{{end}}{{with .Link}}<p>{{with $.LinkText}}{{.}}<br>{{end}}<a href="{{.}}">{{if $.LinkLabel}}{{$.LinkLabel}}{{else}}{{.}}{{end}}</a></p>
{{if $.LinkLabel}}<p style="font-size: 0.85em;">{{.}}</p>
{{end}}{{end}}{{range .After}}<p>{{.}}</p>
{{end}}<hr>
<p style="font-size: 0.85em; color: #5c6f82;">{{.Footer}}</p>
</body>
</html>
`))

// HTML is the HTML part.
func (p Page) HTML() (string, error) {
	v := p
	v.Heading = p.heading()
	var b bytes.Buffer
	if err := page.Execute(&b, v); err != nil {
		return "", fmt.Errorf("mailpage: %w", err)
	}
	return b.String(), nil
}

// Envelope is who sends the email to whom, and what names it.
type Envelope struct {
	From netmail.Address
	To   string
	Date time.Time
	// Key names the notice (an outbox key, for example): the
	// Message-ID's local part and the boundary are derived from its
	// SHA-256.
	Key string
	// Domain is the Message-ID's right-hand side
	// ("bari.privacy.sportello"); BoundaryPrefix starts the boundary
	// ("sportello-p-").
	Domain, BoundaryPrefix string
}

// Compose builds the message: headers, then the text and HTML parts.
func Compose(e Envelope, p Page) ([]byte, error) {
	if e.From.Address == "" || e.To == "" {
		return nil, errors.New("mailpage: no sender or recipient")
	}
	html, err := p.HTML()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(e.Key))
	boundary := e.BoundaryPrefix + hex.EncodeToString(sum[:12])
	var buf bytes.Buffer
	header := func(name, value string) { buf.WriteString(name + ": " + value + "\r\n") }
	header("From", e.From.String())
	header("To", (&netmail.Address{Address: e.To}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", p.Subject))
	header("Date", e.Date.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+e.Domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	header("Content-Language", p.Lang)
	header("Auto-Submitted", "auto-generated")
	buf.WriteString("\r\n")
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}
	for _, part := range []struct{ typ, body string }{{"text/plain", p.Text()}, {"text/html", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
