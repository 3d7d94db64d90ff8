package booking

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/tenant"
)

// The compact form of a notice (version 2 of the outbox payload). Every
// node writes the confirmation's outbox row for every booking, in the
// FSM's single goroutine: encoded by json.Marshal the Notice was about
// 1 KB (long key names, RFC 3339 times, the manage link next to the
// Comune's address it starts with, the booking's sequence twice) and its
// encoding and insert were a sixth of a booking's apply on each node.
// The compact form carries the same values, so the email composed from
// it is the one the full form gives, byte for byte: short keys, times as
// Unix seconds, empty values left out, and the manage and confirm links
// reduced to the token when they are the ones the Comune's address and
// the booking's code give. It is written by appendCompactNotice, with no
// reflection, and read by Notice.UnmarshalJSON, so every reader of the
// outbox that uses json.Unmarshal decodes both forms as before;
// DecodeNotice, which the deliverer uses, reads it without reflection.
//
// It stays a snapshot, as the full form was: a confirmation delivered
// after the booking was moved or cancelled still tells what was true when
// it was queued (the move and the cancellation have notices of their
// own), and the erasure of a citizen's data finds the row by the address
// and the code it carries, in plain text as before.
//
// Which form a row has is decided by the command that queued it, never by
// the node: booking.create from version createCompactVersion queues the
// compact form, older versions and every other command the full one, so
// a log replayed by any binary gives the rows it gave before. The version
// gate proposes that version only once every member knows it: an older
// leader, which would decode a compact row as an empty notice, never
// finds one in its outbox.

// compactNoticeVersion is the value of the compact form's "v" key.
const compactNoticeVersion = 2

// compactPrefix starts every compact notice: the version comes first, so
// UnmarshalJSON tells the forms apart without decoding twice.
const compactPrefix = `{"v":2,`

// compactNotice is the compact form as encoding/json decodes it. The
// pointers tell a value that is left out (the usual one) from an empty
// one.
type compactNotice struct {
	V          int        `json:"v"`
	Kind       NoticeKind `json:"kind"`
	Tenant     string     `json:"t"`
	TenantName string     `json:"tn"`
	TimeZone   string     `json:"tz"`
	SenderName string     `json:"sn"`
	SenderAddr string     `json:"sa"`

	ID         string     `json:"id"`
	Code       string     `json:"c"`
	ServiceID  string     `json:"sv"`
	OfficeID   string     `json:"of"`
	Start      noticeTime `json:"st"`
	End        noticeTime `json:"en"`
	Channel    Channel    `json:"ch"`
	GivenName  string     `json:"gn"`
	FamilyName string     `json:"fa"`
	FiscalCode string     `json:"fc"`
	Email      string     `json:"em"`
	Phone      string     `json:"ph"`
	Details    string     `json:"de"`
	// Status is left out when active.
	Status   *Status    `json:"ss"`
	Sequence int        `json:"sq"`
	Created  noticeTime `json:"cr"`
	// Updated is left out when it equals Created; UpdatedZero marks a
	// zero one.
	Updated     *noticeTime `json:"up"`
	UpdatedZero bool        `json:"uz"`
	Lang        string      `json:"la"`

	ServiceName   string   `json:"svn"`
	OfficeName    string   `json:"on"`
	OfficeAddress string   `json:"oa"`
	OfficePhone   string   `json:"op"`
	OfficeEmail   string   `json:"oe"`
	WhatToBring   []string `json:"wb"`

	BookURL string `json:"bu"`
	// ManageToken stands for BookURL without its slash + ManagePath(code,
	// token); ManageURL is any other link.
	ManageToken *string `json:"mt"`
	ManageURL   string  `json:"mu"`
	// JoinToken stands for BookURL without its slash + JoinPath(code,
	// token); JoinURL is any other link.
	JoinToken *string    `json:"jt"`
	JoinURL   string     `json:"ju"`
	CancelBy  noticeTime `json:"cb"`
	// ConfirmDerived stands for confirmURLOf(manage link); ConfirmURL is
	// any other link.
	ConfirmDerived bool       `json:"ck"`
	ConfirmURL     string     `json:"cu"`
	ConfirmFrom    noticeTime `json:"cf"`
	ConfirmBy      noticeTime `json:"cy"`
	PreviousStart  noticeTime `json:"ps"`
	PreviousEnd    noticeTime `json:"pe"`
	// NoticeSequence is left out when it equals the booking's.
	NoticeSequence *int          `json:"ns"`
	Reason         string        `json:"r"`
	Before         time.Duration `json:"bf"`
}

