// Package sfu is the selective forwarding unit of the calls: rooms of up
// to eight admitted participants (and a waiting room), the signalling
// WebSocket protocol, and the RTP forwarding between pion peer
// connections. It knows rooms by ID and participants as the web layer
// (media/web) authenticated them; it must not import booking, queue or
// the replicated state: whether a room may open, and who may join it, is
// decided before Serve is called.
//
// Each participant has two peer connections: "pub" (the browser offers,
// the SFU answers; the browser's camera, microphone and screen) and
// "sub" (the SFU offers, the browser answers; everyone else's tracks).
// DESIGN.md explains why and how renegotiation is serialised.
//
// # Protocol clarifications
//
// The protocol is the one in the session contract; these points are
// what it leaves open, decided here:
//
//   - The SFU sends the SDP of an offer or answer before applying it
//     locally, and its candidates afterwards, so a client always has the
//     description before the candidates that belong to it. A client must
//     likewise send its description before its candidates (the normal
//     order after setLocalDescription).
//   - Every SDP the SFU sends carries b=AS (kb/s) and b=TIAS (b/s) with
//     MaxVideoBitrate in its video sections: in the pub answer this caps
//     what the browser sends.
//   - A "tracks" message precedes every sub offer and lists exactly the
//     tracks that offer carries: {stream_id, track_id, participant,
//     kind, source}. track_id (the msid track ID) is an addition. Audio
//     and camera video of one published stream share a stream_id; a
//     screen stream's ID begins "screen-", a camera's "cam-".
//   - Participant objects carry "lobby": true for someone still waiting
//     (only operators ever see them).
//   - A lobby participant's welcome lists nobody; on admission it gets
//     "admitted", then a "participant" "joined" for each one present.
//     Lobby participants cannot offer media or chat (error
//     "not_admitted"); a pub offer is accepted only once admitted.
//   - Error codes: "bad_message", "bad_sdp", "forbidden", "not_admitted",
//     "not_found", "not_waiting", "room_full", "lobby_full" (more than 16
//     waiting), "chat_empty", "chat_too_long", "internal", "closed" (the
//     SFU is shutting down). "room_full", "lobby_full" and "closed" at
//     join are followed by the socket closing; at
//     admit, "room_full" goes to the operator and the person keeps
//     waiting.
//   - The room remembers the operators' decisions by participant ID for
//     its lifetime: until it ends (an operator's end, or End) or has been
//     empty for Config.EmptyRoomGrace (2 minutes). A lobby participant
//     admitted once who joins again (its socket dropped, the page
//     reloaded) gets a welcome with lobby false and skips the lobby; one
//     refused once gets "refused" at once, and the socket closes.
//   - A second socket with a participant ID already in the room replaces
//     the first (which gets "ended" {reason: "replaced"} and is closed)
//     and inherits its admission; the others get "participant" "updated", not "left" and
//     "joined", and new tracks follow in a new sub offer.
//   - "ended" {reason}: "operator" when an operator sent end, the
//     reason given to End, "shutdown" when the SFU closes, "replaced"
//     when another socket took over the participant, the reason given
//     to Kick for one participant taken out ("revoked": a guest's
//     invite was revoked).
//   - "chat" "at" is RFC 3339 UTC with fractional seconds.
//   - A pub offer ends the tracks of the m-sections it no longer sends:
//     rejected (port 0, unless a=bundle-only), direction recvonly or
//     inactive, or without msid (neither a=msid nor an a=ssrc msid).
//     That is what removeTrack, transceiver.stop() and a direction
//     change produce. The others then get a "tracks" message and a sub
//     offer without them. A section that stopped sending does not come
//     back by sending again: a new track goes on a new transceiver
//     (which is what addTrack after removeTrack does).
//   - Client → server `prefs {video: bool}` says what the participant
//     receives: with video false the SFU removes everyone else's video
//     tracks from its sub connection (a "tracks" message and a sub offer
//     without them; the audio goes on), with video true it offers them
//     again and asks the publishers for key frames. "video" is required
//     ("bad_message" otherwise). Prefs belong to the socket's session:
//     a new socket receives video until it sends prefs again, so a page
//     sends them with its state after every welcome. Lobby participants
//     may send prefs; they apply on admission. An optional "layer"
//     ("h", "m" or "l"; "bad_message" otherwise) names the simulcast
//     layer the participant wants of the others' cameras (default "h";
//     absent keeps the last): see simulcast.go.
//   - A camera published in simulcast layers (a=rid h, m, l) reaches
//     each subscriber as one ordinary track carrying one layer at a
//     time; the SFU switches layers on key frames and rewrites sequence
//     numbers and timestamps, so the subscriber never sees the layers.
//   - The browser restarts the pub side with an offer made with
//     iceRestart (a new ICE ufrag); the SFU answers and sends a sub offer
//     with fresh ICE credentials once no other sub offer is in flight.
//     The SFU also restarts the sub side by itself when its ICE fails.
//   - A client that makes a new pub connection (new DTLS fingerprint)
//     on the same socket gets a fresh one on the SFU side; a new sub
//     connection needs a new socket (the SFU keeps offering on the old).
//   - Frames are JSON text, at most 64 KiB; the SFU pings every 20 s and
//     drops a socket that does not answer in 15 s.
package sfu
