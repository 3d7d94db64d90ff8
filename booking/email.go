package booking

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// ErrNoSender is returned by ComposeEmail when the Comune has no sender
// address: the message cannot be sent until the administrator sets one, and
// retrying will not help.
var ErrNoSender = errors.New("the Comune has no email sender address")

// ErrNoRecipient is returned by ComposeEmail for a booking without email.
var ErrNoRecipient = errors.New("the booking has no email address")

// ComposeEmail builds the complete MIME message of a notice, in Italian:
// multipart/mixed holding a multipart/alternative (text/plain and
// text/html, UTF-8, quoted-printable) and the ICS file as a text/calendar
// attachment. from and to are the envelope addresses. The Message-ID and
// the MIME boundaries depend only on the notice, so a resend of the same
// notice is recognisable; messageDate (the time of sending) only sets the
// Date header.
func ComposeEmail(n Notice, messageDate time.Time) (from, to string, msg []byte, err error) {
	return ComposeEmailReplyTo(n, "", messageDate)
}

// ComposeEmailReplyTo is ComposeEmail with the Comune's Reply-To address
// (tenant.Settings.ReplyTo), which the message carries when the office of
// the appointment has no email of its own: the office, closer to the
// citizen, answers first. The deliverer looks the address up when it
// sends, so it is not part of the notice.
func ComposeEmailReplyTo(n Notice, replyTo string, messageDate time.Time) (from, to string, msg []byte, err error) {
	from, to = n.Sender.Address, n.Booking.Citizen.Email
	if from == "" {
		return "", "", nil, fmt.Errorf("compose email of %s: %w", n.Booking.Code, ErrNoSender)
	}
	if to == "" {
		return "", "", nil, fmt.Errorf("compose email of %s: %w", n.Booking.Code, ErrNoRecipient)
	}
	loc := n.location()
	v := newEmailView(n, loc)
	text := emailText(v)
	var html bytes.Buffer
	html.Grow(4 << 10)
	if err := emailHTML.Execute(&html, v); err != nil {
		return "", "", nil, fmt.Errorf("compose email of %s: %w", n.Booking.Code, err)
	}

	id := MessageID(n)
	sum := sha256.Sum256([]byte(id))
	mixed := "sportello-m-" + hex.EncodeToString(sum[:12])
	alt := "sportello-a-" + hex.EncodeToString(sum[:12])

	// Sized for the whole message (about 8 KB): growing step by step
	// copied it several times.
	var buf bytes.Buffer
	buf.Grow(12 << 10)
	header := func(name, value string) { buf.WriteString(foldHeader(name + ": " + value)) }
	header("From", (&mail.Address{Name: orDefault(n.Sender.Name, n.TenantName), Address: from}).String())
	header("To", (&mail.Address{Name: v.CitizenName, Address: to}).String())
	if n.OfficeEmail != "" {
		header("Reply-To", (&mail.Address{Name: n.OfficeName, Address: n.OfficeEmail}).String())
	} else if replyTo != "" {
		header("Reply-To", (&mail.Address{Name: n.TenantName, Address: replyTo}).String())
	}
	header("Subject", mime.QEncoding.Encode("utf-8", v.Subject))
	header("Date", messageDate.Format(time.RFC1123Z))
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/mixed; boundary="`+mixed+`"`)
	header("Content-Language", "it")
	header("Auto-Submitted", "auto-generated")
	buf.WriteString("\r\n")

	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(mixed); err != nil {
		return "", "", nil, fmt.Errorf("compose email: %w", err)
	}
	altPart, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {`multipart/alternative; boundary="` + alt + `"`}})
	if err != nil {
		return "", "", nil, fmt.Errorf("compose email: %w", err)
	}
	aw := multipart.NewWriter(altPart)
	if err := aw.SetBoundary(alt); err != nil {
		return "", "", nil, fmt.Errorf("compose email: %w", err)
	}
	for _, p := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html.String()}} {
		w, err := aw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return "", "", nil, fmt.Errorf("compose email: %w", err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(p.body)); err != nil {
			return "", "", nil, fmt.Errorf("compose email: %w", err)
		}
		if err := qp.Close(); err != nil {
			return "", "", nil, fmt.Errorf("compose email: %w", err)
		}
	}
	if err := aw.Close(); err != nil {
		return "", "", nil, fmt.Errorf("compose email: %w", err)
	}
	method := "REQUEST"
	if n.Kind == NoticeCancel {
		method = "CANCEL"
	}
	ics, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/calendar; charset=UTF-8; method=` + method + `; name="appuntamento.ics"`},
		"Content-Disposition":       {`attachment; filename="appuntamento.ics"`},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("compose email: %w", err)
	}
	writeBase64Lines(ics, ICS(n))
	if err := mw.Close(); err != nil {
		return "", "", nil, fmt.Errorf("compose email: %w", err)
	}
	return from, to, buf.Bytes(), nil
}

