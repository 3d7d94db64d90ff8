package booking

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
)

// This file writes the JSON of booking.create's payload and result by
// hand. Each booking's payload was encoded by json.Marshal on the node
// that proposes it, and its result (an Applied) on the leader, for the
// follower that forwarded it, and on every node, for the request record:
// reflection over the same fixed, flat shapes several times per booking.
// The writers below produce exactly the bytes json.Marshal produces (the
// raft log, the request records and the RPC frames stay what they were,
// for older members in a rolling upgrade); a value they cannot write so
// (a time json.Marshal refuses) goes through json.Marshal.
// TestCreatePayloadJSON, TestAppliedJSON, FuzzCreatePayloadJSON and
// FuzzAppliedJSON compare them with encoding/json.

// newCreateCommand is cluster.NewCommand for a booking.create payload.
func newCreateCommand(version int, t string, p createPayload) (cluster.Command, error) {
	b, ok := p.appendJSON(make([]byte, 0, 1024))
	if !ok {
		return cluster.NewCommand(CmdCreate, version, t, p)
	}
	return cluster.Command{Type: CmdCreate, Version: version, Tenant: t, Payload: b}, nil
}

// appendJSON appends json.Marshal(p) to dst; false when a time is outside
// what json.Marshal writes (then dst's new bytes are garbage).
func (p *createPayload) appendJSON(dst []byte) ([]byte, bool) {
	ok := true
	dst = append(dst, `{"id":`...)
	dst = appendMarshalString(dst, p.ID)
	dst = append(dst, `,"code":`...)
	dst = appendMarshalString(dst, p.Code)
	dst = append(dst, `,"service_id":`...)
	dst = appendMarshalString(dst, p.ServiceID)
	dst = append(dst, `,"start":`...)
	if dst, ok = appendMarshalTime(dst, p.Start); !ok {
		return dst, false
	}
	dst = append(dst, `,"channel":`...)
	dst = appendMarshalString(dst, string(p.Channel))
	dst = append(dst, `,"citizen":`...)
	dst = p.Citizen.appendJSON(dst)
	dst = append(dst, `,"details":`...)
	dst = appendMarshalString(dst, p.Details)
	dst = append(dst, `,"token_hash":`...)
	dst = appendMarshalBytes(dst, p.TokenHash)
	if p.JoinToken != "" {
		dst = append(dst, `,"join_token":`...)
		dst = appendMarshalString(dst, p.JoinToken)
	}
	dst = append(dst, `,"comune":`...)
	if dst, ok = p.Comune.appendJSON(dst); !ok {
		return dst, false
	}
	dst = append(dst, `,"base_url":`...)
	dst = appendMarshalString(dst, p.BaseURL)
	dst = append(dst, `,"manage_url":`...)
	dst = appendMarshalString(dst, p.ManageURL)
	if p.Lang != "" {
		dst = append(dst, `,"lang":`...)
		dst = appendMarshalString(dst, p.Lang)
	}
	if p.Net != "" {
		dst = append(dst, `,"net":`...)
		dst = appendMarshalString(dst, p.Net)
	}
	return append(dst, '}'), true
}

func (c *Citizen) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"given_name":`...)
	dst = appendMarshalString(dst, c.GivenName)
	dst = append(dst, `,"family_name":`...)
	dst = appendMarshalString(dst, c.FamilyName)
	dst = append(dst, `,"fiscal_code":`...)
	dst = appendMarshalString(dst, c.FiscalCode)
	dst = append(dst, `,"email":`...)
	dst = appendMarshalString(dst, c.Email)
	if c.Phone != "" {
		dst = append(dst, `,"phone":`...)
		dst = appendMarshalString(dst, c.Phone)
	}
	return append(dst, '}')
}

// appendJSON appends json.Marshal(c); false when a patron day's date is
// one json.Marshal would not write as a plain string.
func (c *comune) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(dst, `{"name":`...)
	dst = appendMarshalString(dst, c.Name)
	dst = append(dst, `,"time_zone":`...)
	dst = appendMarshalString(dst, c.TimeZone)
	if len(c.PatronDays) > 0 {
		dst = append(dst, `,"patron_days":[`...)
		for i, d := range c.PatronDays {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = appendMarshalString(dst, d.Name)
			if d.Month != 0 {
				dst = append(dst, `,"month":`...)
				dst = strconv.AppendInt(dst, int64(d.Month), 10)
			}
			if d.Day != 0 {
				dst = append(dst, `,"day":`...)
				dst = strconv.AppendInt(dst, int64(d.Day), 10)
			}
			if !d.Date.IsZero() {
				text, err := d.Date.MarshalText()
				if err != nil {
					return dst, false
				}
				dst = append(dst, `,"date":`...)
				dst = appendMarshalString(dst, string(text))
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"sender":{"name":`...)
	dst = appendMarshalString(dst, c.Sender.Name)
	dst = append(dst, `,"address":`...)
	dst = appendMarshalString(dst, c.Sender.Address)
	return append(dst, '}', '}'), true
}

