package sfu

import (
	"errors"
	"sync"
	"time"
)

// room is the participants who meet under one room ID, the tracks they
// publish, and the operators' decisions about who may come in. It exists
// from the first join until it ends (End, or an operator's end) or has
// been empty for Config.EmptyRoomGrace: a participant whose socket
// dropped comes back within the grace without waiting in the lobby again.
//
// Lock order: SFU.mu before room.mu; member.subMu before room.mu. Under
// room.mu the code only reads and changes the maps and queues messages
// (member.send never blocks); it never calls into pion.
type room struct {
	id string
	s  *SFU

	mu      sync.Mutex
	members map[string]*member // by participant ID, the lobby included
	tracks  []*pubTrack        // of admitted members, in publishing order
	ended   bool
	// decided remembers the operators' admissions (true) and refusals
	// (false) by participant ID for the room's lifetime, so that a
	// reconnection neither waits nor knocks again.
	decided map[string]bool
	// expiry removes the room once it has been empty for the grace;
	// nil while anyone is in it.
	expiry *time.Timer
}

// errFull and errLobbyFull are the refusals of join; their codes reach
// the client in an error message.
var (
	errFull      = errors.New("room_full")
	errLobbyFull = errors.New("lobby_full")
	// errRefused turns away, at join, a participant an operator already
	// refused in this room.
	errRefused = errors.New("refused")
)

// join adds m to the room roomID, creating it, and queues the welcome
// (and the lobby message) before any other message can reach m. A member
// with the same participant ID is replaced: m inherits its admission
// and state, and the old one is told to go ("replaced").
func (s *SFU) join(roomID string, m *member, w Welcome) (*room, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	r := s.rooms[roomID]
	if r == nil {
		r = &room{id: roomID, s: s, members: map[string]*member{}, decided: map[string]bool{}}
		s.rooms[roomID] = r
	}
	r.mu.Lock()
	if r.expiry != nil {
		r.expiry.Stop()
		r.expiry = nil
	}
	old := r.members[m.p.ID]
	wasAdmitted, decided := r.decided[m.p.ID]
	if m.p.Lobby && decided && !wasAdmitted {
		r.leftEmptyLocked()
		r.mu.Unlock()
		s.mu.Unlock()
		return nil, errRefused
	}
	m.admitted = !m.p.Lobby || (old != nil && old.admitted) || wasAdmitted
	if old == nil || old.admitted != m.admitted {
		// A newcomer, or a reconnection that moves between the lobby
		// and the call, takes a place the room must have.
		admitted, waiting := r.countLocked()
		switch {
		case m.admitted && admitted >= s.cfg.MaxParticipants:
			r.leftEmptyLocked()
			r.mu.Unlock()
			s.mu.Unlock()
			return nil, errFull
		case !m.admitted && waiting >= maxWaiting:
			r.leftEmptyLocked()
			r.mu.Unlock()
			s.mu.Unlock()
			return nil, errLobbyFull
		}
	}
	if old != nil {
		m.state = old.state
		r.dropTracksLocked(old)
	}
	r.members[m.p.ID] = m
	m.room = r

	welcome := welcomeMsg{Type: "welcome", ID: m.p.ID, Room: roomID, Role: m.p.Role,
		ICEServers: w.ICEServers, Participants: []peerInfo{}, Lobby: !m.admitted, Extra: w.Extra}
	if welcome.Extra == nil {
		welcome.Extra = map[string]any{}
	}
	if m.admitted {
		for _, o := range r.members {
			if o != m && (o.admitted || m.p.Role == roleOperator) {
				welcome.Participants = append(welcome.Participants, o.infoLocked())
			}
		}
	}
	m.send(encode(welcome))
	switch {
	case !m.admitted:
		m.send(encode(bareMsg{Type: "lobby"}))
	case old != nil && old.admitted:
		// A reconnection: the others keep the participant and learn
		// only that their media restarts (new tracks follow).
		r.broadcastLocked(encode(participantMsg{Type: "participant", Event: "updated", Participant: m.infoLocked()}), m)
	default:
		r.broadcastLocked(encode(participantMsg{Type: "participant", Event: "joined", Participant: m.infoLocked()}), m)
	}
	if !m.admitted {
		r.toOperatorsLocked(encode(participantMsg{Type: "participant", Event: "knocking", Participant: m.infoLocked()}))
	}
	r.mu.Unlock()
	s.mu.Unlock()

	if old != nil {
		// The old page learns why it lost the call (the same person
		// opened it elsewhere) and does not try to reconnect.
		old.kick(encode(endedMsg{Type: "ended", Reason: "replaced"}), "replaced")
	}
	r.syncAll()
	return r, nil
}

// leave removes m (unless a newer socket already replaced it), tells the
// others, and removes the room when it is empty.
func (r *room) leave(m *member) {
	r.s.mu.Lock()
	r.mu.Lock()
	if r.members[m.p.ID] == m {
		delete(r.members, m.p.ID)
		r.dropTracksLocked(m)
		left := encode(participantMsg{Type: "participant", Event: "left", Participant: m.infoLocked()})
		if m.admitted {
			r.broadcastLocked(left, nil)
		} else {
			r.toOperatorsLocked(left)
		}
	}
	r.leftEmptyLocked()
	r.mu.Unlock()
	r.s.mu.Unlock()
	r.syncAll()
}

