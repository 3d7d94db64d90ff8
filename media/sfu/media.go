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
	mid      string // of the publisher's m-section that carries it
	subs     atomic.Int64
	lastPLI  atomic.Int64 // unix nanoseconds
	// keyWanted is when a key frame was asked for and has not come
	// yet (unix nanoseconds; 0: none wanted).
	keyWanted atomic.Int64
	done      chan struct{}
	// retired is closed when the publisher's offer stopped sending the
	// track's m-section: the track has left the room although pion may
	// go on delivering (silence, or stray packets) until the connection
	// closes.
	retired    chan struct{}
	retireOnce sync.Once

	// estimates holds each subscriber's latest downlink estimate for
	// this track (its REMB divided among the video it receives).
	estMu     sync.Mutex
	estimates map[*member]estimate

	// trackID is the track's ID as the subscribers see it (local's, or
	// for simulcast the one every subscriber's own local track shares).
	trackID string
	// Simulcast (simulcast.go): local is nil, the publisher sends
	// layers, and each subscriber has its own downTrack.
	simulcast  bool
	codec      webrtc.RTPCodecCapability
	simMu      sync.Mutex
	layers     map[string]*layer
	liveLayers int
	downs      map[*member]*downTrack
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

// Asking again for a key frame that does not come.
const (
	// keyRetry is how long after a PLI the SFU asks again if no key
	// frame has come through: a PLI sent while the publisher's path
	// was down (an ICE restart) is lost, and waiting for the periodic
	// one froze the picture for up to keyframeEvery.
	keyRetry = 250 * time.Millisecond
	// keyGiveUp ends the retries of one request (a publisher that sends
	// no video at all never answers); the periodic PLI goes on.
	keyGiveUp = 5 * time.Second
)

// keyframe asks the publisher for a key frame, at most once per
// minPLIGap unless forced. The request is remembered until a key frame
// passes (forward sees it), and feedback repeats it every keyRetry
// meanwhile, so neither a PLI lost on the way nor one held back by the
// gap leaves a subscriber waiting for the periodic one.
func (t *pubTrack) keyframe(force bool) {
	if t.kind != webrtc.RTPCodecTypeVideo || t.isRetired() {
		return
	}
	t.keyWanted.CompareAndSwap(0, time.Now().UnixNano())
	t.sendPLI(force)
}

// sendPLI writes one PLI to the publisher, unless one went less than
// minPLIGap ago and force is false.
func (t *pubTrack) sendPLI(force bool) {
	now := time.Now().UnixNano()
	last := t.lastPLI.Load()
	if !force && now-last < int64(minPLIGap) {
		return
	}
	if !t.lastPLI.CompareAndSwap(last, now) {
		return
	}
	t.writePLI(t.pliSSRCs())
}

// retryKeyframe repeats an unanswered key frame request; feedback calls
// it every keyRetry.
func (t *pubTrack) retryKeyframe() {
	wanted := t.keyWanted.Load()
	if wanted == 0 {
		return
	}
	now := time.Now().UnixNano()
	if now-wanted > int64(keyGiveUp) {
		t.keyWanted.CompareAndSwap(wanted, 0)
		return
	}
	if now-t.lastPLI.Load() >= int64(keyRetry) && !t.isRetired() {
		t.sendPLI(true)
	}
}