// noticeTime is a time of the compact form: Unix seconds, followed by
// "." and nine digits of nanoseconds when there are some; left out when
// zero. Decoded times are in UTC, as the full form's (written in UTC by
// apply) decode.
type noticeTime struct{ t time.Time }

func (nt *noticeTime) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return errors.New("compact notice: bad time " + s)
	}
	var nsec int64
	if frac != "" {
		if len(frac) != 9 {
			return errors.New("compact notice: bad time " + s)
		}
		if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil || nsec < 0 {
			return errors.New("compact notice: bad time " + s)
		}
	}
	nt.t = time.Unix(sec, nsec).UTC()
	return nil
}

// noticeJSON is Notice without its UnmarshalJSON: the full form.
type noticeJSON Notice

// UnmarshalJSON decodes either form of a notice: the compact one
// (appendCompactNotice) or the full one json.Marshal writes.
func (n *Notice) UnmarshalJSON(data []byte) error {
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(compactPrefix)) {
		return json.Unmarshal(data, (*noticeJSON)(n))
	}
	var c compactNotice
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	if c.V != compactNoticeVersion {
		return errors.New("compact notice: unknown version " + strconv.Itoa(c.V))
	}
	n.fromCompact(&c)
	return nil
}

// fromCompact sets n to the notice c stands for.
func (n *Notice) fromCompact(c *compactNotice) {
	*n = Notice{
		Kind: c.Kind, Tenant: tenant.ID(c.Tenant), TenantName: c.TenantName, TimeZone: c.TimeZone,
		Booking: Booking{
			ID: c.ID, Code: c.Code, ServiceID: c.ServiceID, OfficeID: c.OfficeID,
			Start: c.Start.t, End: c.End.t, Channel: c.Channel,
			Citizen: Citizen{GivenName: c.GivenName, FamilyName: c.FamilyName, FiscalCode: c.FiscalCode, Email: c.Email, Phone: c.Phone},
			Details: c.Details, Status: Active, Sequence: c.Sequence, Created: c.Created.t, Updated: c.Created.t, Lang: c.Lang,
		},
		ServiceName: c.ServiceName, OfficeName: c.OfficeName, OfficeAddress: c.OfficeAddress,
		OfficePhone: c.OfficePhone, OfficeEmail: c.OfficeEmail, WhatToBring: c.WhatToBring,
		ManageURL: c.ManageURL, JoinURL: c.JoinURL, BookURL: c.BookURL, CancelBy: c.CancelBy.t,
		ConfirmURL: c.ConfirmURL, ConfirmFrom: c.ConfirmFrom.t, ConfirmBy: c.ConfirmBy.t,
		PreviousStart: c.PreviousStart.t, PreviousEnd: c.PreviousEnd.t,
		Sequence: c.Sequence, Reason: c.Reason, Before: c.Before,
	}
	n.Sender.Name, n.Sender.Address = c.SenderName, c.SenderAddr
	if c.Status != nil {
		n.Booking.Status = *c.Status
	}
	if c.Updated != nil {
		n.Booking.Updated = c.Updated.t
	}
	if c.UpdatedZero {
		n.Booking.Updated = time.Time{}
	}
	if c.ManageToken != nil {
		n.ManageURL = manageURLOf(c.BookURL, c.Code, *c.ManageToken)
	}
	if c.JoinToken != nil {
		n.JoinURL = strings.TrimSuffix(c.BookURL, "/") + JoinPath(c.Code, *c.JoinToken)
	}
	if c.ConfirmDerived {
		n.ConfirmURL = confirmURLOf(n.ManageURL)
	}
	if c.NoticeSequence != nil {
		n.Sequence = *c.NoticeSequence
	}
}

// manageURLOf is the manage link of a booking from the Comune's site
// address with its slash (Notice.BookURL), as Book.Create makes it.
func manageURLOf(bookURL, code, token string) string {
	return strings.TrimSuffix(bookURL, "/") + ManagePath(code, token)
}

// compactManageToken returns the token of manageURL when manageURLOf gives it
// back from bookURL and code.
func compactManageToken(bookURL, code, manageURL string) (string, bool) {
	if !strings.HasSuffix(bookURL, "/") {
		return "", false
	}
	prefix := manageURLOf(bookURL, code, "")
	if !strings.HasPrefix(manageURL, prefix) {
		return "", false
	}
	token := manageURL[len(prefix):]
	return token, manageURLOf(bookURL, code, token) == manageURL
}

