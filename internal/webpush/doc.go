// Package webpush sends Web Push messages: the payload encryption of
// RFC 8291 (the aes128gcm content coding of RFC 8188), the application
// server identification of RFC 8292 (VAPID, an ES256 JWT), and the HTTP
// request of RFC 8030 with its TTL, Urgency and Topic headers.
//
// Everything is written here on the standard library (crypto/ecdh,
// crypto/ecdsa, crypto/hkdf, crypto/aes): the code is short, pinned to the
// RFC's own test vector, and has no third-party dependency to audit.
//
// A push endpoint is a URL the browser hands us, that is, input from the
// public. EndpointPolicy keeps the server from being used to reach
// anything but the browsers' push services: https only, a list of known
// hosts, no IP literals, and a dialer that re-checks the address it
// actually connects to (DNS rebinding). See DESIGN.md.
//
// This package holds no state and stores nothing: the VAPID key pair of
// the cluster lives in package push, the subscriptions with their owners
// (the queue's tickets).
package webpush
