package sfu

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Simulcast: a browser that publishes its camera in layers (RTP stream
// IDs "h", "m" and "l": full, half and quarter resolution) sends all of
// them to the SFU, and the SFU forwards to each subscriber the one layer
// that suits it. The layers are separate RTP streams with their own
// SSRC, sequence numbers and timestamps, so a subscriber cannot simply
// be moved from one to another: each subscriber of a simulcast track
// has its own local track (downTrack), and the SFU rewrites sequence
// numbers and timestamps so that what it receives is one continuous
// stream. It changes layer only on a key frame of the new layer (asked
// for with a PLI at once), so the picture never breaks.

// Layers, best first. A subscriber that asks for one gets it, or the
// best lower one that flows, or else the worst higher one.
var layerOrder = []string{"h", "m", "l"}

// validLayer reports whether s names a layer a subscriber may ask for.
func validLayer(s string) bool { return slices.Contains(layerOrder, s) }

// layerIdle is how long a layer may send nothing before subscribers are
// moved off it: a browser short of uplink stops its top layers.
const layerIdle = time.Second

// layer is one RTP stream of a simulcast track.
type layer struct {
	rid  string
	ssrc uint32
	last atomic.Int64 // unix nanoseconds of its latest packet
}

// downTrack is what one subscriber receives of a simulcast track.
type downTrack struct {
	local *webrtc.TrackLocalStaticRTP

	mu     sync.Mutex
	want   string // the layer the subscriber asks for
	target string // the layer it should get now (want, or what flows)
	cur    string // the layer it gets ("" until the first key frame)
	// The rewriting: what the subscriber saw last, and the offsets from
	// the current layer's numbering to the subscriber's.
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	seqOff  uint16
	tsOff   uint32
}

// simKey names a simulcast track of a member: the publisher's
// connection and the m-section that carries its layers.
type simKey struct {
	pc  *webrtc.PeerConnection
	mid string
}

// pickLayer is the layer to forward to someone who wants want, given
// which layers flow: want itself, else the best lower one, else the
// worst higher one; want when nothing flows yet.
func pickLayer(want string, flows func(string) bool) string {
	i := slices.Index(layerOrder, want)
	if i < 0 {
		i = 0
	}
	for _, l := range layerOrder[i:] {
		if flows(l) {
			return l
		}
	}
	for j := i - 1; j >= 0; j-- {
		if flows(layerOrder[j]) {
			return layerOrder[j]
		}
	}
	return layerOrder[i]
}

// flowsLocked reports whether layer rid sent a packet lately; simMu is
// held.
func (t *pubTrack) flowsLocked(rid string, now int64) bool {
	l := t.layers[rid]
	return l != nil && now-l.last.Load() < int64(layerIdle)
}

// addDown gives subscriber m its own local track of t, fed from the
// layer m wants.
func (t *pubTrack) addDown(m *member, want string) (*webrtc.TrackLocalStaticRTP, error) {
	t.simMu.Lock()
	defer t.simMu.Unlock()
	if d := t.downs[m]; d != nil {
		return d.local, nil
	}
	local, err := webrtc.NewTrackLocalStaticRTP(t.codec, t.trackID, t.streamID)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	d := &downTrack{local: local, want: want}
	d.target = pickLayer(want, func(l string) bool { return t.flowsLocked(l, now) })
	t.downs[m] = d
	return local, nil
}

func (t *pubTrack) removeDown(m *member) {
	t.simMu.Lock()
	delete(t.downs, m)
	t.simMu.Unlock()
}

// setWant records the layer m asks for and, if that changes what it
// should get, asks that layer for a key frame to switch on.
func (t *pubTrack) setWant(m *member, want string) {
	t.simMu.Lock()
	d := t.downs[m]
	if d != nil {
		d.mu.Lock()
		d.want = want
		d.mu.Unlock()
	}
	t.simMu.Unlock()
	if d != nil {
		t.retarget()
	}
}

// retarget recomputes every subscriber's layer from what it wants and
// what flows now, and asks each layer that someone must switch to for
// a key frame. feedback runs it every keyRetry/2, so a layer the
// browser stopped is left within about a second, and a switch whose
// key frame got lost is asked again.
func (t *pubTrack) retarget() {
	now := time.Now().UnixNano()
	var ask []uint32
	t.simMu.Lock()
	for _, d := range t.downs {
		d.mu.Lock()
		d.target = pickLayer(d.want, func(l string) bool { return t.flowsLocked(l, now) })
		if d.target != d.cur {
			if l := t.layers[d.target]; l != nil && !slices.Contains(ask, l.ssrc) {
				ask = append(ask, l.ssrc)
			}
		}
		d.mu.Unlock()
	}
	t.simMu.Unlock()
	if len(ask) > 0 && now-t.lastPLI.Load() >= int64(keyRetry) {
		t.lastPLI.Store(now)
		t.writePLI(ask)
	}
}

// pliSSRCs are the SSRCs a key frame request goes to: the publisher's
// one stream, or for simulcast the layers some subscriber gets or is
// switching to.
func (t *pubTrack) pliSSRCs() []uint32 {
	if !t.simulcast {
		return []uint32{t.ssrc}
	}
	var out []uint32
	t.simMu.Lock()
	defer t.simMu.Unlock()
	for _, d := range t.downs {
		d.mu.Lock()
		for _, rid := range []string{d.cur, d.target} {
			if l := t.layers[rid]; l != nil && !slices.Contains(out, l.ssrc) {
				out = append(out, l.ssrc)
			}
		}
		d.mu.Unlock()
	}
	return out
}

func (t *pubTrack) writePLI(ssrcs []uint32) {
	if len(ssrcs) == 0 {
		return
	}
	pkts := make([]rtcp.Packet, 0, len(ssrcs))
	for _, s := range ssrcs {
		pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: s})
	}
	_ = t.pc.WriteRTCP(pkts)
}

