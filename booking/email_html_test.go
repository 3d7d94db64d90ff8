package booking

import (
	"bytes"
	"html/template"
	"testing"
	"time"
)

// emailHTMLTemplate is the HTML part as the html/template it was until
// writeEmailHTML replaced it: the reference that the hand-written page must
// match byte for byte, escaping included.
var emailHTMLTemplate = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: 'Titillium Web', Geneva, Tahoma, sans-serif; color: #1a1a1a; line-height: 1.5;">
<h1 style="font-size: 1.4em; color: #0066cc;">{{.Heading}}</h1>
<p>{{.Greeting}}</p>
{{- if and .Move .Previous}}
<p>{{.Intro}} {{.L.previous}}: <s>{{.Previous}}</s>.</p>
{{- else if and .Cancel .Reason}}
<p>{{.Intro}}</p>
<p><strong>{{.L.reason}}:</strong> {{.Reason}}</p>
<p>{{.L.apology}}</p>
{{- else}}
<p>{{.Intro}}</p>
{{- end}}
<table role="presentation" style="border-collapse: collapse;">
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.code}}</th><td><strong>{{.Code}}</strong></td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.service}}</th><td>{{.Service}}</td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.when}}</th><td>{{.When}}</td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.channel}}</th><td>{{.Channel}}</td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.where}}</th><td>{{.Where}}</td></tr>
{{- if .Phone}}
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.call_number}}</th><td>{{.Phone}}</td></tr>
{{- end}}
{{- if .Details}}
<tr><th scope="row" style="text-align: left; padding-right: 1em;">{{.L.details}}</th><td>{{.Details}}</td></tr>
{{- end}}
</table>
{{- if not .Cancel}}
{{- if .WhatToBring}}
<h2 style="font-size: 1.1em;">{{.L.what_to_bring}}</h2>
<ul>{{range .WhatToBring}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
{{- if .Prepare}}
<h2 style="font-size: 1.1em;">{{.L.prepare}}</h2>
<p>{{.Prepare}}</p>
{{- end}}
{{- if .JoinURL}}
<p><a href="{{.JoinURL}}" style="font-weight: bold;">{{.L.join_action}}</a></p>
{{- end}}
{{- if .ConfirmURL}}
<p>{{.ConfirmText}} <a href="{{.ConfirmURL}}" style="font-weight: bold;">{{.L.confirm_keep_action}}</a></p>
{{- end}}
{{- if .ManageURL}}
<p><a href="{{.ManageURL}}">{{.ManageAction}}</a>{{if .ManageByShort}} ({{.ManageByShort}}){{end}}.
{{.L.manage_secret_long}}</p>
{{- end}}
<p>{{.L.attachment}}</p>
{{- else if .BookURL}}
<p><a href="{{.BookURL}}">{{.L.book_new}}</a></p>
{{- end}}
<hr>
<p style="font-size: 0.9em;">{{.Tenant}} – {{.Office}}
{{- if .OfficePhone}}<br>{{.L.phone}}: {{.OfficePhone}}{{end}}
{{- if .OfficeEmail}}<br>{{.L.email}}: <a href="mailto:{{.OfficeEmail}}">{{.OfficeEmail}}</a>{{end}}<br>
{{.L.automatic}}</p>
</body>
</html>
`))

// TestEmailHTMLMatchesTemplate: the hand-written HTML part is the
// template's, for every kind of notice, channel and language, and for
// values that need escaping in text and in links.
func TestEmailHTMLMatchesTemplate(t *testing.T) {
	t.Parallel()
	for name, n := range compactCases() {
		for _, lang := range Languages() {
			n := n
			n.Booking.Lang = lang
			v := newEmailView(n, n.location())
			var want, got bytes.Buffer
			if err := emailHTMLTemplate.Execute(&want, v); err != nil {
				t.Fatal(err)
			}
			writeEmailHTML(&got, v)
			if got.String() != want.String() {
				t.Errorf("%s/%s: HTML differs from the template's:\n%s\nwant\n%s", name, lang, got.String(), want.String())
			}
		}
	}
	// Links with odd schemes and bytes, and escapes already there.
	n := testNotice(NoticeConfirm, Video)
	n.ManageURL = "https://bari.example.it/prenotazioni/X?token=a+b&c='d' é%41%4%zz\x00<>"
	n.JoinURL = "javascript:alert(1)"
	n.ConfirmURL = "HTTPS://x/y z"
	n.OfficeEmail = "uff'icio+1@comune.bari.it?subject=ciao &x"
	v := newEmailView(n, n.location())
	v.BookURL, v.Cancel = "data:text/html,<b>", false
	var want, got bytes.Buffer
	if err := emailHTMLTemplate.Execute(&want, v); err != nil {
		t.Fatal(err)
	}
	writeEmailHTML(&got, v)
	if got.String() != want.String() {
		t.Errorf("odd links: HTML differs:\n%s\nwant\n%s", got.String(), want.String())
	}
}

// FuzzEmailHTML: whatever the texts and links, the page is the
// template's.
func FuzzEmailHTML(f *testing.F) {
	f.Add("Maria <b>", "https://x.it/a?b=c&d=e", "mailto:a@b.it", "a'b\x00+", true)
	f.Add("\xff\xfe", "javascript:x", "Ab%4", "", false)
	f.Fuzz(func(t *testing.T, text, link, mail, reason string, cancel bool) {
		n := testNotice(NoticeMove, Phone)
		if cancel {
			n = testNotice(NoticeCancel, InPerson)
		}
		n.Booking.Citizen.GivenName, n.Booking.Details, n.Reason = text, text, reason
		n.ManageURL, n.JoinURL, n.BookURL, n.ConfirmURL = link, link, link, mail
		n.OfficeEmail, n.OfficeAddress = mail, text
		n.WhatToBring = []string{text, reason}
		v := newEmailView(n, time.UTC)
		var want, got bytes.Buffer
		if err := emailHTMLTemplate.Execute(&want, v); err != nil {
			t.Fatal(err)
		}
		writeEmailHTML(&got, v)
		if got.String() != want.String() {
			t.Fatalf("HTML differs:\n%q\nwant\n%q", got.String(), want.String())
		}
	})
}
