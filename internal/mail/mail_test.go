package mail_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/mail"
)

const (
	testText = "Gentile Maria Rossi,\r\nla prenotazione è confermata per giovedì 11 marzo 2027 alle 10:00.\r\nGestisci: http://bari.localhost:8080/prenotazioni/BA-7K3Q9P?token=abc\r\n"
	testHTML = "<p>Gentile Maria Rossi, la prenotazione è <b>confermata</b>.</p>"
	testICS  = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:b1@bari\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)

// composeTest builds the kind of message booking composes: mixed(
// alternative(text, html), calendar attachment), UTF-8, quoted-printable
// text and base64 calendar.
func composeTest(t testing.TB, subject string) []byte {
	t.Helper()
	var buf bytes.Buffer
	mixed := multipart.NewWriter(&buf)
	fmt.Fprintf(&buf, "From: =?utf-8?q?Comune_di_Bari?= <noreply@bari.localhost>\r\n")
	fmt.Fprintf(&buf, "To: maria.rossi@example.it\r\n")
	fmt.Fprintf(&buf, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&buf, "Date: Mon, 01 Mar 2027 09:00:00 +0100\r\n")
	fmt.Fprintf(&buf, "MIME-Version: 1.0\r\n")
	fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n", mixed.Boundary())

	var alt bytes.Buffer
	altw := multipart.NewWriter(&alt)
	for _, p := range []struct{ ct, body string }{{"text/plain; charset=utf-8", testText}, {"text/html; charset=utf-8", testHTML}} {
		w, err := altw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ct}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			t.Fatal(err)
		}
		qw := quotedprintable.NewWriter(w)
		qw.Write([]byte(p.body))
		qw.Close()
	}
	altw.Close()
	w, _ := mixed.CreatePart(textproto.MIMEHeader{"Content-Type": {"multipart/alternative; boundary=" + altw.Boundary()}})
	w.Write(alt.Bytes())

	w, _ = mixed.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/calendar; charset=utf-8; method=REQUEST; name="invito.ics"`},
		"Content-Disposition":       {`attachment; filename="invito.ics"`},
		"Content-Transfer-Encoding": {"base64"},
	})
	enc := base64.StdEncoding.EncodeToString([]byte(testICS))
	for len(enc) > 76 {
		w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	w.Write([]byte(enc + "\r\n"))
	mixed.Close()
	return buf.Bytes()
}

// checkParsed asserts that a message made by composeTest decodes whole.
func checkParsed(t *testing.T, raw []byte, subject string) {
	t.Helper()
	m, err := mail.Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Subject != subject {
		t.Errorf("Subject = %q, want %q", m.Subject, subject)
	}
	if m.From != "Comune di Bari <noreply@bari.localhost>" {
		t.Errorf("From = %q, want the decoded display name and address", m.From)
	}
	if m.Text != testText {
		t.Errorf("Text = %q, want %q", m.Text, testText)
	}
	if m.HTML != testHTML {
		t.Errorf("HTML = %q, want %q", m.HTML, testHTML)
	}
	if len(m.Parts) != 1 {
		t.Fatalf("got %d other parts, want 1 (the calendar)", len(m.Parts))
	}
	p := m.Parts[0]
	if p.ContentType != "text/calendar" || p.Params["method"] != "REQUEST" || p.Filename != "invito.ics" || !p.Attachment {
		t.Errorf("calendar part = %s %v %q attachment=%v, want text/calendar method=REQUEST invito.ics attachment", p.ContentType, p.Params, p.Filename, p.Attachment)
	}
	if string(p.Data) != testICS {
		t.Errorf("calendar data = %q, want %q", p.Data, testICS)
	}
	if m.Date.IsZero() {
		t.Error("Date is zero, want the Date header")
	}
}

func TestParseSinglePart(t *testing.T) {
	t.Parallel()
	raw := "From: \"Rossi, Maria\" <a@b.it>\r\nTo: c@d.it, =?utf-8?q?Nicol=C3=B2?= <e@f.it>\r\nSubject: =?utf-8?b?Q2l0dMOg?=\r\n\r\nsolo testo\r\n"
	m, err := mail.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "Rossi, Maria <a@b.it>" || m.To != "c@d.it, Nicolò <e@f.it>" {
		t.Errorf("From %q To %q, want unquoted, decoded names", m.From, m.To)
	}
	if m.Subject != "Città" || m.Text != "solo testo\r\n" || m.HTML != "" || len(m.Parts) != 0 {
		t.Errorf("got subject %q text %q html %q parts %d, want Città / solo testo / empty / 0", m.Subject, m.Text, m.HTML, len(m.Parts))
	}
}

func TestParseRejectsBrokenMessages(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]string{
		"malformed header":       "not a header line\r\n\r\nbody",
		"multipart, no boundary": "Content-Type: multipart/mixed\r\n\r\nx",
		"unknown encoding":       "Content-Transfer-Encoding: x-uuencode\r\n\r\nx",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := mail.Parse([]byte(raw)); err == nil {
				t.Errorf("Parse(%q) succeeded, want an error", strings.ReplaceAll(raw, "\r\n", "|"))
			}
		})
	}
}