// writeLayer forwards one packet of layer l to the subscribers that get
// that layer, and switches those waiting for it on its key frames. It
// returns how many subscribers got the packet.
func (t *pubTrack) writeLayer(l *layer, pkt *rtp.Packet) int {
	now := time.Now()
	l.last.Store(now.UnixNano())
	key := isVP8Keyframe(pkt.Payload)
	if key {
		t.keyWanted.Store(0)
	}
	n := 0
	t.simMu.Lock()
	downs := make([]*downTrack, 0, len(t.downs))
	for _, d := range t.downs {
		downs = append(downs, d)
	}
	t.simMu.Unlock()
	for _, d := range downs {
		if out, ok := d.rewrite(l.rid, pkt, key, now); ok {
			_ = d.local.WriteRTP(&out)
			n++
		}
	}
	return n
}

// rewrite returns pkt as subscriber d must receive it, or false when d
// does not get layer rid now. On a key frame of the layer d should
// switch to, it switches: the new layer's numbering continues where the
// old one's stopped, and its timestamps go on by the time that passed.
func (d *downTrack) rewrite(rid string, pkt *rtp.Packet, key bool, now time.Time) (rtp.Packet, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur != rid {
		if rid != d.target || !key {
			return rtp.Packet{}, false
		}
		if d.cur == "" {
			d.seqOff, d.tsOff = 0, 0
		} else {
			gap := uint32(max(now.Sub(d.lastAt), time.Millisecond).Seconds() * 90000) // VP8's clock
			d.seqOff = pkt.SequenceNumber - d.lastSeq - 1
			d.tsOff = pkt.Timestamp - d.lastTS - gap
		}
		d.cur = rid
		d.lastSeq, d.lastTS, d.lastAt = pkt.SequenceNumber-d.seqOff-1, pkt.Timestamp-d.tsOff, now
	}
	out := rtp.Packet{Header: pkt.Header, Payload: pkt.Payload}
	out.SequenceNumber = pkt.SequenceNumber - d.seqOff
	out.Timestamp = pkt.Timestamp - d.tsOff
	// Only a newer packet moves the mark: a retransmitted or reordered
	// one keeps its place.
	if int16(out.SequenceNumber-d.lastSeq) > 0 {
		d.lastSeq, d.lastTS, d.lastAt = out.SequenceNumber, out.Timestamp, now
	}
	return out, true
}

// forwardLayer is forward for one layer of a simulcast track: the first
// layer to arrive makes the track (and puts it in the room), the others
// join it, and the track leaves the room when its last layer ends.
func (m *member) forwardLayer(pc *webrtc.PeerConnection, remote *webrtc.TrackRemote, mid, source, streamID string) {
	r := m.room
	key := simKey{pc: pc, mid: mid}
	l := &layer{rid: remote.RID(), ssrc: uint32(remote.SSRC())}
	m.mu.Lock()
	t := m.simulcast[key]
	created := t == nil
	if created {
		t = &pubTrack{owner: m, pc: pc, local: nil, kind: remote.Kind(), source: source, streamID: streamID,
			mid: mid, done: make(chan struct{}), retired: make(chan struct{}), simulcast: true,
			trackID: randomID("t"), codec: remote.Codec().RTPCodecCapability,
			layers: map[string]*layer{}, downs: map[*member]*downTrack{}}
		m.simulcast[key] = t
	}
	t.simMu.Lock()
	t.layers[l.rid] = l
	t.liveLayers++
	t.simMu.Unlock()
	m.mu.Unlock()
	if created {
		if r.addTrack(t) {
			r.syncAll()
			m.spawn(func() { m.feedback(t) })
		}
	} else {
		// Subscribers that wanted this layer before it arrived move to
		// it on its first key frame.
		t.retarget()
	}
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			break
		}
		pkt.Header.Extension = false
		pkt.Header.Extensions = nil
		if t.isRetired() {
			continue
		}
		if n := t.writeLayer(l, pkt); n > 0 {
			m.s.forwarded.Add(uint64(n))
		}
	}
	t.simMu.Lock()
	t.liveLayers--
	last := t.liveLayers == 0
	if t.layers[l.rid] == l {
		delete(t.layers, l.rid)
	}
	t.simMu.Unlock()
	if !last {
		return
	}
	m.mu.Lock()
	if m.simulcast[key] == t {
		delete(m.simulcast, key)
	}
	m.mu.Unlock()
	close(t.done)
	r.removeTrack(t)
	r.syncAll()
}
