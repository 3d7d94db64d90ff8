// Package media will hold the calls between citizens and operators: the
// SFU (pion/webrtc), the TURN server (pion/turn), rooms and their waiting
// rooms, signalling and the documents exchanged during a call. A room lives
// on one node; its placement is recorded in the replicated state. media must
// not import booking or queue: it knows rooms and participants, not why they
// meet.
package media
