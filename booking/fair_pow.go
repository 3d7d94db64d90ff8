package booking

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// The proof of work of a booking follows the queue's (queue/DESIGN.md,
// "Proof of work"): a stateless challenge "b1.<expiry>.<bits>.<nonce>.<mac>",
// an HMAC under a key shared by every node, solved by a counter such that
// SHA-256(challenge ‖ decimal counter) starts with bits zero bits. It
// differs in one point: "used once" is only the replicated set
// (booking.fair.admit), with no per-node cache in front, because a booking
// is rarer than a ticket and the set must be right on every node anyway.

// ChallengeTTL is how long a booking challenge may be solved and used: a
// citizen fills the form meanwhile.
const ChallengeTTL = 20 * time.Minute

const challengePrefix = "b1"

// Errors of a proof; booking/web shows them on the form.
var (
	ErrProofMissing = errors.New("proof of work missing")
	ErrProofInvalid = errors.New("proof of work invalid")
	ErrProofExpired = errors.New("proof of work expired")
	// ErrProofTooEarly: a challenge without a solution came back before
	// its wait (CheckWait).
	ErrProofTooEarly = errors.New("proof of work: wait not over")
)

// Challenges issues and checks proof-of-work challenges and hashes client
// networks, under one key shared by the cluster's nodes.
type Challenges struct {
	key []byte
}

// NewChallenges returns Challenges under key (derived from the cluster's
// secrets). An empty key draws a random one: challenges then open only on
// the node that gave them, fine for one node and tests.
func NewChallenges(key []byte) *Challenges {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails.
	}
	return &Challenges{key: key}
}

// Challenge is what a client gets to solve.
type Challenge struct {
	Challenge string    `json:"challenge"`
	Bits      int       `json:"bits"`
	Expires   time.Time `json:"expires"`
}

func (c *Challenges) mac(t tenant.ID, service string, exp int64, nbits int, nonce string) []byte {
	m := hmac.New(sha256.New, c.key)
	for _, part := range []string{"sportello/booking/pow", challengePrefix, string(t), service, strconv.FormatInt(exp, 10), strconv.Itoa(nbits), nonce} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// Issue returns a new challenge of nbits for a service of Comune t.
func (c *Challenges) Issue(t tenant.ID, service string, nbits int, now time.Time) Challenge {
	var n [16]byte
	_, _ = rand.Read(n[:])
	nonce := base64.RawURLEncoding.EncodeToString(n[:])
	exp := now.Add(ChallengeTTL).Truncate(time.Second)
	mac := base64.RawURLEncoding.EncodeToString(c.mac(t, service, exp.Unix(), nbits, nonce))
	s := strings.Join([]string{challengePrefix, strconv.FormatInt(exp.Unix(), 10), strconv.Itoa(nbits), nonce, mac}, ".")
	return Challenge{Challenge: s, Bits: nbits, Expires: exp.UTC()}
}

// Check verifies a solution for a service that asks minBits and returns
// the Admission to book with (its network still to be set). It does not
// decide "used once": apply does, across the cluster.
func (c *Challenges) Check(t tenant.ID, service, challenge string, counter uint64, minBits int, now time.Time) (Admission, error) {
	if challenge == "" {
		return Admission{}, ErrProofMissing
	}
	parts := strings.Split(challenge, ".")
	if len(parts) != 5 || parts[0] != challengePrefix {
		return Admission{}, ErrProofInvalid
	}
	exp, err1 := strconv.ParseInt(parts[1], 10, 64)
	nbits, err2 := strconv.Atoi(parts[2])
	mac, err3 := base64.RawURLEncoding.DecodeString(parts[4])
	if errors.Join(err1, err2, err3) != nil || nbits < 0 || nbits > MaxProofBits {
		return Admission{}, ErrProofInvalid
	}
	if !hmac.Equal(mac, c.mac(t, service, exp, nbits, parts[3])) || nbits < minBits {
		return Admission{}, ErrProofInvalid
	}
	if !now.Before(time.Unix(exp, 0)) {
		return Admission{}, ErrProofExpired
	}
	if LeadingZeroBits(ProofHash(challenge, counter)) < nbits {
		return Admission{}, ErrProofInvalid
	}
	return Admission{ProofHash: ProofHashOf(challenge), Bits: nbits, Expires: time.Unix(exp, 0)}, nil
}

// CheckWait verifies a challenge presented without a solution, by a page
// without JavaScript: it opens a booking only once wait has passed since
// it was issued. The citizen pays in time what a script pays in work; the
// challenge is single-use like a solved one. It returns the Admission
// with the challenge's own difficulty.
func (c *Challenges) CheckWait(t tenant.ID, service, challenge string, minBits int, wait time.Duration, now time.Time) (Admission, time.Duration, error) {
	if challenge == "" {
		return Admission{}, 0, ErrProofMissing
	}
	parts := strings.Split(challenge, ".")
	if len(parts) != 5 || parts[0] != challengePrefix {
		return Admission{}, 0, ErrProofInvalid
	}
	exp, err1 := strconv.ParseInt(parts[1], 10, 64)
	nbits, err2 := strconv.Atoi(parts[2])
	mac, err3 := base64.RawURLEncoding.DecodeString(parts[4])
	if errors.Join(err1, err2, err3) != nil || nbits < minBits || !hmac.Equal(mac, c.mac(t, service, exp, nbits, parts[3])) {
		return Admission{}, 0, ErrProofInvalid
	}
	expires := time.Unix(exp, 0)
	if !now.Before(expires) {
		return Admission{}, 0, ErrProofExpired
	}
	if left := expires.Add(-ChallengeTTL).Add(wait).Sub(now); left > 0 {
		return Admission{}, left, ErrProofTooEarly
	}
	return Admission{ProofHash: ProofHashOf(challenge), Bits: nbits, Expires: expires}, 0, nil
}

// NetHash is the salted hash of the network of a client address: its /24
// for IPv4, its /48 for IPv6 (one household or office, not one person),
// keyed per Comune so that two Comuni's reports cannot be joined. "" when
// addr is not an address.
func (c *Challenges) NetHash(t tenant.ID, addr string) string {
	ip, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil {
		return ""
	}
	ip = ip.Unmap()
	bitsLen := 48
	if ip.Is4() {
		bitsLen = 24
	}
	p, err := ip.Prefix(bitsLen)
	if err != nil {
		return ""
	}
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("sportello/booking/net\x00" + string(t) + "\x00" + p.String()))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// ProofHash is SHA-256(challenge ‖ counter in decimal): what the page's
// script computes (booking/web/static/fair_pow.js).
func ProofHash(challenge string, counter uint64) [32]byte {
	b := make([]byte, 0, len(challenge)+20)
	b = append(b, challenge...)
	b = strconv.AppendUint(b, counter, 10)
	return sha256.Sum256(b)
}

// LeadingZeroBits counts the zero bits at the start of h.
func LeadingZeroBits(h [32]byte) int {
	n := 0
	for _, x := range h {
		if x != 0 {
			return n + bits.LeadingZeros8(x)
		}
		n += 8
	}
	return n
}

// SolveProof finds the smallest counter for a challenge of nbits, as a
// client would; for tests and tools.
func SolveProof(challenge string, nbits int) uint64 {
	for c := uint64(0); ; c++ {
		if LeadingZeroBits(ProofHash(challenge, c)) >= nbits {
			return c
		}
	}
}
