package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/queue"
)

// TestDeskPageFollowsTheLine: the desk page links the line's stream for
// queue.js; the stream, for the office's operators only, sends an event
// when a citizen joins the line and when a desk calls, and nothing that
// names a citizen.
func TestDeskPageFollowsTheLine(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	op := e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})
	other := e.login("tributi", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.tributi.ID}})
	stream := "/gestione/coda/eventi?ufficio=" + e.anagrafe.ID
	page := op.get(deskURL(e.anagrafe.ID, e.desks["a-1"]))
	if !strings.Contains(page.Body, `data-coda-desk="/gestione/coda/eventi?ufficio=`+e.anagrafe.ID+`"`) || !strings.Contains(page.Body, `src="/coda/queue.js?v=`) {
		t.Fatalf("desk page does not follow the line:\n%s", page.Body)
	}
	if r := other.get(stream); r.Status != http.StatusForbidden {
		t.Errorf("another office's operator on the stream: got %d, want 403", r.Status)
	}
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+stream, nil)
	req.Host = deskHost
	req.Header.Set("Cookie", authweb.SessionCookie+"="+op.cookie)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string)
	go func() {
		// Owned by the test; ends when the stream closes.
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v lineEvent
				if json.Unmarshal([]byte(data), &v) == nil && len(data) < 64 {
					events <- v.Line
				} else {
					events <- "bad: " + data
				}
			}
		}
	}()
	next := func(after string) string {
		t.Helper()
		select {
		case v, ok := <-events:
			if !ok || v == after || strings.HasPrefix(v, "bad") {
				t.Fatalf("line event %q (open %v) after %q: want a new digest and nothing else", v, ok, after)
			}
			return v
		case <-ctx.Done():
			t.Fatalf("no line event after %q", after)
		}
		return ""
	}
	first := next("")
	e.take(e.anagrafe.ID, queue.NoPriority)
	joined := next(first)
	if r := op.post("/gestione/coda/chiama", e.anagrafe.ID, "a-1"); r.Status != http.StatusSeeOther {
		t.Fatalf("call: %d", r.Status)
	}
	next(joined)
}

// TestBrowserDeskPageFollowsTheLine: the desk page, open in headless
// Chromium, reloads itself through queue.js and the line's stream as
// soon as a citizen takes a number on another node, well before its
// 15-second meta refresh.
func TestBrowserDeskPageFollowsTheLine(t *testing.T) {
	e := newDeskEnv(t)
	op := e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})
	// The session cookie is __Host- (Secure), which a browser keeps only
	// over HTTPS; the test server is plain HTTP, so it adds the cookie to
	// every request as the browser's jar would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.AddCookie(&http.Cookie{Name: authweb.SessionCookie, Value: op.cookie})
		e.srv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, base := browserOn(t, srv, deskHost, 30*time.Second)
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+deskURL(e.anagrafe.ID, e.desks["a-1"]))); err != nil {
		t.Fatalf("open the desk page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#coda`))); err != nil {
		t.Fatal(err)
	}
	// Give the script a moment to open the stream and read the line.
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	k, err := e.q.Take(ctx, e.ten, queue.TakeRequest{OfficeID: e.anagrafe.ID, Channel: queue.InPerson})
	if err != nil {
		t.Fatal(err)
	}
	// The page reloads: evaluate until the new page shows the ticket
	// (an evaluation across the reload fails and is tried again).
	shown := false
	for !shown && time.Since(start) < 10*time.Second {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("#coda") && document.querySelector("#coda").textContent.indexOf("In coda: 1") >= 0`))
		shown = err == nil && ok
		if !shown {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !shown {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		t.Fatalf("the page did not show %s within 10 s:\n%s", k.Ticket.Number, got)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the page showed the new ticket after %s, not live", d)
	}
}
