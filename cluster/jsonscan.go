package cluster

import (
	"encoding/binary"
	"encoding/json"
)

// Decoding log entries and RPC frames without encoding/json, safely.
//
// json.Unmarshal checks its whole input with a byte-at-a-time state
// machine before it decodes anything, then scans it again to decode it,
// and a json.RawMessage once more to copy it: a log entry of fifty
// bookings went through three passes of that machine on every node, and
// a forwarded booking through two on the leader. The hand decoders here
// (decodeEnvelope, decodeRequest, decodeResponse) make one pass: they
// check the JSON as they read it, with the same grammar as encoding/json,
// and decode only the shapes our own writers produce (the keys spelt
// exactly, each once; strings without escapes; numbers that are plain
// integers). For any other input they report !ok and the caller decodes
// with json.Unmarshal, so the value, or the error, is always the one
// encoding/json gives. Log entries come from disk and peers: a corrupt
// one must stay an error, never a different command, which is why these
// decoders check everything they accept instead of trusting it.

// maxScanDepth bounds the nesting checkValue follows; deeper input goes
// to encoding/json (whose own limit is 10 000).
const maxScanDepth = 256

// jsonScan checks JSON values. compact is cleared when it meets white
// space outside strings; with track, html is set when a string holds a
// character that json.Marshal escapes in embedded JSON (<, >, &, U+2028,
// U+2029): together they tell whether json.Marshal would copy the value
// unchanged.
type jsonScan struct {
	data    []byte
	track   bool
	compact bool
	html    bool
}

// space skips white space from i, noting it.
func (s *jsonScan) space(i int) int {
	j := skipSpace(s.data, i)
	if j != i {
		s.compact = false
	}
	return j
}

