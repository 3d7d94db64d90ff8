package sfu

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// inMsg is any message a client sends: one JSON object whose "type"
// says which of the other fields matter.
type inMsg struct {
	Type      string                   `json:"type"`
	PC        string                   `json:"pc,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Text      string                   `json:"text,omitempty"`
	Audio     bool                     `json:"audio,omitempty"`
	Video     bool                     `json:"video,omitempty"`
	Screen    bool                     `json:"screen,omitempty"`
	ID        string                   `json:"id,omitempty"`
	// raw is the whole frame, for messages whose fields need more than
	// these (prefs tells a missing video from false).
	raw []byte
}

// peerInfo is a participant as the others see it.
type peerInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Audio  bool   `json:"audio"`
	Video  bool   `json:"video"`
	Screen bool   `json:"screen"`
	// Lobby is true for a participant still waiting; only operators
	// ever see such participants.
	Lobby bool `json:"lobby"`
}

type welcomeMsg struct {
	Type         string         `json:"type"`
	ID           string         `json:"id"`
	Room         string         `json:"room"`
	Role         string         `json:"role"`
	ICEServers   any            `json:"ice_servers"`
	Participants []peerInfo     `json:"participants"`
	Lobby        bool           `json:"lobby"`
	Extra        map[string]any `json:"extra"`
}

type sdpMsg struct {
	Type string `json:"type"`
	PC   string `json:"pc"`
	SDP  string `json:"sdp"`
}

type candidateMsg struct {
	Type      string                  `json:"type"`
	PC        string                  `json:"pc"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

type participantMsg struct {
	Type        string   `json:"type"`
	Event       string   `json:"event"`
	Participant peerInfo `json:"participant"`
}

type trackInfo struct {
	StreamID    string `json:"stream_id"`
	TrackID     string `json:"track_id"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`
	Source      string `json:"source"`
}

type tracksMsg struct {
	Type   string      `json:"type"`
	Tracks []trackInfo `json:"tracks"`
}

type chatMsg struct {
	Type string `json:"type"`
	From string `json:"from"`
	Name string `json:"name"`
	Text string `json:"text"`
	At   string `json:"at"`
}

type endedMsg struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

type errorMsg struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type bareMsg struct {
	Type string `json:"type"`
}

// encode marshals a server message; the types above cannot fail, and a
// value given to Announce that cannot be marshalled is dropped.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
