package sfu_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/sfu/sfutest"
)

func expectError(t *testing.T, c *sfutest.Client, code string) {
	t.Helper()
	if m := next(t, c, "error"); m.Str("code") != code {
		t.Fatalf("got error %v, want code %q", m, code)
	}
}

// quiet asserts that c receives no message of the given type for a
// moment.
func quiet(t *testing.T, c *sfutest.Client, typ string) {
	t.Helper()
	deadline := time.After(300 * time.Millisecond)
	for {
		ctx, cancel := contextUntil(deadline)
		m, err := c.Next(ctx, typ)
		cancel()
		if err != nil {
			return
		}
		t.Fatalf("got %v, want no %s", m, typ)
	}
}

func TestLobbyAdmitRefuseAndChat(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "r", "op", "operator", false)
	next(t, op, "welcome")
	guest := s.join(t, "r", "guest", "guest", false)
	next(t, guest, "welcome")

	cit := s.join(t, "r", "cit", "citizen", true)
	w := next(t, cit, "welcome")
	if w["lobby"] != true || len(w["participants"].([]any)) != 0 {
		t.Fatalf("lobby welcome: got %v", w)
	}
	next(t, cit, "lobby")
	if m := next(t, op, "participant"); m.Str("event") != "joined" {
		t.Fatalf("operator: got %v, want the guest joined", m)
	}
	k := next(t, op, "participant")
	if k.Str("event") != "knocking" || k["participant"].(map[string]any)["id"] != "cit" {
		t.Fatalf("operator: got %v, want knocking by cit", k)
	}
	quiet(t, guest, "participant")

	// A lobby participant neither sends media nor chats, and gets no chat.
	send(t, cit, map[string]any{"type": "offer", "pc": "pub", "sdp": "v=0"})
	expectError(t, cit, "not_admitted")
	send(t, cit, map[string]any{"type": "chat", "text": "ci sono?"})
	expectError(t, cit, "not_admitted")
	send(t, guest, map[string]any{"type": "chat", "text": "  buongiorno  "})
	for _, c := range []*sfutest.Client{op, guest} {
		m := next(t, c, "chat")
		if m.Str("text") != "buongiorno" || m.Str("from") != "guest" || m.Str("name") != "Nome guest" || m.Str("at") == "" {
			t.Fatalf("chat: got %v", m)
		}
	}
	quiet(t, cit, "chat")
	send(t, guest, map[string]any{"type": "chat", "text": "   "})
	expectError(t, guest, "chat_empty")
	send(t, guest, map[string]any{"type": "chat", "text": strings.Repeat("è", 2001)})
	expectError(t, guest, "chat_too_long")

	// Only an operator admits, refuses or ends.
	for _, typ := range []string{"admit", "refuse"} {
		send(t, guest, map[string]any{"type": typ, "id": "cit"})
		expectError(t, guest, "forbidden")
	}
	send(t, guest, map[string]any{"type": "end"})
	expectError(t, guest, "forbidden")

	// A later operator sees the lobby in its welcome.
	op2 := s.join(t, "r", "op2", "operator", false)
	w = next(t, op2, "welcome")
	lobby := 0
	for _, x := range w["participants"].([]any) {
		if p := x.(map[string]any); p["id"] == "cit" && p["lobby"] == true {
			lobby++
		}
	}
	if lobby != 1 {
		t.Fatalf("operator's welcome: got %v, want cit waiting", w["participants"])
	}

	send(t, op, map[string]any{"type": "admit", "id": "cit"})
	next(t, cit, "admitted")
	seen := map[string]bool{}
	for range 3 {
		m := next(t, cit, "participant")
		seen[m["participant"].(map[string]any)["id"].(string)] = m.Str("event") == "joined"
	}
	if !seen["op"] || !seen["guest"] || !seen["op2"] {
		t.Fatalf("admitted citizen learnt of %v, want op, guest, op2", seen)
	}
	if m := next(t, guest, "participant"); m["participant"].(map[string]any)["id"] != "op2" {
		t.Fatalf("guest: got %v, want op2 joined", m)
	}
	if m := next(t, guest, "participant"); m.Str("event") != "joined" || m["participant"].(map[string]any)["id"] != "cit" {
		t.Fatalf("guest: got %v, want cit joined", m)
	}
	send(t, op, map[string]any{"type": "chat", "text": "benvenuto"})
	if m := next(t, cit, "chat"); m.Str("text") != "benvenuto" {
		t.Fatalf("chat after admission: got %v", m)
	}

	// Refused: told so, and the socket closes.
	cit2 := s.join(t, "r", "cit2", "citizen", true)
	next(t, cit2, "lobby")
	send(t, op, map[string]any{"type": "refuse", "id": "cit2"})
	next(t, cit2, "refused")
	closed(t, cit2)
	waitFor(t, "cit2 to leave the operator's view", func() bool {
		m := next(t, op, "participant")
		return m.Str("event") == "left" && m["participant"].(map[string]any)["id"] == "cit2"
	})
	send(t, op, map[string]any{"type": "admit", "id": "nobody"})
	expectError(t, op, "not_found")
}