// isVP8Keyframe reports whether an RTP payload begins a VP8 key frame
// (RFC 7741): the descriptor's S bit with partition 0, then a frame tag
// whose P bit is 0.
func isVP8Keyframe(p []byte) bool {
	if len(p) < 1 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: an extension byte follows
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

func (t *pubTrack) retire() {
	t.retireOnce.Do(func() { close(t.retired) })
}

func (t *pubTrack) isRetired() bool {
	select {
	case <-t.retired:
		return true
	default:
		return false
	}
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
	gate := &m.pubCands
	if name == "sub" {
		gate = &m.subCands
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		gate.Pass(encode(candidateMsg{Type: "candidate", PC: name, Candidate: c.ToJSON()}), m.send)
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
		pc.OnTrack(func(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
			m.spawn(func() { m.forward(pc, remote, receiver) })
		})
		pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
			if st == webrtc.ICEConnectionStateConnected {
				// After an ICE restart the packets sent while the
				// path was down are lost, and so were the PLIs the
				// SFU sent meanwhile: the subscribers' decoders
				// wait for a key frame, asked for now rather than
				// by the next periodic PLI.
				m.spawn(func() { m.askKeyframes(pc, true) })
			}
		})
		m.pub = pc
	}
	ufrag := sdpAttr(offer, "a=ice-ufrag:")
	restarted := m.pubUfrag != "" && ufrag != m.pubUfrag
	m.pubUfrag = ufrag
	// An offer that restarts ICE starts gathering in
	// SetRemoteDescription: its candidates wait for the answer.
	m.pubCands.Hold()
	defer m.pubCands.Release(m.send)
	if err := m.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		m.sendError("bad_sdp", "the offer was refused: "+err.Error())
		return
	}
	m.retireSilent(silentMids(offer))
	answer, err := m.pub.CreateAnswer(nil)
	if err != nil {
		m.sendError("bad_sdp", "cannot answer the offer: "+err.Error())
		return
	}
	// The answer is queued before the candidates gathered so far (an
	// ICE restart) and before SetLocalDescription starts gathering
	// otherwise, so no candidate reaches the browser before the
	// description it belongs to.
	m.send(encode(sdpMsg{Type: "answer", PC: "pub", SDP: m.capVideo(answer.SDP)}))
	m.pubCands.Release(m.send)
	if err := m.pub.SetLocalDescription(answer); err != nil {
		m.s.log.Warn("sfu: pub answer", "room", m.room.id, "participant", m.p.ID, "err", err)
		m.sendError("internal", "cannot apply the answer")
		return
	}
	if restarted {
		m.negotiateLocked(true)
	} else {
		// A renegotiation may have changed the publisher's encoder;
		// a key frame lets the subscribers start the new tracks at
		// once (the restart case asks when ICE is back).
		pc := m.pub
		m.spawn(func() { m.askKeyframes(pc, false) })
	}
}

// askKeyframes sends a PLI for each video track m publishes on pc.
func (m *member) askKeyframes(pc *webrtc.PeerConnection, force bool) {
	r := m.room
	var ts []*pubTrack
	r.mu.Lock()
	for _, t := range r.tracks {
		if t.owner == m && t.pc == pc {
			ts = append(ts, t)
		}
	}
	r.mu.Unlock()
	for _, t := range ts {
		t.keyframe(force)
	}
}

