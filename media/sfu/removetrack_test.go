package sfu_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/sfu/sfutest"
)

// waitTracks reads c's tracks messages until one lists n tracks, and
// returns them.
func waitTracks(t *testing.T, c *sfutest.Client, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	waitFor(t, "a tracks message with the expected tracks", func() bool {
		t.Helper()
		m := next(t, c, "tracks")
		list, _ := m["tracks"].([]any)
		out = out[:0]
		for _, x := range list {
			out = append(out, x.(map[string]any))
		}
		return len(out) == n
	})
	return out
}

// screenSection applies f to the m-section of a pion offer that carries
// the sfutest screen track (stream "screen-main").
func screenSection(f func(section string) string) func(string) string {
	return func(sdp string) string {
		parts := strings.Split(sdp, "\r\nm=")
		for i, p := range parts {
			if strings.Contains(p, "screen-main") {
				parts[i] = f(p)
			}
		}
		return strings.Join(parts, "\r\nm=")
	}
}

var (
	msidLine    = regexp.MustCompile(`\r\na=msid:[^\r]*`)
	ssrcMsid    = regexp.MustCompile(`\r\na=ssrc:\d+ (msid|mslabel|label):[^\r]*`)
	sendingLine = regexp.MustCompile(`\r\na=(sendrecv|sendonly)`)
)

// A screen share that ends through renegotiation leaves the others'
// calls: the SFU reads the publisher's new offer, takes the track out
// of the room and re-offers to the others without it, whichever way the
// offer says it: removeTrack (recvonly, no msid), a section that keeps
// its direction but loses its msid while its RTP stops, or a direction
// set to inactive with the msid kept.
func TestRemovedTrackLeavesTheRoom(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	cit := s.join(t, "rt", "cit", "citizen", false)
	next(t, cit, "welcome")
	op := s.join(t, "rt", "op", "operator", false)
	next(t, op, "welcome")
	g := s.join(t, "rt", "g", "guest", false)
	next(t, g, "welcome")
	h := s.join(t, "rt", "h", "guest", false)
	next(t, h, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true, Screen: true})
	publish(t, g, sfutest.Media{Screen: true})
	publish(t, h, sfutest.Media{Screen: true})
	waitTracks(t, cit, 5)
	waitFor(t, "the five tracks in the room", func() bool { return s.sfu.Stats().Tracks == 5 })

	screens := func(tracks []map[string]any) map[string]bool {
		out := map[string]bool{}
		for _, tr := range tracks {
			if tr["source"] == "screen" {
				out[tr["participant"].(string)] = true
			}
		}
		return out
	}
	cases := []struct {
		who    *sfutest.Client
		id     string
		remove func()
	}{
		{op, "op", func() {
			if err := op.RemoveTrack(contextFor(t), "screen"); err != nil {
				t.Fatal(err)
			}
		}},
		{g, "g", func() {
			g.SetOfferFilter(screenSection(func(sec string) string {
				return ssrcMsid.ReplaceAllString(msidLine.ReplaceAllString(sec, ""), "")
			}))
			g.StopSending("screen")
			if err := g.Renegotiate(contextFor(t)); err != nil {
				t.Fatal(err)
			}
		}},
		{h, "h", func() {
			h.SetOfferFilter(screenSection(func(sec string) string {
				return sendingLine.ReplaceAllString(sec, "\r\na=inactive")
			}))
			h.StopSending("screen")
			if err := h.Renegotiate(contextFor(t)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, c := range cases {
		c.remove()
		left := 4 - i
		tracks := waitTracks(t, cit, left)
		if screens(tracks)[c.id] {
			t.Fatalf("%s: its screen is still in the tracks message: %v", c.id, tracks)
		}
		offer := next(t, cit, "offer")
		for _, tr := range tracks {
			if !strings.Contains(offer.Str("sdp"), tr["stream_id"].(string)) {
				t.Errorf("%s: the sub offer lacks the listed stream %v", c.id, tr["stream_id"])
			}
		}
		waitFor(t, "the screen to leave the room", func() bool { return s.sfu.Stats().Tracks == left })
		if st := s.sfu.Stats(); st.Participants != 4 {
			t.Fatalf("%s: participants got %d, want 4", c.id, st.Participants)
		}
		t.Logf("%s: the screen left the room and the others' sub offers", c.id)
	}
	// The operator's camera and microphone flow on.
	receiving(t, cit, "the operator's camera after the screens left", 30)
}