func TestRoomFull(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	for i := range 8 {
		c := s.join(t, "full", "p"+string(rune('a'+i)), "citizen", false)
		next(t, c, "welcome")
	}
	ninth := s.join(t, "full", "p9", "citizen", false)
	expectError(t, ninth, "room_full")
	closed(t, ninth)

	// A waiting participant can still knock, but not be admitted.
	waiting := s.join(t, "full", "w", "citizen", true)
	next(t, waiting, "lobby")
	if st := s.sfu.Stats(); st.Participants != 9 {
		t.Fatalf("participants: got %d, want 9", st.Participants)
	}
}

func TestEndClosesEveryone(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "e", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "e", "cit", "citizen", false)
	next(t, cit, "welcome")
	waiting := s.join(t, "e", "w", "citizen", true)
	next(t, waiting, "lobby")
	send(t, op, map[string]any{"type": "end"})
	for _, c := range []*sfutest.Client{op, cit, waiting} {
		if m := next(t, c, "ended"); m.Str("reason") == "" {
			t.Fatalf("ended without a reason: %v", m)
		}
		closed(t, c)
	}
	waitFor(t, "the room to go", func() bool { return s.sfu.Stats().Rooms == 0 })

	// End from the web layer, and Announce.
	a := s.join(t, "e2", "a", "operator", false)
	next(t, a, "welcome")
	s.sfu.Announce("e2", map[string]any{"type": "document", "id": "d1"})
	if m := next(t, a, "document"); m.Str("id") != "d1" {
		t.Fatalf("announce: got %v", m)
	}
	s.sfu.End("e2", "closed by the booking")
	if m := next(t, a, "ended"); m.Str("reason") != "closed by the booking" {
		t.Fatalf("got %v", m)
	}
	closed(t, a)
}

func TestReconnectReplacesSocketAndMediaResumes(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "rc", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "rc", "cit", "citizen", false)
	next(t, cit, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true})
	receiving(t, cit, "media before the reconnection", 30)

	// The citizen's network changes: a new socket with the same ID.
	cit2 := s.join(t, "rc", "cit", "citizen", false)
	if w := next(t, cit2, "welcome"); w["lobby"] != false {
		t.Fatalf("reconnection welcome: got %v", w)
	}
	if m := next(t, cit, "ended"); m.Str("reason") != "replaced" {
		t.Fatalf("replaced socket: got %v, want ended, replaced", m)
	}
	closed(t, cit)
	receiving(t, cit2, "media after the citizen reconnected", 30)
	if st := s.sfu.Stats(); st.Participants != 2 {
		t.Fatalf("participants: got %d, want 2", st.Participants)
	}

	// The operator reconnects and publishes anew.
	op2 := s.join(t, "rc", "op", "operator", false)
	next(t, op2, "welcome")
	closed(t, op)
	publish(t, op2, sfutest.Media{Audio: true, Video: true})
	receiving(t, cit2, "media after the operator reconnected", 30)

	// The citizen's network changes again, the socket survives: an ICE
	// restart of its pub connection restarts its sub connection too (a
	// sub offer with ICE credentials never offered before).
	publish(t, cit2, sfutest.Media{Audio: true})
	waitFor(t, "the operator to hear the citizen", func() bool { a, _ := op2.Received(); return a > 10 })
	seen := map[string]bool{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		m, err := cit2.Next(ctx, "offer")
		cancel()
		if err != nil {
			break
		}
		seen[ufrag(m.Str("sdp"))] = true
	}
	if len(seen) == 0 {
		t.Fatal("the subscriber got no sub offer")
	}
	if err := cit2.RestartICE(contextFor(t)); err != nil {
		t.Fatal(err)
	}
	for {
		if m := next(t, cit2, "offer"); !seen[ufrag(m.Str("sdp"))] {
			break
		}
	}
	receiving(t, cit2, "media after an ICE restart", 30)
	a0, _ := op2.Received()
	waitFor(t, "the operator to hear the citizen after the restart", func() bool { a, _ := op2.Received(); return a > a0+10 })
}

// A lobby participant who reconnects waits again; an admitted one does
// not: the replacement inherits the admission.
func TestReconnectKeepsAdmission(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "ka", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "ka", "cit", "citizen", true)
	next(t, cit, "lobby")
	send(t, op, map[string]any{"type": "admit", "id": "cit"})
	next(t, cit, "admitted")
	cit2 := s.join(t, "ka", "cit", "citizen", true)
	if w := next(t, cit2, "welcome"); w["lobby"] != false {
		t.Fatalf("got %v, want the admission kept", w)
	}
	closed(t, cit)
}