// MessageID returns the Message-ID of the notice's email: the same for
// every send of one notice, different for every change of the booking.
func MessageID(n Notice) string {
	return fmt.Sprintf("<%s.%d.%s@%s.sportello>", n.Booking.ID, n.Sequence, n.Kind, n.Tenant)
}

// emailView is what the email templates show, with times already in the
// Comune's zone.
type emailView struct {
	Kind NoticeKind
	// Confirm, Move and Cancel say which Kind it is: the template tests
	// them as fields, cheaper than comparisons it would call through
	// reflection for every email the leader sends.
	Confirm, Move, Cancel bool
	Subject               string
	Heading               string
	CitizenName           string
	Tenant                string
	Code                  string
	Service               string
	When                  string
	Previous              string
	Channel               string
	Where                 string
	Phone                 string
	WhatToBring           []string
	Prepare               string
	JoinURL               string
	ManageURL             string
	CancelBy              string
	BookURL               string
	Office                string
	OfficePhone           string
	OfficeEmail           string
	Details               string
	// Reason is the office's reason for a cancellation it made.
	Reason string
}

func newEmailView(n Notice, loc *time.Location) emailView {
	b := n.Booking
	v := emailView{
		Kind: n.Kind, Tenant: n.TenantName, Code: b.Code, Service: n.ServiceName,
		CitizenName: strings.TrimSpace(b.Citizen.GivenName + " " + b.Citizen.FamilyName),
		When:        span(b.Start, b.End, loc), Channel: channelLabel(b.Channel),
		WhatToBring: n.WhatToBring, JoinURL: n.JoinURL, ManageURL: n.ManageURL, BookURL: n.BookURL,
		Office: n.OfficeName, OfficePhone: n.OfficePhone, OfficeEmail: n.OfficeEmail, Details: b.Details,
		Reason: n.Reason,
	}
	v.Confirm, v.Move, v.Cancel = n.Kind == NoticeConfirm, n.Kind == NoticeMove, n.Kind == NoticeCancel
	switch b.Channel {
	case Video:
		v.Where = "Videochiamata con " + n.OfficeName
		v.Prepare = "Usa un computer, tablet o smartphone con videocamera, microfono e una connessione stabile; " +
			"tieni a portata di mano un documento d'identità e i documenti indicati. " +
			"Apri il collegamento qualche minuto prima dell'orario."
	case Phone:
		v.Where = "Telefonata da " + n.OfficeName
		v.Phone = b.Citizen.Phone
		v.Prepare = "Tieni a portata di mano un documento d'identità e i documenti indicati."
	default:
		v.Where = n.OfficeName + ", " + n.OfficeAddress
	}
	if !n.CancelBy.IsZero() {
		c := n.CancelBy.In(loc)
		v.CancelBy = DayLabel(c) + " alle " + c.Format("15:04")
	}
	short := DayLabel(b.Start.In(loc)) + " ore " + b.Start.In(loc).Format("15:04")
	switch n.Kind {
	case NoticeMove:
		v.Subject = "Appuntamento spostato: " + n.ServiceName + ", " + short
		v.Heading = "Il tuo appuntamento è stato spostato"
		if !n.PreviousStart.IsZero() {
			v.Previous = span(n.PreviousStart, n.PreviousEnd, loc)
		}
	case NoticeCancel:
		v.Subject = "Appuntamento annullato: " + n.ServiceName + ", " + short
		v.Heading = "Il tuo appuntamento è stato annullato"
	default:
		v.Subject = "Appuntamento confermato: " + n.ServiceName + ", " + short
		v.Heading = "Il tuo appuntamento è confermato"
	}
	v.Subject += " (" + b.Code + ")"
	return v
}

