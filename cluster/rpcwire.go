package cluster

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// Writing the RPC's frames and the leader's log entries without
// encoding/json's reflection and its second pass over embedded JSON.
//
// json.Marshal of a struct with a json.RawMessage field runs the raw bytes
// through its scanner again ("compact"), even when they are its own
// output. A forwarded booking went through it five times: the follower's
// envelope, the request frame around it, the leader's envelope with its
// time stamp, the list of envelopes of a shared entry and the entry
// around that list; about 50 µs of the leader's CPU and 10 of the
// follower's per booking. The bytes written are the same JSON: the
// fields in the struct's order with its omitempty rules, strings as
// encoding/json writes them (plain ones by hand, any other through
// json.Marshal), and the embedded JSON copied as it is, which callers
// guarantee to be valid (json.Marshal's output, or bytes json.Unmarshal
// accepted as part of a frame).

// appendString appends s as a JSON string. Strings of printable ASCII
// without the characters encoding/json escapes are copied; any other goes
// through json.Marshal, so the result is always what it writes.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendRaw appends JSON known to be valid; empty stands for null, as
// json.Marshal writes a nil json.RawMessage.
func appendRaw(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

// frame returns a buffer with room for the 4-byte length of a frame.
func frame(sizeHint int) []byte {
	return make([]byte, 4, 4+sizeHint)
}

// sendFrame fills in the length of buf (made by frame) and writes it in
// one Write: one TLS record, one system call.
func sendFrame(w io.Writer, buf []byte) error {
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	_, err := w.Write(buf)
	return err
}

// writeRequest writes req as json.Marshal would, with req.Command (valid
// JSON: an envelope from encodeEntry) copied as it is.
func writeRequest(w io.Writer, req rpcRequest) error {
	return sendFrame(w, appendRequest(frame(64+len(req.Command)+len(req.ID)+len(req.Addr)), req))
}

// appendRequest appends the JSON of req (see writeRequest).
func appendRequest(b []byte, req rpcRequest) []byte {
	b = append(b, `{"op":`...)
	b = appendString(b, req.Op)
	if len(req.Command) > 0 {
		b = append(b, `,"command":`...)
		b = append(b, req.Command...)
	}
	if req.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, req.ID)
	}
	if req.Addr != "" {
		b = append(b, `,"addr":`...)
		b = appendString(b, req.Addr)
	}
	if req.TimeoutMS != 0 {
		b = append(b, `,"timeout_ms":`...)
		b = strconv.AppendInt(b, req.TimeoutMS, 10)
	}
	return append(b, '}')
}

// writeResponse writes resp as json.Marshal would, with resp.Value (valid
// JSON: marshalResult's output, json.Marshal's bytes) copied as it is.
func writeResponse(w io.Writer, resp rpcResponse) error {
	b, err := appendResponse(frame(32+len(resp.Value)), resp)
	if err != nil {
		return err
	}
	return sendFrame(w, b)
}

// appendResponse appends the JSON of resp (see writeResponse).
func appendResponse(b []byte, resp rpcResponse) ([]byte, error) {
	var errJSON []byte
	if resp.Error != nil {
		var err error
		if errJSON, err = json.Marshal(resp.Error); err != nil {
			return nil, err
		}
	}
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if resp.Index != 0 {
		sep()
		b = append(b, `"index":`...)
		b = strconv.AppendUint(b, resp.Index, 10)
	}
	if len(resp.Value) > 0 {
		sep()
		b = append(b, `"value":`...)
		b = append(b, resp.Value...)
	}
	if errJSON != nil {
		sep()
		b = append(b, `"error":`...)
		b = append(b, errJSON...)
	}
	return append(b, '}'), nil
}

// encodeTrusted writes the envelope of a command whose Payload is known
// to be valid JSON (decoded from a frame, or built by the batcher from
// envelopes): the payload is copied instead of scanned again. The entry
// decodes to the same Command as json.Marshal's; its bytes are the same
// too when the payload is in json.Marshal's form (marshalForm), which is
// how encodeEntry uses it.
func encodeTrusted(cmd Command) ([]byte, error) {
	t, err := cmd.Time.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var actor []byte
	if cmd.Actor != nil {
		if actor, err = json.Marshal(cmd.Actor); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 96+len(cmd.Type)+len(cmd.Tenant)+len(cmd.Payload)+len(cmd.RequestID)+len(cmd.Fingerprint)+len(actor))
	b = append(b, `{"type":`...)
	b = appendString(b, cmd.Type)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(cmd.Version), 10)
	if cmd.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = appendString(b, cmd.Tenant)
	}
	b = append(b, `,"time":`...)
	b = append(b, t...)
	b = append(b, `,"payload":`...)
	b = appendRaw(b, cmd.Payload)
	if cmd.RequestID != "" {
		b = append(b, `,"rid":`...)
		b = appendString(b, cmd.RequestID)
	}
	if cmd.Fingerprint != "" {
		b = append(b, `,"fp":`...)
		b = appendString(b, cmd.Fingerprint)
	}
	if actor != nil {
		b = append(b, `,"actor":`...)
		b = append(b, actor...)
	}
	return append(b, '}'), nil
}
