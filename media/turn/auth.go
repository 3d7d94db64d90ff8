package turn

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v3"
	pturn "github.com/pion/turn/v4"
)

// Reasons a credential is refused; they only reach the log, the client
// sees pion's 400/401.
var (
	errMalformedUser = errors.New("username is not <expiry>:<user>")
	errExpired       = errors.New("credential expired")
	errNoSecret      = errors.New("credential matches no current secret")
	errWrongRealm    = errors.New("wrong realm")
)

// authenticator checks REST credentials against every secret the caller
// still accepts.
//
// pion asks its AuthHandler for one key given only the username, but during
// a rotation the same username has one valid key per secret, and only the
// message tells which one the client used. So the listener wrappers call
// verify with the whole message before pion sees it; verify remembers the
// key that checked out for that client address, and the AuthHandler hands
// it to pion. Per client address, pion handles messages one at a time in
// the goroutine that read them (one read loop per UDP socket, one per TCP
// connection), so the remembered key is the one for the message pion is
// authenticating. pion still checks MESSAGE-INTEGRITY with the key it is
// given, so a mix-up here could only refuse a good request, never accept a
// forged one.
type authenticator struct {
	realm   string
	secrets func() [][]byte
	now     func() time.Time

	mu      sync.Mutex
	checked map[string]checkedKey // by client transport address, see addrKey
}

type checkedKey struct {
	username, realm string
	key             []byte
	at              time.Time
}

func newAuthenticator(realm string, secrets func() [][]byte, now func() time.Time) *authenticator {
	return &authenticator{realm: realm, secrets: secrets, now: now, checked: make(map[string]checkedKey)}
}

// restUser splits a REST username into its expiry and user parts.
func restUser(username string) (expiry time.Time, user string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || user == "" {
		return time.Time{}, "", errMalformedUser
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", errMalformedUser
	}
	return time.Unix(sec, 0), user, nil
}

// valid checks the username's shape, expiry and realm.
func (a *authenticator) valid(username, realm string) error {
	expiry, _, err := restUser(username)
	if err != nil {
		return err
	}
	if !a.now().Before(expiry) {
		return errExpired
	}
	if realm != a.realm {
		return errWrongRealm
	}
	return nil
}

// verify finds the secret whose key validates m's MESSAGE-INTEGRITY and
// remembers it for src. It returns the key, or nil when the message is not
// authentic (expired, unknown secret, wrong password): then nothing is
// remembered and pion refuses the request.
func (a *authenticator) verify(m *stun.Message, src net.Addr) []byte {
	var username stun.Username
	var realm stun.Realm
	if username.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		a.forget(src)
		return nil
	}
	u, r := username.String(), realm.String()
	if a.valid(u, r) != nil {
		a.forget(src)
		return nil
	}
	for _, secret := range a.secrets() {
		key := pturn.GenerateAuthKey(u, r, restPassword(secret, u))
		if stun.MessageIntegrity(key).Check(m) == nil {
			a.remember(src, checkedKey{username: u, realm: r, key: key, at: a.now()})
			return key
		}
	}
	a.forget(src)
	return nil
}

func (a *authenticator) remember(src net.Addr, k checkedKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// An entry normally lives from verify to the AuthHandler call right
	// after it; a request pion refuses before authenticating (stale nonce)
	// leaves one behind, so the map is swept when it grows.
	if len(a.checked) > 4096 {
		for addr, c := range a.checked {
			if k.at.Sub(c.at) > 30*time.Second {
				delete(a.checked, addr)
			}
		}
	}
	a.checked[addrKey(src)] = k
}

func (a *authenticator) forget(src net.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.checked, addrKey(src))
}

// key is pion's AuthHandler: it returns the key verify found for this
// client and username, once.
func (a *authenticator) key(username, realm string, src net.Addr) ([]byte, error) {
	if err := a.valid(username, realm); err != nil {
		return nil, err
	}
	a.mu.Lock()
	c, ok := a.checked[addrKey(src)]
	delete(a.checked, addrKey(src))
	a.mu.Unlock()
	if !ok || c.username != username || c.realm != realm {
		return nil, errNoSecret
	}
	return c.key, nil
}

// addrKey names a client transport address: a UDP and a TCP client may
// share an IP and port.
func addrKey(a net.Addr) string {
	return a.Network() + " " + a.String()
}
