package chat

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
)

// Stages of a conversation: what the engine expects the next message to
// be. The empty stage is a free question.
const (
	stageFree    = ""
	stageChoose  = "choose"  // one of Choices (a clarifying question)
	stageSlot    = "slot"    // one of Slots
	stageGiven   = "given"   // the citizen's given name
	stageFamily  = "family"  // family name
	stageFiscal  = "fiscal"  // codice fiscale
	stageEmail   = "email"   // email address
	stageConfirm = "confirm" // "confermi?"
)

// state is one conversation, sealed into the conversation_id the client
// sends back. It holds what the engine must remember between messages and
// nothing else: the service being discussed, the choices offered, the
// citizen's data being collected, and (for the page without JavaScript)
// the last lines of the exchange.
type state struct {
	// V is the format version: a token of another version is treated as
	// an expired conversation.
	V int `json:"v"`
	// ID is random (16 bytes, hex): it names the conversation in the
	// node's live table and in the booking's idempotency key.
	ID     string `json:"id"`
	Tenant string `json:"t"`
	// Expires is the end of the conversation (Unix seconds): the last
	// message plus the TTL.
	Expires int64 `json:"exp"`
	// Turn counts the citizen's messages.
	Turn int    `json:"n"`
	Lang string `json:"l,omitempty"`
	// NoticedLang is set once the citizen was told which language the
	// assistant answers in (German falls back to English).
	NoticedLang bool `json:"nl,omitempty"`

	Stage   string   `json:"s,omitempty"`
	Service string   `json:"svc,omitempty"`
	Choices []string `json:"ch,omitempty"`
	// Intent is the intent of the question that led to a clarifying
	// question, answered once the citizen picks the service.
	Intent string `json:"in,omitempty"`
	// Slots are the starts offered (Unix seconds), Start the one chosen.
	Slots   []int64 `json:"sl,omitempty"`
	Start   int64   `json:"st,omitempty"`
	Channel string  `json:"chn,omitempty"`

	Given  string `json:"gn,omitempty"`
	Family string `json:"fn,omitempty"`
	Fiscal string `json:"cf,omitempty"`
	Email  string `json:"em,omitempty"`

	// History is the exchange, kept only for the page without
	// JavaScript (Request.History), the last maxHistory lines.
	History []Line `json:"h,omitempty"`
}

// Line is one message of the exchange as the page shows it.
type Line struct {
	// From is "citizen" or "assistant".
	From string `json:"f"`
	Text string `json:"x"`
}

// stateVersion is the current format of state.
const stateVersion = 1

// maxHistory bounds the lines a token carries for the page: enough to
// follow the last exchanges, small enough for a hidden form field.
const maxHistory = 8

// resetFlow forgets the booking being collected, keeping the service and
// the language.
func (s *state) resetFlow() {
	s.Stage, s.Choices, s.Slots, s.Start, s.Channel = stageFree, nil, nil, 0, ""
	s.Given, s.Family, s.Fiscal, s.Email = "", "", "", ""
}

// tokenPrefix marks the token format; a client must treat the whole
// token as opaque.
const tokenPrefix = "c1."

// errBadToken is any token that does not open: forged, of another
// Comune, of an older key or format. The engine starts a new
// conversation.
var errBadToken = errors.New("chat: conversation token does not open")

// sealer seals states into tokens with AES-256-GCM. The Comune's ID is the
// additional data, so a token of one Comune does not open on another's
// host.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("chat: Config.Key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(st *state, nonce []byte) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce[:s.aead.NonceSize():s.aead.NonceSize()], nonce[:s.aead.NonceSize()], plain, []byte(st.Tenant))
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

func (s *sealer) open(token, tenantID string) (*state, error) {
	raw, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return nil, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errBadToken
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(tenantID))
	if err != nil {
		return nil, errBadToken
	}
	var st state
	if err := json.Unmarshal(plain, &st); err != nil || st.V != stateVersion || st.Tenant != tenantID {
		return nil, errBadToken
	}
	return &st, nil
}

// live is the node's table of the conversations it served recently:
// conversation ID → expiry. It bounds how many conversations one node
// holds at once (a flood of new conversations is refused once the table
// is full of unexpired ones) and is the only conversation data kept in
// memory. It is safe for concurrent use.
type live struct {
	max int
	mu  sync.Mutex
	m   map[string]time.Time
}

func newLive(max int) *live { return &live{max: max, m: make(map[string]time.Time)} }

// touch records that id is alive until exp. A conversation not yet in a
// full table is admitted only after the expired ones are dropped; it
// reports false when the table is still full.
func (l *live) touch(id string, now, exp time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[id]; !ok && len(l.m) >= l.max {
		for k, e := range l.m {
			if !e.After(now) {
				delete(l.m, k)
			}
		}
		if len(l.m) >= l.max {
			return false
		}
	}
	l.m[id] = exp
	return true
}

// forget drops id (the conversation ended: too many turns, or expired).
func (l *live) forget(id string) {
	l.mu.Lock()
	delete(l.m, id)
	l.mu.Unlock()
}

// size returns the number of conversations in the table.
func (l *live) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// newID returns a random conversation ID from 16 bytes of rnd.
func newID(b []byte) string { return hex.EncodeToString(b) }
