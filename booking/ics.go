package booking

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// icsLineOctets is the longest content line of an iCalendar file, in
// octets, without the CRLF (RFC 5545, section 3.1).
const icsLineOctets = 75

// ICS returns the iCalendar file (RFC 5545) of the notice's booking: one
// VEVENT with a UID stable for the booking ("<booking-id>@<tenant>.sportello")
// and SEQUENCE equal to the booking's, so a calendar that imported the
// confirmation updates the event on a move and removes it on a
// cancellation (METHOD:CANCEL, STATUS:CANCELLED). It serves both the email
// attachment and the "Aggiungi al calendario" download. Times are in UTC.
func ICS(n Notice) []byte {
	b := n.Booking
	method, status := "REQUEST", "CONFIRMED"
	if n.Kind == NoticeCancel || b.Status == Cancelled {
		method, status = "CANCEL", "CANCELLED"
	}
	var w icsWriter
	w.buf.Grow(2 << 10)
	w.line("BEGIN", "VCALENDAR")
	w.line("PRODID", "-//Sportello//Prenotazioni//IT")
	w.line("VERSION", "2.0")
	w.line("CALSCALE", "GREGORIAN")
	w.line("METHOD", method)
	w.line("BEGIN", "VEVENT")
	w.line("UID", icsUID(n))
	w.line("SEQUENCE", strconv.Itoa(b.Sequence))
	w.line("DTSTAMP", icsTime(stamp(b)))
	w.line("DTSTART", icsTime(b.Start))
	w.line("DTEND", icsTime(b.End))
	// LANGUAGE (RFC 5545, 3.2.10) tells a calendar which language the
	// texts are in, the booking's.
	language := ";LANGUAGE=" + NormalizeLang(b.Lang)
	w.line("SUMMARY"+language, icsText(n.ServiceName+" – "+n.TenantName))
	w.line("LOCATION"+language, icsText(noticeWhere(n)))
	w.line("DESCRIPTION"+language, icsText(icsDescription(n)))
	if n.ManageURL != "" && method == "REQUEST" {
		w.line("URL", n.ManageURL)
	}
	w.line("STATUS", status)
	w.line("TRANSP", "OPAQUE")
	if n.Sender.Address != "" {
		w.line("ORGANIZER;CN="+icsParam(n.TenantName), "mailto:"+n.Sender.Address)
	}
	if c := b.Citizen; c.Email != "" {
		w.line("ATTENDEE;CN="+icsParam(c.GivenName+" "+c.FamilyName)+";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE",
			"mailto:"+c.Email)
	}
	w.line("END", "VEVENT")
	w.line("END", "VCALENDAR")
	return w.buf.Bytes()
}

// icsUID is the event's UID: one per booking, kept across moves and the
// cancellation.
func icsUID(n Notice) string { return n.Booking.ID + "@" + string(n.Tenant) + ".sportello" }

// stamp is the DTSTAMP of the notice: the time of the change it tells of,
// so the same notice always yields the same file.
func stamp(b Booking) time.Time {
	if b.Updated.IsZero() {
		return b.Created
	}
	return b.Updated
}

func icsDescription(n Notice) string {
	lang := NormalizeLang(n.Booking.Lang)
	l := messages[lang]
	var s strings.Builder
	s.WriteString(l["code"] + ": " + n.Booking.Code + "\n")
	s.WriteString(l["channel"] + ": " + channelIn(lang, n.Booking.Channel) + "\n")
	if n.Kind == NoticeCancel {
		s.WriteString(l["ics_cancelled"] + "\n")
	}
	if len(n.WhatToBring) > 0 && n.Kind != NoticeCancel {
		s.WriteString(l["what_to_bring"] + ": " + strings.Join(n.WhatToBring, "; ") + "\n")
	}
	if n.JoinURL != "" {
		s.WriteString(l["join"] + ": " + n.JoinURL + "\n")
	}
	if n.ManageURL != "" {
		s.WriteString(l["manage"] + ": " + n.ManageURL + "\n")
	}
	return strings.TrimSuffix(s.String(), "\n")
}

// noticeWhere is where the appointment takes place, as one line.
func noticeWhere(n Notice) string {
	lang := NormalizeLang(n.Booking.Lang)
	switch n.Booking.Channel {
	case Video:
		return messages.text(lang, "ics_video") + " – " + n.OfficeName + ", " + n.TenantName
	case Phone:
		return messages.text(lang, "ics_phone") + " – " + n.OfficeName + ", " + n.TenantName
	}
	return n.OfficeName + ", " + n.OfficeAddress
}

// icsTime formats t as an iCalendar UTC date-time.
func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// icsTextEscaper escapes a TEXT value: backslash, semicolon, comma and
// newlines. It is built once: building it for every value was a tenth of
// composing an email. A Replacer is safe for concurrent use.
var icsTextEscaper = strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)

// icsText escapes a TEXT value: backslash, semicolon, comma and newlines.
func icsText(s string) string { return icsTextEscaper.Replace(s) }

// icsParam quotes a parameter value; DQUOTE and control characters cannot
// appear in one and are dropped.
func icsParam(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return `"` + s + `"`
}

// icsWriter writes content lines folded at 75 octets with CRLF endings,
// never splitting a UTF-8 sequence.
type icsWriter struct{ buf bytes.Buffer }

func (w *icsWriter) line(name, value string) {
	s := name + ":" + value
	limit := icsLineOctets
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		w.buf.WriteString(s[:cut])
		w.buf.WriteString("\r\n ")
		s = s[cut:]
		limit = icsLineOctets - 1 // the leading space counts
	}
	w.buf.WriteString(s)
	w.buf.WriteString("\r\n")
}