// retireSilent takes out of the room the tracks of m's pub connection
// whose m-sections the browser's latest offer no longer sends: a
// removeTrack (direction inactive or recvonly), a transceiver stopped
// (port 0) or a section without its msid. pion ends the remote track
// only for some of these (it stops a transceiver whose section turns
// inactive; a recvonly section, or one without msid, keeps a receiver
// that receives nothing), so the SFU decides from the offer. subMu is
// held.
func (m *member) retireSilent(silent map[string]bool) {
	m.mu.Lock()
	m.silentMids = silent
	m.mu.Unlock()
	if len(silent) == 0 {
		return
	}
	r := m.room
	var gone []*pubTrack
	r.mu.Lock()
	kept := r.tracks[:0:0]
	for _, t := range r.tracks {
		if t.owner == m && t.pc == m.pub && silent[t.mid] {
			gone = append(gone, t)
			continue
		}
		kept = append(kept, t)
	}
	r.tracks = kept
	r.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	for _, t := range gone {
		t.retire()
	}
	// syncAll takes every member's subMu, m's included, which this
	// goroutine holds.
	m.spawn(r.syncAll)
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
			// Without video (prefs), the others' video is not
			// offered at all.
			if t.owner != m && (!m.noVideo || t.kind != webrtc.RTPCodecTypeVideo) {
				want[t] = true
				infos = append(infos, trackInfo{StreamID: t.streamID, TrackID: t.trackID,
					Participant: t.owner.p.ID, Kind: t.kind.String(), Source: t.source})
			}
		}
	}
	r.mu.Unlock()

	changed := false
	for t, sender := range m.senders {
		if !want[t] {
			if t.simulcast {
				t.removeDown(m)
			}
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
		var local webrtc.TrackLocal = t.local
		if t.simulcast {
			var err error
			if local, err = t.addDown(m, m.layer); err != nil {
				m.s.log.Warn("sfu: add simulcast track", "room", r.id, "participant", m.p.ID, "err", err)
				continue
			}
		}
		// Send-only: the sub connection never carries the browser's
		// media, which goes on the pub connection.
		tr, err := m.sub.AddTransceiverFromTrack(local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
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
	// An ICE restart starts gathering in CreateOffer: its candidates
	// wait for the offer.
	m.subCands.Hold()
	defer m.subCands.Release(m.send)
	offer, err := m.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		m.s.log.Warn("sfu: sub offer", "room", m.room.id, "participant", m.p.ID, "err", err)
		return
	}
	// Queued before any candidate, as the pub answer; the browser's
	// answer cannot overtake SetLocalDescription, which runs under
	// subMu as onSubAnswer does.
	m.inFlight = true
	m.send(encode(tracksMsg{Type: "tracks", Tracks: m.infos}))
	m.send(encode(sdpMsg{Type: "offer", PC: "sub", SDP: m.capVideo(offer.SDP)}))
	m.subCands.Release(m.send)
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
		if t.simulcast {
			t.removeDown(m)
		}
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
func (m *member) forward(pc *webrtc.PeerConnection, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	source := "camera"
	if strings.HasPrefix(remote.StreamID(), "screen-") {
		source = "screen"
	}
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == receiver {
			mid = tr.Mid()
		}
	}
	m.mu.Lock()
	if m.silentMids[mid] {
		// The first packet raced an offer that already stopped the
		// section.
		m.mu.Unlock()
		return
	}
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
	if remote.RID() != "" && remote.Kind() == webrtc.RTPCodecTypeVideo {
		m.forwardLayer(pc, remote, mid, source, streamID)
		return
	}
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, randomID("t"), streamID)
	if err != nil {
		return
	}
	t := &pubTrack{owner: m, pc: pc, ssrc: uint32(remote.SSRC()), local: local, kind: remote.Kind(),
		source: source, streamID: streamID, mid: mid, done: make(chan struct{}), retired: make(chan struct{}),
		trackID: local.ID()}
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
		if t.isRetired() {
			continue
		}
		if t.kind == webrtc.RTPCodecTypeVideo && t.keyWanted.Load() != 0 && isVP8Keyframe(pkt.Payload) {
			t.keyWanted.Store(0)
		}
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
	retry := time.NewTicker(keyRetry / 2)
	defer retry.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-t.retired:
			return
		case <-m.quit:
			return
		case <-remb.C:
			if t.simulcast {
				// The layers' own caps (the page's maxBitrate) and the
				// browser's send-side estimate (TWCC) bound a simulcast
				// publisher; a weak subscriber takes a lower layer
				// rather than lowering everybody's picture.
				continue
			}
			_ = t.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
				Bitrate: float32(t.target(m.s.cfg.MaxVideoBitrate)), SSRCs: []uint32{t.ssrc}}})
		case <-pli.C:
			// Just in case, so not remembered: a publisher that
			// sends no video (replaceTrack(null)) would otherwise
			// be asked four times a second for ever.
			t.sendPLI(true)
		case <-retry.C:
			t.retryKeyframe()
			if t.simulcast {
				t.retarget()
			}
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

// silentMids returns the mids of an offer's audio and video sections
// that do not send (anymore): rejected (port 0 without bundle-only),
// direction recvonly or inactive, or no msid (neither a=msid nor an
// a=ssrc msid), which is how browsers describe a section whose track
// was removed.
func silentMids(offer string) map[string]bool {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil {
		return nil
	}
	sessionDir := "sendrecv"
	for _, a := range d.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			sessionDir = a.Key
		}
	}
	silent := map[string]bool{}
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != "audio" && md.MediaName.Media != "video" {
			continue
		}
		mid, dir, msid, bundleOnly := "", sessionDir, false, false
		for _, a := range md.Attributes {
			switch a.Key {
			case "mid":
				mid = a.Value
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			case "msid":
				msid = true
			case "ssrc":
				msid = msid || strings.Contains(a.Value, " msid:")
			case "bundle-only":
				bundleOnly = true
			}
		}
		rejected := md.MediaName.Port.Value == 0 && !bundleOnly
		if mid != "" && (rejected || (dir != "sendrecv" && dir != "sendonly") || !msid) {
			silent[mid] = true
		}
	}
	return silent
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
