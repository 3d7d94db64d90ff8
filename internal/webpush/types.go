package webpush

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Keys are the subscription's keys as PushSubscription.toJSON() gives
// them, both base64url: P256dh is the user agent's uncompressed P-256
// public key (65 bytes), Auth its authentication secret (16 bytes).
type Keys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// Subscription is a browser's push subscription, in the shape of
// PushSubscription.toJSON() (extra fields such as expirationTime are
// ignored when decoding).
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     Keys   `json:"keys"`
}

// VAPID is the application server's identity (RFC 8292): the P-256 key
// that signs the JWT and the contact the push services may write to.
type VAPID struct {
	Key *ecdsa.PrivateKey
	// Subject is "mailto:…" or an https URL.
	Subject string
}

// Message is one push message. Payload is encrypted for the
// subscription; it may be empty. TTL is how long the push service keeps
// the message for an offline browser (rounded down to seconds; zero
// means "deliver now or drop it"). Urgency is "" (the service's default,
// normal), "very-low", "low", "normal" or "high". Topic, when set,
// replaces an undelivered message with the same topic (at most 32
// base64url characters).
type Message struct {
	Payload []byte
	TTL     time.Duration
	Urgency string
	Topic   string
}

// Sender delivers messages to push services. Client nil means one
// Policy.Client() made at the first Send and kept (its connections are
// reused), whose dialer refuses private addresses; a Client given here
// must bring its own protection. VAPID is asked for the identity at each
// Send (package push caches it). Now nil means time.Now. A Sender is safe
// for concurrent use; set its fields before the first Send and do not
// copy it after.
type Sender struct {
	Client *http.Client
	Policy EndpointPolicy
	VAPID  func(ctx context.Context) (VAPID, error)
	Now    func() time.Time

	once          sync.Once
	defaultClient *http.Client
}

// Errors of the package.
var (
	// ErrGone: the push service answered 404 or 410, the subscription
	// is dead and must be forgotten.
	ErrGone = errors.New("webpush: subscription expired or unsubscribed")
	// ErrEndpoint: the endpoint is not one the policy allows.
	ErrEndpoint = errors.New("webpush: push endpoint not allowed")
	// ErrForbiddenAddress: the endpoint's host resolved to an address
	// the policy forbids (loopback, private, link-local…).
	ErrForbiddenAddress = errors.New("webpush: push endpoint resolves to a forbidden address")
	// ErrKeys: the subscription's keys do not decode to a P-256 point
	// and a 16-byte secret.
	ErrKeys = errors.New("webpush: invalid subscription keys")
	// ErrTooLarge: the payload does not fit one 4096-byte record.
	ErrTooLarge = errors.New("webpush: payload too large")
	// ErrMessage: the message's TTL, Urgency or Topic is invalid.
	ErrMessage = errors.New("webpush: invalid message")
)

// SendError is a push service's refusal other than ErrGone. Retry is
// true for 429 and 5xx (try again later, after RetryAfter when the
// service said so), false for the other statuses (the request itself is
// wrong: retrying will not help).
type SendError struct {
	Status     int
	Retry      bool
	RetryAfter time.Duration
	// Body is the start of the service's answer, for the log.
	Body string
}

func (e *SendError) Error() string {
	s := fmt.Sprintf("webpush: push service answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}
