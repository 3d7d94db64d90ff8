package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authweb "github.com/sportello-virtuale/sportello/auth/web"
)

// The helpers of TestQueueE2E that run in the citizens' and operators'
// goroutines: they return errors instead of failing the test, because
// t.Fatal may only be called from the test's own goroutine.

// qeClient is one person's HTTP client on one node: a citizen (with the
// address a proxy would have put in X-Forwarded-For) or an operator
// (with a session cookie).
type qeClient struct {
	p      *proc
	c      *http.Client
	host   string
	header map[string]string
}

// do sends a request and reads the whole answer. A request refused
// because the cluster had no leader for a moment (503 "unavailable": the
// command reached no leader, so nothing was applied) is sent again for up
// to 15 seconds, as an app or a browser would; a 503 whose outcome is
// unknown is not. The caller's interval around the request then only
// grows, which keeps the order check on the safe side.
func (c *qeClient) do(method, path string, body string, header map[string]string) (response, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := c.once(method, path, body, header)
		if err != nil || r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) ||
			!(strings.Contains(r.Body, `"code":"unavailable"`) || strings.Contains(r.Body, "momentaneamente non disponibile")) {
			return r, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *qeClient) once(method, path string, body string, header map[string]string) (response, error) {
	req, err := http.NewRequest(method, c.p.url(c.host, path), strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}, nil
}

func (c *qeClient) get(path string) (response, error) { return c.do("GET", path, "", nil) }

func (c *qeClient) postForm(path string, v url.Values) (response, error) {
	return c.do("POST", path, v.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func (c *qeClient) postJSON(path, body string) (response, error) {
	return c.do("POST", path, body, map[string]string{"Content-Type": "application/json"})
}

// operatorClient is an operator's client on node p, logged in with the
// session cookie.
func operatorClient(p *proc, host, cookie string) *qeClient {
	return &qeClient{p: p, c: p.newClient(4), host: host, header: map[string]string{"Cookie": authweb.SessionCookie + "=" + cookie}}
}

// requestPath turns an absolute URL of the node (a status_url, a
// redirect) into the path and query to ask it with.
func requestPath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.RequestURI(), nil
}

// deskTicketRE finds the ticket at the desk on the desk page: the only
// forms whose action names a ticket are the buttons of the current one.
var deskTicketRE = regexp.MustCompile(`action="/gestione/coda/([^/"]+)/(?:inizia|servito|assente|richiama)"`)

// deskNumberRE finds the number of the ticket at the desk.
var deskNumberRE = regexp.MustCompile(`id="corrente">Biglietto <strong>([A-Z][0-9]+)</strong>`)

// currentNumber returns the number of the ticket held by the desk the
// page shows, "" when the desk is free.
func currentNumber(page string) string {
	if m := deskNumberRE.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// currentTicket returns the ID of the ticket held by the desk the page
// shows, "" when the desk is free.
func currentTicket(page string) string {
	ids := map[string]bool{}
	var first string
	for _, m := range deskTicketRE.FindAllStringSubmatch(page, -1) {
		if !ids[m[1]] {
			ids[m[1]] = true
			if first == "" {
				first = m[1]
			}
		}
	}
	if len(ids) > 1 {
		return "several:" + fmt.Sprint(len(ids))
	}
	return first
}

// formValues returns the hidden and text inputs of the first form of
// page whose action is action, or false when there is none.
func formValues(page, action string) (url.Values, bool) {
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if tagAttrs("<form" + m[1] + ">")["action"] != action {
			continue
		}
		v := url.Values{}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			a := tagAttrs(in)
			if a["name"] != "" && a["type"] != "submit" && a["type"] != "radio" && a["type"] != "checkbox" {
				v.Add(a["name"], a["value"])
			}
		}
		return v, true
	}
	return nil, false
}

// qeNumber returns the letter and the counter of a ticket number
// ("A007" → "A", 7).
func qeNumber(n string) (string, int, error) {
	if len(n) < 2 {
		return "", 0, fmt.Errorf("ticket number %q too short", n)
	}
	i, err := strconv.Atoi(n[1:])
	return n[:1], i, err
}

