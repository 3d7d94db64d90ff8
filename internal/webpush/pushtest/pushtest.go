// Package pushtest is a real push service for tests: an HTTPS server on
// 127.0.0.1 that checks what a browser's push service checks (the VAPID
// JWT's ES256 signature against the key in "k", its audience and expiry,
// the TTL header) and decrypts the aes128gcm body with the
// subscription's private key, as the browser would, before it hands the
// message to the test.
//
// Its decryption is written apart from package webpush's encryption
// (its own HKDF on crypto/hmac, its own header parsing), so that a
// mistake in one is not hidden by the same mistake in the other; webpush
// itself is pinned to RFC 8291's test vector.
package pushtest

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/webpush"
)

// Received is one message the receiver accepted.
type Received struct {
	Endpoint string
	Payload  []byte
	// TTL is the TTL header, in seconds.
	TTL int
	// Urgency and Topic are the headers as sent ("" when absent).
	Urgency, Topic string
	// Subject and Audience are the VAPID JWT's sub and aud claims.
	Subject, Audience string
}

// subscriber is what the receiver keeps of one subscription: the
// browser's side of the keys.
type subscriber struct {
	key  *ecdh.PrivateKey
	auth []byte
	gone bool
}

// Receiver is a push service for tests. Its methods are safe for
// concurrent use; it closes in t.Cleanup.
type Receiver struct {
	srv  *httptest.Server
	msgs chan Received
	// now is the receiver's clock for the JWT's expiry.
	now func() time.Time

	mu        sync.Mutex
	subs      map[string]*subscriber // by the endpoint's path
	expectKey string
	clients   []*http.Client // handed out by Client, closed with the receiver
}

// New starts a receiver (closed in t.Cleanup).
func New(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{
		msgs: make(chan Received, 256),
		now:  time.Now,
		subs: map[string]*subscriber{},
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.StartTLS()
	t.Cleanup(r.close)
	return r
}

// close stops the server and drops the idle connections of the clients
// it handed out, so that no goroutine outlives the test.
func (r *Receiver) close() {
	r.srv.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clients {
		c.CloseIdleConnections()
	}
}

// CertificatePEM is the receiver's certificate in PEM, for a client
// that is not built by Client (a sportello process in an end-to-end
// test, through its push.ca_file).
func (r *Receiver) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
}

// URL is the receiver's base URL ("https://127.0.0.1:port").
func (r *Receiver) URL() string { return r.srv.URL }

// Subscribe makes a fresh subscription on the receiver, with its own key
// pair and authentication secret, as a browser's pushManager.subscribe
// would.
func (r *Receiver) Subscribe() webpush.Subscription {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic("pushtest: generate key: " + err.Error())
	}
	auth := make([]byte, 16)
	id := make([]byte, 12)
	rand.Read(auth)
	rand.Read(id)
	path := "/push/" + hex.EncodeToString(id)
	r.mu.Lock()
	r.subs[path] = &subscriber{key: key, auth: auth}
	r.mu.Unlock()
	enc := base64.RawURLEncoding
	return webpush.Subscription{
		Endpoint: r.srv.URL + path,
		Keys:     webpush.Keys{P256dh: enc.EncodeToString(key.PublicKey().Bytes()), Auth: enc.EncodeToString(auth)},
	}
}

// Client returns an HTTP client that trusts the receiver's certificate,
// on webpush's own transport (its dialer allowing private addresses, as
// the receiver is on 127.0.0.1).
func (r *Receiver) Client() *http.Client {
	c := r.Policy().Client()
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig = r.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
	return c
}

// Policy returns an endpoint policy that allows the receiver and nothing
// else: its host, private addresses and its port.
func (r *Receiver) Policy() webpush.EndpointPolicy {
	return webpush.EndpointPolicy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}
}

// ExpectKey makes the receiver refuse (401) messages signed with any
// VAPID key but publicKey (base64url, as webpush.PublicKey gives it).
func (r *Receiver) ExpectKey(publicKey string) {
	r.mu.Lock()
	r.expectKey = publicKey
	r.mu.Unlock()
}

// Messages delivers the accepted messages in order of arrival. It holds
// up to 256 messages; a test that sends more must read as it goes.
func (r *Receiver) Messages() <-chan Received { return r.msgs }

// Gone forgets sub: later pushes to it answer 410, as when the user
// unsubscribed or the browser dropped the subscription.
func (r *Receiver) Gone(sub webpush.Subscription) {
	path := strings.TrimPrefix(sub.Endpoint, r.srv.URL)
	r.mu.Lock()
	if s := r.subs[path]; s != nil {
		s.gone = true
	}
	r.mu.Unlock()
}
