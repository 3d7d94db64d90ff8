// Package sfutest is a Go participant that speaks the SFU's signalling
// protocol over a real WebSocket, playing the browser's role in the
// SFU's tests and in cmd/sfubench: it publishes generated VP8 and Opus
// (payloads that are not real pictures or sound: the SFU forwards RTP
// without decoding it) and counts the RTP it receives.
package sfutest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/sportello-virtuale/sportello/media/sfu/internal/trickle"
)

// Message is one server message, decoded.
type Message map[string]any

// Type is the message's "type".
func (m Message) Type() string { s, _ := m["type"].(string); return s }

// Str returns a string field.
func (m Message) Str(k string) string { s, _ := m[k].(string); return s }

// Client is one participant. Its methods are safe for concurrent use.
type Client struct {
	conn *websocket.Conn
	api  *webrtc.API

	msgs chan Message
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	pub, sub *webrtc.PeerConnection
	closed   bool
	streams  map[string]bool // sub stream IDs that produced RTP

	audio, video atomic.Uint64 // RTP packets received on the sub connection
	sent         atomic.Uint64 // RTP packets sent
	plis, rembs  atomic.Uint64 // feedback received on the pub connection
	lastREMB     atomic.Uint64 // bits per second
	breakAnswer  atomic.Bool   // answer the next sub offer with garbage
	videoSSRCs   []uint32      // received video, guarded by mu
	// arrivals are the received video packets' times, and whether each
	// began a key frame; guarded by mu, the oldest dropped past
	// maxArrivals.
	arrivals []Arrival
	// feeds are the published tracks by name ("mic", "camera",
	// "screen"); offerFilter rewrites the pub offers sent. Both
	// guarded by mu.
	feeds       map[string]*feed
	offerFilter func(string) string
	// pubCands and subCands hold each connection's candidates until
	// the description naming their ICE credentials is sent, as a
	// browser's come after it (package trickle).
	pubCands, subCands trickle.Gate[map[string]any]
}

// sendCandidate sends candidate message m.
func (c *Client) sendCandidate(m map[string]any) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Send(ctx, m)
}

// Arrival is one video packet received on the sub connection.
type Arrival struct {
	At  time.Time
	Key bool // the first packet of a VP8 key frame
}

const maxArrivals = 1 << 16

// Arrivals returns the video packets received since t.
func (c *Client) Arrivals(since time.Time) []Arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Arrival
	for _, a := range c.arrivals {
		if !a.At.Before(since) {
			out = append(out, a)
		}
	}
	return out
}

// SetOfferFilter makes the client rewrite the SDP of its pub offers
// before sending them (its own description stays as pion made it), as
// the browser page rewrites the screen's msid; tests use it to send
// what a browser would.
func (c *Client) SetOfferFilter(f func(sdp string) string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offerFilter = f
}

// LastREMB returns the bitrate of the last REMB the publisher received.
func (c *Client) LastREMB() uint64 { return c.lastREMB.Load() }

// SendREMB reports a downlink estimate of bps on the sub connection,
// for all the video received, as a browser does.
func (c *Client) SendREMB(bps float64) error {
	c.mu.Lock()
	sub, ssrcs := c.sub, append([]uint32(nil), c.videoSSRCs...)
	c.mu.Unlock()
	if sub == nil || len(ssrcs) == 0 {
		return errors.New("sfutest: no video received")
	}
	return sub.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(bps), SSRCs: ssrcs}})
}

// Dial connects to url (ws://…) and starts reading messages.
func Dial(ctx context.Context, url string) (*Client, error) {
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	// Stale candidates after an ICE restart are expected; pion's
	// complaints about them would only clutter test output.
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = lf
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	c := &Client{
		conn:    conn,
		api:     webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)),
		msgs:    make(chan Message, 1024),
		done:    make(chan struct{}),
		streams: map[string]bool{},
		feeds:   map[string]*feed{},
	}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// Send sends one message.
