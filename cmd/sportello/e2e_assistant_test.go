package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// assistantTurn is one answer of POST /api/v1/assistant as a client reads
// it.
type assistantTurn struct {
	ConversationID string `json:"conversation_id"`
	Reply          string `json:"reply"`
	Suggestions    []struct {
		ServiceID string  `json:"service_id"`
		Name      string  `json:"name"`
		Score     float64 `json:"score"`
	} `json:"suggestions"`
	Actions []struct {
		Type, Label, Message, URL, ServiceID, Number string
	} `json:"actions"`
}

// assistantChat is a conversation with the real binary's assistant.
type assistantChat struct {
	t    *testing.T
	p    *proc
	host string
	id   string
}

func (c *assistantChat) say(msg string) assistantTurn {
	c.t.Helper()
	r := c.p.postJSON(c.t, c.p.url(c.host, "/api/v1/assistant"), map[string]string{"message": msg, "conversation_id": c.id})
	wantStatus(c.t, "assistant: "+msg, r, http.StatusOK)
	var turn assistantTurn
	if err := json.Unmarshal([]byte(r.Body), &turn); err != nil {
		c.t.Fatalf("assistant answer to %q: %v\n%s", msg, err, r.Body)
	}
	if turn.ConversationID == "" {
		c.t.Fatalf("assistant answer to %q has no conversation_id", msg)
	}
	c.id = turn.ConversationID
	return turn
}

func (turn assistantTurn) action(typ string) (message, url string, ok bool) {
	for _, a := range turn.Actions {
		if a.Type == typ {
			return a.Message, a.URL, true
		}
	}
	return "", "", false
}

// bookingCode is the shape of a booking code in a reply.
var bookingCode = regexp.MustCompile(`\b[A-Z]{2}-[A-Z0-9]{6}\b`)

// TestDemoAssistantBooksAndTakesATicket is issue 9's end-to-end check on
// the real `sportello demo` binary: a conversation in plain Italian finds
// the identity-card service, proposes free slots, collects the citizen's
// data, books only after "sì" — the confirmation email arrives over SMTP
// like the web form's — and another conversation ends with a queue
// ticket whose page the binary serves.
func TestDemoAssistantBooksAndTakesATicket(t *testing.T) {
	needBinary(t)
	t.Parallel()
	srv := smtptest.Start(t)
	dataDir := shortTempDir(t)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0",
		"--log-level", "warn", "--smtp", srv.Addr, "--smtp-security", "none")
	host := "bari.localhost"

	// The citizen pages link the assistant and load its widget.
	home := p.get(t, p.url(host, "/"))
	wantStatus(t, "home", home, http.StatusOK)
	if !strings.Contains(home.Body, `href="/assistente"`) || !strings.Contains(home.Body, `/assistente/widget.js`) {
		t.Errorf("home page lacks the assistant's link or widget")
	}

	c := &assistantChat{t: t, p: p, host: host}
	turn := c.say("devo rifare la carta di identita la settimana prossima")
	if len(turn.Suggestions) == 0 || turn.Suggestions[0].ServiceID != "rilascio-carta-d-identita-elettronica" {
		t.Fatalf("suggestions %+v, want the identity card first\nreply: %s", turn.Suggestions, turn.Reply)
	}
	choose, _, ok := turn.action("book")
	if !ok {
		// Unsure between services, it asks; the citizen taps the first
		// suggestion, which the widget sends as the service's name.
		turn = c.say(turn.Suggestions[0].Name)
		choose, _, ok = turn.action("book")
	}
	if !ok {
		t.Fatalf("no slot offered: %s\nactions %+v", turn.Reply, turn.Actions)
	}
	// A "book" action either starts the booking ("voglio prenotare…",
	// answered with the free slots) or chooses one of the slots.
	for i := 0; i < 2 && ok; i++ {
		if turn = c.say(choose); strings.Contains(strings.ToLower(turn.Reply), "nome") {
			break
		}
		choose, _, ok = turn.action("book")
	}
	if !strings.Contains(strings.ToLower(turn.Reply), "nome") {
		t.Fatalf("after choosing a slot (%q): %s", choose, turn.Reply)
	}
	c.say("Maria")
	c.say("Rossi")
	c.say(fiscalCode(7))
	turn = c.say("maria.rossi@example.it")
	if !strings.Contains(turn.Reply, "Confermi") {
		t.Fatalf("want the confirmation question, got: %s", turn.Reply)
	}
	if msgs := srv.Messages(); len(msgs) != 0 {
		t.Fatalf("%d emails before the citizen confirmed", len(msgs))
	}
	turn = c.say("sì")
	code := bookingCode.FindString(turn.Reply)
	if code == "" {
		t.Fatalf("no booking code in the reply: %s", turn.Reply)
	}
	confirmation := receive(t, srv, 1, code)
	if !strings.Contains(confirmation.Message.Subject, code) {
		t.Errorf("confirmation subject %q lacks the code %s", confirmation.Message.Subject, code)
	}
	if _, manage, ok := turn.action("link"); !ok || !strings.Contains(manage, "/prenotazioni/"+code) {
		t.Errorf("the reply does not link the booking's page: %+v", turn.Actions)
	}

	// A second conversation: the URP's queue is open in the demo.
	c2 := &assistantChat{t: t, p: p, host: host}
	c2.say("vorrei fare un reclamo all'urp")
	turn = c2.say("prendi il numero")
	var ticketURL, number string
	for _, a := range turn.Actions {
		if a.Type == "ticket" && a.Number != "" {
			ticketURL, number = a.URL, a.Number
		}
	}
	if ticketURL == "" {
		t.Fatalf("no ticket taken: %s\nactions %+v", turn.Reply, turn.Actions)
	}
	if !strings.Contains(turn.Reply, number) {
		t.Errorf("the reply does not give the number %s: %s", number, turn.Reply)
	}
	r := p.get(t, ticketURL)
	wantStatus(t, "ticket page", r, http.StatusOK)
	wantText(t, "ticket page", r.Body, number)

	// Bad input is refused with field errors and changes nothing.
	r = p.postJSON(t, p.url(host, "/api/v1/assistant"), map[string]string{"message": ""})
	wantStatus(t, "empty message", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, `"message"`) {
		t.Errorf("empty message: the error does not name the field: %s", r.Body)
	}
}
