package sfu_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/sfu/sfutest"
)

// server is an SFU behind a real WebSocket endpoint, as the web layer
// mounts it: the query string stands for the authenticated participant.
type server struct {
	sfu *sfu.SFU
	url string
}

func newServer(t *testing.T, cfg sfu.Config) *server {
	t.Helper()
	cfg.Loopback = true
	if os.Getenv("SFU_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		q := r.URL.Query()
		p := sfu.Participant{ID: q.Get("id"), Name: q.Get("name"), Role: q.Get("role"), Lobby: q.Get("lobby") == "1"}
		_ = s.Serve(r.Context(), q.Get("room"), p, c, sfu.Welcome{ICEServers: []any{}, Extra: map[string]any{"title": "Prova"}})
	}))
	// Cleanups run last-registered first: the SFU ends its sessions,
	// then the HTTP server closes.
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &server{sfu: s, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

func (s *server) join(t *testing.T, room, id, role string, lobby bool) *sfutest.Client {
	t.Helper()
	q := url.Values{"room": {room}, "id": {id}, "name": {"Nome " + id}, "role": {role}}
	if lobby {
		q.Set("lobby", "1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sfutest.Dial(ctx, s.url+"/?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func next(t *testing.T, c *sfutest.Client, types ...string) sfutest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	m, err := c.Next(ctx, types...)
	if err != nil {
		t.Fatalf("waiting for %v: %v", types, err)
	}
	return m
}

func send(t *testing.T, c *sfutest.Client, v map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, v); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func closed(t *testing.T, c *sfutest.Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the socket did not close")
	}
}

func publish(t *testing.T, c *sfutest.Client, m sfutest.Media) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// receiving waits until c has received at least n more audio and video
// packets than it had.
func receiving(t *testing.T, c *sfutest.Client, what string, n uint64) {
	t.Helper()
	a0, v0 := c.Received()
	waitFor(t, what, func() bool {
		a, v := c.Received()
		return a >= a0+n && v >= v0+n
	})
}

func TestTwoParticipantsExchangeMedia(t *testing.T) {
	leaktest.Check(t)
	port := freeUDPPort(t)
	s := newServer(t, sfu.Config{UDPPort: port, MaxVideoBitrate: 800_000, EmptyRoomGrace: 200 * time.Millisecond})
	op := s.join(t, "r1", "op", "operator", false)
	w := next(t, op, "welcome")
	if w.Str("id") != "op" || w.Str("room") != "r1" || w["lobby"] != false {
		t.Fatalf("welcome: got %v", w)
	}
	if extra, _ := w["extra"].(map[string]any); extra["title"] != "Prova" {
		t.Fatalf("welcome extra: got %v", w["extra"])
	}
	cit := s.join(t, "r1", "cit", "citizen", false)
	if w := next(t, cit, "welcome"); len(w["participants"].([]any)) != 1 {
		t.Fatalf("citizen's welcome participants: got %v, want the operator", w["participants"])
	}
	if m := next(t, op, "participant"); m.Str("event") != "joined" {
		t.Fatalf("operator: got %v, want joined", m)
	}

	publish(t, op, sfutest.Media{Audio: true, Video: true, Screen: true})
	publish(t, cit, sfutest.Media{Audio: true, Video: true})
	if a := next(t, op, "answer"); !strings.Contains(a.Str("sdp"), "b=AS:800") || !strings.Contains(a.Str("sdp"), "b=TIAS:800000") {
		t.Fatalf("pub answer lacks the video cap:\n%s", a.Str("sdp"))
	}
	receiving(t, cit, "the citizen to receive the operator's media", 50)
	receiving(t, op, "the operator to receive the citizen's media", 50)

	// The citizen's last tracks map names the operator's three tracks.
	var tracks []any
	waitFor(t, "a tracks message with three tracks", func() bool {
		m := next(t, cit, "tracks")
		tracks, _ = m["tracks"].([]any)
		return len(tracks) == 3
	})
	sources := map[string]int{}
	for _, x := range tracks {
		tr := x.(map[string]any)
		if tr["participant"] != "op" {
			t.Errorf("track %v: participant got %v, want op", tr, tr["participant"])
		}
		sources[tr["source"].(string)+"/"+tr["kind"].(string)]++
		if tr["source"] == "screen" && !strings.HasPrefix(tr["stream_id"].(string), "screen-") {
			t.Errorf("screen track's stream ID %v lacks the screen- prefix", tr["stream_id"])
		}
	}
	if sources["camera/audio"] != 1 || sources["camera/video"] != 1 || sources["screen/video"] != 1 {
		t.Errorf("sources: got %v", sources)
	}
	waitFor(t, "the citizen's RTP on three streams' worth of tracks", func() bool { return len(cit.Streams()) == 2 })

	waitFor(t, "PLI and REMB to the publisher", func() bool {
		p, r := op.Feedback()
		return p > 0 && r > 0
	})
	if r := op.LastREMB(); r != 800_000 {
		t.Errorf("REMB to the publisher: got %d, want the cap 800000", r)
	}
	// A subscriber on a weak link lowers what the publisher is asked
	// for: its 600 kb/s are shared by the two videos it receives.
	waitFor(t, "the REMB to follow the subscriber's estimate", func() bool {
		if err := cit.SendREMB(600_000); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		return op.LastREMB() == 300_000
	})
	st := s.sfu.Stats()
	if st.Rooms != 1 || st.Participants != 2 || st.Tracks != 5 || st.PacketsForwarded == 0 {
		t.Errorf("stats: got %+v", st)
	}

	// State changes reach the others.
	send(t, cit, map[string]any{"type": "state", "audio": true, "video": false})
	m := next(t, op, "participant")
	p := m["participant"].(map[string]any)
	if m.Str("event") != "updated" || p["id"] != "cit" || p["audio"] != true || p["video"] != false {
		t.Fatalf("state: got %v", m)
	}
	send(t, op, map[string]any{"type": "ping"})
	next(t, op, "pong")

	// Leaving removes the participant, and the room once it has been
	// empty for the grace.
	send(t, cit, map[string]any{"type": "leave"})
	if m := next(t, op, "participant"); m.Str("event") != "left" {
		t.Fatalf("got %v, want left", m)
	}
	closed(t, cit)
	_ = op.Close()
	waitFor(t, "the room to go", func() bool { return s.sfu.Stats().Rooms == 0 })
}