func (c *Client) Send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// Next returns the next message of one of the given types (any type if
// none), dropping the others; an error once the socket closed.
func (c *Client) Next(ctx context.Context, types ...string) (Message, error) {
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return nil, errors.New("sfutest: socket closed")
			}
			if len(types) == 0 {
				return m, nil
			}
			for _, t := range types {
				if m.Type() == t {
					return m, nil
				}
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Done is closed when the socket has closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// RemoteSDP returns the applied remote description of connection pc
// ("pub" or "sub"), or "" when there is none.
func (c *Client) RemoteSDP(pc string) string {
	c.mu.Lock()
	p := c.sub
	if pc == "pub" {
		p = c.pub
	}
	c.mu.Unlock()
	if p == nil || p.RemoteDescription() == nil {
		return ""
	}
	return p.RemoteDescription().SDP
}

// Received returns the RTP packets received so far.
func (c *Client) Received() (audio, video uint64) { return c.audio.Load(), c.video.Load() }

// Sent returns the RTP packets published so far.
func (c *Client) Sent() uint64 { return c.sent.Load() }

// Feedback returns the PLIs and REMBs the publisher received.
func (c *Client) Feedback() (plis, rembs uint64) { return c.plis.Load(), c.rembs.Load() }

// Streams returns the sub stream IDs that produced RTP.
func (c *Client) Streams() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for id := range c.streams {
		s = append(s, id)
	}
	return s
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.done)
	defer close(c.msgs)
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m Message
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type() {
		case "offer":
			c.onOffer(m.Str("sdp"))
		case "answer":
			c.mu.Lock()
			if c.pub != nil {
				_ = c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.Str("sdp")})
			}
			c.mu.Unlock()
		case "candidate":
			raw, _ := json.Marshal(m["candidate"])
			var ci webrtc.ICECandidateInit
			if json.Unmarshal(raw, &ci) == nil {
				c.mu.Lock()
				pc := c.sub
				if m.Str("pc") == "pub" {
					pc = c.pub
				}
				if pc != nil {
					_ = pc.AddICECandidate(ci)
				}
				c.mu.Unlock()
			}
		}
		select {
		case c.msgs <- m:
		default: // a test that does not read its messages loses the oldest ones' successors
		}
	}
}

func (c *Client) newPC(name string) (*webrtc.PeerConnection, error) {
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	h := &c.pubCands
	if name == "sub" {
		h = &c.subCands
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		h.Pass(map[string]any{"type": "candidate", "pc": name, "candidate": cand.ToJSON()}, c.sendCandidate)
	})
	return pc, nil
}

// onOffer answers a sub offer, creating the sub connection the first
// time; it runs on the read loop, so offers are answered in order.
func (c *Client) onOffer(sdp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.sub == nil {
		pc, err := c.newPC("sub")
		if err != nil {
			return
		}
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			counter := &c.audio
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				counter = &c.video
			}
			c.mu.Lock()
			c.streams[tr.StreamID()] = true
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				c.videoSSRCs = append(c.videoSSRCs, uint32(tr.SSRC()))
			}
			c.mu.Unlock()
			video := tr.Kind() == webrtc.RTPCodecTypeVideo
			buf := make([]byte, 1500)
			for {
				n, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				counter.Add(1)
				if video {
					c.arrived(buf[:n])
				}
			}
		})
		c.sub = pc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.breakAnswer.CompareAndSwap(true, false) {
		// A broken answer first; the real one follows.
		_ = c.Send(ctx, map[string]any{"type": "answer", "pc": "sub", "sdp": "v=0\r\n"})
	}
	c.subCands.Hold()
	defer c.subCands.Release(c.sendCandidate)
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return
	}
	answer, err := c.sub.CreateAnswer(nil)
	if err != nil {
		return
	}
	_ = c.Send(ctx, map[string]any{"type": "answer", "pc": "sub", "sdp": answer.SDP})
	c.subCands.Release(c.sendCandidate)
	_ = c.sub.SetLocalDescription(answer)
}