// span formats an appointment, "giovedì 11 marzo 2027, dalle 10:00 alle 10:20".
func span(start, end time.Time, loc *time.Location) string {
	s, e := start.In(loc), end.In(loc)
	return DayLabel(s) + ", dalle " + s.Format("15:04") + " alle " + e.Format("15:04")
}

func emailText(v emailView) string {
	var s strings.Builder
	line := func(parts ...string) { s.WriteString(strings.Join(parts, "") + "\n") }
	line("Gentile ", v.CitizenName, ",")
	line()
	switch v.Kind {
	case NoticeConfirm:
		line("il tuo appuntamento con il ", v.Tenant, " è confermato.")
	case NoticeMove:
		line("il tuo appuntamento con il ", v.Tenant, " è stato spostato.")
		if v.Previous != "" {
			line("Orario precedente: ", v.Previous)
		}
	case NoticeCancel:
		if v.Reason != "" {
			line("il tuo appuntamento con il ", v.Tenant, " è stato annullato dall'ufficio.")
			line("Motivo: ", v.Reason)
			line("Ci scusiamo per il disagio.")
		} else {
			line("il tuo appuntamento con il ", v.Tenant, " è stato annullato, come hai chiesto.")
		}
	}
	line()
	line("Codice prenotazione: ", v.Code)
	line("Servizio: ", v.Service)
	line("Quando: ", v.When)
	line("Modalità: ", v.Channel)
	line("Dove: ", v.Where)
	if v.Phone != "" {
		line("Ti chiameremo al numero: ", v.Phone)
	}
	if v.Details != "" {
		line("Dettagli: ", v.Details)
	}
	if v.Kind != NoticeCancel {
		if len(v.WhatToBring) > 0 {
			line()
			line("Cosa portare:")
			for _, w := range v.WhatToBring {
				line("- ", w)
			}
		}
		if v.Prepare != "" {
			line()
			line("Come prepararti: ", v.Prepare)
		}
		if v.JoinURL != "" {
			line()
			line("Collegamento alla chiamata:")
			line(v.JoinURL)
		}
		if v.ManageURL != "" {
			line()
			line("Per annullare o spostare l'appuntamento apri questo collegamento personale:")
			line(v.ManageURL)
			if v.CancelBy != "" {
				line("Puoi farlo entro ", v.CancelBy, ".")
			}
			line("Non condividere il collegamento: permette a chiunque lo abbia di modificare la prenotazione.")
		}
		line()
		line("In allegato trovi l'appuntamento da aggiungere al tuo calendario.")
	} else if v.BookURL != "" {
		line()
		line("Per prenotare un nuovo appuntamento: ", v.BookURL)
	}
	line()
	line(v.Tenant, " – ", v.Office)
	if v.OfficePhone != "" {
		line("Telefono: ", v.OfficePhone)
	}
	if v.OfficeEmail != "" {
		line("Email: ", v.OfficeEmail)
	}
	line()
	line("Questo messaggio è stato inviato automaticamente.")
	return s.String()
}

