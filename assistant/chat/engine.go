package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Limits on what a citizen sends and on a conversation.
const (
	// MaxMessage is the longest message, in characters: a citizen's
	// question is a sentence or two; longer text is either pasted by
	// mistake or an attempt to make the index work hard.
	MaxMessage = 500
	// DefaultTTL is how long a conversation lives after its last
	// message.
	DefaultTTL = 30 * time.Minute
	// DefaultMaxTurns bounds the messages of one conversation: a booking
	// takes about ten; a conversation of a hundred is a script.
	DefaultMaxTurns = 60
	// DefaultMaxConversations bounds the conversations one node serves at
	// once (its live table).
	DefaultMaxConversations = 20000
	// DefaultRephraseTimeout bounds a call to the language model; past it
	// the grounded reply is used.
	DefaultRephraseTimeout = 4 * time.Second
)

// Catalogues gives the Comune's catalogue; *knowledge.Store implements
// it.
type Catalogues interface {
	Catalogue(ctx context.Context, t tenant.Tenant) (*knowledge.Catalogue, error)
}

// Config configures an Engine.
type Config struct {
	// Catalogues gives each Comune's catalogue; required.
	Catalogues Catalogues
	// Book is the node's appointment book (slots and bookings); required.
	Book *booking.Book
	// Queue is the node's virtual queue; nil means no tickets: the
	// assistant gives the office's contacts instead.
	Queue *queue.Queue
	// Key seals the conversation tokens (32 bytes). Every node of the
	// cluster must hold the same key (cmd/sportello derives it from
	// secrets.key), so that any node opens a token another one made.
	Key []byte
	// Now is the clock; nil means time.Now. Rand is the source of the
	// conversation IDs and token nonces; nil means crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// TTL, MaxTurns and MaxConversations default to DefaultTTL,
	// DefaultMaxTurns and DefaultMaxConversations.
	TTL              time.Duration
	MaxTurns         int
	MaxConversations int
	// Rephraser, when set, rewords the grounded replies (the optional
	// language model, off by default).
	Rephraser Rephraser
	// RephraseTimeout bounds a Rephraser call; 0 means
	// DefaultRephraseTimeout.
	RephraseTimeout time.Duration
	Logger          *slog.Logger
}

// Engine answers citizens' messages for every Comune on the node. It is
// safe for concurrent use and keeps no goroutine.
type Engine struct {
	cats      Catalogues
	book      *booking.Book
	queue     *queue.Queue
	seal      *sealer
	now       func() time.Time
	rnd       io.Reader
	rndMu     sync.Mutex
	ttl       time.Duration
	maxTurns  int
	live      *live
	rephraser Rephraser
	rephraseT time.Duration
	log       *slog.Logger
	faqs      faqCache
}

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Catalogues == nil || cfg.Book == nil {
		return nil, errors.New("chat: Config.Catalogues and Config.Book are required")
	}
	s, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cats: cfg.Catalogues, book: cfg.Book, queue: cfg.Queue, seal: s,
		now: cfg.Now, rnd: cfg.Rand, ttl: cfg.TTL, maxTurns: cfg.MaxTurns,
		rephraser: cfg.Rephraser, rephraseT: cfg.RephraseTimeout, log: cfg.Logger,
	}
	if e.rephraseT <= 0 {
		e.rephraseT = DefaultRephraseTimeout
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rnd == nil {
		e.rnd = rand.Reader
	}
	if e.ttl <= 0 {
		e.ttl = DefaultTTL
	}
	if e.maxTurns <= 0 {
		e.maxTurns = DefaultMaxTurns
	}
	if cfg.MaxConversations <= 0 {
		cfg.MaxConversations = DefaultMaxConversations
	}
	e.live = newLive(cfg.MaxConversations)
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("component", "assistant/chat")
	return e, nil
}