// value checks the value starting at i (no white space before it) and
// returns the index after it; ok is false when it is not valid JSON, or
// nests deeper than maxScanDepth.
func (s *jsonScan) value(i, depth int) (end int, ok bool) {
	data := s.data
	if i >= len(data) {
		return 0, false
	}
	switch c := data[i]; {
	case c == '"':
		return s.str(i)
	case c == '{':
		if depth >= maxScanDepth {
			return 0, false
		}
		i = s.space(i + 1)
		if i < len(data) && data[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return 0, false
			}
			if i, ok = s.str(i); !ok {
				return 0, false
			}
			i = s.space(i)
			if i >= len(data) || data[i] != ':' {
				return 0, false
			}
			if i, ok = s.value(s.space(i+1), depth+1); !ok {
				return 0, false
			}
			i = s.space(i)
			if i >= len(data) {
				return 0, false
			}
			switch data[i] {
			case ',':
				i = s.space(i + 1)
			case '}':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '[':
		if depth >= maxScanDepth {
			return 0, false
		}
		i = s.space(i + 1)
		if i < len(data) && data[i] == ']' {
			return i + 1, true
		}
		for {
			if i, ok = s.value(i, depth+1); !ok {
				return 0, false
			}
			i = s.space(i)
			if i >= len(data) {
				return 0, false
			}
			switch data[i] {
			case ',':
				i = s.space(i + 1)
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(data, i)
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	}
	return 0, false
}

// str checks the string starting at data[i] (a quote) and returns the
// index after its closing quote. Eight bytes at a time while none of
// them needs a look (most of a string's bytes need none).
func (s *jsonScan) str(i int) (end int, ok bool) {
	data := s.data
	for j := i + 1; ; j++ {
		for j+8 <= len(data) {
			w := binary.LittleEndian.Uint64(data[j:])
			if hasLess(w, 0x20) || hasByte(w, '"') || hasByte(w, '\\') ||
				s.track && (hasByte(w, '<') || hasByte(w, '>') || hasByte(w, '&') || hasByte(w, 0xE2)) {
				break
			}
			j += 8
		}
		if j >= len(data) {
			return 0, false
		}
		switch c := data[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return 0, false
		case c == '<' || c == '>' || c == '&':
			s.html = true
		case c == 0xE2:
			if j+2 < len(data) && data[j+1] == 0x80 && data[j+2]&^1 == 0xA8 {
				s.html = true
			}
		case c == '\\':
			j++
			if j >= len(data) {
				return 0, false
			}
			switch data[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(data) {
					return 0, false
				}
				for _, h := range data[j+1 : j+5] {
					if !isHex(h) {
						return 0, false
					}
				}
				j += 4
			default:
				return 0, false
			}
		}
	}
}

// Bytes of a word (SWAR): whether any byte of w is below n (n <= 128),
// or equals c. Exact as yes-or-no answers.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hasLess(w uint64, n byte) bool { return (w-ones*uint64(n))&^w&highs != 0 }

func hasByte(w uint64, c byte) bool { return hasLess(w^(ones*uint64(c)), 1) }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber checks the JSON number starting at data[i] and returns the
// index after it. What follows is the caller's to check.
func scanNumber(data []byte, i int) (end int, ok bool) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return 0, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = digits(data, i)
	default:
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// digits returns the index after the decimal digits starting at i.
func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

// literal checks that data[i:] starts with word.
func literal(data []byte, i int, word string) (end int, ok bool) {
	if len(data)-i < len(word) || string(data[i:i+len(word)]) != word {
		return 0, false
	}
	return i + len(word), true
}

// checkValue checks the JSON value starting at data[i]; see jsonScan.
func checkValue(data []byte, i int) (end int, ok bool) {
	s := jsonScan{data: data}
	return s.value(i, 0)
}

// marshalForm reports whether raw is valid JSON that json.Marshal, given
// it as a json.RawMessage, would write unchanged: compact, and without
// the characters it escapes. Then the hand writers may copy it.
func marshalForm(raw []byte) bool {
	s := jsonScan{data: raw, track: true, compact: true}
	end, ok := s.value(0, 0)
	return ok && end == len(raw) && s.compact && !s.html
}

// plainInt reads a JSON number at data[i] that is an integer of at most
// 18 digits (so it fits an int64 and needs no overflow check), as
// strconv.ParseInt reads it; ok is false for any other number, which
// encoding/json may refuse (a fraction into an int) or must judge.
func plainInt(data []byte, i int) (n int64, end int, ok bool) {
	end, ok = scanNumber(data, i)
	if !ok {
		return 0, 0, false
	}
	lit := data[i:end]
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	if len(lit) == 0 || len(lit) > 18 {
		return 0, 0, false
	}
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, 0, false // a fraction or an exponent
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, end, true
}

// member reads `"key" :` at data[i] (after white space) for the hand
// decoders: the key must be a plain string (plainString), and the index
// returned is that of the value, white space skipped.
func member(data []byte, i int) (key string, val int, ok bool) {
	key, i, ok = plainString(data, i)
	if !ok {
		return "", 0, false
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return "", 0, false
	}
	return key, skipSpace(data, i+1), true
}

// nextMember moves past the separator after a member's value ending at
// i: more is true after a comma (i is then the next key), false after
// the closing brace (i is then after it).
func nextMember(data []byte, i int) (next int, more, ok bool) {
	i = skipSpace(data, i)
	if i >= len(data) {
		return 0, false, false
	}
	switch data[i] {
	case ',':
		return skipSpace(data, i+1), true, true
	case '}':
		return i + 1, false, true
	}
	return 0, false, false
}

// openObject moves past the opening brace at data[i]: empty is true for
// an empty object (next is then after it).
func openObject(data []byte, i int) (next int, empty, ok bool) {
	if i >= len(data) || data[i] != '{' {
		return 0, false, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, true, true
	}
	return i, false, true
}

// Field bits of the hand decoders, to send a repeated key (which
// encoding/json merges or overwrites in ways not worth copying) to
// encoding/json.
const (
	fType = 1 << iota
	fVersion
	fTenant
	fTime
	fPayload
	fRID
	fFP
)

// decodeEnvelope decodes the command envelope (the JSON of a Command)
// starting at data[i], as json.Unmarshal into a zero Command does, when
// it has the plain shape encodeEntry writes and no actor; end is the
// index after it. ok is false for any other input, valid or not. The
// payload is checked whole and is a sub-slice of data: the caller copies it when the command must not share
// data's bytes.
func decodeEnvelope(data []byte, i int) (cmd Command, end int, ok bool) {
	i, empty, ok := openObject(data, i)
	if !ok || empty {
		return cmd, i, ok
	}
	seen := 0
	for {
		key, v, ok := member(data, i)
		if !ok {
			return cmd, 0, false
		}
		var bit int
		switch key {
		case "type", "tenant", "rid", "fp":
			s, next, ok := plainString(data, v)
			if !ok {
				return cmd, 0, false // an escape, invalid UTF-8, null...
			}
			switch key {
			case "type":
				cmd.Type, bit = s, fType
			case "tenant":
				cmd.Tenant, bit = s, fTenant
			case "rid":
				cmd.RequestID, bit = s, fRID
			default:
				cmd.Fingerprint, bit = s, fFP
			}
			i = next
		case "v":
			n, next, ok := plainInt(data, v)
			if !ok || int64(int(n)) != n {
				return cmd, 0, false
			}
			cmd.Version, bit, i = int(n), fVersion, next
		case "time":
			if v >= len(data) || data[v] != '"' {
				return cmd, 0, false // null leaves the time alone: rare
			}
			s := jsonScan{data: data}
			next, ok := s.str(v)
			if !ok || cmd.Time.UnmarshalJSON(data[v:next]) != nil {
				return cmd, 0, false
			}
			bit, i = fTime, next
		case "payload":
			// Any value: json.RawMessage keeps its bytes, null too.
			next, ok := checkValue(data, v)
			if !ok {
				return cmd, 0, false
			}
			cmd.Payload, bit, i = data[v:next:next], fPayload, next
		default:
			// The actor (rare, and a pointer that repeated keys would
			// merge into), or a key this binary does not know or in
			// another spelling, which encoding/json matches ignoring
			// case.
			return cmd, 0, false
		}
		if seen&bit != 0 {
			return cmd, 0, false
		}
		seen |= bit
		next, more, ok := nextMember(data, i)
		if !ok {
			return cmd, 0, false
		}
		if !more {
			return cmd, next, true
		}
		i = next
	}
}

// decodeRequest decodes a request frame as json.Unmarshal into a zero
// rpcRequestIn does, when it has the plain shape appendRequest writes;
// ok is false for any other input, and the caller then uses
// json.Unmarshal. The command's payload is a copy.
func decodeRequest(body []byte) (req rpcRequestIn, ok bool) {
	i, empty, ok := openObject(body, skipSpace(body, 0))
	if !ok {
		return req, false
	}
	seen := 0
	for more := !empty; more; {
		key, v, ok := member(body, i)
		if !ok {
			return rpcRequestIn{}, false
		}
		var bit int
		switch key {
		case "op", "id", "addr":
			s, next, ok := plainString(body, v)
			if !ok {
				return rpcRequestIn{}, false
			}
			switch key {
			case "op":
				req.Op, bit = s, 1
			case "id":
				req.ID, bit = s, 2
			default:
				req.Addr, bit = s, 4
			}
			i = next
		case "timeout_ms":
			n, next, ok := plainInt(body, v)
			if !ok {
				return rpcRequestIn{}, false
			}
			req.TimeoutMS, bit, i = n, 8, next
		case "command":
			cmd, next, ok := decodeEnvelope(body, v)
			if !ok {
				return rpcRequestIn{}, false
			}
			if cmd.Payload != nil {
				cmd.Payload = append(json.RawMessage(nil), cmd.Payload...)
			}
			req.Command, bit, i = &cmd, 16, next
		default:
			return rpcRequestIn{}, false
		}
		if seen&bit != 0 {
			return rpcRequestIn{}, false
		}
		seen |= bit
		if i, more, ok = nextMember(body, i); !ok {
			return rpcRequestIn{}, false
		}
	}
	if skipSpace(body, i) != len(body) {
		return rpcRequestIn{}, false
	}
	return req, true
}

// decodeResponse decodes an answer frame as json.Unmarshal into a zero
// rpcResponse does, when it has the plain shape appendResponse writes;
// ok is false for any other input, and the caller then uses
// json.Unmarshal. The value is a copy.
func decodeResponse(body []byte) (resp rpcResponse, ok bool) {
	i, empty, ok := openObject(body, skipSpace(body, 0))
	if !ok {
		return resp, false
	}
	seen := 0
	for more := !empty; more; {
		key, v, ok := member(body, i)
		if !ok {
			return rpcResponse{}, false
		}
		var bit int
		switch key {
		case "index":
			if v >= len(body) || body[v] == '-' {
				return rpcResponse{}, false
			}
			n, next, ok := plainInt(body, v)
			if !ok {
				return rpcResponse{}, false
			}
			resp.Index, bit, i = uint64(n), 1, next
		case "value":
			if v >= len(body) || body[v] == 'n' {
				return rpcResponse{}, false // null: rare, and not copied as is
			}
			next, ok := checkValue(body, v)
			if !ok {
				return rpcResponse{}, false
			}
			resp.Value, bit, i = append(json.RawMessage(nil), body[v:next]...), 2, next
		case "error":
			w, next, ok := decodeWireError(body, v)
			if !ok {
				return rpcResponse{}, false
			}
			resp.Error, bit, i = w, 4, next
		default:
			return rpcResponse{}, false
		}
		if seen&bit != 0 {
			return rpcResponse{}, false
		}
		seen |= bit
		if i, more, ok = nextMember(body, i); !ok {
			return rpcResponse{}, false
		}
	}
	if skipSpace(body, i) != len(body) {
		return rpcResponse{}, false
	}
	return resp, true
}

// decodeWireError decodes the error object of an answer starting at
// data[i], of plain strings only; ok is false for anything else.
func decodeWireError(data []byte, i int) (w *wireError, end int, ok bool) {
	w = &wireError{}
	i, empty, ok := openObject(data, i)
	if !ok {
		return nil, 0, false
	}
	seen := 0
	for more := !empty; more; {
		key, v, ok := member(data, i)
		if !ok {
			return nil, 0, false
		}
		var bit int
		if key == "fields" {
			m, next, ok := decodeStringMap(data, v)
			if !ok {
				return nil, 0, false
			}
			w.Fields, bit, i = m, 1, next
		} else {
			s, next, ok := plainString(data, v)
			if !ok {
				return nil, 0, false
			}
			switch key {
			case "code":
				w.Code, bit = s, 2
			case "message":
				w.Message, bit = s, 4
			case "leader_addr":
				w.LeaderAddr, bit = s, 8
			case "leader_id":
				w.LeaderID, bit = s, 16
			default:
				return nil, 0, false
			}
			i = next
		}
		if seen&bit != 0 {
			return nil, 0, false
		}
		seen |= bit
		if i, more, ok = nextMember(data, i); !ok {
			return nil, 0, false
		}
	}
	return w, i, true
}

// decodeStringMap decodes an object of plain strings starting at
// data[i] into a new map (a repeated key keeps its last value, as with
// encoding/json).
func decodeStringMap(data []byte, i int) (m map[string]string, end int, ok bool) {
	i, empty, ok := openObject(data, i)
	if !ok {
		return nil, 0, false
	}
	m = map[string]string{}
	for more := !empty; more; {
		key, v, ok := member(data, i)
		if !ok {
			return nil, 0, false
		}
		s, next, ok := plainString(data, v)
		if !ok {
			return nil, 0, false
		}
		m[key] = s
		if i, more, ok = nextMember(data, next); !ok {
			return nil, 0, false
		}
	}
	return m, i, true
}
