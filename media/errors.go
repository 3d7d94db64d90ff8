package media

import "errors"

// Domain errors of the package. The ones apply returns are registered with
// the cluster's error codec (Register), so errors.Is works on a node that
// forwarded the command to the leader.
var (
	// ErrNotFound: no room with that ID (or ref) in the Comune.
	ErrNotFound = errors.New("media: room not found")
	// ErrEnded: the room was ended; nobody joins it any more.
	ErrEnded = errors.New("media: room ended")
	// ErrTooLate: the appointment's time is over, so no room opens for it.
	ErrTooLate = errors.New("media: the appointment's time is over")
	// ErrTokenInvalid: the token is malformed or its signature does not
	// match.
	ErrTokenInvalid = errors.New("media: room token invalid")
	// ErrTokenExpired: the token was valid but its time is over.
	ErrTokenExpired = errors.New("media: room token expired")
	// ErrTokenEarly: the token is not valid yet (Claims.NotBefore).
	ErrTokenEarly = errors.New("media: room token not valid yet")
	// ErrWrongTenant: the token names another Comune than the host the
	// request came to.
	ErrWrongTenant = errors.New("media: room token of another Comune")
	// ErrNoNode: no other reachable member of the cluster can hold a room.
	ErrNoNode = errors.New("media: no node can hold the room")
	// ErrInvalid: a request refused before anything changes (empty or
	// unknown ref, closes not after opens, a reason too long).
	ErrInvalid = errors.New("media: invalid room request")
)
