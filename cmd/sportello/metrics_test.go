package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	bookingweb "github.com/sportello-virtuale/sportello/booking/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// metricsEnv is one real node with the demo Comune, the booking web
// handler mounted the way newHandler mounts it, and the metrics hooks
// where run.go puts them: Middleware outermost, Route around the tenant
// mux.
type metricsEnv struct {
	node   *cluster.Node
	m      *Metrics
	srv    *httptest.Server
	host   string
	tenant tenant.Tenant
	book   *booking.Book
	queue  *queue.Queue
}

func newMetricsEnv(t *testing.T, src MetricsSources) *metricsEnv {
	t.Helper()
	node := clustertest.Node(t, tenant.Register, booking.Register, queue.Register, auth.Register, push.Register,
		media.Register, docs.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := defaultConfig()
	tenants := tenant.NewRegistry(node, node.DB(), cfg.BaseDomain)
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	lines := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	bari, err := seedDemo(ctx, tenants, book, lines, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.New(site.Options{Resolver: tenants, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	web, err := bookingweb.New(bookingweb.Config{Book: book, Site: s, Logger: clustertest.Logger(t), Now: time.Now,
		RateLimit: bookingweb.RateLimit{PerMinute: -1}, Freshness: node, Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}
	src.Node = node
	src.Logger = clustertest.Logger(t)
	m := NewMetrics(src)
	ready := newReadiness(node, t.TempDir(), time.Now, clustertest.Logger(t))
	tenantMux := http.NewServeMux()
	web.Routes(tenantMux)
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", healthz(node, "node1"))
	root.Handle("GET /readyz", ready)
	root.Handle("/", s.Tenant(m.Route(tenantMux)))
	srv := httptest.NewServer(m.Middleware(root))
	t.Cleanup(srv.Close)
	return &metricsEnv{node: node, m: m, srv: srv, host: tenants.PrimaryHost(bari), tenant: bari, book: book, queue: lines}
}

// do sends a request to the Comune's host and returns status and body.
func (e *metricsEnv) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = e.host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape serves /metrics through promhttp and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// value returns the value of the series of name with the given labels
// (a subset), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func TestMetricsOnARealNode(t *testing.T) {
	forwarded := uint64(41)
	e := newMetricsEnv(t, MetricsSources{
		SFU: func() sfu.Stats { return sfu.Stats{Rooms: 1, Participants: 2, Tracks: 4, PacketsForwarded: forwarded} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	before := scrape(t, e.m.Handler())
	wantValue(t, before, "sportello_raft_state", map[string]string{"state": "Leader"}, 1)
	wantValue(t, before, "sportello_raft_state", map[string]string{"state": "Follower"}, 0)
	wantValue(t, before, "sportello_raft_leader_known", nil, 1)
	wantValue(t, before, "sportello_raft_servers", map[string]string{"suffrage": "voter"}, 1)
	wantValue(t, before, "sportello_raft_servers", map[string]string{"suffrage": "nonvoter"}, 0)
	wantValue(t, before, "sportello_raft_last_contact_seconds", nil, 0)
	if v, _ := value(before, "sportello_raft_applied_index", nil); v < 1 {
		t.Errorf("applied index %v after seeding", v)
	}
	if _, ok := value(before, "sportello_bookings_created_total", nil); ok {
		t.Error("a booking counted before any was made")
	}
	// Calls: the SFU is there, the TURN server is not (absent, not 0).
	wantValue(t, before, "sportello_sfu_participants", nil, 2)
	wantValue(t, before, "sportello_sfu_packets_forwarded_total", nil, 41)
	if _, ok := before["sportello_turn_allocations"]; ok {
		t.Error("TURN metrics without a TURN server")
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := before[name]; !ok {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}

	// A booking through the API: the counter moves, by Comune and channel.
	svc := demoServiceID(t, e)
	today := civil.DateOf(time.Now())
	status, body := e.do(t, "GET", fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", svc, today, today.AddDays(30)), "")
	if status != http.StatusOK {
		t.Fatalf("slots: %d %s", status, body)
	}
	var slots struct {
		Slots []struct {
			Start string `json:"start"`
		} `json:"slots"`
	}
	if err := json.Unmarshal([]byte(body), &slots); err != nil || len(slots.Slots) == 0 {
		t.Fatalf("slots: %v %s", err, body)
	}
	req, _ := json.Marshal(bookingRequest(svc, slots.Slots[0].Start, 1))
	if status, body := e.do(t, "POST", "/api/v1/bookings", string(req)); status != http.StatusCreated {
		t.Fatalf("booking: %d %s", status, body)
	}
	// The same slot for the same citizen again is refused: not counted.
	if status, _ := e.do(t, "POST", "/api/v1/bookings", string(req)); status < 400 {
		t.Fatalf("second booking of one citizen: %d, want an error", status)
	}
	// An unknown path under the tenant mux, and the liveness probe.
	e.do(t, "GET", "/non-esiste", "")
	e.do(t, "GET", "/healthz", "")

	// A ticket in the queue of the office.
	office := e.officeOf(t, svc)
	if _, err := e.queue.Take(ctx, e.tenant, queue.TakeRequest{OfficeID: office, ServiceID: svc, Channel: queue.InPerson,
		Source: queue.SourceDesk}); err != nil {
		t.Fatalf("take a ticket: %v", err)
	}
	forwarded = 50

	after := scrape(t, e.m.Handler())
	wantValue(t, after, "sportello_bookings_created_total", map[string]string{"tenant": string(e.tenant.ID), "channel": "api"}, 1)
	wantValue(t, after, "sportello_queue_waiting", map[string]string{"tenant": string(e.tenant.ID), "office": office}, 1)
	wantValue(t, after, "sportello_sfu_packets_forwarded_total", nil, 50)
	// The histogram is labelled with the tenant mux's patterns, not the
	// root's catch-all "/".
	wantValue(t, after, "sportello_http_request_duration_seconds", map[string]string{"route": "POST /api/v1/bookings", "code": "2xx"}, 1)
	wantValue(t, after, "sportello_http_request_duration_seconds", map[string]string{"route": "POST /api/v1/bookings", "code": "4xx"}, 1)
	wantValue(t, after, "sportello_http_request_duration_seconds", map[string]string{"route": "GET /api/v1/services/{id}/slots", "code": "2xx"}, 1)
	wantValue(t, after, "sportello_http_request_duration_seconds", map[string]string{"route": "GET /healthz", "code": "2xx"}, 1)
	wantValue(t, after, "sportello_http_request_duration_seconds", map[string]string{"route": "unmatched", "code": "4xx"}, 1)
	if _, ok := value(after, "sportello_http_request_duration_seconds", map[string]string{"route": "/"}); ok {
		t.Error("a request labelled with the root catch-all pattern")
	}
	// The booking was applied without savepoints; both outcomes have
	// their series from the start.
	if v, _ := value(after, "sportello_fsm_savepoint_free_batches_total", map[string]string{"outcome": "committed"}); v < 1 {
		t.Errorf("savepoint-free batches committed = %v, want at least 1", v)
	}
	if _, ok := value(after, "sportello_fsm_savepoint_free_batches_total", map[string]string{"outcome": "redone"}); !ok {
		t.Error("no series of savepoint-free batches redone")
	}
	// The booking's confirmation email waits in the outbox (this node
	// has no email deliverer).
	if v, _ := value(after, "sportello_outbox_items", map[string]string{"kind": booking.OutboxKind}); v < 1 {
		t.Errorf("outbox items of kind %s = %v, want at least 1", booking.OutboxKind, v)
	}
	// No label carries a citizen or a booking: the values are bounded.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "@") || strings.Contains(l.GetValue(), fiscalCode(1)) {
					t.Errorf("%s: label %s=%q carries personal data", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// demoServiceID is the first in-person service of the demo with slots.
func demoServiceID(t *testing.T, e *metricsEnv) string {
	t.Helper()
	offices, err := e.book.Offices(context.Background(), e.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offices {
		for _, s := range o.Services {
			if s.Name == "Rilascio carta d'identità elettronica" {
				return s.ID
			}
		}
	}
	t.Fatal("demo lacks the identity card service")
	return ""
}

func (e *metricsEnv) officeOf(t *testing.T, svc string) string {
	t.Helper()
	offices, err := e.book.Offices(context.Background(), e.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offices {
		for _, s := range o.Services {
			if s.ID == svc {
				return o.ID
			}
		}
	}
	t.Fatalf("no office has service %s", svc)
	return ""
}

// TestMetricsStreamsStayOutOfTheHistogram checks that an event stream and
// a WebSocket upgrade are counted while open and never observed as long
// requests.
func TestMetricsStreamsStayOutOfTheHistogram(t *testing.T) {
	node := clustertest.Node(t)
	m := NewMetrics(MetricsSources{Node: node, Logger: clustertest.Logger(t)})
	release := make(chan struct{})
	opened := make(chan struct{}, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /eventi", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the recorder: %v", err)
		}
		opened <- struct{}{}
		<-release
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		opened <- struct{}{}
		<-release
		c.Close()
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()

	done := make(chan struct{}, 2)
	go func() {
		resp, err := http.Get(srv.URL + "/eventi")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- struct{}{}
	}()
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		done <- struct{}{}
	}()
	for range 2 {
		select {
		case <-opened:
		case <-time.After(10 * time.Second):
			t.Fatal("streams did not open")
		}
	}
	open := scrape(t, m.Handler())
	wantValue(t, open, "sportello_http_streams_in_flight", map[string]string{"kind": "sse"}, 1)
	wantValue(t, open, "sportello_http_streams_in_flight", map[string]string{"kind": "websocket"}, 1)
	close(release)
	<-done
	<-done
	// The client sees the end of a stream before the handler (and the
	// middleware's bookkeeping after it) has returned: wait for it.
	var closed map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		closed = scrape(t, m.Handler())
		sse, _ := value(closed, "sportello_http_streams_in_flight", map[string]string{"kind": "sse"})
		ws, _ := value(closed, "sportello_http_streams_in_flight", map[string]string{"kind": "websocket"})
		if sse == 0 && ws == 0 || time.Now().After(deadline) {
			break
		}
	}
	wantValue(t, closed, "sportello_http_streams_in_flight", map[string]string{"kind": "sse"}, 0)
	wantValue(t, closed, "sportello_http_streams_in_flight", map[string]string{"kind": "websocket"}, 0)
	if _, ok := closed["sportello_http_request_duration_seconds"]; ok {
		t.Error("a stream was observed in the request histogram")
	}
}

func TestMetricsConfigValidate(t *testing.T) {
	for _, c := range []struct {
		listen string
		ok     bool
	}{{"", true}, {"127.0.0.1:9100", true}, {"[::1]:9100", true}, {"9100", false}, {"localhost", false}} {
		var errs []string
		MetricsConfig{Listen: c.listen}.validate(func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) })
		if (len(errs) == 0) != c.ok {
			t.Errorf("listen %q: errors %q, want ok=%v", c.listen, errs, c.ok)
		}
	}
}

// TestMetricsListener starts the [metrics] listener and scrapes it over
// TCP: /metrics and /readyz only.
func TestMetricsListener(t *testing.T) {
	node := clustertest.Node(t)
	m := NewMetrics(MetricsSources{Node: node, Logger: clustertest.Logger(t)})
	ready := newReadiness(node, t.TempDir(), time.Now, clustertest.Logger(t))
	s, err := startMetricsServer(MetricsConfig{Listen: "127.0.0.1:0"}, m, ready, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/metrics": 200, "/readyz": 200, "/healthz": 404, "/": 404} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/metrics"); err == nil {
		t.Error("metrics listener still answers after Close")
	}
	off, err := startMetricsServer(MetricsConfig{}, m, ready, clustertest.Logger(t))
	if off != nil || err != nil {
		t.Errorf("empty listen: %v, %v; want off", off, err)
	}
	if err := off.Close(ctx); err != nil {
		t.Errorf("close of an off listener: %v", err)
	}
}

func TestMetricsBookingCreated(t *testing.T) {
	for _, c := range []struct {
		route   string
		status  int
		channel string
		ok      bool
	}{
		{"POST /prenotazioni", http.StatusSeeOther, "web", true},
		{"POST /prenotazioni", http.StatusUnprocessableEntity, "web", false},
		{"POST /prenotazioni", http.StatusOK, "web", false},
		{"POST /api/v1/bookings", http.StatusCreated, "api", true},
		{"POST /api/v1/bookings", http.StatusConflict, "api", false},
		{"POST /prenotazioni/{code}/sposta", http.StatusSeeOther, "", false},
		{"unmatched", http.StatusCreated, "", false},
	} {
		channel, ok := bookingCreated(c.route, c.status)
		if ok != c.ok || (ok && channel != c.channel) {
			t.Errorf("%s %d: %q %v, want %q %v", c.route, c.status, channel, ok, c.channel, c.ok)
		}
	}
}

// TestMetricsClosedNode scrapes a node that has closed (as during
// shutdown): the SQLite parts fail and are left out, the rest is served.
func TestMetricsClosedNode(t *testing.T) {
	node := clustertest.Node(t, queue.Register)
	m := NewMetrics(MetricsSources{Node: node, Logger: clustertest.Logger(t)})
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, m.Handler())
	wantValue(t, fams, "sportello_raft_state", map[string]string{"state": "Shutdown"}, 1)
	wantValue(t, fams, "sportello_raft_leader_known", nil, 0)
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("the Go collector is missing from a partial scrape")
	}
}