// compactJoinToken returns the token of joinURL when the Comune's site
// address and the booking's code give it back with JoinPath.
func compactJoinToken(bookURL, code, joinURL string) (string, bool) {
	if !strings.HasSuffix(bookURL, "/") {
		return "", false
	}
	prefix := strings.TrimSuffix(bookURL, "/") + JoinPath(code, "")
	if !strings.HasPrefix(joinURL, prefix) {
		return "", false
	}
	token := joinURL[len(prefix):]
	return token, prefix+token == joinURL
}

// appendCompactNotice appends the compact form of n to buf. Its values
// are written as encoding/json writes them, apart from HTML escaping,
// which JSON does not need.
func appendCompactNotice(buf []byte, n Notice) []byte {
	b := &n.Booking
	w := compactWriter{buf: append(buf, compactPrefix...)}
	w.str("kind", string(n.Kind), true)
	w.str("t", string(n.Tenant), false)
	w.str("tn", n.TenantName, false)
	w.str("tz", n.TimeZone, false)
	w.str("sn", n.Sender.Name, false)
	w.str("sa", n.Sender.Address, false)
	w.str("id", b.ID, false)
	w.str("c", b.Code, false)
	w.str("sv", b.ServiceID, false)
	w.str("of", b.OfficeID, false)
	w.time("st", b.Start)
	w.time("en", b.End)
	w.str("ch", string(b.Channel), false)
	w.str("gn", b.Citizen.GivenName, false)
	w.str("fa", b.Citizen.FamilyName, false)
	w.str("fc", b.Citizen.FiscalCode, false)
	w.str("em", b.Citizen.Email, false)
	w.str("ph", b.Citizen.Phone, false)
	w.str("de", b.Details, false)
	if b.Status != Active {
		w.str("ss", string(b.Status), true)
	}
	w.int("sq", int64(b.Sequence))
	w.time("cr", b.Created)
	if !b.Updated.Equal(b.Created) || b.Updated.IsZero() != b.Created.IsZero() {
		if b.Updated.IsZero() {
			w.key("uz")
			w.buf = append(w.buf, "true"...)
		} else {
			w.time("up", b.Updated)
		}
	}
	w.str("la", b.Lang, false)
	w.str("svn", n.ServiceName, false)
	w.str("on", n.OfficeName, false)
	w.str("oa", n.OfficeAddress, false)
	w.str("op", n.OfficePhone, false)
	w.str("oe", n.OfficeEmail, false)
	if len(n.WhatToBring) > 0 {
		w.key("wb")
		w.buf = append(w.buf, '[')
		for i, s := range n.WhatToBring {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = appendJSONString(w.buf, s)
		}
		w.buf = append(w.buf, ']')
	}
	w.str("bu", n.BookURL, false)
	if tok, ok := compactManageToken(n.BookURL, b.Code, n.ManageURL); ok && n.ManageURL != "" {
		w.str("mt", tok, true)
	} else {
		w.str("mu", n.ManageURL, false)
	}
	if tok, ok := compactJoinToken(n.BookURL, b.Code, n.JoinURL); ok && n.JoinURL != "" {
		w.str("jt", tok, true)
	} else {
		w.str("ju", n.JoinURL, false)
	}
	w.time("cb", n.CancelBy)
	if n.ConfirmURL != "" && n.ConfirmURL == confirmURLOf(n.ManageURL) {
		w.key("ck")
		w.buf = append(w.buf, "true"...)
	} else {
		w.str("cu", n.ConfirmURL, false)
	}
	w.time("cf", n.ConfirmFrom)
	w.time("cy", n.ConfirmBy)
	w.time("ps", n.PreviousStart)
	w.time("pe", n.PreviousEnd)
	if n.Sequence != b.Sequence {
		w.key("ns")
		w.buf = strconv.AppendInt(w.buf, int64(n.Sequence), 10)
	}
	w.str("r", n.Reason, false)
	w.int("bf", int64(n.Before))
	return append(w.buf, '}')
}

// compactWriter appends the members of a JSON object after its first.
type compactWriter struct{ buf []byte }

func (w *compactWriter) key(k string) {
	if w.buf[len(w.buf)-1] != ',' {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, k...)
	w.buf = append(w.buf, '"', ':')
}

// str writes a string member; an empty one only when always is set.
func (w *compactWriter) str(k, v string, always bool) {
	if v == "" && !always {
		return
	}
	w.key(k)
	w.buf = appendJSONString(w.buf, v)
}

