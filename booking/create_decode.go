package booking

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// decodeCreate is decodeUpTo for booking.create. Every node decodes every
// booking in the FSM's single goroutine, and encoding/json's reflection
// was a tenth of a booking's apply; the payload is a fixed, flat shape, so
// a scanner written for it (createScanner) reads it first. The scanner
// accepts only the form json.Marshal writes — exact key names, each once,
// strings without escapes, plain integers — and gives up on anything
// else, which then goes through cmd.Decode exactly as before: a payload
// either decodes to the same value encoding/json gives, or encoding/json
// decodes it (TestDecodeCreateMatchesEncodingJSON, FuzzDecodeCreate).
func decodeCreate(cmd cluster.Command, maxVersion int, p *createPayload) error {
	if cmd.Version < 1 || cmd.Version > maxVersion {
		return fmt.Errorf("%s v%d: %w", cmd.Type, cmd.Version, errVersion)
	}
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command has no tenant", cmd.Type)
	}
	if fastDecodeCreate(cmd.Payload, p) {
		return nil
	}
	*p = createPayload{}
	return cmd.Decode(p)
}

// fastDecodeCreate decodes data into p and reports whether it could; on
// false p holds partial values and the caller starts again.
func fastDecodeCreate(data []byte, p *createPayload) bool {
	s := createScanner{data: data}
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.str(&p.ID)
		case "code":
			return s.str(&p.Code)
		case "service_id":
			return s.str(&p.ServiceID)
		case "start":
			raw, ok := s.rawString()
			return ok && p.Start.UnmarshalJSON(raw) == nil
		case "channel":
			var c string
			ok := s.str(&c)
			p.Channel = Channel(c)
			return ok
		case "citizen":
			return s.citizen(&p.Citizen)
		case "details":
			return s.str(&p.Details)
		case "token_hash":
			raw, ok := s.rawString()
			if !ok {
				return false
			}
			// What encoding/json does for a []byte.
			in := raw[1 : len(raw)-1]
			b := make([]byte, base64.StdEncoding.DecodedLen(len(in)))
			n, err := base64.StdEncoding.Decode(b, in)
			p.TokenHash = b[:n]
			return err == nil
		case "join_token":
			return s.str(&p.JoinToken)
		case "comune":
			return s.comune(&p.Comune)
		case "base_url":
			return s.str(&p.BaseURL)
		case "manage_url":
			return s.str(&p.ManageURL)
		case "lang":
			return s.str(&p.Lang)
		case "net":
			return s.str(&p.Net)
		}
		return false
	})
	if !ok {
		return false
	}
	s.space()
	return s.i == len(s.data)
}

// createScanner reads the JSON of a createPayload; each method reports
// false on anything outside the form json.Marshal writes.
type createScanner struct {
	data []byte
	i    int
}

func (s *createScanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips spaces and then c, reporting whether c was there.
func (s *createScanner) consume(c byte) bool {
	s.space()
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// rawString returns the next string with its quotes. It refuses escapes,
// control characters and invalid UTF-8: encoding/json would translate or
// replace them, and the fallback does exactly that.
func (s *createScanner) rawString() ([]byte, bool) {
	raw, plain, ok := s.anyString()
	return raw, ok && plain
}

// anyString returns the next string with its quotes, and whether it is
// plain: without escapes and valid UTF-8, so that its bytes are its
// value. It refuses control characters, which JSON does not allow.
func (s *createScanner) anyString() (raw []byte, plain, ok bool) {
	if !s.consume('"') {
		return nil, false, false
	}
	start := s.i - 1
	ascii, escaped := true, false
	for ; s.i < len(s.data); s.i++ {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			raw := s.data[start:s.i]
			return raw, !escaped && (ascii || utf8.Valid(raw)), true
		case c == '\\':
			// The escaped byte is skipped: an escaped quote does not
			// end the string. \u's four hex digits are plain bytes.
			escaped = true
			s.i++
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

// str reads a string field. A string with escapes or invalid UTF-8 (a
// name with "&", which json.Marshal writes as \u0026; details on several
// lines) is handed to encoding/json alone, which translates it exactly
// as it would inside the whole payload.
func (s *createScanner) str(v *string) bool {
	raw, plain, ok := s.anyString()
	switch {
	case !ok:
		return false
	case plain:
		*v = string(raw[1 : len(raw)-1])
		return true
	}
	return json.Unmarshal(raw, v) == nil
}

// integer reads a plain JSON integer (no fraction, no exponent), as
// encoding/json stores into an int.
func (s *createScanner) integer(v *int) bool {
	s.space()
	start := s.i
	if s.i < len(s.data) && s.data[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.data[digits] == '0' && s.i-digits > 1) {
		return false
	}
	if s.i < len(s.data) {
		switch s.data[s.i] {
		case '.', 'e', 'E':
			return false
		}
	}
	n, err := strconv.ParseInt(string(s.data[start:s.i]), 10, 0)
	*v = int(n)
	return err == nil
}

// object reads an object whose every key field handles, each key once.
func (s *createScanner) object(field func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	var seen [16][]byte
	n := 0
	for {
		raw, ok := s.rawString()
		if !ok || !s.consume(':') {
			return false
		}
		key := raw[1 : len(raw)-1]
		for _, k := range seen[:n] {
			if bytes.Equal(k, key) {
				return false // a repeated key: encoding/json merges, the fallback too
			}
		}
		if n == len(seen) {
			return false
		}
		seen[n] = key
		n++
		if !field(key) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

func (s *createScanner) citizen(c *Citizen) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "given_name":
			return s.str(&c.GivenName)
		case "family_name":
			return s.str(&c.FamilyName)
		case "fiscal_code":
			return s.str(&c.FiscalCode)
		case "email":
			return s.str(&c.Email)
		case "phone":
			return s.str(&c.Phone)
		}
		return false
	})
}

func (s *createScanner) comune(c *comune) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return s.str(&c.Name)
		case "time_zone":
			return s.str(&c.TimeZone)
		case "sender":
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "name":
					return s.str(&c.Sender.Name)
				case "address":
					return s.str(&c.Sender.Address)
				}
				return false
			})
		case "patron_days":
			if !s.consume('[') {
				return false
			}
			// encoding/json makes an empty, not nil, slice of "[]".
			c.PatronDays = make([]tenant.PatronDay, 0, 1)
			if s.consume(']') {
				return true
			}
			for {
				var d tenant.PatronDay
				if !s.patronDay(&d) {
					return false
				}
				c.PatronDays = append(c.PatronDays, d)
				if s.consume(']') {
					return true
				}
				if !s.consume(',') {
					return false
				}
			}
		}
		return false
	})
}