// qeLog is what happened, with the times the test saw each request
// start and end: a command sent by a request was applied somewhere
// between the two (Propose returns once the node applied it).
type qeLog struct {
	mu    sync.Mutex
	calls []qeCall
	errs  []error
}

// qeCall is one "chiama il prossimo" that gave a ticket.
type qeCall struct {
	Desk     string
	Operator int
	Ticket   string
	// Number is the ticket's number as the desk page showed it.
	Number     string
	Start, End time.Time
}

func (l *qeLog) call(c qeCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

func (l *qeLog) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Errorf(format, args...))
}

func (l *qeLog) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs) > 0
}

// Classes of the ordering rule (queue/order.go, queue/DESIGN.md), as the
// test models them from what it asked for: the test does not read the
// queue's own classification.
const (
	qePriority = iota
	qeDue
	qeWalkIn
	qeEarly
)

var qeClassNames = [...]string{"priority", "due appointment", "walk-in", "early appointment"}

// qeTicket is one citizen's ticket as the test knows it.
type qeTicket struct {
	Citizen  int
	Node     int
	Priority bool
	// Appointment is the booked slot's start for a check-in (zero for a
	// walk-in); the check-in is always inside the window, so the ticket
	// keeps the appointment time.
	Appointment time.Time
	// NoShow: the operator marks the citizen absent instead of serving.
	NoShow bool

	ID, Number, StatusPath string
	Seq                    int
	TakeStart, TakeEnd     time.Time
}

func (k *qeTicket) class(at time.Time) int {
	switch {
	case k.Priority:
		return qePriority
	case !k.Appointment.IsZero() && !at.Before(k.Appointment):
		return qeDue
	case !k.Appointment.IsZero():
		return qeEarly
	}
	return qeWalkIn
}

// qeAhead reports whether a must be called before b at the instant at:
// by class, then appointment time for the booked classes, then arrival.
func qeAhead(a, b *qeTicket, at time.Time) bool {
	ca, cb := a.class(at), b.class(at)
	if ca != cb {
		return ca < cb
	}
	if (ca == qeDue || ca == qeEarly) && !a.Appointment.Equal(b.Appointment) {
		return a.Appointment.Before(b.Appointment)
	}
	return a.Seq < b.Seq
}

// qeOrderViolations checks every call against the ordering rule in a way
// the concurrency cannot fool. A call happened (was applied) at some
// instant inside [Start, End]; a ticket Y certainly waited at that
// instant if its take had answered before the call was sent and its own
// call was sent after this one answered. If such a Y must be called
// before the called ticket X at both ends of the interval (a class only
// changes once, early → due, so both ends bound every instant between),
// the queue broke the rule. Pairs whose order the timing cannot settle
// are not judged; covered counts the judged pairs.
func qeOrderViolations(tickets map[string]*qeTicket, calls []qeCall) (violations []string, covered int) {
	callOf := map[string]qeCall{}
	for _, c := range calls {
		callOf[c.Ticket] = c
	}
	for _, cx := range calls {
		x := tickets[cx.Ticket]
		for _, y := range tickets {
			cy, called := callOf[y.ID]
			if y == x || !called || !y.TakeEnd.Before(cx.Start) || !cy.Start.After(cx.End) {
				continue
			}
			covered++
			if qeAhead(y, x, cx.Start) && qeAhead(y, x, cx.End) {
				violations = append(violations, fmt.Sprintf("desk %s called %s (%s) while %s (%s) waited and comes first",
					cx.Desk, x.Number, qeClassNames[x.class(cx.Start)], y.Number, qeClassNames[y.class(cx.Start)]))
			}
		}
	}
	return violations, covered
}

