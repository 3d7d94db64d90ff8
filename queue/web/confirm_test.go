package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/queue"
)

// outboxLink reads the confirmation link of ticket id from the
// replicated outbox of the API's node: the text the email carries
// (queue's tests send it through a real SMTP server).
func (e *env) outboxLink(id string) (path, token string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var payload string
		err := e.node.DB().QueryRow(`SELECT payload FROM cluster_outbox WHERE kind = ? AND key LIKE ?`,
			queue.OutboxKind, "%/"+id+"/confirm/%").Scan(&payload)
		if err == nil {
			var n struct {
				Link string `json:"link"`
			}
			if err := json.Unmarshal([]byte(payload), &n); err != nil {
				e.t.Fatal(err)
			}
			u, err := url.Parse(n.Link)
			if err != nil {
				e.t.Fatal(err)
			}
			return u.Path, u.Query().Get("c")
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no confirmation email of %s in the outbox: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfirmByEmailThroughTheAPI: an office that confirms remote
// tickets answers the API's take with 202 and "pending_confirmation",
// no number; the email's link opens a page whose button (not the GET)
// puts the ticket in the line; an office without the setting answers
// 201 as before.
func TestConfirmByEmailThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.ConfirmEmail = true })
	if r := e.take(e.bari, `{"channel":"in_person"}`); r.Status != http.StatusUnprocessableEntity || r.Err.Fields["email"] == "" {
		t.Fatalf("take without email: %d %+v, want 422 on email", r.Status, r.Err)
	}
	r := e.take(e.bari, `{"channel":"in_person","email":"anna@example.it","lang":"en"}`)
	if r.Status != http.StatusAccepted || r.Ticket.State != "pending_confirmation" || r.Ticket.Number != "" || r.Ticket.ConfirmBy == "" ||
		r.Ticket.StatusURL == "" || r.Header.Get("Location") != r.Ticket.StatusURL {
		t.Fatalf("pending take: %d %+v", r.Status, r.Ticket)
	}
	if _, err := time.Parse(time.RFC3339, r.Ticket.ConfirmBy); err != nil {
		t.Errorf("confirm_by %q is not RFC 3339", r.Ticket.ConfirmBy)
	}
	status := strings.TrimPrefix(r.Ticket.StatusURL, "http://"+e.bari.host)
	if g := e.do("GET", e.bari.host, status, "", ""); g.Status != http.StatusOK || g.Ticket.State != "pending_confirmation" {
		t.Fatalf("status while pending: %d %+v", g.Status, g.Ticket)
	}
	// The ticket's event stream follows it from pending to the line.
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+strings.Replace(status, "?", "/events?", 1), nil)
	req.Host = e.bari.host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events of a pending ticket: got %d", resp.StatusCode)
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
	next("pending_confirmation")
	path, token := e.outboxLink(r.Ticket.ID)
	if path != confirmPathPrefix+r.Ticket.ID || token == "" {
		t.Fatalf("link %s ?c=%q", path, token)
	}
	page := e.browse("GET", e.bari.host, path+"?c="+url.QueryEscape(token), nil)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `method="post"`) || page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("confirmation page: %d\n%s", page.Status, pageText(page.Body))
	}
	accessible(t, "confirmation page", page.Body)
	if g := e.do("GET", e.bari.host, status, "", ""); g.Ticket.State != "pending_confirmation" {
		t.Errorf("opening the link confirmed the ticket (a mail scanner would): %+v", g.Ticket)
	}
	if bad := e.browse("POST", e.bari.host, path, url.Values{"c": {token + "x"}}); bad.Status != http.StatusNotFound {
		t.Errorf("confirm with another token: got %d, want 404", bad.Status)
	}
	done := e.browse("POST", e.bari.host, path, url.Values{"c": {token}})
	if done.Status != http.StatusOK || !strings.Contains(pageText(done.Body), "Sei in coda") || !strings.Contains(done.Body, ">A001<") {
		t.Fatalf("confirm: %d\n%s", done.Status, pageText(done.Body))
	}
	accessible(t, "confirmed page", done.Body)
	if v := next("waiting"); v.Number != "A001" {
		t.Errorf("stream after the confirmation: %+v", v)
	}
	g := e.do("GET", e.bari.host, status, "", "")
	if g.Status != http.StatusOK || g.Ticket.State != "waiting" || g.Ticket.Number != "A001" || g.Ticket.ConfirmBy != "" {
		t.Errorf("status after the confirmation: %d %+v", g.Status, g.Ticket)
	}
	if again := e.browse("POST", e.bari.host, path, url.Values{"c": {token}}); again.Status != http.StatusConflict ||
		!strings.Contains(pageText(again.Body), "Hai già confermato") {
		t.Errorf("second confirmation: %d\n%s", again.Status, pageText(again.Body))
	}
	// Lecce does not confirm: the answer is the one it always was.
	if l := e.take(e.lecce, `{"channel":"in_person","email":"bruno@example.it"}`); l.Status != http.StatusCreated || l.Ticket.Number != "A001" || l.Ticket.State != "" {
		t.Errorf("take at an office without confirmation: %d %+v", l.Status, l.Ticket)
	}
}

// TestConfirmByEmailThroughTheForm: the web form asks for the email,
// and the ticket page says what to do until the link is opened.
func TestConfirmByEmailThroughTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.ConfirmEmail = true })
	office := "/coda/" + e.bari.office.ID
	missing := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}})
	if missing.Status != http.StatusUnprocessableEntity || !strings.Contains(pageText(missing.Body), "indirizzo email valido") {
		t.Fatalf("form without email: %d\n%s", missing.Status, pageText(missing.Body))
	}
	taken := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}, "email": {"anna@example.it"}})
	if taken.Status != http.StatusSeeOther {
		t.Fatalf("form with email: %d\n%s", taken.Status, pageText(taken.Body))
	}
	ticket := e.browse("GET", e.bari.host, taken.Header.Get("Location"), nil)
	text := pageText(ticket.Body)
	if ticket.Status != http.StatusOK || !strings.Contains(text, "Da confermare via email") || !strings.Contains(text, "Ti abbiamo mandato un'email") ||
		!strings.Contains(ticket.Body, `http-equiv="refresh"`) {
		t.Fatalf("pending ticket page: %d\n%s", ticket.Status, text)
	}
	accessible(t, "pending ticket page", ticket.Body)
}
