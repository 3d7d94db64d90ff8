package web

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/queue"
)

// sseEvent is one event a test stream received.
type sseEvent struct {
	stream int
	data   string
}

// openStream follows target on srv as the Comune's host and sends each
// event's data, tagged with n, to out until the stream ends or ctx does.
func openStream(t *testing.T, ctx context.Context, srv *httptest.Server, host, target string, n int, out chan<- sseEvent, wg *sync.WaitGroup) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+target, nil)
	req.Host = host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("stream %d: %v", n, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("stream %d: got %d", n, resp.StatusCode)
	}
	wg.Add(1)
	go func() {
		// Owned by the test; ends when the stream or ctx ends.
		defer wg.Done()
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				select {
				case out <- sseEvent{n, data}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
}

// TestHubFansOneCallOutToManyStreams: 400 ticket streams (4 on each of
// 100 tickets) and 100 board streams on a follower all get the call an
// operator made on the leader, and the follower read the office once for
// it, not once per stream; when the clients go, the hub stops.
func TestHubFansOneCallOutToManyStreams(t *testing.T) {
	t.Parallel()
	leaktest.Check(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	const tickets, perTicket, boards = 100, 4, 100
	var urls []string
	for i := range tickets {
		k := e.take(e.bari, `{"channel":"in_person"}`)
		if k.Status != http.StatusCreated {
			t.Fatalf("take %d: got %d %+v", i, k.Status, k.Err)
		}
		urls = append(urls, strings.Replace(path(t, k.Ticket.StatusURL), "?", "/events?", 1))
	}
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	const streams = tickets*perTicket + boards
	events := make(chan sseEvent, streams)
	for i := range streams {
		target := "/api/v1/offices/" + e.bari.office.ID + "/queue/events"
		if i < tickets*perTicket {
			target = urls[i%tickets]
		}
		openStream(t, ctx, srv, e.bari.host, target, i, events, &wg)
	}
	// collect waits for one event from every stream and returns them.
	collect := func(what string) []string {
		t.Helper()
		got := make([]string, streams)
		for n := 0; n < streams; {
			select {
			case ev := <-events:
				if got[ev.stream] != "" {
					t.Fatalf("%s: stream %d got a second event %s after %s", what, ev.stream, ev.data, got[ev.stream])
				}
				got[ev.stream] = ev.data
				n++
			case <-ctx.Done():
				t.Fatalf("%s: %d of %d streams got it", what, n, streams)
			}
		}
		return got
	}
	collect("first event")
	hs := e.handler.hubs
	if n := hs.running(); n != 1 {
		t.Fatalf("%d hubs run, want 1 for the office", n)
	}
	reads, lookups, applied := hs.reads.Load(), hs.lookups.Load(), e.handler.changes.AppliedIndex()
	called, err := e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "4", nil)
	if err != nil {
		t.Fatalf("CallNext on the leader: %v", err)
	}
	got := collect("the call")
	for i, data := range got {
		if i >= tickets*perTicket {
			var v []apiCall
			if json.Unmarshal([]byte(data), &v) != nil || len(v) != 1 || v[0].Number != called.Number || v[0].Desk != "4" {
				t.Fatalf("board stream %d: got %s, want %s at desk 4", i, data, called.Number)
			}
			continue
		}
		var v apiTicket
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatal(err)
		}
		if k := i % tickets; k == 0 && (v.State != "called" || v.Desk != "4") || k > 0 && (v.State != "waiting" || v.Position != k-1) {
			t.Fatalf("ticket stream %d (ticket %d): got %+v", i, k, v)
		}
	}
	// Nothing else was applied meanwhile on a quiet cluster; whatever
	// was, the hub reads at most once per applied command.
	dr, dl, da := hs.reads.Load()-reads, hs.lookups.Load()-lookups, e.handler.changes.AppliedIndex()-applied
	if dr < 1 || dr > int64(da) || dl != 0 {
		t.Errorf("for %d applied command(s) the hub read the office %d times and %d single tickets, want 1 read per command and no single ticket", da, dr, dl)
	}
	t.Logf("%d streams, %d applied command(s), %d office read(s)", streams, da, dr)

	// The clients go: the hub stops with the last of them.
	cancel()
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for hs.running() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d hubs still run after every client left", hs.running())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHubSlowClientDoesNotStallOthers: a watcher that never takes its
// updates does not hold up the board stream of another client, and
// finds only the latest list when it looks.
func TestHubSlowClientDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	leaktest.Check(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	for range 3 {
		if k := e.take(e.bari, `{"channel":"in_person"}`); k.Status != http.StatusCreated {
			t.Fatalf("take: got %d %+v", k.Status, k.Err)
		}
	}
	hs := e.handler.hubs
	slow := hs.watch(e.bari.tenant, e.bari.office.ID, "")
	defer slow.leave()
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	events := make(chan sseEvent, 16)
	openStream(t, ctx, srv, e.bari.host, "/api/v1/offices/"+e.bari.office.ID+"/queue/events", 0, events, &wg)
	next := func() []apiCall {
		t.Helper()
		select {
		case ev := <-events:
			var v []apiCall
			if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
				t.Fatal(err)
			}
			return v
		case <-ctx.Done():
			t.Fatal("the board stream got nothing")
		}
		return nil
	}
	next()
	// Three calls, each closed by a no-show: six changes of the list,
	// each of which the fast client sees while the slow one sleeps.
	for i := 1; i <= 3; i++ {
		k, err := e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := next(); len(v) != i || v[0].Number != k.Number || v[0].State != "called" {
			t.Fatalf("after calling %s: got %+v", k.Number, v)
		}
		if _, err := e.leaderQ.NoShow(ctx, e.bari.tenant.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
		if v := next(); v[0].Number != k.Number || v[0].State != "no_show" {
			t.Fatalf("after the no-show of %s: got %+v", k.Number, v)
		}
	}
	// The slow watcher has one signal and, behind it, the last list.
	select {
	case <-slow.ready:
	default:
		t.Fatal("the slow watcher was not signalled")
	}
	if u := slow.take(); len(u.calls) != 3 || u.calls[0].Number != "A003" || u.calls[0].State != "no_show" {
		t.Errorf("the slow watcher finds %+v, want the latest list (A003 no-show first)", u.calls)
	}
	select {
	case <-slow.ready:
		t.Error("the slow watcher holds more than one signal")
	default:
	}
}

// TestHubStopsWithItsLastWatcher: an office's hub runs while someone
// watches it, stops when the last watcher leaves, and a later watcher
// starts a new one.
func TestHubStopsWithItsLastWatcher(t *testing.T) {
	t.Parallel()
	leaktest.Check(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	hs := e.handler.hubs
	a := hs.watch(e.bari.tenant, e.bari.office.ID, "")
	b := hs.watch(e.bari.tenant, e.bari.office.ID, "")
	other := hs.watch(e.lecce.tenant, e.lecce.office.ID, "")
	if n := hs.running(); n != 2 {
		t.Fatalf("%d hubs run, want 2 (one per office)", n)
	}
	first := a.hub
	if b.hub != first {
		t.Fatal("two watchers of one office got two hubs")
	}
	for _, w := range []*watcher{a, b, other} {
		select {
		case <-w.ready:
		case <-time.After(10 * time.Second):
			t.Fatal("a watcher got no first update")
		}
	}
	a.leave()
	a.leave()
	select {
	case <-first.done:
		t.Fatal("the hub stopped while a watcher was left")
	case <-time.After(50 * time.Millisecond):
	}
	b.leave()
	select {
	case <-first.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the hub still runs after its last watcher left")
	}
	if n := hs.running(); n != 1 {
		t.Errorf("%d hubs run, want 1 (Lecce's)", n)
	}
	c := hs.watch(e.bari.tenant, e.bari.office.ID, "")
	if c.hub == first {
		t.Error("a new watcher joined the stopped hub")
	}
	c.leave()
	other.leave()
	<-c.hub.done
	<-other.hub.done
	if n := hs.running(); n != 0 {
		t.Errorf("%d hubs run after every watcher left, want 0", n)
	}
}

// TestTicketStreamFollowsParkAndTransfer: a parked ticket's stream stays
// open (its desk resumes it), and a ticket transferred to another office
// keeps its stream, which moves to that office's hub and shows the call
// made there.
func TestTicketStreamFollowsParkAndTransfer(t *testing.T) {
	t.Parallel()
	leaktest.Check(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	n := e.handler.changes.(*cluster.Node)
	book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	stato, err := book.SaveOffice(ctx, e.bari.tenant.ID, booking.Office{Name: "Stato civile", Address: "Corso Vittorio Emanuele 2", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	k := e.take(e.bari, `{"channel":"in_person"}`)
	if k.Status != http.StatusCreated {
		t.Fatalf("take: got %d %+v", k.Status, k.Err)
	}
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	events := make(chan sseEvent, 16)
	openStream(t, ctx, srv, e.bari.host, strings.Replace(path(t, k.Ticket.StatusURL), "?", "/events?", 1), 0, events, &wg)
	next := func(state, desk string) {
		t.Helper()
		for {
			select {
			case ev := <-events:
				var v apiTicket
				if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
					t.Fatal(err)
				}
				if v.State == state && v.Desk == desk {
					return
				}
				t.Logf("event %s while waiting for %s at %q", ev.data, state, desk)
			case <-ctx.Done():
				t.Fatalf("no %s event at desk %q", state, desk)
			}
		}
	}
	next("waiting", "")
	do := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s on the leader: %v", what, err)
		}
	}
	_, err = e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "1", nil)
	do("CallNext", err)
	next("called", "1")
	_, err = e.leaderQ.Park(ctx, e.bari.tenant.ID, k.Ticket.ID, "1")
	do("Park", err)
	next("parked", "1")
	_, err = e.leaderQ.Resume(ctx, e.bari.tenant, k.Ticket.ID, "1")
	do("Resume", err)
	next("called", "1")
	_, err = e.leaderQ.Transfer(ctx, e.bari.tenant, k.Ticket.ID, "1", queue.TransferTo{OfficeID: stato.ID})
	do("Transfer", err)
	next("waiting", "")
	// The stream now follows the other office only.
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.handler.hubs.mu.Lock()
		_, old := e.handler.hubs.m[hubKey{e.bari.tenant.ID, e.bari.office.ID}]
		_, moved := e.handler.hubs.m[hubKey{e.bari.tenant.ID, stato.ID}]
		e.handler.hubs.mu.Unlock()
		if !old && moved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hubs after the transfer: first office %v, second %v; want only the second", old, moved)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = e.leaderQ.CallNext(ctx, e.bari.tenant, stato.ID, "7", nil)
	do("CallNext in the other office", err)
	next("called", "7")
}