// AppendJSON appends the bytes json.Marshal(a) writes (it is a
// cluster.JSONAppender): the leader sends a forwarded booking's result
// with it, and every node records the request's result with it. A booking
// whose times json.Marshal refuses (a year outside 0–9999, never one
// apply stores) goes through json.Marshal, and is written as null when
// that fails too (the interface has no error): the follower then finds no
// booking in the result and reads the row back by its ID, where before it
// got the leader's encoding error although the booking was made.
func (a Applied) AppendJSON(dst []byte) []byte {
	// One allocation for what the caller's buffer lacks: a result with
	// its booking is about 600 bytes, one without it about 150.
	if a.Booking != nil {
		dst = slices.Grow(dst, 800)
	} else {
		dst = slices.Grow(dst, 200)
	}
	n := len(dst)
	if out, ok := a.appendJSON(dst); ok {
		return out
	}
	b, err := json.Marshal(a)
	if err != nil {
		return append(dst[:n], "null"...)
	}
	return append(dst[:n], b...)
}

func (a *Applied) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(dst, `{"id":`...)
	dst = appendMarshalString(dst, a.ID)
	dst = append(dst, `,"code":`...)
	dst = appendMarshalString(dst, a.Code)
	dst = append(dst, `,"sequence":`...)
	dst = strconv.AppendInt(dst, int64(a.Sequence), 10)
	if a.Booking != nil {
		var ok bool
		dst = append(dst, `,"booking":`...)
		if dst, ok = a.Booking.appendJSON(dst); !ok {
			return dst, false
		}
	}
	if a.ManageURL != "" {
		dst = append(dst, `,"manage_url":`...)
		dst = appendMarshalString(dst, a.ManageURL)
	}
	return append(dst, '}'), true
}

// appendJSON appends json.Marshal(b); false when one of its times is
// outside what json.Marshal writes.
func (b *Booking) appendJSON(dst []byte) ([]byte, bool) {
	ok := true
	dst = append(dst, `{"id":`...)
	dst = appendMarshalString(dst, b.ID)
	dst = append(dst, `,"code":`...)
	dst = appendMarshalString(dst, b.Code)
	dst = append(dst, `,"service_id":`...)
	dst = appendMarshalString(dst, b.ServiceID)
	dst = append(dst, `,"office_id":`...)
	dst = appendMarshalString(dst, b.OfficeID)
	dst = append(dst, `,"start":`...)
	if dst, ok = appendMarshalTime(dst, b.Start); !ok {
		return dst, false
	}
	dst = append(dst, `,"end":`...)
	if dst, ok = appendMarshalTime(dst, b.End); !ok {
		return dst, false
	}
	dst = append(dst, `,"channel":`...)
	dst = appendMarshalString(dst, string(b.Channel))
	dst = append(dst, `,"citizen":`...)
	dst = b.Citizen.appendJSON(dst)
	if b.Details != "" {
		dst = append(dst, `,"details":`...)
		dst = appendMarshalString(dst, b.Details)
	}
	dst = append(dst, `,"status":`...)
	dst = appendMarshalString(dst, string(b.Status))
	dst = append(dst, `,"sequence":`...)
	dst = strconv.AppendInt(dst, int64(b.Sequence), 10)
	dst = append(dst, `,"created":`...)
	if dst, ok = appendMarshalTime(dst, b.Created); !ok {
		return dst, false
	}
	dst = append(dst, `,"updated":`...)
	if dst, ok = appendMarshalTime(dst, b.Updated); !ok {
		return dst, false
	}
	if b.Lang != "" {
		dst = append(dst, `,"lang":`...)
		dst = appendMarshalString(dst, b.Lang)
	}
	return append(dst, '}'), true
}

// appendMarshalTime appends t as json.Marshal writes it (Time.MarshalJSON:
// RFC 3339 with nanoseconds, in quotes); false for the times MarshalJSON
// refuses, which Time.AppendText refuses too.
func appendMarshalTime(dst []byte, t time.Time) ([]byte, bool) {
	dst = append(dst, '"')
	out, err := t.AppendText(dst)
	if err != nil {
		return dst, false
	}
	return append(out, '"'), true
}

// appendMarshalBytes appends b as json.Marshal writes a []byte: null for
// nil, else standard base64 in quotes.
func appendMarshalBytes(dst []byte, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendMarshalString appends s exactly as json.Marshal writes a string:
// besides what JSON requires, it escapes <, > and & (\u003c, \u003e,
// \u0026), U+2028 and U+2029, writes \b and \f short, and replaces each
// byte of invalid UTF-8 with \ufffd. (appendJSONString, for the compact
// notice, writes fewer escapes: its bytes need only decode the same.)
func appendMarshalString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if marshalSafe(c) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// marshalSafe reports whether json.Marshal writes the ASCII byte c as
// it is: one bit per byte, so that the loop over a string's bytes tests
// each with a shift instead of six comparisons.
func marshalSafe(c byte) bool {
	// Bytes 0x20 to 0x3f but ", &, < and >; 0x40 to 0x7f but \.
	const (
		low  uint64 = 0xffffffff_00000000 &^ (1<<'"' | 1<<'&' | 1<<'<' | 1<<'>')
		high uint64 = 0xffffffff_ffffffff &^ (1 << ('\\' - 64))
	)
	if c < 64 {
		return low>>c&1 != 0
	}
	return high>>(c-64)&1 != 0
}
