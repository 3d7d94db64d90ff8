package web

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// decodeBookingRequest decodes the body of POST /api/v1/bookings when it
// is a well-formed object of the shape clients send: each key spelled as
// the field's tag exactly and given once, string values without escapes,
// a boolean privacy_accepted, a citizen object and an optional proof
// object with a plain integer counter, and only JSON whitespace after it.
// It reports false for anything else (a null, an escape, a key in another
// case, an unknown or repeated key, a number in another form, invalid
// UTF-8, malformed JSON), and then leaves *out alone: the caller decodes
// such a body with encoding/json, which gives today's value or error.
// Whatever it accepts, encoding/json decodes to the same value
// (FuzzDecodeBookingRequest).
//
// The API's bookings are the busiest requests of a node, and
// encoding/json spent about 6 µs on each: its Decoder checks the whole
// body once before decoding it, then finds each field by reflection.
func decodeBookingRequest(body []byte, out *apiBookingRequest) bool {
	// One copy of the body, which the fields then share, instead of one
	// allocation per field.
	d := bodyDecoder{b: string(body)}
	var in apiBookingRequest
	if !d.object(func(key string) bool {
		switch key {
		case "service_id":
			return d.str(&in.ServiceID)
		case "start":
			return d.str(&in.Start)
		case "channel":
			return d.str(&in.Channel)
		case "details":
			return d.str(&in.Details)
		case "lang":
			return d.str(&in.Lang)
		case "privacy_accepted":
			return d.boolean(&in.PrivacyAccepted)
		case "citizen":
			return d.citizen(&in.Citizen)
		case "proof":
			in.Proof = &apiProof{}
			return d.proof(in.Proof)
		}
		return false
	}) {
		return false
	}
	d.space()
	if d.i != len(d.b) {
		return false
	}
	*out = in
	return true
}

// bodyDecoder walks a JSON body for decodeBookingRequest. Each method
// reports false on anything it does not handle exactly as encoding/json
// would, and the caller then gives up.
type bodyDecoder struct {
	b string
	i int
}

// space skips JSON whitespace.
func (d *bodyDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// object reads an object whose values field reads after its key, and
// refuses a key given twice (encoding/json would keep the last value, or
// merge two objects: not worth copying for a body no client sends). It
// tells apart 8 keys, as many as the body's largest object has: a ninth
// is unknown or repeated.
func (d *bodyDecoder) object(field func(key string) bool) bool {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	var seen [8]string
	n := 0
	for {
		d.space()
		key, ok := d.rawString()
		if !ok {
			return false
		}
		if n == len(seen) {
			return false
		}
		for _, k := range seen[:n] {
			if k == key {
				return false
			}
		}
		seen[n] = key
		n++
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		d.space()
		if !field(key) {
			return false
		}
		d.space()
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// rawString reads a string without escapes or control characters and
// returns what is between the quotes; invalid UTF-8 (which encoding/json
// replaces) is refused.
func (d *bodyDecoder) rawString() (string, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		switch {
		case c == '"':
			s := d.b[start:j]
			if !ascii && !utf8.ValidString(s) {
				return "", false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// str reads a string value into dst.
func (d *bodyDecoder) str(dst *string) bool {
	s, ok := d.rawString()
	if ok {
		*dst = s
	}
	return ok
}

// boolean reads true or false into dst.
func (d *bodyDecoder) boolean(dst *bool) bool {
	rest := d.b[d.i:]
	switch {
	case len(rest) >= 4 && rest[:4] == "true":
		*dst = true
		d.i += 4
	case len(rest) >= 5 && rest[:5] == "false":
		*dst = false
		d.i += 5
	default:
		return false
	}
	return d.literalEnds()
}

// literalEnds reports whether the literal or number just read ends there,
// as in "truex" it does not.
func (d *bodyDecoder) literalEnds() bool {
	if d.i >= len(d.b) {
		return true
	}
	switch d.b[d.i] {
	case ' ', '\t', '\n', '\r', ',', '}':
		return true
	}
	return false
}

// citizen reads the citizen object.
func (d *bodyDecoder) citizen(c *apiCitizen) bool {
	return d.object(func(key string) bool {
		switch key {
		case "given_name":
			return d.str(&c.GivenName)
		case "family_name":
			return d.str(&c.FamilyName)
		case "fiscal_code":
			return d.str(&c.FiscalCode)
		case "email":
			return d.str(&c.Email)
		case "phone":
			return d.str(&c.Phone)
		}
		return false
	})
}

// proof reads the proof object; its counter must be a plain unsigned
// integer ("0" or digits without a leading zero) that fits a uint64.
func (d *bodyDecoder) proof(p *apiProof) bool {
	return d.object(func(key string) bool {
		switch key {
		case "challenge":
			return d.str(&p.Challenge)
		case "counter":
			start := d.i
			for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
				d.i++
			}
			digits := d.b[start:d.i]
			if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') || !d.literalEnds() {
				return false
			}
			n, err := strconv.ParseUint(digits, 10, 64)
			if err != nil {
				return false
			}
			p.Counter = n
			return true
		}
		return false
	})
}

// appendJSON appends c as json.Encoder (HTML escaping off) writes it,
// newline included, and reports true; or reports false, leaving dst to
// the caller, when a value would need an escape (a quote, a backslash, a
// control character or anything beyond ASCII), which encoding/json then
// writes. The values are IDs, times and URLs built by this node, plain
// ASCII in practice.
func (c *apiBookingCreated) appendJSON(dst []byte) ([]byte, bool) {
	for _, s := range [...]string{c.ID, c.Code, c.Start, c.End, c.ManageURL, c.ManageToken} {
		if !plainJSON(s) {
			return dst, false
		}
	}
	if c.JoinURL != nil && !plainJSON(*c.JoinURL) {
		return dst, false
	}
	dst = append(dst, `{"id":"`...)
	dst = append(dst, c.ID...)
	dst = append(dst, `","code":"`...)
	dst = append(dst, c.Code...)
	dst = append(dst, `","start":"`...)
	dst = append(dst, c.Start...)
	dst = append(dst, `","end":"`...)
	dst = append(dst, c.End...)
	dst = append(dst, `","manage_url":"`...)
	dst = append(dst, c.ManageURL...)
	dst = append(dst, `","manage_token":"`...)
	dst = append(dst, c.ManageToken...)
	if c.JoinURL == nil {
		dst = append(dst, `","join_url":null}`...)
	} else {
		dst = append(dst, `","join_url":"`...)
		dst = append(dst, *c.JoinURL...)
		dst = append(dst, `"}`...)
	}
	return append(dst, '\n'), true
}

// plainJSON reports whether encoding/json writes s between quotes as it
// is: printable ASCII without a quote or a backslash.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// writeBookingCreated answers c with 201 as writeJSON does, with the same
// headers and bytes, written without reflection when appendJSON can.
func writeBookingCreated(w http.ResponseWriter, c apiBookingCreated) {
	b, ok := c.appendJSON(make([]byte, 0, 512))
	if !ok {
		writeJSON(w, http.StatusCreated, c)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b) // The client may have gone; nothing to do then.
}
