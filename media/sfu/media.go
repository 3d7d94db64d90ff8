package sfu

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// pubTrack is one track a participant publishes, and the local track
// every other participant's sub connection sends from.
type pubTrack struct {
	owner    *member
	pc       *webrtc.PeerConnection // the owner's pub connection
	ssrc     uint32                 // the publisher's SSRC, for PLI and REMB
	local    *webrtc.TrackLocalStaticRTP
	kind     webrtc.RTPCodecType
	source   string // "camera" | "screen"
	streamID string // as the subscribers see it
	subs     atomic.Int64
	lastPLI  atomic.Int64 // unix nanoseconds
	done     chan struct{}

	// estimates holds each subscriber's latest downlink estimate for
	// this track (its REMB divided among the video it receives).
	estMu     sync.Mutex
	estimates map[*member]estimate
}

type estimate struct {
	bps float64
	at  time.Time
}

// Bounds on what subscribers' estimates do to a publisher.
const (
	// minVideoBitrate is the floor: one subscriber on a dreadful link
	// must not turn everybody's picture into mush; below it, that
	// subscriber loses packets instead.
	minVideoBitrate = 150_000
	// estimateTTL forgets an estimate its subscriber stopped renewing
	// (it left, or its browser stopped sending REMB).
	estimateTTL = 5 * time.Second
)

func (t *pubTrack) setEstimate(sub *member, bps float64) {
	t.estMu.Lock()
	defer t.estMu.Unlock()
	if t.estimates == nil {
		t.estimates = map[*member]estimate{}
	}
	t.estimates[sub] = estimate{bps: bps, at: time.Now()}
}

// target is the bitrate to ask of the publisher: the cap, lowered to the
// weakest subscriber's estimate, never below the floor.
func (t *pubTrack) target(maxBps int) float64 {
	t.estMu.Lock()
	defer t.estMu.Unlock()
	target := float64(maxBps)
	now := time.Now()
	for sub, e := range t.estimates {
		if now.Sub(e.at) > estimateTTL {
			delete(t.estimates, sub)
			continue
		}
		target = min(target, e.bps)
	}
	return max(target, min(minVideoBitrate, float64(maxBps)))
}

// minPLIGap keeps subscribers asking for key frames together (each one
// that joins, each PLI they send) from flooding the publisher: a key
// frame is several times a normal frame's size.
const minPLIGap = 500 * time.Millisecond

// keyframe asks the publisher for a key frame, at most once per
// minPLIGap.
func (t *pubTrack) keyframe(force bool) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	last := t.lastPLI.Load()
	if !force && now-last < int64(minPLIGap) {
		return
	}
	if !t.lastPLI.CompareAndSwap(last, now) {
		return
	}
	_ = t.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: t.ssrc}})
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (m *member) newPC(name string) (*webrtc.PeerConnection, error) {
	api := m.s.pubAPI
	if name == "sub" {
		api = m.s.subAPI
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		m.send(encode(candidateMsg{Type: "candidate", PC: name, Candidate: c.ToJSON()}))
	})
	return pc, nil
}

// onPubOffer answers the browser's offer on the pub connection: the
// first one creates the connection, later ones add or remove tracks or
// restart ICE (then the sub side restarts too).
func (m *member) onPubOffer(offer string) {
	m.room.mu.Lock()
	admitted := m.admitted
	m.room.mu.Unlock()
	if !admitted {
		m.sendError("not_admitted", "wait until you are admitted before sending media")
		return
	}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.mediaDown {
		return
	}
	// A new DTLS fingerprint means the browser made a new connection
	// (its old one closed); the old one's tracks end with it.
	fp := sdpAttr(offer, "a=fingerprint:")
	if m.pub != nil && (fp != m.pubFingerprint || m.pub.ConnectionState() == webrtc.PeerConnectionStateClosed) {
		_ = m.pub.Close()
		m.pub, m.pubUfrag = nil, ""
	}
	m.pubFingerprint = fp
	if m.pub == nil {
		pc, err := m.newPC("pub")
		if err != nil {
			m.s.log.Error("sfu: new pub connection", "room", m.room.id, "participant", m.p.ID, "err", err)
			m.sendError("internal", "cannot create the connection")
			return
		}
		pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			m.spawn(func() { m.forward(pc, remote) })
		})
		m.pub = pc
	}
	ufrag := sdpAttr(offer, "a=ice-ufrag:")
	restarted := m.pubUfrag != "" && ufrag != m.pubUfrag
	m.pubUfrag = ufrag
	if err := m.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		m.sendError("bad_sdp", "the offer was refused: "+err.Error())
		return
	}
	answer, err := m.pub.CreateAnswer(nil)
	if err != nil {
		m.sendError("bad_sdp", "cannot answer the offer: "+err.Error())
		return
	}
	// The answer is queued before SetLocalDescription starts gathering,
	// so no candidate reaches the browser before the description it
	// belongs to.
	m.send(encode(sdpMsg{Type: "answer", PC: "pub", SDP: m.capVideo(answer.SDP)}))
	if err := m.pub.SetLocalDescription(answer); err != nil {
		m.s.log.Warn("sfu: pub answer", "room", m.room.id, "participant", m.p.ID, "err", err)
		m.sendError("internal", "cannot apply the answer")
		return
	}
	if restarted {
		m.negotiateLocked(true)
	}
}

