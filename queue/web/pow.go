package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Proof of work for remote tickets (OfficeConfig.ProofOfWork > 0): before
// a web or API take the client finds a counter such that
// SHA-256(challenge || decimal counter) starts with the office's number of
// zero bits. The challenge is stateless — an HMAC under Config.ChallengeKey
// over the Comune, the office, the difficulty, the expiry and a random
// nonce — so any node can check a challenge any other node gave. What is
// not stateless is "used once": see proofCache.

const (
	// challengeTTL is how long a challenge may be solved and used: long
	// enough for a slow phone at the highest difficulty (2^24 hashes)
	// and for a citizen who reads the form first, short enough that a
	// node's cache of used challenges stays small.
	challengeTTL = 10 * time.Minute
	// challengeVersion starts every challenge, so the format can change.
	challengeVersion = "q1"
	// maxProofBits is the most a challenge asks (queue.CheckConfig
	// allows at most 24).
	maxProofBits = 24
	// maxUsedProofs bounds the cache of used challenges of one node. A
	// valid challenge costs its solver the work, so the cache fills only
	// as fast as tickets are taken; when it is full of unexpired entries
	// new proofs are refused (never reused) until some expire.
	maxUsedProofs = 100_000
)

// Errors of a proof, all shown on the field "proof".
var (
	errProofMissing = errors.New("proof of work required")
	errProofInvalid = errors.New("proof of work invalid")
	errProofExpired = errors.New("proof of work expired")
	errProofReused  = errors.New("proof of work already used")
	errProofBusy    = errors.New("too many proofs of work in flight")
)

// proof is what the client sends: the challenge it was given and the
// counter it found.
type proof struct {
	Challenge string `json:"challenge"`
	Counter   uint64 `json:"counter"`
}

// challengeView is the answer of GET /api/v1/offices/{id}/challenge.
type challengeView struct {
	Challenge string    `json:"challenge"`
	Bits      int       `json:"bits"`
	Expires   time.Time `json:"expires"`
}

// proofCache remembers, on one node, the challenges already used until
// they expire. A solved challenge could otherwise be replayed for many
// tickets; the cache makes it single-use on this node. It is per node:
// with N nodes behind a balancer one solution may be used up to N times
// within its ten minutes, which the per-device and per-address limits of
// the queue bound anyway. (Single use across the cluster would need the
// challenge's hash in the replicated take; the limits make it not worth
// a field in every ticket.)
type proofCache struct {
	key  []byte
	mu   sync.Mutex
	used map[[32]byte]time.Time
}

func newProofCache(key []byte) *proofCache {
	if len(key) == 0 {
		// Without a shared key a challenge can only be checked by the
		// node that gave it: fine for one node and for tests.
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails.
	}
	return &proofCache{key: key, used: map[[32]byte]time.Time{}}
}