// leftEmptyLocked starts the grace of a room nobody is in: it stays, with
// its admissions and refusals, so that a participant whose socket
// dropped can come back without knocking again, and goes if nobody comes
// back in time. SFU.mu and room.mu must be held.
func (r *room) leftEmptyLocked() {
	if len(r.members) > 0 || r.s.rooms[r.id] != r || r.expiry != nil {
		return
	}
	if r.ended || r.s.closed || r.s.cfg.EmptyRoomGrace < 0 {
		delete(r.s.rooms, r.id)
		return
	}
	r.expiry = time.AfterFunc(r.s.cfg.EmptyRoomGrace, r.expire)
}

// expire removes the room if it is still empty when its grace ends.
func (r *room) expire() {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) == 0 && r.s.rooms[r.id] == r {
		delete(r.s.rooms, r.id)
	}
}

// end tells everyone "ended" and closes their sockets; the room leaves
// the SFU at once so a later join starts afresh.
func (r *room) end(reason string) {
	r.s.mu.Lock()
	if r.s.rooms[r.id] == r {
		delete(r.s.rooms, r.id)
	}
	r.mu.Lock()
	r.ended = true
	if r.expiry != nil {
		r.expiry.Stop()
		r.expiry = nil
	}
	members := make([]*member, 0, len(r.members))
	for _, m := range r.members {
		members = append(members, m)
	}
	r.mu.Unlock()
	r.s.mu.Unlock()
	msg := encode(endedMsg{Type: "ended", Reason: reason})
	for _, m := range members {
		m.kick(msg, "ended")
	}
}

// admit lets the waiting participant id in, on an operator's word.
func (r *room) admit(op *member, id string) {
	r.mu.Lock()
	if code, msg := r.checkOperatorLocked(op, id); code != "" {
		r.mu.Unlock()
		op.sendError(code, msg)
		return
	}
	if admitted, _ := r.countLocked(); admitted >= r.s.cfg.MaxParticipants {
		r.mu.Unlock()
		op.sendError("room_full", "the room already holds the most participants it may")
		return
	}
	m := r.members[id]
	m.admitted = true
	r.decided[id] = true
	m.send(encode(bareMsg{Type: "admitted"}))
	for _, o := range r.members {
		if o != m && (o.admitted || m.p.Role == roleOperator) {
			m.send(encode(participantMsg{Type: "participant", Event: "joined", Participant: o.infoLocked()}))
		}
	}
	r.broadcastLocked(encode(participantMsg{Type: "participant", Event: "joined", Participant: m.infoLocked()}), m)
	r.mu.Unlock()
	r.syncAll()
}

// refuse sends the waiting participant id away.
func (r *room) refuse(op *member, id string) {
	r.mu.Lock()
	if code, msg := r.checkOperatorLocked(op, id); code != "" {
		r.mu.Unlock()
		op.sendError(code, msg)
		return
	}
	m := r.members[id]
	r.decided[id] = false
	r.mu.Unlock()
	m.kick(encode(bareMsg{Type: "refused"}), "refused")
}

// checkOperatorLocked says why op may not admit or refuse id, if so.
func (r *room) checkOperatorLocked(op *member, id string) (code, msg string) {
	if op.p.Role != roleOperator || !op.admitted {
		return "forbidden", "only an operator in the call may do this"
	}
	m := r.members[id]
	if m == nil {
		return "not_found", "nobody with that ID is waiting"
	}
	if m.admitted {
		return "not_waiting", "that participant is already in the call"
	}
	return "", ""
}

func (r *room) countLocked() (admitted, waiting int) {
	for _, m := range r.members {
		if m.admitted {
			admitted++
		} else {
			waiting++
		}
	}
	return admitted, waiting
}

// broadcastLocked queues b for every admitted member but except.
func (r *room) broadcastLocked(b []byte, except *member) {
	for _, m := range r.members {
		if m != except && m.admitted {
			m.send(b)
		}
	}
}

func (r *room) toOperatorsLocked(b []byte) {
	for _, m := range r.members {
		if m.admitted && m.p.Role == roleOperator {
			m.send(b)
		}
	}
}

// addTrack publishes t to the room, unless its owner is no longer the
// room's admitted member.
func (r *room) addTrack(t *pubTrack) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended || r.members[t.owner.p.ID] != t.owner || !t.owner.admitted {
		return false
	}
	r.tracks = append(r.tracks, t)
	return true
}

func (r *room) removeTrack(t *pubTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, o := range r.tracks {
		if o == t {
			r.tracks = append(r.tracks[:i:i], r.tracks[i+1:]...)
			return
		}
	}
}

func (r *room) dropTracksLocked(m *member) {
	kept := r.tracks[:0:0]
	for _, t := range r.tracks {
		if t.owner != m {
			kept = append(kept, t)
		}
	}
	r.tracks = kept
}

// syncAll brings every member's subscriber connection in line with the
// room's tracks. Each member recomputes what it should receive under its
// own lock, so concurrent calls converge on the latest state.
func (r *room) syncAll() {
	r.mu.Lock()
	members := make([]*member, 0, len(r.members))
	for _, m := range r.members {
		members = append(members, m)
	}
	r.mu.Unlock()
	for _, m := range members {
		m.syncSubs()
	}
}
