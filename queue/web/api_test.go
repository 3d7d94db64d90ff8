package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// env is the API served by a follower of a real three-node cluster, so
// every write is forwarded to the leader and every answer comes back
// through the cluster's RPC. Comuni "bari" and "lecce" each have one
// office with a 30-minute service.
type env struct {
	t       *testing.T
	srv     http.Handler
	q       *queue.Queue
	bari    seeded
	lecce   seeded
	handler *Handler
	// book is booking on the API's node, for desks and bookings.
	book *booking.Book
	// leaderQ is the queue on the leader: the operator's side, on
	// another node than the API's.
	leaderQ *queue.Queue
	// node is the API's node.
	node *cluster.Node
}

type seeded struct {
	tenant  tenant.Tenant
	host    string
	office  booking.Office
	service booking.Service
}

func newEnv(t *testing.T, rl RateLimit) *env {
	t.Helper()
	nodes := clustertest.Cluster(t, 3, tenant.Register, booking.Register, queue.Register)
	leader := clustertest.Leader(t, nodes...)
	var n *cluster.Node
	for _, m := range nodes {
		if m != leader {
			n = m
			break
		}
	}
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
	q := queue.New(n, n.DB(), book, time.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	h, err := New(Config{Queue: q, Site: s, Logger: clustertest.Logger(t), RateLimit: rl, Changes: n})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	e := &env{t: t, srv: s.Tenant(mux), q: q, handler: h, book: book, node: n,
		leaderQ: queue.New(leader, leader.DB(), booking.NewBook(leader, leader.DB(), time.Now, rand.Reader), time.Now, rand.Reader)}
	e.bari = e.seed(reg, book, "bari", "Comune di Bari", "072006")
	e.lecce = e.seed(reg, book, "lecce", "Comune di Lecce", "075035")
	return e
}

func (e *env) seed(reg *tenant.Registry, book *booking.Book, id, name, istat string) seeded {
	t := e.t
	t.Helper()
	ctx := context.Background()
	ten, err := reg.Create(ctx, tenant.Tenant{ID: tenant.ID(id), Name: name, ISTAT: istat})
	if err != nil {
		t.Fatalf("create tenant %s: %v", id, err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	o, err := book.SaveOffice(ctx, ten.ID, booking.Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele 1", Hours: week})
	if err != nil {
		t.Fatalf("save office: %v", err)
	}
	svc, err := book.SaveService(ctx, ten.ID, booking.Service{
		OfficeID: o.ID, Name: "Carta d'identità", Description: "CIE.", Category: "Anagrafe",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
	})
	if err != nil {
		t.Fatalf("save service: %v", err)
	}
	s := seeded{tenant: ten, host: id + ".example.it", office: o, service: svc}
	// The tests run at any hour and take many tickets from one address:
	// the office's queue is always open and has no per-address cap
	// unless a test sets them.
	e.configure(s, func(c *queue.OfficeConfig) { c.AlwaysOpen, c.MaxPerIP = true, 0 })
	return s
}

// configure changes the queue configuration of s's office.
func (e *env) configure(s seeded, change func(*queue.OfficeConfig)) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.q.Config(ctx, s.tenant.ID, s.office.ID)
	if err != nil {
		e.t.Fatalf("queue config: %v", err)
	}
	change(&c)
	if err := e.q.Configure(ctx, s.tenant.ID, c); err != nil {
		e.t.Fatalf("configure the queue: %v", err)
	}
}

// response is a recorded answer with its JSON body decoded.
type response struct {
	Status int
	Header http.Header
	Ticket apiTicket
	Err    errorDetail
}

func (e *env) do(method, host, target, contentType, body string) response {
	e.t.Helper()
	req := httptest.NewRequest(method, "http://"+host+target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Header: rec.Header()}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Fatalf("%s %s: got Content-Type %q, want JSON (body %q)", method, target, ct, rec.Body.String())
	}
	if rec.Code >= 400 {
		var eb errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			e.t.Fatalf("%s %s: error body %q is not {\"error\":{code,message}}", method, target, rec.Body.String())
		}
		res.Err = eb.Error
	} else if err := json.Unmarshal(rec.Body.Bytes(), &res.Ticket); err != nil {
		e.t.Fatalf("%s %s: body %q: %v", method, target, rec.Body.String(), err)
	}
	return res
}

func (e *env) take(s seeded, body string) response {
	e.t.Helper()
	return e.do("POST", s.host, "/api/v1/offices/"+s.office.ID+"/tickets", "application/json", body)
}

// path returns the path and query of a status_url.
func path(t *testing.T, statusURL string) string {
	t.Helper()
	u, err := url.Parse(statusURL)
	if err != nil {
		t.Fatalf("status_url %q: %v", statusURL, err)
	}
	return u.RequestURI()
}

func TestTicketLifecycleThroughAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	first := e.take(e.bari, `{"channel":"in_person","service_id":"`+e.bari.service.ID+`"}`)
	if first.Status != http.StatusCreated || first.Ticket.Number != "A001" || first.Ticket.Position != 0 || first.Ticket.EstimatedWaitMinutes != 0 {
		t.Fatalf("first ticket: got %d %+v, want 201 A001 at position 0", first.Status, first.Ticket)
	}
	second := e.take(e.bari, `{"channel":"video","service_id":"`+e.bari.service.ID+`"}`)
	if second.Status != http.StatusCreated || second.Ticket.Number != "A002" || second.Ticket.Position != 1 || second.Ticket.EstimatedWaitMinutes != 30 {
		t.Fatalf("second ticket: got %d %+v, want 201 A002 at position 1, 30 minutes", second.Status, second.Ticket)
	}
	if !strings.HasPrefix(second.Ticket.StatusURL, "http://bari.example.it/api/v1/tickets/"+second.Ticket.ID+"?secret=") ||
		second.Header.Get("Location") != second.Ticket.StatusURL {
		t.Errorf("status_url %q, Location %q: want the ticket's URL on the Comune's host with its secret",
			second.Ticket.StatusURL, second.Header.Get("Location"))
	}
	got := e.do("GET", e.bari.host, path(t, second.Ticket.StatusURL), "", "")
	if got.Status != http.StatusOK || got.Ticket.State != "waiting" || got.Ticket.Position != 1 || got.Ticket.Number != "A002" {
		t.Errorf("GET second: got %d %+v, want 200 waiting at position 1", got.Status, got.Ticket)
	}
	// An operator calls the first ticket: the citizen sees the desk, and
	// the second moves up.
	k, err := e.q.CallNext(context.Background(), e.bari.tenant, e.bari.office.ID, "4", nil)
	if err != nil || k.ID != first.Ticket.ID {
		t.Fatalf("CallNext: got %s (%v), want %s", k.Number, err, first.Ticket.Number)
	}
	got = e.do("GET", e.bari.host, path(t, first.Ticket.StatusURL), "", "")
	if got.Ticket.State != "called" || got.Ticket.Desk != "4" {
		t.Errorf("GET first after the call: got %+v, want called at desk 4", got.Ticket)
	}
	got = e.do("GET", e.bari.host, path(t, second.Ticket.StatusURL), "", "")
	if got.Ticket.Position != 0 {
		t.Errorf("GET second after the call: got position %d, want 0", got.Ticket.Position)
	}
	// The second citizen leaves; leaving again is refused.
	del := e.do("DELETE", e.bari.host, path(t, second.Ticket.StatusURL), "", "")
	if del.Status != http.StatusOK || del.Ticket.State != "cancelled" {
		t.Errorf("DELETE: got %d %+v, want 200 cancelled", del.Status, del.Ticket)
	}
	if again := e.do("DELETE", e.bari.host, path(t, second.Ticket.StatusURL), "", ""); again.Status != http.StatusConflict || again.Err.Code != "not_waiting" {
		t.Errorf("DELETE again: got %d %+v, want 409 not_waiting", again.Status, again.Err)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	k := e.take(e.bari, `{"channel":"in_person"}`)
	if k.Status != http.StatusCreated {
		t.Fatalf("take: got %d %+v", k.Status, k.Err)
	}
	ticketPath := "/api/v1/tickets/" + k.Ticket.ID
	officePath := "/api/v1/offices/" + e.bari.office.ID + "/tickets"
	tests := []struct {
		name, method, host, target, ctype, body string
		status                                  int
		code, field                             string
	}{
		{"bad channel", "POST", e.bari.host, officePath, "application/json", `{"channel":"fax"}`, 422, "validation_failed", "channel"},
		{"unknown field", "POST", e.bari.host, officePath, "application/json", `{"channel":"in_person","name":"x"}`, 422, "validation_failed", "name"},
		{"wrong type", "POST", e.bari.host, officePath, "application/json", `{"channel":3}`, 422, "validation_failed", "channel"},
		{"counter not a number", "POST", e.bari.host, officePath, "application/json", `{"channel":"in_person","proof":{"challenge":"x","counter":"1"}}`, 422, "validation_failed", "proof"},
		{"proof not an object", "POST", e.bari.host, officePath, "application/json", `{"channel":"in_person","proof":"x"}`, 422, "validation_failed", "proof"},
		{"service of no office", "POST", e.bari.host, officePath, "application/json", `{"channel":"in_person","service_id":"` + e.lecce.service.ID + `"}`, 422, "validation_failed", "service_id"},
		{"unknown booking code", "POST", e.bari.host, officePath, "application/json", `{"channel":"in_person","booking_code":"BA-ZZZZZZ"}`, 422, "booking_not_found", "booking_code"},
		{"not JSON", "POST", e.bari.host, officePath, "text/plain", `channel=in_person`, 415, "unsupported_media_type", ""},
		{"malformed", "POST", e.bari.host, officePath, "application/json", `{"channel":`, 400, "bad_request", ""},
		{"too large", "POST", e.bari.host, officePath, "application/json", `{"channel":"` + strings.Repeat("x", 5000) + `"}`, 413, "payload_too_large", ""},
		{"unknown office", "POST", e.bari.host, "/api/v1/offices/nope/tickets", "application/json", `{"channel":"in_person"}`, 404, "not_found", ""},
		{"another Comune's office", "POST", e.lecce.host, officePath, "application/json", `{"channel":"in_person"}`, 404, "not_found", ""},
		{"no secret", "GET", e.bari.host, ticketPath, "", "", 401, "secret_required", ""},
		{"wrong secret", "GET", e.bari.host, ticketPath + "?secret=nope", "", "", 404, "not_found", ""},
		{"another Comune's ticket", "GET", e.lecce.host, path(t, k.Ticket.StatusURL), "", "", 404, "not_found", ""},
		{"cancel from another Comune", "DELETE", e.lecce.host, path(t, k.Ticket.StatusURL), "", "", 404, "not_found", ""},
		{"cancel with a wrong secret", "DELETE", e.bari.host, ticketPath + "?secret=nope", "", "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		res := e.do(tt.method, tt.host, tt.target, tt.ctype, tt.body)
		if res.Status != tt.status || res.Err.Code != tt.code || (tt.field != "" && res.Err.Fields[tt.field] == "") {
			t.Errorf("%s: got %d %+v, want %d %s (field %q)", tt.name, res.Status, res.Err, tt.status, tt.code, tt.field)
		}
	}
	// Nothing above changed the ticket.
	if got := e.do("GET", e.bari.host, path(t, k.Ticket.StatusURL), "", ""); got.Ticket.State != "waiting" {
		t.Errorf("after the refused requests: got %s, want waiting", got.Ticket.State)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: 1, Burst: 2})
	for i := range 2 {
		if res := e.take(e.bari, `{"channel":"in_person"}`); res.Status != http.StatusCreated {
			t.Fatalf("ticket %d: got %d, want 201", i+1, res.Status)
		}
	}
	res := e.take(e.bari, `{"channel":"in_person"}`)
	if res.Status != http.StatusTooManyRequests || res.Err.Code != "rate_limited" || res.Header.Get("Retry-After") == "" {
		t.Errorf("third ticket: got %d %+v Retry-After %q, want 429 rate_limited with Retry-After", res.Status, res.Err, res.Header.Get("Retry-After"))
	}
}