// mac is the challenge's signature over everything it stands for.
func (p *proofCache) mac(t tenant.ID, office string, exp int64, nbits int, nonce string) []byte {
	m := hmac.New(sha256.New, p.key)
	for _, part := range []string{"sportello/queue/pow", challengeVersion, string(t), office, strconv.FormatInt(exp, 10), strconv.Itoa(nbits), nonce} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// issue returns a new challenge of nbits for an office of Comune t, as
// "q1.<expiry>.<bits>.<nonce>.<mac>" (URL-safe, no padding).
func (p *proofCache) issue(t tenant.ID, office string, nbits int, now time.Time) challengeView {
	var n [16]byte
	_, _ = rand.Read(n[:])
	nonce := base64.RawURLEncoding.EncodeToString(n[:])
	exp := now.Add(challengeTTL).Truncate(time.Second)
	mac := base64.RawURLEncoding.EncodeToString(p.mac(t, office, exp.Unix(), nbits, nonce))
	c := strings.Join([]string{challengeVersion, strconv.FormatInt(exp.Unix(), 10), strconv.Itoa(nbits), nonce, mac}, ".")
	return challengeView{Challenge: c, Bits: nbits, Expires: exp.UTC()}
}

// check verifies pr for an office that asks minBits and, when it holds,
// records it as used: a proof passes once.
func (p *proofCache) check(t tenant.ID, office string, pr proof, minBits int, now time.Time) error {
	if pr.Challenge == "" {
		return errProofMissing
	}
	parts := strings.Split(pr.Challenge, ".")
	if len(parts) != 5 || parts[0] != challengeVersion {
		return errProofInvalid
	}
	exp, err1 := strconv.ParseInt(parts[1], 10, 64)
	nbits, err2 := strconv.Atoi(parts[2])
	mac, err3 := base64.RawURLEncoding.DecodeString(parts[4])
	if err := errors.Join(err1, err2, err3); err != nil || nbits < 0 || nbits > maxProofBits {
		return errProofInvalid
	}
	if !hmac.Equal(mac, p.mac(t, office, exp, nbits, parts[3])) {
		return errProofInvalid
	}
	// A challenge given before the office raised its difficulty is too
	// easy now.
	if nbits < minBits {
		return errProofInvalid
	}
	if !now.Before(time.Unix(exp, 0)) {
		return errProofExpired
	}
	if leadingZeroBits(proofHash(pr.Challenge, pr.Counter)) < nbits {
		return errProofInvalid
	}
	key := sha256.Sum256([]byte(pr.Challenge))
	p.mu.Lock()
	defer p.mu.Unlock()
	if until, ok := p.used[key]; ok && now.Before(until) {
		return errProofReused
	}
	if len(p.used) >= maxUsedProofs {
		for k, until := range p.used {
			if !now.Before(until) {
				delete(p.used, k)
			}
		}
		if len(p.used) >= maxUsedProofs {
			return errProofBusy
		}
	}
	p.used[key] = time.Unix(exp, 0)
	return nil
}

// needsProof says whether a take must carry a proof: remote tickets
// (web, API) of an office that asks for one. Check-ins are exempt: the
// booking code already ties the ticket to one appointment, checked in
// once.
func needsProof(cfg queue.OfficeConfig, src queue.Source, bookingCode string) bool {
	return cfg.ProofOfWork > 0 && (src == queue.SourceWeb || src == queue.SourceAPI) && bookingCode == ""
}

// checkProof verifies the proof of a take, when the office asks one, and
// returns the challenge for queue.TakeRequest.Proof ("" when none was
// needed), so that apply refuses its reuse through any other node.
func (h *Handler) checkProof(r *http.Request, t tenant.ID, officeID string, src queue.Source, bookingCode string, pr proof) (string, error) {
	cfg, err := h.q.Config(r.Context(), t, officeID)
	if err != nil {
		return "", err
	}
	if !needsProof(cfg, src, bookingCode) {
		return "", nil
	}
	if err := h.proofs.check(t, officeID, pr, cfg.ProofOfWork, h.now()); err != nil {
		return "", err
	}
	return pr.Challenge, nil
}

// apiChallenge answers GET /api/v1/offices/{id}/challenge: a challenge
// for a ticket of that office, with the bits the office asks (0: none
// needed, any counter passes) and its expiry.
func (h *Handler) apiChallenge(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	id := r.PathValue("id")
	if _, err := h.q.PublicOffice(r.Context(), t.ID, id); err != nil {
		h.apiError(w, r, err)
		return
	}
	cfg, err := h.q.Config(r.Context(), t.ID, id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	ch := h.proofs.issue(t.ID, id, cfg.ProofOfWork, h.now())
	ch.Expires = ch.Expires.In(t.Location())
	writeJSON(w, http.StatusOK, ch)
}

// The hash a proof is checked with, SHA-256(challenge || counter in
// decimal), is the one bookings' proofs use: the queue's script
// (queue.js, solve) and the booking form's compute the same.

func proofHash(challenge string, counter uint64) [32]byte {
	return booking.ProofHash(challenge, counter)
}

func leadingZeroBits(h [32]byte) int { return booking.LeadingZeroBits(h) }

func solveProof(challenge string, nbits int) uint64 { return booking.SolveProof(challenge, nbits) }
