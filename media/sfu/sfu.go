package sfu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Config configures an SFU. The zero value works: ephemeral UDP ports,
// no address rewriting, 1.5 Mb/s per video forwarding, 8 participants.
type Config struct {
	// UDPPort, when positive, is the one UDP port every peer connection
	// shares (ICE UDP mux), so a firewall needs a single hole; 0 gives
	// each peer connection its own ephemeral port.
	UDPPort int
	// NAT1To1IPs are the public addresses announced instead of the
	// node's private host addresses (a server behind 1:1 NAT).
	NAT1To1IPs []string
	// Loopback gathers loopback candidates (tests, benchmarks).
	Loopback bool
	// MaxVideoBitrate caps each forwarded video stream, in bits per
	// second (default 1_500_000).
	MaxVideoBitrate int
	// RelayAcceptanceMinWait is how long ICE waits for a better pair
	// before settling on a relayed one (pion's default adds 2 s to
	// relay-only connections); 0 keeps pion's default.
	RelayAcceptanceMinWait time.Duration
	// MaxParticipants is how many admitted participants a room holds
	// (default 8). It exists beyond the contract so cmd/sfubench can
	// put 50 subscribers behind one publisher.
	MaxParticipants int
	// EmptyRoomGrace is how long a room nobody is in is kept, with its
	// admissions and refusals, so that a participant whose socket dropped
	// comes back without waiting in the lobby again (default 2 minutes;
	// negative: removed at once).
	EmptyRoomGrace time.Duration
	Logger         *slog.Logger
}

// Limits that are not configurable.
const (
	// maxMessage bounds one signalling frame: an SDP with a few tracks
	// is 5–10 KiB, so 64 KiB leaves room without letting a client make
	// the server buffer megabytes.
	maxMessage = 64 << 10
	// maxChat is the longest chat message, in characters.
	maxChat = 2000
	// maxWaiting bounds the lobby, so a leaked join link cannot fill
	// the server with waiting sockets.
	maxWaiting = 16
	// pingEvery and pingTimeout keep the socket alive through NATs and
	// proxies and notice a vanished client within a minute.
	pingEvery   = 20 * time.Second
	pingTimeout = 15 * time.Second
	// writeTimeout bounds one frame written to a slow client.
	writeTimeout = 10 * time.Second
	// outQueue is how many frames may wait for a client; a client
	// that falls this far behind is disconnected rather than slowing
	// the room.
	outQueue = 256
	// keyframeEvery is how often a publisher is asked for a key frame
	// (PLI), so a subscriber that lost one recovers within seconds.
	keyframeEvery = 3 * time.Second
	// rembEvery is how often the bandwidth cap is restated to a
	// publisher (REMB).
	rembEvery = time.Second
)

// SFU forwards media between the participants of its rooms. Its methods
// are safe for concurrent use.
type SFU struct {
	cfg Config
	log *slog.Logger
	// pubAPI and subAPI make the two kinds of peer connection (they
	// differ in congestion control feedback, see newAPI).
	pubAPI, subAPI *webrtc.API
	mux            io.Closer // the shared UDP socket, or nil

	forwarded atomic.Uint64

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool
	// stop is closed by Close; every session watches it.
	stop chan struct{}
	// sessions counts running Serve calls, so Close can wait for them.
	sessions sync.WaitGroup
}

// New returns an SFU: the media engine (VP8, Opus), the interceptors
// (NACK, RTCP reports, TWCC feedback) and, with UDPPort set, the shared
// UDP socket.
func New(cfg Config) (*SFU, error) {
	if cfg.MaxVideoBitrate <= 0 {
		cfg.MaxVideoBitrate = 1_500_000
	}
	if cfg.MaxParticipants <= 0 {
		cfg.MaxParticipants = 8
	}
	if cfg.EmptyRoomGrace == 0 {
		cfg.EmptyRoomGrace = 2 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &SFU{cfg: cfg, log: log, rooms: map[string]*room{}, stop: make(chan struct{})}

	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log: log}}
	// mDNS would open a multicast listener per peer connection; a
	// server has routable addresses and learns the browser's through
	// its connectivity checks (peer-reflexive candidates).
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	if cfg.RelayAcceptanceMinWait > 0 {
		se.SetRelayAcceptanceMinWait(cfg.RelayAcceptanceMinWait)
	}
	if len(cfg.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.NAT1To1IPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			return nil, fmt.Errorf("sfu: NAT 1:1 addresses: %w", err)
		}
	}
	if cfg.UDPPort > 0 {
		var opts []ice.UDPMuxFromPortOption
		if cfg.Loopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
		if err != nil {
			return nil, fmt.Errorf("sfu: UDP port %d: %w", cfg.UDPPort, err)
		}
		se.SetICEUDPMux(mux)
		s.mux = mux
	}
	var err error
	if s.pubAPI, err = newAPI(se, true); err != nil {
		return nil, err
	}
	if s.subAPI, err = newAPI(se, false); err != nil {
		return nil, err
	}
	return s, nil
}