// TestQueueE2EOrderCheck shows that the order check of TestQueueE2E can
// fail: on a hand-made history it finds the calls that broke the rule,
// and leaves alone the pairs whose order the timing does not settle.
func TestQueueE2EOrderCheck(t *testing.T) {
	t.Parallel()
	at := func(s int) time.Time { return time.Date(2026, 3, 9, 10, 0, s, 0, time.UTC) }
	ticket := func(id string, seq int, appt time.Time) *qeTicket {
		return &qeTicket{ID: id, Number: fmt.Sprintf("A%03d", seq), Seq: seq, Appointment: appt, TakeStart: at(0), TakeEnd: at(1)}
	}
	call := func(id string, from, to int) qeCall {
		return qeCall{Desk: "d", Ticket: id, Start: at(from), End: at(to)}
	}
	// w1, w2: walk-ins; due: an appointment at 10:00:05; early: one at
	// 10:10.
	w1, w2 := ticket("w1", 1, time.Time{}), ticket("w2", 2, time.Time{})
	due, early := ticket("due", 3, at(5)), ticket("early", 4, at(600))
	tickets := map[string]*qeTicket{"w1": w1, "w2": w2, "due": due, "early": early}
	tests := []struct {
		name  string
		calls []qeCall
		bad   int
	}{
		{"by the rule", []qeCall{call("due", 10, 11), call("w1", 12, 13), call("w2", 14, 15), call("early", 16, 17)}, 0},
		{"walk-ins out of arrival", []qeCall{call("due", 10, 11), call("w2", 12, 13), call("w1", 14, 15), call("early", 16, 17)}, 1},
		{"walk-in before a due appointment", []qeCall{call("w1", 10, 11), call("due", 12, 13), call("w2", 14, 15), call("early", 16, 17)}, 1},
		// Before 10:00:05 the appointment is early: walk-ins go first.
		{"appointment not due yet", []qeCall{call("w1", 2, 3), call("w2", 3, 4), call("due", 12, 13), call("early", 16, 17)}, 0},
		{"early appointment before walk-ins", []qeCall{call("early", 10, 11), call("due", 12, 13), call("w1", 14, 15), call("w2", 16, 17)}, 3},
		// Overlapping calls may have been applied in either order.
		{"overlapping calls", []qeCall{call("due", 10, 11), call("w2", 12, 14), call("w1", 13, 15), call("early", 16, 17)}, 0},
	}
	for _, tt := range tests {
		got, judged := qeOrderViolations(tickets, tt.calls)
		if len(got) != tt.bad || judged == 0 {
			t.Errorf("%s: %d violations %q (%d pairs judged), want %d", tt.name, len(got), got, judged, tt.bad)
		}
	}
}

// qeEvent is one event of a ticket's stream.
type qeEvent struct {
	State string `json:"state"`
	Desk  string `json:"desk"`
}

// qeFollow reads the event stream of the ticket whose status path (with
// its secret) is statusPath, on node p, until the stream ends (the
// ticket closed) or ctx does, and returns the events. ready is closed
// once the stream's first event arrived, so that the caller knows the
// citizen is listening before the operators start.
func qeFollow(ctx context.Context, p *proc, host, statusPath string, ready chan<- struct{}) ([]qeEvent, error) {
	path, query, _ := strings.Cut(statusPath, "?")
	req, err := http.NewRequestWithContext(ctx, "GET", p.url(host, path+"/events?"+query), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	c := *p.newClient(1)
	c.Timeout = 0 // the stream lasts as long as the ticket; ctx bounds it
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("events of %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out []qeEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var e qeEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &e); err != nil {
			return out, fmt.Errorf("events of %s: event %q: %v", path, data, err)
		}
		if len(out) == 0 {
			close(ready)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return out, fmt.Errorf("events of %s: %v", path, err)
	}
	return out, nil
}

// qeEventSummary shows a stream's events with repeats folded:
// "waiting ×12 → called (Sportello 2) → serving (Sportello 2) → served (Sportello 2)".
func qeEventSummary(events []qeEvent, labels map[string]string) string {
	var parts []string
	for i := 0; i < len(events); {
		j := i
		for j < len(events) && events[j] == events[i] {
			j++
		}
		s := events[i].State
		if d := events[i].Desk; d != "" {
			if l, ok := labels[d]; ok {
				d = l
			}
			s += " (" + d + ")"
		}
		if j-i > 1 {
			s += fmt.Sprintf(" ×%d", j-i)
		}
		parts = append(parts, s)
		i = j
	}
	return strings.Join(parts, " → ")
}