// emailHTML is the HTML part; html/template escapes every value, so names
// and details typed by citizens cannot inject markup.
var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html lang="it">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: 'Titillium Web', Geneva, Tahoma, sans-serif; color: #1a1a1a; line-height: 1.5;">
<h1 style="font-size: 1.4em; color: #0066cc;">{{.Heading}}</h1>
<p>Gentile {{.CitizenName}},</p>
{{- if .Confirm}}
<p>il tuo appuntamento con il {{.Tenant}} è confermato.</p>
{{- else if .Move}}
<p>il tuo appuntamento con il {{.Tenant}} è stato spostato.{{if .Previous}} Orario precedente: <s>{{.Previous}}</s>.{{end}}</p>
{{- else if .Reason}}
<p>il tuo appuntamento con il {{.Tenant}} è stato annullato dall'ufficio.</p>
<p><strong>Motivo:</strong> {{.Reason}}</p>
<p>Ci scusiamo per il disagio.</p>
{{- else}}
<p>il tuo appuntamento con il {{.Tenant}} è stato annullato, come hai chiesto.</p>
{{- end}}
<table role="presentation" style="border-collapse: collapse;">
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Codice prenotazione</th><td><strong>{{.Code}}</strong></td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Servizio</th><td>{{.Service}}</td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Quando</th><td>{{.When}}</td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Modalità</th><td>{{.Channel}}</td></tr>
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Dove</th><td>{{.Where}}</td></tr>
{{- if .Phone}}
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Ti chiameremo al numero</th><td>{{.Phone}}</td></tr>
{{- end}}
{{- if .Details}}
<tr><th scope="row" style="text-align: left; padding-right: 1em;">Dettagli</th><td>{{.Details}}</td></tr>
{{- end}}
</table>
{{- if not .Cancel}}
{{- if .WhatToBring}}
<h2 style="font-size: 1.1em;">Cosa portare</h2>
<ul>{{range .WhatToBring}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
{{- if .Prepare}}
<h2 style="font-size: 1.1em;">Come prepararti</h2>
<p>{{.Prepare}}</p>
{{- end}}
{{- if .JoinURL}}
<p><a href="{{.JoinURL}}" style="font-weight: bold;">Partecipa alla chiamata</a></p>
{{- end}}
{{- if .ManageURL}}
<p><a href="{{.ManageURL}}">Annulla o sposta l'appuntamento</a>{{if .CancelBy}} (entro {{.CancelBy}}){{end}}.
Non condividere questo collegamento: permette a chiunque lo abbia di modificare la prenotazione.</p>
{{- end}}
<p>In allegato trovi l'appuntamento da aggiungere al tuo calendario.</p>
{{- else if .BookURL}}
<p><a href="{{.BookURL}}">Prenota un nuovo appuntamento</a></p>
{{- end}}
<hr>
<p style="font-size: 0.9em;">{{.Tenant}} – {{.Office}}
{{- if .OfficePhone}}<br>Telefono: {{.OfficePhone}}{{end}}
{{- if .OfficeEmail}}<br>Email: <a href="mailto:{{.OfficeEmail}}">{{.OfficeEmail}}</a>{{end}}<br>
Questo messaggio è stato inviato automaticamente.</p>
</body>
</html>
`))

// foldHeader returns a header field ending in CRLF, folded at spaces so
// that no line exceeds 78 characters where a space allows it (RFC 5322,
// 2.2.3). Encoded-words contain no spaces, so folding never splits one.
func foldHeader(s string) string {
	const max = 78
	var b strings.Builder
	// first is the space after the field name: the earliest place to fold,
	// used when the first word alone (an encoded-word of 75 characters)
	// would not fit beside the name.
	first := strings.Index(s, ": ") + 1
	for len(s) > max {
		cut := strings.LastIndexByte(s[:max], ' ')
		if cut < first || cut <= 0 {
			if cut = strings.IndexByte(s[max:], ' '); cut < 0 {
				break
			}
			cut += max
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n")
		s = s[cut:] // keeps the space, which starts the continuation line
		first = 0
	}
	b.WriteString(s)
	b.WriteString("\r\n")
	return b.String()
}

// writeBase64Lines writes data in base64 with lines of 76 characters.
func writeBase64Lines(w interface{ Write([]byte) (int, error) }, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	w.Write([]byte(enc + "\r\n"))
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
