package sfu_test

import (
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/sfu/sfutest"
)

// prefs {video: false} takes the others' video off the participant's sub
// connection and leaves the audio; {video: true} brings it back, with a
// key frame so the picture starts at once.
func TestPrefsAudioOnly(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "pr", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "pr", "cit", "citizen", false)
	next(t, cit, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true})
	waitTracks(t, cit, 2)
	receiving(t, cit, "audio and video before prefs", 30)

	send(t, cit, map[string]any{"type": "prefs"})
	expectError(t, cit, "bad_message")

	send(t, cit, map[string]any{"type": "prefs", "video": false})
	tracks := waitTracks(t, cit, 1)
	if tracks[0]["kind"] != "audio" {
		t.Fatalf("audio only: the tracks message lists %v, want the audio", tracks)
	}
	next(t, cit, "offer")
	// Once the answer is in, video stops and audio goes on.
	time.Sleep(500 * time.Millisecond)
	a0, v0 := cit.Received()
	time.Sleep(time.Second)
	a1, v1 := cit.Received()
	if v1 != v0 || a1 < a0+25 {
		t.Fatalf("audio only: in 1 s video went %d → %d (want no change), audio %d → %d (want ≥ 25 more)", v0, v1, a0, a1)
	}
	if st := s.sfu.Stats(); st.Tracks != 2 {
		t.Fatalf("the publisher's tracks stay in the room: got %d, want 2", st.Tracks)
	}

	// Video again: it comes back, starting with a key frame.
	t0 := time.Now()
	send(t, cit, map[string]any{"type": "prefs", "video": true})
	waitTracks(t, cit, 2)
	receiving(t, cit, "video after prefs video true", 30)
	// The answer to the offer that brings the video back asks for a
	// key frame: one follows the first packet closely (a delta frame or
	// two may come before it).
	as := cit.Arrivals(t0)
	var key time.Time
	for _, a := range as {
		if a.Key {
			key = a.At
			break
		}
	}
	if key.IsZero() || key.Sub(as[0].At) > 500*time.Millisecond {
		t.Fatalf("video back at %v, first key frame at %v: want a key frame within 500 ms", as[0].At, key)
	}
	t.Logf("video back %v after prefs video true, key frame %v after the first packet",
		as[0].At.Sub(t0).Round(time.Millisecond), key.Sub(as[0].At).Round(time.Millisecond))
}