// onSubAnswer completes the sub connection's negotiation and sends the
// next offer if the tracks changed meanwhile.
func (m *member) onSubAnswer(answer string) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.sub == nil || !m.inFlight {
		m.sendError("bad_message", "no offer awaits an answer")
		return
	}
	// An answer that does not even match the offer's sections is
	// refused before pion sees it: a failed SetRemoteDescription can
	// leave the connection half changed.
	if !matchesOffer(answer, m.sub.PendingLocalDescription()) {
		m.sendError("bad_sdp", "the answer does not match the offer")
		return
	}
	m.inFlight = false
	if err := m.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		m.sendError("bad_sdp", "the answer was refused: "+err.Error())
		// Start over from a fresh offer rather than leave the
		// connection half negotiated.
		m.pending = true
	}
	for t := range m.senders {
		t.keyframe(false)
	}
	if m.pending || m.restart {
		m.offerLocked()
	}
}

func (m *member) onCandidate(pc string, c *webrtc.ICECandidateInit) {
	if c == nil {
		return
	}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	var target *webrtc.PeerConnection
	switch pc {
	case "pub":
		target = m.pub
	case "sub":
		target = m.sub
	}
	if target == nil {
		return
	}
	// A candidate for an older ICE generation fails harmlessly.
	_ = target.AddICECandidate(*c)
}

// syncSubs makes m's sub connection send exactly the room's tracks of
// the other admitted participants, and renegotiates when that changed.
func (m *member) syncSubs() {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.mediaDown {
		return
	}
	r := m.room
	want := map[*pubTrack]bool{}
	var infos []trackInfo
	r.mu.Lock()
	if r.members[m.p.ID] == m && m.admitted && !r.ended {
		for _, t := range r.tracks {
			if t.owner != m {
				want[t] = true
				infos = append(infos, trackInfo{StreamID: t.streamID, TrackID: t.local.ID(),
					Participant: t.owner.p.ID, Kind: t.kind.String(), Source: t.source})
			}
		}
	}
	r.mu.Unlock()

	changed := false
	for t, sender := range m.senders {
		if !want[t] {
			_ = m.sub.RemoveTrack(sender)
			t.subs.Add(-1)
			delete(m.senders, t)
			changed = true
		}
	}
	for t := range want {
		if _, ok := m.senders[t]; ok {
			continue
		}
		if m.sub == nil {
			pc, err := m.newPC("sub")
			if err != nil {
				m.s.log.Error("sfu: new sub connection", "room", r.id, "participant", m.p.ID, "err", err)
				return
			}
			pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
				switch st {
				case webrtc.ICEConnectionStateFailed:
					// The browser cannot restart a connection it
					// did not offer: the SFU does.
					m.spawn(func() {
						m.subMu.Lock()
						defer m.subMu.Unlock()
						m.negotiateLocked(true)
					})
				case webrtc.ICEConnectionStateConnected:
					m.spawn(func() {
						m.subMu.Lock()
						defer m.subMu.Unlock()
						for t := range m.senders {
							t.keyframe(true)
						}
					})
				}
			})
			m.sub = pc
		}
		// Send-only: the sub connection never carries the browser's
		// media, which goes on the pub connection.
		tr, err := m.sub.AddTransceiverFromTrack(t.local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			m.s.log.Warn("sfu: add track", "room", r.id, "participant", m.p.ID, "err", err)
			continue
		}
		sender := tr.Sender()
		t.subs.Add(1)
		m.senders[t] = sender
		changed = true
		m.spawn(func() { m.readRTCP(t, sender) })
	}
	if changed {
		m.infos = append([]trackInfo{}, infos...)
		m.negotiateLocked(false)
	}
}

// negotiateLocked sends a new sub offer now, or after the answer to the
// one in flight: one offer at a time, so the browser never sees an offer
// while it is still answering the last (no glare, no rollback).
func (m *member) negotiateLocked(restart bool) {
	if m.sub == nil || m.mediaDown {
		return
	}
	if restart {
		m.restart = true
	}
	if m.inFlight {
		m.pending = true
		return
	}
	m.offerLocked()
}

func (m *member) offerLocked() {
	restart := m.restart
	m.restart, m.pending = false, false
	if m.sub.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		// The last answer was refused: withdraw that offer first.
		_ = m.sub.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
	}
	offer, err := m.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		m.s.log.Warn("sfu: sub offer", "room", m.room.id, "participant", m.p.ID, "err", err)
		return
	}
	// Queued before gathering starts, as the pub answer; the browser's
	// answer cannot overtake SetLocalDescription, which runs under
	// subMu as onSubAnswer does.
	m.inFlight = true
	m.send(encode(tracksMsg{Type: "tracks", Tracks: m.infos}))
	m.send(encode(sdpMsg{Type: "offer", PC: "sub", SDP: m.capVideo(offer.SDP)}))
	if err := m.sub.SetLocalDescription(offer); err != nil {
		m.s.log.Warn("sfu: sub offer", "room", m.room.id, "participant", m.p.ID, "err", err)
	}
}