// arrived records a video packet, and whether it begins a key frame:
// the VP8 payload descriptor's S bit with partition 0, then a frame tag
// whose P bit is 0.
func (c *Client) arrived(b []byte) {
	a := Arrival{At: time.Now()}
	var p rtp.Packet
	var vp8 codecs.VP8Packet
	if p.Unmarshal(b) == nil {
		if payload, err := vp8.Unmarshal(p.Payload); err == nil && vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 {
			a.Key = payload[0]&1 == 0
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.arrivals) >= maxArrivals {
		c.arrivals = append(c.arrivals[:0], c.arrivals[maxArrivals/2:]...)
	}
	c.arrivals = append(c.arrivals, a)
}

// BreakNextAnswer makes the client send an SDP the SFU must refuse
// before its real answer to the next sub offer.
func (c *Client) BreakNextAnswer() { c.breakAnswer.Store(true) }

// Media says what Publish sends.
type Media struct {
	Audio, Video, Screen bool
	// VideoFrame is the size of one generated video frame in bytes
	// (default 3000: about 720 kb/s at 30 frames a second).
	VideoFrame int
}

// Publish creates the pub connection, offers it and sends generated
// media in real time until Close.
func (c *Client) Publish(ctx context.Context, m Media) error {
	c.mu.Lock()
	if c.pub != nil {
		c.mu.Unlock()
		return errors.New("sfutest: already publishing")
	}
	pc, err := c.newPC("pub")
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.pub = pc
	c.mu.Unlock()
	var feeds []*feed
	add := func(mime, id, stream string, every time.Duration, size int) error {
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, id, stream)
		if err != nil {
			return err
		}
		sender, err := pc.AddTrack(tr)
		if err != nil {
			return err
		}
		f := &feed{track: tr, sender: sender, every: every, size: size, stop: make(chan struct{})}
		f.key.Store(true)
		c.wg.Add(1)
		go c.readFeedback(f)
		feeds = append(feeds, f)
		c.mu.Lock()
		c.feeds[id] = f
		c.mu.Unlock()
		return nil
	}
	if m.VideoFrame <= 0 {
		m.VideoFrame = 3000
	}
	if m.Audio {
		if err := add(webrtc.MimeTypeOpus, "mic", "cam-main", 20*time.Millisecond, 80); err != nil {
			return err
		}
	}
	if m.Video {
		if err := add(webrtc.MimeTypeVP8, "camera", "cam-main", 33*time.Millisecond, m.VideoFrame); err != nil {
			return err
		}
	}
	if m.Screen {
		if err := add(webrtc.MimeTypeVP8, "screen", "screen-main", 100*time.Millisecond, m.VideoFrame); err != nil {
			return err
		}
	}
	if err := c.offer(ctx, pc, nil); err != nil {
		return err
	}
	for _, f := range feeds {
		c.wg.Add(1)
		go c.feed(f)
	}
	return nil
}