// newAPI builds the pion API of one direction. Both register VP8 and Opus
// with NACK and RTCP reports. The pub side also gives the browser
// transport-wide congestion control feedback (TWCC), the estimator
// current browsers prefer for what they send. The sub side offers only
// REMB: then the browser estimates its downlink itself and reports it,
// and the SFU passes the lowest subscriber's estimate on to the
// publisher (see feedback).
func newAPI(se webrtc.SettingEngine, pub bool) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	videoFB := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("sfu: register VP8: %w", err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: register Opus: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, fmt.Errorf("sfu: NACK: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("sfu: RTCP reports: %w", err)
	}
	if pub {
		if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
			return nil, fmt.Errorf("sfu: TWCC: %w", err)
		}
		// The RTP stream ID and MID header extensions tell the layers
		// of a simulcast camera apart (simulcast.go).
		if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
			return nil, fmt.Errorf("sfu: simulcast extensions: %w", err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// ErrClosed is returned by Serve once the SFU is closed.
var ErrClosed = errors.New("sfu: closed")

// Close ends every session ("ended" with reason "shutdown"), waits for
// them to return and releases the UDP socket. It is safe to call twice.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.sessions.Wait()
	// The rooms left are empty ones in their grace: nobody can come
	// back to them now.
	s.mu.Lock()
	for id, r := range s.rooms {
		r.mu.Lock()
		if r.expiry != nil {
			r.expiry.Stop()
		}
		r.mu.Unlock()
		delete(s.rooms, id)
	}
	s.mu.Unlock()
	if s.mux != nil {
		return s.mux.Close()
	}
	return nil
}

// Stats counts what the SFU holds right now (Rooms includes empty rooms
// in their grace), and the RTP packets it has forwarded since it started
// (one per packet and subscriber).
type Stats struct {
	Rooms, Participants, Tracks int
	PacketsForwarded            uint64
}

// Stats returns the SFU's counters.
func (s *SFU) Stats() Stats {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st := Stats{Rooms: len(rooms), PacketsForwarded: s.forwarded.Load()}
	for _, r := range rooms {
		r.mu.Lock()
		st.Participants += len(r.members)
		st.Tracks += len(r.tracks)
		r.mu.Unlock()
	}
	return st
}

// Announce sends msg, marshalled as JSON, to every admitted participant
// of the room (the web layer uses it for documents). A room that does
// not exist on this SFU is ignored.
func (s *SFU) Announce(roomID string, msg any) {
	b := encode(msg)
	if b == nil {
		s.log.Warn("sfu: announce: message cannot be encoded", "room", roomID)
		return
	}
	if r := s.room(roomID); r != nil {
		r.mu.Lock()
		r.broadcastLocked(b, nil)
		r.mu.Unlock()
	}
}

// End ends the room for everyone: each participant gets "ended" with the
// reason and their socket closes. A later join opens a fresh room: the
// web layer refuses tokens of rooms ended in the replicated state.
func (s *SFU) End(roomID, reason string) {
	if r := s.room(roomID); r != nil {
		r.end(reason)
	}
}

func (s *SFU) room(id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// Kick takes one participant out of the room at once, whether waiting
// or in the call: they get "ended" with the reason and their socket
// closes (the others see them leave). The room remembers them as
// refused, so a socket that comes back with the same participant ID is
// refused at once; the web layer refuses their credential too (a revoked
// invite). It reports whether the participant was in the room.
func (s *SFU) Kick(roomID, participantID, reason string) bool {
	r := s.room(roomID)
	if r == nil {
		return false
	}
	r.mu.Lock()
	m := r.members[participantID]
	r.decided[participantID] = false
	r.mu.Unlock()
	if m == nil {
		return false
	}
	m.kick(encode(endedMsg{Type: "ended", Reason: reason}), "kicked")
	return true
}