// Request is one message of a citizen.
type Request struct {
	Message string
	// ConversationID is the token of the previous reply ("" starts a
	// conversation).
	ConversationID string
	// Lang is the language the client asks for ("it", "en", "de"; ""
	// lets the engine guess from the message).
	Lang string
	// BaseURL is the Comune's origin as the citizen reached it
	// ("https://bari.example.it"): the links of the reply and of the
	// booking's email point there.
	BaseURL string
	// ClientIP is the citizen's address, for the queue's admission
	// limits.
	ClientIP string
	// History keeps the last lines of the exchange in the token, for the
	// page without JavaScript.
	History bool
}

// Suggestion is a service the assistant offers, best first.
type Suggestion struct {
	ServiceID string  `json:"service_id"`
	Name      string  `json:"name"`
	Score     float64 `json:"score"`
}

// Action types.
const (
	ActionBook    = "book"    // a slot to book: Message chooses it
	ActionConfirm = "confirm" // the answer to "confermi?": Message
	ActionTicket  = "ticket"  // a queue ticket: URL follows it, or Message takes one
	ActionLink    = "link"    // a page of the Comune: URL
	ActionHandoff = "handoff" // a person: URL (a ticket) or Phone / Email
)

// Action is something the client can offer as a button or a link.
type Action struct {
	Type  string `json:"type"`
	Label string `json:"label"`
	// Message is what the client sends back when the citizen picks the
	// action (a button); URL is a page to open (a link).
	Message   string     `json:"message,omitempty"`
	URL       string     `json:"url,omitempty"`
	ServiceID string     `json:"service_id,omitempty"`
	Start     *time.Time `json:"start,omitempty"`
	Number    string     `json:"number,omitempty"`
	Phone     string     `json:"phone,omitempty"`
	Email     string     `json:"email,omitempty"`
}

// Response is the assistant's reply.
type Response struct {
	ConversationID string       `json:"conversation_id"`
	Reply          string       `json:"reply"`
	Lang           string       `json:"lang"`
	Suggestions    []Suggestion `json:"suggestions"`
	Actions        []Action     `json:"actions"`
	// History is the exchange so far (with Request.History), this turn
	// included.
	History []Line `json:"-"`
}

// FieldError is a message the engine refuses: Field is "message" and Text
// the Italian (or English) explanation.
type FieldError struct {
	Field, Code string
	Text        map[string]string
}

func (e *FieldError) Error() string { return "chat: invalid " + e.Field + ": " + e.Code }

// Message returns the explanation in lang (Italian by default).
func (e *FieldError) Message(lang string) string {
	if m, ok := e.Text[lang]; ok {
		return m
	}
	return e.Text["it"]
}

// ErrBusy is returned when the node already serves as many conversations
// as it may; the client should retry later.
var ErrBusy = errors.New("chat: too many conversations on this node")

// CheckMessage validates a citizen's message: not empty, at most
// MaxMessage characters, valid UTF-8 without control characters.
func CheckMessage(m string) error {
	m = strings.TrimSpace(m)
	switch {
	case m == "":
		return &FieldError{Field: "message", Code: "empty", Text: map[string]string{
			"it": "Scrivi la tua domanda.", "en": "Write your question.", "de": "Write your question."}}
	case !utf8.ValidString(m):
		return &FieldError{Field: "message", Code: "invalid", Text: map[string]string{
			"it": "Il messaggio contiene caratteri non ammessi.", "en": "The message contains characters that are not allowed.",
			"de": "The message contains characters that are not allowed."}}
	case utf8.RuneCountInString(m) > MaxMessage:
		return &FieldError{Field: "message", Code: "too_long", Text: map[string]string{
			"it": fmt.Sprintf("Il messaggio può contenere al massimo %d caratteri.", MaxMessage),
			"en": fmt.Sprintf("The message may hold at most %d characters.", MaxMessage),
			"de": fmt.Sprintf("The message may hold at most %d characters.", MaxMessage)}}
	}
	for _, r := range m {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return &FieldError{Field: "message", Code: "invalid", Text: map[string]string{
				"it": "Il messaggio contiene caratteri non ammessi.", "en": "The message contains characters that are not allowed.",
				"de": "The message contains characters that are not allowed."}}
		}
	}
	return nil
}

