// Package turn is Sportello's own TURN server (RFC 8656, on pion/turn),
// started by the same binary as the rest of the node so that citizens on
// strict municipal or mobile networks can still reach the SFU.
//
// It authenticates with time-limited REST credentials ("<expiry>:<user>",
// HMAC-SHA1 of a rotated secret kept in the replicated state), refuses to
// relay towards loopback, private, link-local, multicast and other internal
// addresses (except the node's own SFU addresses), and caps every user's
// allocations and bandwidth. The secrets come from the caller
// (media.Rooms.TURNSecrets); this package keeps no state beyond the
// allocations it is serving and must not import the rest of Sportello.
package turn
