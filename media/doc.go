// Package media holds the calls between citizens and operators: the
// SFU (pion/webrtc), the TURN server (pion/turn), rooms and their waiting
// rooms, signalling and the documents exchanged during a call. A room lives
// on one node; its placement is recorded in the replicated state. media must
// not import booking or queue: it knows rooms and participants, not why they
// meet.
//
// This package holds the rooms (Rooms: open, place, move, end, sweep), the
// room tokens that admit participants, and the TURN REST secrets with the
// ICE server lists built from them; DESIGN.md explains why, and links the
// subpackages' designs.
package media
