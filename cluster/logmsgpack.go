package cluster

import (
	"encoding/binary"
	"math"

	"github.com/hashicorp/raft"
)

// appendLogMsgpack appends l as go-msgpack (hashicorp/go-msgpack v2, the
// MsgpackHandle raft-boltdb used, with time.Time through MarshalBinary)
// writes it: a map of the six fields of raft.Log in the order of their
// names, unsigned numbers in their shortest form, byte slices and the
// time's binary form as msgpack's old "raw" strings (no str8, no bin),
// nil slices as nil. TestLogMsgpackMatchesCodec and FuzzLogMsgpack
// compare it with go-msgpack byte for byte.
func appendLogMsgpack(dst []byte, l *raft.Log) ([]byte, error) {
	dst = append(dst, 0x80|6)
	dst = appendMsgpackRawString(dst, "AppendedAt")
	// The time's binary form is at most 16 bytes: a fixed-size raw
	// string, its length written after it is known.
	at := len(dst)
	dst = append(dst, 0)
	var err error
	if dst, err = l.AppendedAt.AppendBinary(dst); err != nil {
		return nil, err
	}
	dst[at] = 0xa0 | byte(len(dst)-at-1)
	dst = appendMsgpackRawString(dst, "Data")
	dst = appendMsgpackRaw(dst, l.Data)
	dst = appendMsgpackRawString(dst, "Extensions")
	dst = appendMsgpackRaw(dst, l.Extensions)
	dst = appendMsgpackRawString(dst, "Index")
	dst = appendMsgpackUint(dst, l.Index)
	dst = appendMsgpackRawString(dst, "Term")
	dst = appendMsgpackUint(dst, l.Term)
	dst = appendMsgpackRawString(dst, "Type")
	return appendMsgpackUint(dst, uint64(l.Type)), nil
}

// logMsgpackSize is at least the length of appendLogMsgpack's output.
func logMsgpackSize(l *raft.Log) int {
	// Map header, names and their headers 42, the time 17, three
	// numbers 27, two slice headers 10.
	return 96 + len(l.Data) + len(l.Extensions)
}

// appendMsgpackRawHeader appends the header of a raw string of n bytes.
func appendMsgpackRawHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
}

func appendMsgpackRawString(dst []byte, s string) []byte {
	return append(appendMsgpackRawHeader(dst, len(s)), s...)
}

func appendMsgpackRaw(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 0xc0)
	}
	return append(appendMsgpackRawHeader(dst, len(b)), b...)
}

func appendMsgpackUint(dst []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
	}
}
