package booking

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func testNotice(kind NoticeKind, ch Channel) Notice {
	start := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC) // 10:00 in Rome
	b := Booking{
		ID: "0123456789abcdef0123456789abcdef", Tenant: "bari", Code: "BA-7K3Q9P",
		ServiceID: "cie", OfficeID: "anagrafe", Start: start, End: start.Add(20 * time.Minute),
		Channel: ch, Status: Active, JoinToken: "join-secret",
		Citizen: Citizen{GivenName: "Niccolò", FamilyName: "D'Àmato", Email: "niccolo@example.it", Phone: "+39 333 1234567"},
		Details: "Carta scaduta; serve anche per mia figlia, grazie",
		Created: start.Add(-72 * time.Hour), Updated: start.Add(-72 * time.Hour),
	}
	svc := testService(20 * time.Minute)
	svc.WhatToBring = []string{"Carta d'identità scaduta o denuncia di smarrimento", "Una fototessera recente", "Tessera sanitaria"}
	o := Office{ID: "anagrafe", Name: "Anagrafe – Sportello centrale", Address: "Corso Vittorio Emanuele II, 84, 70122 Bari",
		Phone: "+39 080 577 1111", Email: "anagrafe@comune.bari.it"}
	manage := "https://bari.example.it" + ManagePath(b.Code, "tok_en-123")
	switch kind {
	case NoticeCancel:
		b.Status, b.Sequence, manage = Cancelled, 1, ""
	case NoticeMove:
		b.Sequence = 1
	}
	n := newNotice(kind, bari, b, svc, o, "https://bari.example.it/", manage)
	if kind == NoticeMove {
		n.PreviousStart, n.PreviousEnd = start.Add(-24*time.Hour), start.Add(-24*time.Hour+20*time.Minute)
	}
	return n
}

// parsedEmail is a composed message taken apart as a mail client would.
type parsedEmail struct {
	header    mail.Header
	subject   string
	text      string
	html      string
	ics       []byte
	icsHeader map[string]string
}

func parseEmail(t *testing.T, msg []byte) parsedEmail {
	t.Helper()
	for i, line := range strings.Split(string(msg), "\n") {
		if !strings.HasSuffix(line, "\r") && i < strings.Count(string(msg), "\n") {
			t.Fatalf("line %d does not end in CRLF: %q", i+1, line)
		}
		if len(line) > 999 {
			t.Fatalf("line %d is %d octets long", i+1, len(line))
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v", err)
	}
	var p parsedEmail
	p.header = m.Header
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q (%v), want multipart/mixed", m.Header.Get("Content-Type"), err)
	}
	mixed := multipart.NewReader(m.Body, params["boundary"])
	var kinds []string
	for {
		part, err := mixed.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, pp, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		kinds = append(kinds, pt)
		switch pt {
		case "multipart/alternative":
			alt := multipart.NewReader(part, pp["boundary"])
			var altKinds []string
			for {
				ap, err := alt.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("next alternative: %v", err)
				}
				at, ap2, _ := mime.ParseMediaType(ap.Header.Get("Content-Type"))
				altKinds = append(altKinds, at)
				if ap2["charset"] != "UTF-8" {
					t.Errorf("%s charset %q, want UTF-8", at, ap2["charset"])
				}
				body, err := io.ReadAll(ap) // multipart decodes quoted-printable
				if err != nil {
					t.Fatalf("read %s: %v", at, err)
				}
				if at == "text/plain" {
					p.text = string(body)
				} else {
					p.html = string(body)
				}
			}
			if strings.Join(altKinds, ",") != "text/plain,text/html" {
				t.Errorf("alternative parts %v, want text/plain then text/html", altKinds)
			}
		case "text/calendar":
			p.icsHeader = pp
			if cd := part.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
				t.Errorf("calendar disposition %q, want attachment", cd)
			}
			raw, _ := io.ReadAll(part)
			if p.ics, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(raw))); err != nil {
				t.Fatalf("decode ICS: %v", err)
			}
		}
	}
	if strings.Join(kinds, ",") != "multipart/alternative,text/calendar" {
		t.Errorf("parts %v, want multipart/alternative then text/calendar", kinds)
	}
	return p
}

// icsProps unfolds an iCalendar file and returns its content lines by
// name (the part before ";" or ":"), checking the line length and endings.
func icsProps(t *testing.T, ics []byte) map[string][]string {
	t.Helper()
	s := string(ics)
	if !strings.HasSuffix(s, "\r\n") {
		t.Errorf("ICS does not end in CRLF")
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(line) > icsLineOctets {
			t.Errorf("ICS line of %d octets: %q", len(line), line)
		}
		if strings.Contains(line, "\n") {
			t.Errorf("ICS line with a bare LF: %q", line)
		}
	}
	unfolded := strings.ReplaceAll(s, "\r\n ", "")
	props := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(unfolded, "\r\n"), "\r\n") {
		name := line[:strings.IndexAny(line, ";:")]
		props[name] = append(props[name], line)
	}
	return props
}