func (w *compactWriter) int(k string, v int64) {
	if v == 0 {
		return
	}
	w.key(k)
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

// time writes a noticeTime member; none for the zero time.
func (w *compactWriter) time(k string, t time.Time) {
	if t.IsZero() {
		return
	}
	w.key(k)
	w.buf = strconv.AppendInt(w.buf, t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		w.buf = append(w.buf, '.')
		for d := 100000000; d > 0; d /= 10 {
			w.buf = append(w.buf, byte('0'+ns/d%10))
		}
	}
}

// appendJSONString appends s as a JSON string: the value json.Unmarshal
// reads back is the one json.Marshal's encoding of s gives (invalid UTF-8
// becomes U+FFFD, as there).
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// DecodeNotice decodes an outbox payload of OutboxKind, in either form:
// what json.Unmarshal into a Notice gives. The deliverer calls it for
// every email the leader sends: the compact form is read by a scanner
// written for it (json.Unmarshal checked the whole payload, then decoded
// it through reflection, about a quarter of the leader's work per email),
// which gives up on anything appendCompactNotice does not write, and such
// a payload goes through json.Unmarshal.
func DecodeNotice(payload []byte) (Notice, error) {
	var n Notice
	if bytes.HasPrefix(payload, []byte(compactPrefix)) {
		if c, ok := scanCompactNotice(payload); ok {
			n.fromCompact(&c)
			return n, nil
		}
	}
	err := json.Unmarshal(payload, &n)
	return n, err
}

// scanCompactNotice reads the compact form as appendCompactNotice writes
// it; ok is false on anything else (an unknown key, a number where a
// string is due, an escape it does not write, trailing bytes).
func scanCompactNotice(data []byte) (c compactNotice, ok bool) {
	s := noticeScanner{data: data, i: len(compactPrefix)}
	c.V = compactNoticeVersion
	for {
		key, ok := s.key()
		if !ok {
			return c, false
		}
		switch key {
		case "kind":
			ok = s.str((*string)(&c.Kind))
		case "t":
			ok = s.str(&c.Tenant)
		case "tn":
			ok = s.str(&c.TenantName)
		case "tz":
			ok = s.str(&c.TimeZone)
		case "sn":
			ok = s.str(&c.SenderName)
		case "sa":
			ok = s.str(&c.SenderAddr)
		case "id":
			ok = s.str(&c.ID)
		case "c":
			ok = s.str(&c.Code)
		case "sv":
			ok = s.str(&c.ServiceID)
		case "of":
			ok = s.str(&c.OfficeID)
		case "st":
			ok = s.time(&c.Start)
		case "en":
			ok = s.time(&c.End)
		case "ch":
			ok = s.str((*string)(&c.Channel))
		case "gn":
			ok = s.str(&c.GivenName)
		case "fa":
			ok = s.str(&c.FamilyName)
		case "fc":
			ok = s.str(&c.FiscalCode)
		case "em":
			ok = s.str(&c.Email)
		case "ph":
			ok = s.str(&c.Phone)
		case "de":
			ok = s.str(&c.Details)
		case "ss":
			var st string
			ok = s.str(&st)
			c.Status = (*Status)(&st)
		case "sq":
			var v int64
			ok = s.int(&v)
			c.Sequence = int(v)
		case "cr":
			ok = s.time(&c.Created)
		case "up":
			var t noticeTime
			ok = s.time(&t)
			c.Updated = &t
		case "uz":
			ok = s.lit("true")
			c.UpdatedZero = true
		case "la":
			ok = s.str(&c.Lang)
		case "svn":
			ok = s.str(&c.ServiceName)
		case "on":
			ok = s.str(&c.OfficeName)
		case "oa":
			ok = s.str(&c.OfficeAddress)
		case "op":
			ok = s.str(&c.OfficePhone)
		case "oe":
			ok = s.str(&c.OfficeEmail)
		case "wb":
			ok = s.strs(&c.WhatToBring)
		case "bu":
			ok = s.str(&c.BookURL)
		case "mt":
			var v string
			ok = s.str(&v)
			c.ManageToken = &v
		case "mu":
			ok = s.str(&c.ManageURL)
		case "jt":
			var v string
			ok = s.str(&v)
			c.JoinToken = &v
		case "ju":
			ok = s.str(&c.JoinURL)
		case "cb":
			ok = s.time(&c.CancelBy)
		case "ck":
			ok = s.lit("true")
			c.ConfirmDerived = true
		case "cu":
			ok = s.str(&c.ConfirmURL)
		case "cf":
			ok = s.time(&c.ConfirmFrom)
		case "cy":
			ok = s.time(&c.ConfirmBy)
		case "ps":
			ok = s.time(&c.PreviousStart)
		case "pe":
			ok = s.time(&c.PreviousEnd)
		case "ns":
			var v int64
			ok = s.int(&v)
			ns := int(v)
			c.NoticeSequence = &ns
		case "r":
			ok = s.str(&c.Reason)
		case "bf":
			var v int64
			ok = s.int(&v)
			c.Before = time.Duration(v)
		default:
			return c, false
		}
		if !ok || s.i >= len(s.data) {
			return c, false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
		case '}':
			return c, s.i+1 == len(s.data)
		default:
			return c, false
		}
	}
}

// noticeScanner reads the members of a compact notice.
type noticeScanner struct {
	data []byte
	i    int
}

// key reads `"name":`.
func (s *noticeScanner) key() (string, bool) {
	var k string
	if !s.str(&k) || s.i >= len(s.data) || s.data[s.i] != ':' {
		return "", false
	}
	s.i++
	return k, true
}

// str reads a string with the escapes appendJSONString writes.
func (s *noticeScanner) str(dst *string) bool {
	d := s.data
	if s.i >= len(d) || d[s.i] != '"' {
		return false
	}
	start := s.i + 1
	j := start
	for j < len(d) && d[j] != '"' && d[j] != '\\' && d[j] >= 0x20 {
		j++
	}
	if j < len(d) && d[j] == '"' {
		// No escape: the common case. encoding/json would replace
		// invalid UTF-8, which appendJSONString never writes.
		if !utf8.Valid(d[start:j]) {
			return false
		}
		*dst = string(d[start:j])
		s.i = j + 1
		return true
	}
	b := append([]byte(nil), d[start:j]...)
	for j < len(d) {
		c := d[j]
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				return false
			}
			*dst = string(b)
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(d) {
			return false
		}
		switch d[j+1] {
		case '"', '\\':
			b = append(b, d[j+1])
			j += 2
		case 'n':
			b, j = append(b, '\n'), j+2
		case 'r':
			b, j = append(b, '\r'), j+2
		case 't':
			b, j = append(b, '\t'), j+2
		case 'u':
			if j+6 > len(d) {
				return false
			}
			switch hex := string(d[j+2 : j+6]); {
			case hex == "fffd":
				b = append(b, "\uFFFD"...)
			case hex[:2] == "00" && isHexDigit(hex[2]) && isHexDigit(hex[3]):
				v, _ := strconv.ParseUint(hex[2:], 16, 8)
				if v >= 0x20 {
					return false
				}
				b = append(b, byte(v))
			default:
				return false
			}
			j += 6
		default:
			return false
		}
	}
	return false
}

