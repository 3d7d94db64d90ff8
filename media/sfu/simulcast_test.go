package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestPickLayer: a subscriber gets the layer it asks for, else the best
// lower one that flows, else the worst higher one, and what it asked for
// while nothing flows yet.
func TestPickLayer(t *testing.T) {
	for _, c := range []struct {
		want, flows, got string
	}{
		{"h", "hml", "h"}, {"m", "hml", "m"}, {"l", "hml", "l"},
		{"h", "ml", "m"}, // a publisher short of uplink stops its top layer
		{"l", "hm", "m"}, // a phone's publisher sends two layers
		{"m", "h", "h"},
		{"m", "", "m"},
		{"x", "ml", "m"}, // an unknown wish counts as the best
	} {
		flows := func(l string) bool {
			for _, r := range c.flows {
				if string(r) == l {
					return true
				}
			}
			return false
		}
		if got := pickLayer(c.want, flows); got != c.got {
			t.Errorf("want %s, flowing %q: got %s, want %s", c.want, c.flows, got, c.got)
		}
	}
}

// TestRewrite: a subscriber starts on a key frame of its layer; packets
// of other layers are not forwarded; a switch waits for a key frame of
// the new layer, then its sequence numbers follow the old layer's
// without a gap and its timestamps go on by the time that passed.
func TestRewrite(t *testing.T) {
	d := &downTrack{want: "h", target: "h"}
	key, delta := []byte{0x10, 0x00}, []byte{0x10, 0x01} // VP8: S bit, partition 0; P bit 0 (key) or 1
	at := time.Unix(1000, 0)
	pkt := func(seq uint16, ts uint32, payload []byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: payload}
	}
	if _, ok := d.rewrite("h", pkt(100, 5000, delta), false, at); ok {
		t.Fatal("forwarded a delta frame before any key frame")
	}
	out, ok := d.rewrite("h", pkt(101, 5000, key), true, at)
	if !ok || out.SequenceNumber != 101 || out.Timestamp != 5000 {
		t.Fatalf("first key frame: %v %+v", ok, out.Header)
	}
	if _, ok := d.rewrite("l", pkt(7, 90, key), true, at); ok {
		t.Fatal("forwarded another layer's key frame without a switch")
	}
	d.target = "l"
	if _, ok := d.rewrite("l", pkt(8, 90, delta), false, at); ok {
		t.Fatal("switched on a delta frame")
	}
	out, ok = d.rewrite("h", pkt(102, 8000, delta), false, at.Add(33*time.Millisecond))
	if !ok || out.SequenceNumber != 102 {
		t.Fatalf("the old layer stops before the new one's key frame: %v %+v", ok, out.Header)
	}
	out, ok = d.rewrite("l", pkt(9, 100, key), true, at.Add(66*time.Millisecond))
	if !ok || out.SequenceNumber != 103 || out.Timestamp != 8000+2970 {
		t.Fatalf("switch: %v seq %d ts %d, want seq 103 ts %d", ok, out.SequenceNumber, out.Timestamp, 8000+2970)
	}
	out, ok = d.rewrite("l", pkt(10, 3100, delta), false, at.Add(99*time.Millisecond))
	if !ok || out.SequenceNumber != 104 || out.Timestamp != 8000+2970+3000 {
		t.Fatalf("after the switch: %v %+v", ok, out.Header)
	}
	if _, ok := d.rewrite("h", pkt(103, 11000, key), true, at); ok {
		t.Fatal("the old layer still forwarded after the switch")
	}
}
