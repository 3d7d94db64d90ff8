package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
)

// TestEventsFollowTheTicketAcrossNodes: a citizen connected to one node
// sees the call an operator made on the leader, then the end of the
// ticket, and the stream closes.
func TestEventsFollowTheTicketAcrossNodes(t *testing.T) {
	t.Parallel()
	// Once the cleanups closed the server and the nodes, the goroutines
	// of the streams, the reader below and the nodes must be gone.
	leaktest.Check(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	k := e.take(e.bari, `{"channel":"in_person"}`)
	if k.Status != http.StatusCreated {
		t.Fatalf("take: got %d %+v", k.Status, k.Err)
	}
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	target := srv.URL + strings.Replace(path(t, k.Ticket.StatusURL), "?", "/events?", 1)
	req, _ := http.NewRequestWithContext(ctx, "GET", target, nil)
	req.Host = e.bari.host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: got %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan apiTicket)
	go func() {
		// Owned by the test; ends when the stream closes.
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v apiTicket
				if json.Unmarshal([]byte(data), &v) == nil {
					events <- v
				}
			}
		}
	}()
	next := func(want string) apiTicket {
		t.Helper()
		select {
		case v, ok := <-events:
			if !ok || v.State != want {
				t.Fatalf("event: got %+v (open %v), want state %s", v, ok, want)
			}
			return v
		case <-ctx.Done():
			t.Fatalf("no %s event", want)
		}
		return apiTicket{}
	}
	next("waiting")
	called, err := e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "4", nil)
	if err != nil {
		t.Fatalf("CallNext on the leader: %v", err)
	}
	if v := next("called"); v.Desk != "4" || v.Number != k.Ticket.Number {
		t.Errorf("called event: got %+v, want %s at desk 4", v, k.Ticket.Number)
	}
	if _, err := e.leaderQ.NoShow(ctx, e.bari.tenant.ID, called.ID, "4"); err != nil {
		t.Fatal(err)
	}
	next("no_show")
	select {
	case v, ok := <-events:
		if ok {
			t.Errorf("after the ticket closed: got %+v, want the stream closed", v)
		}
	case <-ctx.Done():
		t.Error("stream still open after the ticket closed")
	}
	if res := e.do("GET", e.bari.host, "/api/v1/tickets/"+k.Ticket.ID+"/events?secret=nope", "", ""); res.Status != http.StatusNotFound {
		t.Errorf("events with a wrong secret: got %d, want 404", res.Status)
	}
}

// TestEventsReconnectGetsTheCurrentView: a citizen whose connection
// dropped while the operator called reconnects and gets the call as the
// first event, with the applied index as its id.
func TestEventsReconnectGetsTheCurrentView(t *testing.T) {
	t.Parallel()
	leaktest.Check(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	k := e.take(e.bari, `{"channel":"in_person"}`)
	if k.Status != http.StatusCreated {
		t.Fatalf("take: got %d %+v", k.Status, k.Err)
	}
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	target := srv.URL + strings.Replace(path(t, k.Ticket.StatusURL), "?", "/events?", 1)
	// first opens the stream and returns its first event's id and view.
	first := func() (string, apiTicket) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", target, nil)
		req.Host = e.bari.host
		req.Header.Set("Last-Event-ID", "1")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		id := ""
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id = v
			}
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v apiTicket
				if err := json.Unmarshal([]byte(data), &v); err != nil {
					t.Fatal(err)
				}
				return id, v
			}
		}
		t.Fatalf("no event: %v", sc.Err())
		return "", apiTicket{}
	}
	id1, v := first()
	if v.State != "waiting" || id1 == "" {
		t.Fatalf("first connection: got id %q %+v, want a waiting view with an id", id1, v)
	}
	if _, err := e.leaderQ.CallNext(context.Background(), e.bari.tenant, e.bari.office.ID, "3", nil); err != nil {
		t.Fatal(err)
	}
	// The follower may apply the call a moment after the leader answered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		id2, v := first()
		if v.State == "called" && v.Desk == "3" {
			if a, b := atoi(t, id1), atoi(t, id2); b <= a {
				t.Errorf("ids %s then %s: want the later view to carry a later applied index", id1, id2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconnected: got %+v, want called at desk 3", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// atoi reads an event's id.
func atoi(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", s, err)
	}
	return n
}