// feed is one published track: what it sends, how often, and whether
// its next video frame must be a key frame (the first one, and after
// each PLI, as an encoder does).
type feed struct {
	track    *webrtc.TrackLocalStaticSample
	sender   *webrtc.RTPSender
	every    time.Duration
	size     int
	key      atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

// RemoveTrack stops publishing the track named name ("mic", "camera"
// or "screen") with pion's RemoveTrack (the section becomes recvonly,
// without msid) and sends the new offer, as a browser's
// pc.removeTrack does.
func (c *Client) RemoveTrack(ctx context.Context, name string) error {
	c.mu.Lock()
	pc, f := c.pub, c.feeds[name]
	delete(c.feeds, name)
	c.mu.Unlock()
	if pc == nil || f == nil {
		return errors.New("sfutest: no such track")
	}
	f.stopOnce.Do(func() { close(f.stop) })
	if err := pc.RemoveTrack(f.sender); err != nil {
		return err
	}
	return c.offer(ctx, pc, nil)
}

// StopSending stops the track named name without telling the SFU, as a
// browser's replaceTrack(null) does; a later offer may then say what
// happened (see SetOfferFilter).
func (c *Client) StopSending(name string) {
	c.mu.Lock()
	f := c.feeds[name]
	c.mu.Unlock()
	if f != nil {
		f.stopOnce.Do(func() { close(f.stop) })
	}
}

// Renegotiate sends a new pub offer.
func (c *Client) Renegotiate(ctx context.Context) error {
	c.mu.Lock()
	pc := c.pub
	c.mu.Unlock()
	if pc == nil {
		return errors.New("sfutest: not publishing")
	}
	return c.offer(ctx, pc, nil)
}

// RestartICE sends a new pub offer with fresh ICE credentials, as a
// browser does after a network change.
func (c *Client) RestartICE(ctx context.Context) error {
	c.mu.Lock()
	pc := c.pub
	c.mu.Unlock()
	if pc == nil {
		return errors.New("sfutest: not publishing")
	}
	return c.offer(ctx, pc, &webrtc.OfferOptions{ICERestart: true})
}

// offer sends a pub offer. The offer goes out before SetLocalDescription
// so no candidate precedes it; c.mu keeps the read loop from applying
// the answer before SetLocalDescription has run.
func (c *Client) offer(ctx context.Context, pc *webrtc.PeerConnection, opts *webrtc.OfferOptions) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pubCands.Hold()
	defer c.pubCands.Release(c.sendCandidate)
	offer, err := pc.CreateOffer(opts)
	if err != nil {
		return err
	}
	sent := offer.SDP
	if c.offerFilter != nil {
		sent = c.offerFilter(sent)
	}
	if err := c.Send(ctx, map[string]any{"type": "offer", "pc": "pub", "sdp": sent}); err != nil {
		return err
	}
	c.pubCands.Release(c.sendCandidate)
	return pc.SetLocalDescription(offer)
}

func (c *Client) readFeedback(f *feed) {
	defer c.wg.Done()
	for {
		pkts, _, err := f.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				c.plis.Add(1)
				f.key.Store(true)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				c.rembs.Add(1)
				c.lastREMB.Store(uint64(p.Bitrate))
			}
		}
	}
}

// feed writes one generated frame every interval. The bytes vary so
// that nothing along the way can mistake them for padding; the first
// byte of a video frame is a VP8 frame tag whose P bit says whether it
// is a key frame.
func (c *Client) feed(f *feed) {
	defer c.wg.Done()
	tr, every, size := f.track, f.every, f.size
	frame := make([]byte, size)
	t := time.NewTicker(every)
	defer t.Stop()
	// pion's VP8 payloader puts 1187 bytes in a packet (MTU 1200 less
	// the RTP and VP8 headers); an Opus frame is one packet.
	perFrame := uint64(1)
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		perFrame = uint64((size + 1186) / 1187)
	}
	for n := 0; ; n++ {
		select {
		case <-c.done:
			return
		case <-f.stop:
			return
		case <-t.C:
		}
		for i := range frame {
			frame[i] = byte(n + i)
		}
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			if f.key.Swap(false) {
				frame[0] &^= 1
			} else {
				frame[0] |= 1
			}
		}
		if err := tr.WriteSample(media.Sample{Data: frame, Duration: every}); err != nil {
			return
		}
		c.sent.Add(perFrame)
	}
}

// DropMedia closes both peer connections but keeps the socket, as a
// browser whose network died would.
func (c *Client) DropMedia() {
	c.mu.Lock()
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
}

// Close closes the socket and the peer connections and waits for the
// client's goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	err := c.conn.Close(websocket.StatusNormalClosure, "bye")
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
	c.wg.Wait()
	// Closing a socket the server already closed is not a failure.
	_ = err
	return nil
}