func (s *createScanner) patronDay(d *tenant.PatronDay) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return s.str(&d.Name)
		case "month":
			var m int
			ok := s.integer(&m)
			d.Month = time.Month(m)
			return ok
		case "day":
			return s.integer(&d.Day)
		case "date":
			var text string
			if !s.str(&text) {
				return false
			}
			var v civil.Date
			if v.UnmarshalText([]byte(text)) != nil {
				return false
			}
			d.Date = v
			return true
		}
		return false
	})
}

// decodeApplied is json.Unmarshal into an Applied, for the result of a
// forwarded booking.create (the HandleResult of Register) and a replayed
// one (appliedOf). The follower that forwarded a booking decoded the
// leader's answer by reflection; AppendJSON writes a fixed shape, which
// createScanner reads first, giving up on anything else (a key in another
// case, an unknown key, a null, a repeated key, escapes in a time), and
// then json.Unmarshal decodes it exactly as before
// (TestDecodeAppliedMatchesEncodingJSON, FuzzDecodeApplied).
func decodeApplied(raw []byte) (Applied, error) {
	var a Applied
	if fastDecodeApplied(raw, &a) {
		return a, nil
	}
	a = Applied{}
	err := json.Unmarshal(raw, &a)
	return a, err
}

// fastDecodeApplied decodes data into a and reports whether it could; on
// false a holds partial values and the caller starts again.
func fastDecodeApplied(data []byte, a *Applied) bool {
	s := createScanner{data: data}
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.str(&a.ID)
		case "code":
			return s.str(&a.Code)
		case "sequence":
			return s.integer(&a.Sequence)
		case "booking":
			a.Booking = new(Booking)
			return s.booking(a.Booking)
		case "manage_url":
			return s.str(&a.ManageURL)
		}
		return false
	})
	if !ok {
		return false
	}
	s.space()
	return s.i == len(s.data)
}

// booking reads a Booking as json.Marshal writes it (without the tenant
// and the join token, which it leaves out).
func (s *createScanner) booking(b *Booking) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.str(&b.ID)
		case "code":
			return s.str(&b.Code)
		case "service_id":
			return s.str(&b.ServiceID)
		case "office_id":
			return s.str(&b.OfficeID)
		case "start":
			return s.time(&b.Start)
		case "end":
			return s.time(&b.End)
		case "channel":
			var c string
			ok := s.str(&c)
			b.Channel = Channel(c)
			return ok
		case "citizen":
			return s.citizen(&b.Citizen)
		case "details":
			return s.str(&b.Details)
		case "status":
			var st string
			ok := s.str(&st)
			b.Status = Status(st)
			return ok
		case "sequence":
			return s.integer(&b.Sequence)
		case "created":
			return s.time(&b.Created)
		case "updated":
			return s.time(&b.Updated)
		case "lang":
			return s.str(&b.Lang)
		}
		return false
	})
}

// time reads a time as Time.UnmarshalJSON does, from a plain string.
func (s *createScanner) time(t *time.Time) bool {
	raw, ok := s.rawString()
	return ok && t.UnmarshalJSON(raw) == nil
}