func value(line string) string {
	// The value starts after the first colon outside a quoted parameter.
	quoted := false
	for i, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ':' && !quoted:
			return line[i+1:]
		}
	}
	return ""
}

func TestComposeConfirmation(t *testing.T) {
	t.Parallel()
	n := testNotice(NoticeConfirm, InPerson)
	sent := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	from, to, msg, err := ComposeEmail(n, sent)
	if err != nil {
		t.Fatalf("ComposeEmail: %v", err)
	}
	if from != "prenotazioni@comune.bari.it" || to != "niccolo@example.it" {
		t.Errorf("envelope %s → %s, want prenotazioni@comune.bari.it → niccolo@example.it", from, to)
	}
	p := parseEmail(t, msg)

	fromAddr, err := p.header.AddressList("From")
	if err != nil || len(fromAddr) != 1 || fromAddr[0].Name != "Comune di Bari" || fromAddr[0].Address != from {
		t.Errorf("From = %v (%v), want Comune di Bari <%s>", fromAddr, err, from)
	}
	toAddr, err := p.header.AddressList("To")
	if err != nil || len(toAddr) != 1 || toAddr[0].Name != "Niccolò D'Àmato" {
		t.Errorf("To = %v (%v), want the citizen's name decoded", toAddr, err)
	}
	if raw := p.header.Get("To"); !strings.Contains(raw, "=?utf-8?") {
		t.Errorf("To %q is not RFC 2047 encoded", raw)
	}
	if want := "Appuntamento confermato: Rilascio carta d'identità elettronica, giovedì 12 marzo 2026 ore 10:00 (BA-7K3Q9P)"; p.subject != want {
		t.Errorf("Subject = %q, want %q", p.subject, want)
	}
	if got := p.header.Get("Message-ID"); got != "<0123456789abcdef0123456789abcdef.0.confirm@bari.sportello>" {
		t.Errorf("Message-ID = %q", got)
	}
	if d, err := p.header.Date(); err != nil || !d.Equal(sent) {
		t.Errorf("Date = %v (%v), want %v", d, err, sent)
	}
	manage := "https://bari.example.it/prenotazioni/BA-7K3Q9P?token=tok_en-123"
	for _, want := range []string{
		"Gentile Niccolò D'Àmato,", "è confermato", "Codice prenotazione: BA-7K3Q9P",
		"giovedì 12 marzo 2026, dalle 10:00 alle 10:20", "Corso Vittorio Emanuele II, 84",
		"- Una fototessera recente", manage, "entro lunedì 9 marzo 2026 alle 10:00"[:5],
		"Puoi farlo entro mercoledì 11 marzo 2026 alle 10:00.",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text part lacks %q:\n%s", want, p.text)
		}
	}
	for _, want := range []string{`href="` + manage + `"`, "<li>Una fototessera recente</li>", "Carta scaduta; serve anche", "D&#39;Àmato"} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, p.html)
		}
	}
	if strings.Contains(p.text, "chiamata") {
		t.Errorf("in-person text mentions a call:\n%s", p.text)
	}
	if p.icsHeader["method"] != "REQUEST" {
		t.Errorf("calendar part method %q, want REQUEST", p.icsHeader["method"])
	}
	if !bytes.Equal(p.ics, ICS(n)) {
		t.Errorf("attached ICS differs from ICS(n)")
	}

	// A resend of the same notice is the same message but for the date.
	_, _, again, err := ComposeEmail(n, sent.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	strip := func(b []byte) string {
		var out []string
		for _, l := range strings.Split(string(b), "\r\n") {
			if !strings.HasPrefix(l, "Date: ") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\r\n")
	}
	if strip(msg) != strip(again) {
		t.Errorf("resend differs beyond the Date header")
	}
}

func TestICSConfirmation(t *testing.T) {
	t.Parallel()
	n := testNotice(NoticeConfirm, InPerson)
	props := icsProps(t, ICS(n))
	want := map[string]string{
		"METHOD":   "REQUEST",
		"UID":      "0123456789abcdef0123456789abcdef@bari.sportello",
		"SEQUENCE": "0",
		"DTSTART":  "20260312T090000Z",
		"DTEND":    "20260312T092000Z",
		"DTSTAMP":  "20260309T090000Z",
		"STATUS":   "CONFIRMED",
		"SUMMARY":  `Rilascio carta d'identità elettronica – Comune di Bari`,
		"LOCATION": `Anagrafe – Sportello centrale\, Corso Vittorio Emanuele II\, 84\, 70122 Bari`,
		"URL":      "https://bari.example.it/prenotazioni/BA-7K3Q9P?token=tok_en-123",
	}
	for name, v := range want {
		if len(props[name]) != 1 || value(props[name][0]) != v {
			t.Errorf("%s = %q, want %q", name, props[name], v)
		}
	}
	desc := value(props["DESCRIPTION"][0])
	for _, w := range []string{`Codice prenotazione: BA-7K3Q9P\n`, `Cosa portare: Carta d'identità scaduta o denuncia di smarrimento\; Una fototessera recente`,
		`https://bari.example.it/prenotazioni/BA-7K3Q9P?token=tok_en-123`} {
		if !strings.Contains(desc, w) {
			t.Errorf("DESCRIPTION %q lacks %q", desc, w)
		}
	}
	if got := props["ORGANIZER"]; len(got) != 1 || got[0] != `ORGANIZER;CN="Comune di Bari":mailto:prenotazioni@comune.bari.it` {
		t.Errorf("ORGANIZER = %q", got)
	}
	if got := props["BEGIN"]; strings.Join(got, ",") != "BEGIN:VCALENDAR,BEGIN:VEVENT" {
		t.Errorf("BEGIN lines %v", got)
	}
}

func TestICSFoldingAndEscaping(t *testing.T) {
	t.Parallel()
	n := testNotice(NoticeConfirm, InPerson)
	n.ServiceName = strings.Repeat("è", 60) + `; a, b \ c`
	n.TenantName = "Comune di Sant'Agata"
	ics := ICS(n)
	raw := string(ics)
	if !strings.Contains(raw, "\r\n ") {
		t.Fatalf("no folded line in:\n%s", raw)
	}
	for _, line := range strings.Split(raw, "\r\n") {
		if len(line) > icsLineOctets {
			t.Errorf("line of %d octets", len(line))
		}
		if !utf8Valid(line) {
			t.Errorf("fold split a UTF-8 sequence: %q", line)
		}
	}
	props := icsProps(t, ics)
	want := strings.Repeat("è", 60) + `\; a\, b \\ c – Comune di Sant'Agata`
	if got := value(props["SUMMARY"][0]); got != want {
		t.Errorf("SUMMARY = %q, want %q", got, want)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestComposeMoveAndCancel(t *testing.T) {
	t.Parallel()
	t.Run("move", func(t *testing.T) {
		t.Parallel()
		n := testNotice(NoticeMove, Video)
		_, _, msg, err := ComposeEmail(n, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := parseEmail(t, msg)
		if !strings.HasPrefix(p.subject, "Appuntamento spostato: ") {
			t.Errorf("Subject = %q", p.subject)
		}
		join := "https://bari.example.it/chiamata/BA-7K3Q9P?t=join-secret"
		for _, w := range []string{"è stato spostato", "Orario precedente: mercoledì 11 marzo 2026, dalle 10:00 alle 10:20",
			"Collegamento alla chiamata:", join, "videocamera", "Videochiamata con Anagrafe"} {
			if !strings.Contains(p.text, w) {
				t.Errorf("text lacks %q:\n%s", w, p.text)
			}
		}
		if !strings.Contains(p.html, `href="`+join+`"`) {
			t.Errorf("HTML lacks the join link")
		}
		props := icsProps(t, p.ics)
		if value(props["METHOD"][0]) != "REQUEST" || value(props["SEQUENCE"][0]) != "1" {
			t.Errorf("METHOD %v SEQUENCE %v, want REQUEST 1", props["METHOD"], props["SEQUENCE"])
		}
		if got := p.header.Get("Message-ID"); got != "<0123456789abcdef0123456789abcdef.1.move@bari.sportello>" {
			t.Errorf("Message-ID = %q", got)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		n := testNotice(NoticeCancel, InPerson)
		_, _, msg, err := ComposeEmail(n, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := parseEmail(t, msg)
		if !strings.HasPrefix(p.subject, "Appuntamento annullato: ") {
			t.Errorf("Subject = %q", p.subject)
		}
		if p.icsHeader["method"] != "CANCEL" {
			t.Errorf("calendar part method %q, want CANCEL", p.icsHeader["method"])
		}
		props := icsProps(t, p.ics)
		for name, v := range map[string]string{"METHOD": "CANCEL", "STATUS": "CANCELLED", "SEQUENCE": "1",
			"UID": "0123456789abcdef0123456789abcdef@bari.sportello"} {
			if len(props[name]) != 1 || value(props[name][0]) != v {
				t.Errorf("%s = %v, want %s", name, props[name], v)
			}
		}
		if strings.Contains(p.text, "token=") || props["URL"] != nil {
			t.Errorf("cancellation carries a manage link")
		}
		if !strings.Contains(p.text, "https://bari.example.it/") {
			t.Errorf("cancellation lacks the link to book again:\n%s", p.text)
		}
	})
}

func TestComposeNeedsAddresses(t *testing.T) {
	t.Parallel()
	n := testNotice(NoticeConfirm, InPerson)
	n.Sender.Address = ""
	if _, _, _, err := ComposeEmail(n, time.Now()); err == nil {
		t.Errorf("ComposeEmail without sender: nil error, want ErrNoSender")
	}
}

func TestFoldHeader(t *testing.T) {
	t.Parallel()
	long := "Subject: " + mime.QEncoding.Encode("utf-8", strings.Repeat("Perché è così ", 10))
	got := foldHeader(long)
	for _, line := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line of %d characters: %q", len(line), line)
		}
	}
	if unfolded := strings.ReplaceAll(strings.TrimSuffix(got, "\r\n"), "\r\n", ""); unfolded != long {
		t.Errorf("unfolded %q, want %q", unfolded, long)
	}
}
