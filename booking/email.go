package booking

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
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

// ComposeEmail builds the complete MIME message of a notice, in the
// booking's language (Booking.Lang, Italian when empty):
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
	writeEmailHTML(&html, v)

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
	header("Content-Language", v.Lang)
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
	qp := make([]byte, 0, 8<<10)
	for _, p := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html.String()}} {
		w, err := aw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return "", "", nil, fmt.Errorf("compose email: %w", err)
		}
		// Encoded as mime/quotedprintable does, in one pass (email_qp.go).
		qp = appendQuotedPrintable(qp[:0], p.body)
		if _, err := w.Write(qp); err != nil {
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
	file := v.L["ics_file"]
	ics, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/calendar; charset=UTF-8; method=` + method + `; name="` + file + `"`},
		"Content-Disposition":       {`attachment; filename="` + file + `"`},
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
	if n.Kind == NoticeReminder {
		// One per reminder: a booking has several at one Sequence.
		return fmt.Sprintf("<%s.%d.%s-%d@%s.sportello>", n.Booking.ID, n.Sequence, n.Kind, int64(n.Before/time.Minute), n.Tenant)
	}
	return fmt.Sprintf("<%s.%d.%s@%s.sportello>", n.Booking.ID, n.Sequence, n.Kind, n.Tenant)
}

// emailView is what the email templates show, with times already in the
// Comune's zone and every text in the booking's language.
type emailView struct {
	Kind NoticeKind
	Lang string
	// L holds the catalog's texts of the language, for the template.
	L map[string]string
	// Confirm, Move, Cancel and Reminder say which Kind it is: the
	// template tests them as fields, cheaper than comparisons it would
	// call through reflection for every email the leader sends.
	Confirm, Move, Cancel, Reminder bool
	Subject                         string
	Heading                         string
	Greeting                        string
	Intro                           string
	CitizenName                     string
	Tenant                          string
	Code                            string
	Service                         string
	When                            string
	Previous                        string
	Channel                         string
	Where                           string
	Phone                           string
	WhatToBring                     []string
	Prepare                         string
	JoinURL                         string
	ManageURL                       string
	CancelBy                        string
	// ManageBy and ManageByShort are the sentence and the parenthesis
	// naming CancelBy; ManageIntro and ManageAction introduce the link.
	ManageBy, ManageByShort   string
	ManageIntro, ManageAction string
	BookURL                   string
	Office                    string
	OfficePhone               string
	OfficeEmail               string
	Details                   string
	// Reason is the office's reason for a cancellation it made.
	Reason string
	// ConfirmText and ConfirmURL ask for confirm-to-keep (fair_confirm.go).
	ConfirmText, ConfirmURL string
}

func newEmailView(n Notice, loc *time.Location) emailView {
	b := n.Booking
	lang := NormalizeLang(b.Lang)
	tr := func(key string, args ...any) string { return messages.text(lang, key, args...) }
	v := emailView{
		Kind: n.Kind, Lang: lang, L: messages[lang], Tenant: n.TenantName, Code: b.Code, Service: n.ServiceName,
		CitizenName: strings.TrimSpace(b.Citizen.GivenName + " " + b.Citizen.FamilyName),
		When:        spanIn(lang, b.Start, b.End, loc), Channel: channelIn(lang, b.Channel),
		WhatToBring: n.WhatToBring, JoinURL: n.JoinURL, ManageURL: n.ManageURL, BookURL: n.BookURL,
		Office: n.OfficeName, OfficePhone: n.OfficePhone, OfficeEmail: n.OfficeEmail, Details: b.Details,
		Reason: n.Reason,
	}
	if isSealedText(v.Details) {
		// Apply made the notice with the details as stored: sealed.
		// A deliverer that opened them (Book.OpenNotice) shows them;
		// otherwise the email goes without rather than with ciphertext.
		v.Details = ""
	}
	v.Confirm, v.Move, v.Cancel = n.Kind == NoticeConfirm, n.Kind == NoticeMove, n.Kind == NoticeCancel
	v.Reminder = n.Kind == NoticeReminder
	v.Greeting = tr("greeting", v.CitizenName)
	switch b.Channel {
	case Video:
		v.Where = tr("where_video", n.OfficeName)
		v.Prepare = tr("prepare_video")
	case Phone:
		v.Where = tr("where_phone", n.OfficeName)
		v.Phone = b.Citizen.Phone
		v.Prepare = tr("prepare_phone")
	default:
		v.Where = n.OfficeName + ", " + n.OfficeAddress
	}
	v.ManageIntro, v.ManageAction = tr("manage_intro"), tr("manage_action")
	if n.ConfirmURL != "" {
		v.ConfirmURL = n.ConfirmURL
		v.ConfirmText = tr("confirm_keep", deadlineIn(lang, n.ConfirmFrom.In(loc)), deadlineIn(lang, n.ConfirmBy.In(loc)))
	}
	if !n.CancelBy.IsZero() {
		v.CancelBy = deadlineIn(lang, n.CancelBy.In(loc))
		v.ManageBy, v.ManageByShort = tr("manage_by", v.CancelBy), tr("manage_by_short", v.CancelBy)
	} else if n.Kind == NoticeReminder {
		// A reminder after the deadline: the link shows the booking,
		// it no longer changes it.
		v.ManageIntro, v.ManageAction = tr("manage_view_intro"), tr("manage_view_action")
	}
	short := DateTimeIn(lang, b.Start.In(loc))
	switch n.Kind {
	case NoticeMove:
		v.Subject = tr("subject_move", n.ServiceName, short)
		v.Heading = tr("heading_move")
		v.Intro = tr("intro_move", n.TenantName)
		if !n.PreviousStart.IsZero() {
			v.Previous = spanIn(lang, n.PreviousStart, n.PreviousEnd, loc)
		}
	case NoticeCancel:
		v.Subject = tr("subject_cancel", n.ServiceName, short)
		v.Heading = tr("heading_cancel")
		v.Intro = tr("intro_cancel", n.TenantName)
		if n.Reason != "" {
			v.Intro = tr("intro_cancel_by", n.TenantName)
		}
	case NoticeReminder:
		v.Subject = tr("subject_reminder", n.ServiceName, short)
		v.Heading = tr("heading_reminder")
		v.Intro = tr("intro_reminder", n.TenantName)
	default:
		v.Subject = tr("subject_confirm", n.ServiceName, short)
		v.Heading = tr("heading_confirm")
		v.Intro = tr("intro_confirm", n.TenantName)
	}
	v.Subject += " (" + b.Code + ")"
	return v
}

func emailText(v emailView) string {
	var s strings.Builder
	line := func(parts ...string) { s.WriteString(strings.Join(parts, "") + "\n") }
	l := v.L
	line(v.Greeting)
	line()
	line(v.Intro)
	switch {
	case v.Move && v.Previous != "":
		line(l["previous"], ": ", v.Previous)
	case v.Cancel && v.Reason != "":
		line(l["reason"], ": ", v.Reason)
		line(l["apology"])
	}
	line()
	line(l["code"], ": ", v.Code)
	line(l["service"], ": ", v.Service)
	line(l["when"], ": ", v.When)
	line(l["channel"], ": ", v.Channel)
	line(l["where"], ": ", v.Where)
	if v.Phone != "" {
		line(l["call_number"], ": ", v.Phone)
	}
	if v.Details != "" {
		line(l["details"], ": ", v.Details)
	}
	if !v.Cancel {
		if len(v.WhatToBring) > 0 {
			line()
			line(l["what_to_bring"], ":")
			for _, w := range v.WhatToBring {
				line("- ", w)
			}
		}
		if v.Prepare != "" {
			line()
			line(l["prepare"], ": ", v.Prepare)
		}
		if v.JoinURL != "" {
			line()
			line(l["join"], ":")
			line(v.JoinURL)
		}
		if v.ConfirmURL != "" {
			line()
			line(v.ConfirmText)
			line(v.ConfirmURL)
		}
		if v.ManageURL != "" {
			line()
			line(v.ManageIntro)
			line(v.ManageURL)
			if v.ManageBy != "" {
				line(v.ManageBy)
			}
			line(l["manage_secret"])
		}
		line()
		line(l["attachment"])
	} else if v.BookURL != "" {
		line()
		line(l["book_new_intro"], ": ", v.BookURL)
	}
	line()
	line(v.Tenant, " – ", v.Office)
	if v.OfficePhone != "" {
		line(l["phone"], ": ", v.OfficePhone)
	}
	if v.OfficeEmail != "" {
		line(l["email"], ": ", v.OfficeEmail)
	}
	line()
	line(l["automatic"])
	return s.String()
}

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

// writeBase64Lines writes data in base64 with lines of 76 characters,
// in one Write: a Write per line, each with its own copy, was most of the
// attachment's cost.
func writeBase64Lines(w interface{ Write([]byte) (int, error) }, data []byte) {
	enc := base64.StdEncoding
	n := enc.EncodedLen(len(data))
	out := make([]byte, 0, n+(n/76+1)*2)
	// 57 input bytes are exactly one line of 76 characters.
	for len(data) > 57 {
		out = enc.AppendEncode(out, data[:57])
		out = append(out, '\r', '\n')
		data = data[57:]
	}
	out = enc.AppendEncode(out, data)
	w.Write(append(out, '\r', '\n'))
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
