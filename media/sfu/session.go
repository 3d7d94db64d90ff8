package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/sportello-virtuale/sportello/media/sfu/internal/trickle"
)

const roleOperator = "operator"

// Participant is one person in a room, as the web layer authenticated
// them. ID is stable across reconnections: a second socket with the
// same ID replaces the first.
type Participant struct {
	ID, Name string
	Role     string // "citizen" | "operator" | "guest"
	Lobby    bool   // waits until an operator admits
}

// Welcome carries what the web layer adds to the welcome message.
type Welcome struct {
	ICEServers any // []media.ICEServer, sent as is
	Extra      map[string]any
}

// mediaState is what a participant says it sends.
type mediaState struct{ audio, video, screen bool }

// member is one socket's session in a room. Its lifecycle: joined (in
// the lobby or admitted) → admitted → gone; a lobby member never has a
// peer connection.
//
// Goroutines: Serve's own (the read loop), the writer, the pinger, and
// per published track a forwarder and (video) a feedback ticker, per
// subscribed track an RTCP reader. All but Serve's are started through
// spawn, counted in wg, and end when quit is closed and the peer
// connections are closed; Serve waits for them before it returns.
type member struct {
	s    *SFU
	p    Participant
	conn *websocket.Conn
	room *room

	// Guarded by room.mu.
	admitted bool
	state    mediaState

	out      chan []byte
	quit     chan struct{}
	quitOnce sync.Once
	reason   string // why quit was closed; written once, before close(quit)

	mu      sync.Mutex
	closing bool // no new goroutine may start
	wg      sync.WaitGroup
	streams map[string]string // publisher's stream ID → stream ID the others see
	// silentMids are the pub m-sections the latest offer does not send.
	silentMids map[string]bool

	// subMu serialises everything about the two peer connections.
	subMu          sync.Mutex
	pub            *webrtc.PeerConnection
	pubUfrag       string
	pubFingerprint string
	sub            *webrtc.PeerConnection
	senders        map[*pubTrack]*webrtc.RTPSender
	infos          []trackInfo // what senders carry, sent before each offer
	inFlight       bool        // an offer awaits its answer
	pending        bool        // the tracks changed while an offer was in flight
	restart        bool        // the next offer restarts ICE
	mediaDown      bool        // the peer connections are closed for good
	// pubCands and subCands hold each connection's candidates while
	// the description they belong to is made (package trickle).
	pubCands, subCands trickle.Gate[[]byte]
	noVideo            bool // prefs: the participant receives no video
	// layer is the simulcast layer the participant asks for (prefs;
	// "h" by default): a phone's page asks for less.
	layer string
	// simulcast holds the simulcast tracks being published, by
	// connection and m-section, while their layers arrive (guarded
	// by mu).
	simulcast map[simKey]*pubTrack
}

// Serve runs one participant's session on an upgraded socket until the
// socket closes, the participant leaves, is refused, replaced or the
// room ends, or ctx ends. The caller has authenticated the participant
// and keeps nothing else on the socket. Serve closes the socket.
func (s *SFU) Serve(ctx context.Context, roomID string, p Participant, c *websocket.Conn, w Welcome) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		_ = c.Write(wctx, websocket.MessageText, encode(errorMsg{Type: "error", Code: "closed", Message: "the server is shutting down"}))
		c.Close(websocket.StatusGoingAway, "shutdown")
		return ErrClosed
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	defer s.sessions.Done()

	c.SetReadLimit(maxMessage)
	m := &member{s: s, p: p, conn: c, out: make(chan []byte, outQueue), quit: make(chan struct{}),
		streams: map[string]string{}, senders: map[*pubTrack]*webrtc.RTPSender{},
		layer: "h", simulcast: map[simKey]*pubTrack{}}
	m.spawn(m.writeLoop)
	r, err := s.join(roomID, m, w)
	if errors.Is(err, errRefused) {
		// Refused once is refused for the room's lifetime: the page
		// shows the refusal again instead of knocking.
		m.kick(encode(bareMsg{Type: "refused"}), "refused")
		m.shutdown()
		return nil
	}
	if err != nil {
		code := err.Error()
		if errors.Is(err, ErrClosed) {
			code = "closed"
		}
		m.kick(encode(errorMsg{Type: "error", Code: code, Message: "cannot join the room"}), code)
		m.shutdown()
		return err
	}
	m.spawn(m.pingLoop)
	m.spawn(func() {
		select {
		case <-s.stop:
			m.kick(encode(endedMsg{Type: "ended", Reason: "shutdown"}), "shutdown")
		case <-m.quit:
		}
	})

	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			m.sendError("bad_message", "messages are JSON text frames")
			continue
		}
		var msg inMsg
		if err := json.Unmarshal(data, &msg); err != nil {
			m.sendError("bad_message", "not a JSON object")
			continue
		}
		msg.raw = data
		if msg.Type == "leave" {
			break
		}
		m.handle(r, msg)
	}
	r.leave(m)
	m.shutdown()
	return ctx.Err()
}