func ufrag(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// A participant whose media connections die stays in the room until its
// socket closes: the browser will restart ICE or reconnect.
func TestFailedMediaKeepsParticipant(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "fm", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "fm", "cit", "citizen", false)
	next(t, cit, "welcome")
	next(t, op, "participant") // joined
	publish(t, cit, sfutest.Media{Audio: true, Video: true})
	waitFor(t, "the citizen's tracks", func() bool { return s.sfu.Stats().Tracks == 2 })
	cit.DropMedia()
	waitFor(t, "the dead tracks to go", func() bool { return s.sfu.Stats().Tracks == 0 })
	quiet(t, op, "participant")
	if st := s.sfu.Stats(); st.Participants != 2 {
		t.Fatalf("participants: got %d, want 2", st.Participants)
	}
	send(t, cit, map[string]any{"type": "ping"})
	next(t, cit, "pong")
}

// Closing the SFU ends every session and waits for them.
func TestCloseEndsSessions(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "cl", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "cl", "cit", "citizen", false)
	next(t, cit, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true})
	receiving(t, cit, "media", 10)
	if err := s.sfu.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*sfutest.Client{op, cit} {
		if m := next(t, c, "ended"); m.Str("reason") != "shutdown" {
			t.Fatalf("got %v, want ended, shutdown", m)
		}
		closed(t, c)
	}
	if st := s.sfu.Stats(); st.Rooms != 0 || st.Participants != 0 {
		t.Fatalf("stats after Close: got %+v", st)
	}
	late := s.join(t, "cl", "late", "citizen", false)
	expectError(t, late, "closed")
	closed(t, late)
}

// A broken sub answer is refused without touching the sub connection,
// and the real answer that follows completes the negotiation.
func TestBadSubAnswerRecovers(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "ba", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "ba", "cit", "citizen", false)
	next(t, cit, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true})
	receiving(t, cit, "media", 10)
	send(t, cit, map[string]any{"type": "answer", "pc": "sub", "sdp": "v=0"})
	expectError(t, cit, "bad_message") // no offer awaits an answer

	// A third participant publishes: the citizen's next sub offer is
	// answered first with garbage, then properly.
	cit.BreakNextAnswer()
	guest := s.join(t, "ba", "guest", "guest", false)
	next(t, guest, "welcome")
	publish(t, guest, sfutest.Media{Audio: true})
	expectError(t, cit, "bad_sdp")
	waitFor(t, "the guest's audio at the citizen", func() bool { return len(cit.Streams()) == 2 })
	receiving(t, cit, "media after the refused answer", 10)
}

// TestICERestartCandidatesFollowTheirDescription: when a participant
// restarts ICE, no candidate of the SFU's new ICE generation reaches the
// browser before the answer (pub) or the offer (sub) naming its ufrag. A
// browser drops such a candidate (addIceCandidate refuses an unknown
// ufrag); pion gathers a restart's candidates inside CreateOffer and
// SetRemoteDescription, so they used to overtake the description.
func TestICERestartCandidatesFollowTheirDescription(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "ir", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "ir", "cit", "citizen", false)
	next(t, cit, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true})
	receiving(t, cit, "media before the restarts", 10)
	publish(t, cit, sfutest.Media{Audio: true})
	waitFor(t, "the operator to hear the citizen", func() bool { a, _ := op.Received(); return a > 10 })
	for round := range 5 {
		// What was queued before this round (the negotiations so far).
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err := cit.Next(ctx)
			cancel()
			if err != nil {
				break
			}
		}
		known := map[string]map[string]bool{
			"pub": {ufrag(cit.RemoteSDP("pub")): true},
			"sub": {ufrag(cit.RemoteSDP("sub")): true},
		}
		if err := cit.RestartICE(contextFor(t)); err != nil {
			t.Fatal(err)
		}
		var newSub, candidates int
		for newSub == 0 || candidates < 2 {
			m := next(t, cit, "answer", "offer", "candidate")
			pc := m.Str("pc")
			switch m.Type() {
			case "answer", "offer":
				u := ufrag(m.Str("sdp"))
				if pc == "sub" && !known["sub"][u] {
					newSub++
				}
				known[pc][u] = true
			case "candidate":
				c, _ := m["candidate"].(map[string]any)
				line, _ := c["candidate"].(string)
				u := candidateUfrag(line)
				if u == "" {
					t.Fatalf("round %d: candidate without a ufrag: %v", round, m)
				}
				if !known[pc][u] {
					t.Fatalf("round %d: a %s candidate of ufrag %s came before the description naming it", round, pc, u)
				}
				candidates++
			}
		}
		receiving(t, cit, "media after the restart", 10)
	}
}

// candidateUfrag returns the ufrag extension of an ICE candidate line.
func candidateUfrag(line string) string {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}