// Handle answers one message of a conversation of Comune t. A bad message
// gives a *FieldError; ErrBusy when the node is full; other errors are
// infrastructure failures (the catalogue could not be read).
func (e *Engine) Handle(ctx context.Context, t tenant.Tenant, req Request) (Response, error) {
	if err := CheckMessage(req.Message); err != nil {
		return Response{}, err
	}
	msg := strings.Join(strings.Fields(req.Message), " ")
	now := e.now()
	st, expired := e.open(req.ConversationID, t, now)
	if st == nil {
		var b [16]byte
		if err := e.read(b[:]); err != nil {
			return Response{}, err
		}
		st = &state{V: stateVersion, ID: newID(b[:]), Tenant: string(t.ID)}
	}
	if !e.live.touch(st.ID, now, now.Add(e.ttl)) {
		return Response{}, ErrBusy
	}
	cat, err := e.cats.Catalogue(ctx, t)
	if err != nil {
		return Response{}, fmt.Errorf("chat: catalogue of %s: %w", t.ID, err)
	}
	if cat == nil || cat.Index == nil {
		// A Comune without a catalogue yet: nothing is found, and the
		// assistant says so instead of failing.
		cat = &knowledge.Catalogue{Index: assistant.NewIndex(nil)}
	}
	c := &turn{e: e, ctx: ctx, t: t, cat: cat, st: st, req: req, msg: msg, now: now}
	c.lang = c.chooseLang()
	switch {
	case st.Turn >= e.maxTurns:
		// The conversation is over: a new one starts with this message.
		e.live.forget(st.ID)
		c.say(c.tr("too_many_turns"))
		fresh := &state{V: stateVersion, ID: st.ID, Tenant: st.Tenant, Lang: st.Lang}
		c.st = fresh
	case expired:
		c.say(c.tr("expired"))
	}
	if c.lang != st.Lang && st.Lang != "" {
		st.NoticedLang = false
	}
	c.st.Lang = c.lang
	if req.Lang == "de" && !c.st.NoticedLang {
		c.say(c.tr("german_fallback"))
	}
	c.st.NoticedLang = true
	c.st.Turn++
	c.respond()
	resp := Response{Reply: strings.Join(c.reply, "\n\n"), Lang: c.lang, Suggestions: c.suggestions, Actions: c.actions}
	if resp.Suggestions == nil {
		resp.Suggestions = []Suggestion{}
	}
	if resp.Actions == nil {
		resp.Actions = []Action{}
	}
	if c.grounded && e.rephraser != nil {
		resp.Reply = e.rephrase(ctx, c.lang, c.facts(), resp.Reply)
	}
	if req.History {
		c.st.History = append(c.st.History, Line{From: "citizen", Text: msg}, Line{From: "assistant", Text: resp.Reply})
		if len(c.st.History) > maxHistory {
			c.st.History = c.st.History[len(c.st.History)-maxHistory:]
		}
		resp.History = c.st.History
	} else {
		c.st.History = nil
	}
	c.st.Expires = now.Add(e.ttl).Unix()
	var nonce [12]byte
	if err := e.read(nonce[:]); err != nil {
		return Response{}, err
	}
	if resp.ConversationID, err = e.seal.seal(c.st, nonce[:]); err != nil {
		return Response{}, err
	}
	return resp, nil
}

// open returns the conversation of token, nil for a new one; expired
// reports a token that opened but whose conversation timed out (its
// contents are dropped: the citizen starts again).
func (e *Engine) open(token string, t tenant.Tenant, now time.Time) (st *state, expired bool) {
	if token == "" {
		return nil, false
	}
	s, err := e.seal.open(token, string(t.ID))
	if err != nil {
		return nil, false
	}
	if now.Unix() >= s.Expires {
		e.live.forget(s.ID)
		return nil, true
	}
	return s, false
}

// Live returns the number of conversations the node holds in its table,
// for the metrics.
func (e *Engine) Live() int { return e.live.size() }

func (e *Engine) read(b []byte) error {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	_, err := io.ReadFull(e.rnd, b)
	return err
}