// closeMedia closes both peer connections for good; the forwarders and
// RTCP readers then end.
func (m *member) closeMedia() {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	m.mediaDown = true
	for t := range m.senders {
		t.subs.Add(-1)
	}
	m.senders = map[*pubTrack]*webrtc.RTPSender{}
	if m.sub != nil {
		_ = m.sub.Close()
	}
	if m.pub != nil {
		_ = m.pub.Close()
	}
}

// forward copies one published track's packets to every subscriber
// until the track ends (the publisher removed it or its connection
// closed).
func (m *member) forward(pc *webrtc.PeerConnection, remote *webrtc.TrackRemote) {
	source := "camera"
	if strings.HasPrefix(remote.StreamID(), "screen-") {
		source = "screen"
	}
	m.mu.Lock()
	streamID := m.streams[remote.StreamID()]
	if streamID == "" {
		prefix := "cam-"
		if source == "screen" {
			prefix = "screen-"
		}
		streamID = randomID(prefix)
		m.streams[remote.StreamID()] = streamID
	}
	m.mu.Unlock()
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, randomID("t"), streamID)
	if err != nil {
		return
	}
	t := &pubTrack{owner: m, pc: pc, ssrc: uint32(remote.SSRC()), local: local, kind: remote.Kind(),
		source: source, streamID: streamID, done: make(chan struct{})}
	r := m.room
	if !r.addTrack(t) {
		return
	}
	r.syncAll()
	if t.kind == webrtc.RTPCodecTypeVideo {
		m.spawn(func() { m.feedback(t) })
	}
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			break
		}
		// The publisher's header extension IDs mean nothing on the
		// subscribers' connections (each negotiates its own), so
		// they are dropped; the sub side's interceptors add theirs.
		pkt.Header.Extension = false
		pkt.Header.Extensions = nil
		// A write fails only for a subscriber whose connection is
		// closing; the others got the packet.
		_ = local.WriteRTP(pkt)
		if n := t.subs.Load(); n > 0 {
			m.s.forwarded.Add(uint64(n))
		}
	}
	close(t.done)
	r.removeTrack(t)
	r.syncAll()
}

// feedback restates the bandwidth cap (REMB) every second and asks for
// a key frame every few seconds while the track lives, so the publisher
// never sends more than one subscriber may receive and a subscriber
// that lost a key frame recovers.
func (m *member) feedback(t *pubTrack) {
	remb := time.NewTicker(rembEvery)
	defer remb.Stop()
	pli := time.NewTicker(keyframeEvery)
	defer pli.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-m.quit:
			return
		case <-remb.C:
			_ = t.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
				Bitrate: float32(t.target(m.s.cfg.MaxVideoBitrate)), SSRCs: []uint32{t.ssrc}}})
		case <-pli.C:
			t.keyframe(true)
		}
	}
}

// readRTCP drains a subscriber's RTCP for one track (the interceptors
// act on NACKs and reports while it is read) and passes key frame
// requests to the publisher.
func (m *member) readRTCP(t *pubTrack, sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				t.keyframe(false)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				// One REMB covers the subscriber's whole downlink:
				// each video stream it lists gets an equal share.
				if t.kind == webrtc.RTPCodecTypeVideo && len(p.SSRCs) > 0 {
					t.setEstimate(m, float64(p.Bitrate)/float64(len(p.SSRCs)))
				}
			}
		}
	}
}

// capVideo writes the video cap into every video section of an SDP that
// goes to the browser: b=AS (kb/s, understood by every browser) and
// b=TIAS (b/s, RFC 3890). In the pub answer it caps what the browser
// sends; in the sub offer it states what each forwarded stream carries.
func (m *member) capVideo(s string) string {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return s
	}
	bps := uint64(m.s.cfg.MaxVideoBitrate)
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media == "video" {
			md.Bandwidth = []sdp.Bandwidth{{Type: "AS", Bandwidth: bps / 1000}, {Type: "TIAS", Bandwidth: bps}}
		}
	}
	b, err := d.Marshal()
	if err != nil {
		return s
	}
	return string(b)
}

// sdpAttr returns the value of the first line of an SDP that begins with
// prefix: a new ICE ufrag in a pub offer means the browser restarted
// ICE, a new fingerprint that it made a new connection.
func sdpAttr(s, prefix string) string {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return ""
}

// matchesOffer reports whether answer parses and has as many media
// sections as the offer it answers.
func matchesOffer(answer string, offer *webrtc.SessionDescription) bool {
	if offer == nil {
		return false
	}
	var a, o sdp.SessionDescription
	if a.UnmarshalString(answer) != nil || o.UnmarshalString(offer.SDP) != nil {
		return false
	}
	return len(a.MediaDescriptions) == len(o.MediaDescriptions) && len(a.MediaDescriptions) > 0
}