// strs reads a list of strings.
func (s *noticeScanner) strs(dst *[]string) bool {
	if s.i >= len(s.data) || s.data[s.i] != '[' {
		return false
	}
	s.i++
	var out []string
	for {
		var v string
		if !s.str(&v) || s.i >= len(s.data) {
			return false
		}
		out = append(out, v)
		switch s.data[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			*dst = out
			return true
		default:
			return false
		}
	}
}

// int reads an integer.
func (s *noticeScanner) int(dst *int64) bool {
	j := s.i
	if j < len(s.data) && s.data[j] == '-' {
		j++
	}
	for j < len(s.data) && s.data[j] >= '0' && s.data[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(s.data[s.i:j]), 10, 64)
	if err != nil || !jsonNumber(s.data[s.i:j]) {
		return false
	}
	*dst, s.i = v, j
	return true
}

// time reads a noticeTime.
func (s *noticeScanner) time(dst *noticeTime) bool {
	j := s.i
	for j < len(s.data) && (s.data[j] == '-' || s.data[j] == '.' || s.data[j] >= '0' && s.data[j] <= '9') {
		j++
	}
	if !jsonNumber(s.data[s.i:j]) || dst.UnmarshalJSON(s.data[s.i:j]) != nil {
		return false
	}
	s.i = j
	return true
}

// jsonNumber reports whether b is a JSON number without exponent: an
// optional minus, 0 or digits not starting with 0, an optional fraction.
func jsonNumber(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	intPart, frac, dot := bytes.Cut(b, []byte("."))
	if len(intPart) == 0 || len(intPart) > 1 && intPart[0] == '0' || dot && len(frac) == 0 {
		return false
	}
	for _, part := range [][]byte{intPart, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// lit reads the literal word.
func (s *noticeScanner) lit(word string) bool {
	if !bytes.HasPrefix(s.data[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}
