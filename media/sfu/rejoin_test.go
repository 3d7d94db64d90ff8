package sfu_test

import (
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/media/sfu"
)

// A citizen whose socket drops (closed, not replaced) comes back without
// waiting again, as long as the room lives: while others are in it, and
// within the grace once it is empty. A refused one is refused again.
// After the grace, or after End, the room is new and the lobby applies.
func TestAdmissionOutlivesTheSocket(t *testing.T) {
	leaktest.Check(t)
	const grace = time.Second
	s := newServer(t, sfu.Config{EmptyRoomGrace: grace})
	op := s.join(t, "g", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "g", "cit", "citizen", true)
	next(t, cit, "lobby")
	send(t, op, map[string]any{"type": "admit", "id": "cit"})
	next(t, cit, "admitted")

	// The socket drops: the citizen leaves, then comes back admitted.
	_ = cit.Close()
	waitFor(t, "the operator to see the citizen leave", func() bool {
		m := next(t, op, "participant")
		return m.Str("event") == "left"
	})
	cit = s.join(t, "g", "cit", "citizen", true)
	if w := next(t, cit, "welcome"); w["lobby"] != false {
		t.Fatalf("rejoin while the operator is in: got %v, want admitted at once", w)
	}
	if m := next(t, op, "participant"); m.Str("event") != "joined" {
		t.Fatalf("operator: got %v, want joined (no knocking)", m)
	}

	// A refused citizen who tries again is refused at once.
	cit2 := s.join(t, "g", "cit2", "citizen", true)
	next(t, cit2, "lobby")
	send(t, op, map[string]any{"type": "refuse", "id": "cit2"})
	next(t, cit2, "refused")
	closed(t, cit2)
	cit2 = s.join(t, "g", "cit2", "citizen", true)
	if m := next(t, cit2, "welcome", "lobby", "refused"); m.Type() != "refused" {
		t.Fatalf("refused citizen back: got %v, want refused", m)
	}
	closed(t, cit2)

	// Everyone leaves; the citizen comes back within the grace.
	_ = op.Close()
	_ = cit.Close()
	waitFor(t, "the room to empty", func() bool { return s.sfu.Stats().Participants == 0 })
	if st := s.sfu.Stats(); st.Rooms != 1 {
		t.Fatalf("empty room in its grace: got %d rooms, want 1", st.Rooms)
	}
	cit = s.join(t, "g", "cit", "citizen", true)
	if w := next(t, cit, "welcome"); w["lobby"] != false {
		t.Fatalf("rejoin within the grace: got %v, want admitted at once", w)
	}

	// Past the grace the room is gone, and with it the admission.
	_ = cit.Close()
	waitFor(t, "the empty room to go after its grace", func() bool { return s.sfu.Stats().Rooms == 0 })
	cit = s.join(t, "g", "cit", "citizen", true)
	if w := next(t, cit, "welcome"); w["lobby"] != true {
		t.Fatalf("join after the grace: got %v, want the lobby", w)
	}
	_ = cit.Close()
}

// End forgets admissions and refusals at once: a later join opens a new
// room with its own lobby.
func TestEndForgetsAdmissions(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "ef", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "ef", "cit", "citizen", true)
	next(t, cit, "lobby")
	send(t, op, map[string]any{"type": "admit", "id": "cit"})
	next(t, cit, "admitted")
	s.sfu.End("ef", "closed by the booking")
	for _, c := range []interface{ Done() <-chan struct{} }{op, cit} {
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a socket did not close at End")
		}
	}
	waitFor(t, "the ended room to go", func() bool { return s.sfu.Stats().Rooms == 0 })
	cit = s.join(t, "ef", "cit", "citizen", true)
	if w := next(t, cit, "welcome"); w["lobby"] != true {
		t.Fatalf("join after End: got %v, want the lobby of a new room", w)
	}
	next(t, cit, "lobby")
}