// handle acts on one client message, in the order they arrive.
func (m *member) handle(r *room, msg inMsg) {
	switch msg.Type {
	case "ping":
		m.send(encode(bareMsg{Type: "pong"}))
	case "offer":
		if msg.PC != "pub" {
			m.sendError("bad_message", "only the pub connection takes offers")
			return
		}
		m.onPubOffer(msg.SDP)
	case "answer":
		if msg.PC != "sub" {
			m.sendError("bad_message", "only the sub connection takes answers")
			return
		}
		m.onSubAnswer(msg.SDP)
	case "candidate":
		m.onCandidate(msg.PC, msg.Candidate)
	case "chat":
		m.onChat(r, msg.Text)
	case "state":
		r.mu.Lock()
		m.state = mediaState{audio: msg.Audio, video: msg.Video, screen: msg.Screen}
		b := encode(participantMsg{Type: "participant", Event: "updated", Participant: m.infoLocked()})
		if m.admitted {
			r.broadcastLocked(b, m)
		} else {
			r.toOperatorsLocked(b)
		}
		r.mu.Unlock()
	case "prefs":
		var p struct {
			Video *bool  `json:"video"`
			Layer string `json:"layer"`
		}
		if json.Unmarshal(msg.raw, &p) != nil || p.Video == nil {
			m.sendError("bad_message", "prefs needs video: true or false")
			return
		}
		if p.Layer != "" && !validLayer(p.Layer) {
			m.sendError("bad_message", `prefs layer must be "h", "m" or "l"`)
			return
		}
		m.setPrefs(*p.Video, p.Layer)
	case "admit":
		r.admit(m, msg.ID)
	case "refuse":
		r.refuse(m, msg.ID)
	case "end":
		r.mu.Lock()
		ok := m.p.Role == roleOperator && m.admitted
		r.mu.Unlock()
		if !ok {
			m.sendError("forbidden", "only an operator in the call may end it")
			return
		}
		r.end("operator")
	default:
		m.sendError("bad_message", "unknown message type")
	}
}

func (m *member) onChat(r *room, text string) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		m.sendError("chat_empty", "the message is empty")
		return
	case utf8.RuneCountInString(text) > maxChat:
		m.sendError("chat_too_long", "the message is longer than 2000 characters")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !m.admitted {
		m.sendError("not_admitted", "wait until you are admitted")
		return
	}
	r.broadcastLocked(encode(chatMsg{Type: "chat", From: m.p.ID, Name: m.p.Name, Text: text,
		At: time.Now().UTC().Format(time.RFC3339Nano)}), nil)
}

// setPrefs applies what the participant wants to receive: without
// video, the others' video tracks leave its sub connection (the next
// offer and its tracks message no longer carry them), so neither the
// SFU nor the network spends anything on them; with video again they
// come back in a new offer, and the answer to it asks the publishers
// for key frames.
//
// layer ("" keeps the last) is the simulcast layer it wants of the
// others' cameras: the SFU moves it to that layer on the layer's next
// key frame, which it asks for at once.
func (m *member) setPrefs(video bool, layer string) {
	m.subMu.Lock()
	changed := m.noVideo == video
	m.noVideo = !video
	var sim []*pubTrack
	if layer != "" && layer != m.layer {
		m.layer = layer
		for t := range m.senders {
			if t.simulcast {
				sim = append(sim, t)
			}
		}
	}
	m.subMu.Unlock()
	for _, t := range sim {
		t.setWant(m, layer)
	}
	if changed {
		m.syncSubs()
	}
}

// infoLocked describes m to the others; room.mu must be held.
func (m *member) infoLocked() peerInfo {
	return peerInfo{ID: m.p.ID, Name: m.p.Name, Role: m.p.Role, Audio: m.state.audio,
		Video: m.state.video, Screen: m.state.screen, Lobby: !m.admitted}
}

// send queues one frame for the client without blocking; a client too
// slow to take its frames is disconnected.
func (m *member) send(b []byte) {
	if b == nil {
		return
	}
	select {
	case m.out <- b:
	default:
		m.kick(nil, "too slow")
	}
}

func (m *member) sendError(code, msg string) {
	m.send(encode(errorMsg{Type: "error", Code: code, Message: msg}))
}

// kick queues last (if any) and closes the socket after the queued
// frames are written.
func (m *member) kick(last []byte, reason string) {
	if last != nil {
		select {
		case m.out <- last:
		default:
		}
	}
	m.quitOnce.Do(func() {
		m.reason = reason
		close(m.quit)
	})
}

// spawn starts f as one of m's goroutines, unless m is shutting down.
func (m *member) spawn(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// shutdown closes the peer connections and the socket and waits for all
// of m's goroutines.
func (m *member) shutdown() {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	m.closeMedia()
	m.kick(nil, "")
	m.wg.Wait()
}

// writeLoop is the only writer of the socket. After quit it writes what
// is still queued and closes the socket.
func (m *member) writeLoop() {
	for {
		select {
		case b := <-m.out:
			if err := m.write(b); err != nil {
				m.kick(nil, "write failed")
				m.conn.CloseNow()
				return
			}
		case <-m.quit:
			for {
				select {
				case b := <-m.out:
					if m.write(b) != nil {
						m.conn.CloseNow()
						return
					}
					continue
				default:
				}
				break
			}
			m.conn.Close(websocket.StatusNormalClosure, m.reason)
			return
		}
	}
}

func (m *member) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return m.conn.Write(ctx, websocket.MessageText, b)
}

// pingLoop notices a client that vanished without closing its socket.
func (m *member) pingLoop() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
			err := m.conn.Ping(ctx)
			cancel()
			if err != nil {
				m.kick(nil, "ping timeout")
				return
			}
		}
	}
}
