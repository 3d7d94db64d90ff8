package cluster

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Decoding the commands of a cluster.batch entry without encoding/json's
// repeated passes. json.Unmarshal checks the whole input before decoding
// it and scans a json.RawMessage field once more to find its end; a
// booking inside a shared entry went through that four times (the entry,
// the list of envelopes, its envelope, its payload): about a fifth of the
// FSM's time per booking, on every node. The entry itself is still
// decoded and checked whole by decodeEntry (by hand, jsonscan.go, or by
// encoding/json); its payload is then known to be valid JSON, so
// splitBatch and decodeTrusted only need to find where values end. Anything unusual in an envelope (an escaped or
// non-UTF-8 string, a key not spelt exactly as encodeEntry writes it, a
// field this code does not decode) sends that envelope to encoding/json,
// so the Command is always the one json.Unmarshal gives.

// errNotArray is splitBatch's error for a payload that is not a list.
var errNotArray = errors.New("batch payload is not a JSON array")

// splitBatch returns the elements of a JSON array known to be valid, as
// sub-slices of data (not copies).
func splitBatch(data []byte) ([][]byte, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, errNotArray
	}
	i = skipSpace(data, i+1)
	var out [][]byte
	if i < len(data) && data[i] == ']' {
		return out, nil
	}
	for i < len(data) {
		end := skipValue(data, i)
		out = append(out, data[i:end])
		i = skipSpace(data, end)
		if i >= len(data) {
			break
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return out, nil
		default:
			return nil, errNotArray
		}
	}
	return nil, errNotArray
}

// decodeTrusted decodes a command envelope that is part of valid JSON
// (an element of a decoded batch entry). It gives what json.Unmarshal
// gives: by itself for the plain envelopes encodeEntry writes, through
// json.Unmarshal for anything else.
func decodeTrusted(data []byte) (Command, error) {
	if cmd, ok := decodePlain(data); ok {
		return cmd, nil
	}
	return decodeEntry(data)
}

// decodePlain decodes an envelope whose keys are the exact names of the
// fields it knows, whose strings have no escapes, and whose payload is an
// object or array; ok is false for any other input.
func decodePlain(data []byte) (cmd Command, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return cmd, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return cmd, skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, ok := plainString(data, i)
		if !ok {
			return cmd, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return cmd, false
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return cmd, false
		}
		end := skipValue(data, i)
		val := data[i:end]
		switch key {
		case "type", "tenant", "rid", "fp":
			s, _, ok := plainString(val, 0)
			if !ok || len(s)+2 != len(val) {
				return cmd, false
			}
			switch key {
			case "type":
				cmd.Type = s
			case "tenant":
				cmd.Tenant = s
			case "rid":
				cmd.RequestID = s
			case "fp":
				cmd.Fingerprint = s
			}
		case "v":
			v, err := strconv.Atoi(string(val))
			if err != nil {
				return cmd, false
			}
			cmd.Version = v
		case "time":
			if len(val) == 0 || val[0] != '"' {
				return cmd, false
			}
			if err := cmd.Time.UnmarshalJSON(val); err != nil {
				return cmd, false
			}
		case "payload":
			if len(val) == 0 || (val[0] != '{' && val[0] != '[') {
				return cmd, false
			}
			// A copy, as json.RawMessage's decoding makes: the
			// command must not share the log entry's bytes.
			cmd.Payload = append(json.RawMessage(nil), val...)
		default:
			// Fields this code does not decode (such as the
			// actor), or keys in another spelling, which
			// encoding/json matches without regard to case.
			return cmd, false
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return cmd, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return cmd, skipSpace(data, i+1) == len(data)
		default:
			return cmd, false
		}
	}
}

// plainString reads the string starting at data[i] when it has no escape
// and no byte that encoding/json would replace; ok is false otherwise.
// next is the index after its closing quote.
func plainString(data []byte, i int) (s string, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			b := data[i+1 : j]
			if !utf8.Valid(b) {
				return "", 0, false
			}
			return string(b), j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just after the JSON value starting at
// data[i], which must be valid JSON: strings, objects and arrays are
// followed to their end, literals and numbers to the next delimiter.
func skipValue(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			i++
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of a number or literal
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}
