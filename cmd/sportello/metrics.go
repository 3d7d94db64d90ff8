package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// MetricsConfig is the [metrics] section: the admin listener that serves
// /metrics (Prometheus) and /readyz to the municipal IT's monitoring.
type MetricsConfig struct {
	// Listen is the admin listener's address, "127.0.0.1:9100"; empty
	// (the default) turns it off. It has no TLS and no login: keep it on
	// the loopback or a management network.
	Listen string `toml:"listen"`
}

// validate reports a bad [metrics] section through bad, as the other
// sections of Config.Validate do.
func (c MetricsConfig) validate(bad func(format string, args ...any)) {
	if c.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("metrics.listen %q: want host:port, or empty to turn the metrics listener off (%v)", c.Listen, err)
	}
}

// scrapeTimeout bounds the SQLite queries of one scrape, so that a slow
// disk makes a scrape incomplete rather than piling scrapes up.
const scrapeTimeout = 2 * time.Second

// maxQueueSeries caps the (Comune, office) pairs one scrape reports:
// the count is set by the installation's configuration, and the cap only
// keeps a misconfiguration from flooding Prometheus.
const maxQueueSeries = 2000

// TURNStats is what the metrics read of the TURN server.
type TURNStats struct {
	Allocations int
	// Dropped counts relayed packets dropped over the per-user bandwidth.
	Dropped uint64
}

// MetricsSources are what the scrape reads. Node is required; SFU and
// TURN are nil when the node runs without them, and their metrics are
// then absent (not zero), so that a dashboard tells "no calls here" from
// "no calls right now".
type MetricsSources struct {
	Node *cluster.Node
	SFU  func() sfu.Stats
	TURN func() TURNStats
	// Now is the clock of the age metrics (time.Now when nil).
	Now func() time.Time
	// Logger receives the errors of the scrape (slog.Default when nil).
	Logger *slog.Logger
}

// Metrics is one node's Prometheus registry and its HTTP instruments.
// Each node has its own registry (no global default registry), so tests
// run many nodes in one process and every scrape sees one node only.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	duration *prometheus.HistogramVec
	streams  *prometheus.GaugeVec
	bookings *prometheus.CounterVec
	// sse is streams' child for event streams, which every request's
	// recorder holds: looked up once here rather than per request.
	sse prometheus.Gauge
}

// bookingCreated tells whether a request to route that answered status
// created a booking, and through which channel ("web" or "api").
func bookingCreated(route string, status int) (channel string, ok bool) {
	switch route {
	case "POST /prenotazioni":
		// The form answers 303 to the booking's page on success and
		// renders the form again (4xx) otherwise.
		return "web", status == http.StatusSeeOther
	case "POST /api/v1/bookings":
		return "api", status >= 200 && status < 300
	}
	return "", false
}

// NewMetrics builds the registry of a node: the Go and process
// collectors, the HTTP instruments fed by Middleware, and a collector
// that reads raft, the outbox, the queues and the calls at scrape time.
func NewMetrics(src MetricsSources) *Metrics {
	if src.Now == nil {
		src.Now = time.Now
	}
	if src.Logger == nil {
		src.Logger = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: src.Logger.With("component", "metrics"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sportello_http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by route pattern and status class. Event streams and WebSockets are not included (see sportello_http_streams_in_flight).",
			// From a cached page to a slow proposal through a follower.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sportello_http_streams_in_flight",
			Help: "Long-lived HTTP requests open now: server-sent event streams (sse) and WebSocket upgrades (websocket).",
		}, []string{"kind"}),
		bookings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sportello_bookings_created_total",
			Help: "Bookings created through this node's HTTP (web form or API), by Comune. Sum over the nodes for the cluster's total.",
		}, []string{"tenant", "channel"}),
	}
	m.sse = m.streams.WithLabelValues("sse")
	m.streams.WithLabelValues("websocket")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.duration, m.streams, m.bookings,
		&stateCollector{src: src, log: m.log},
	)
	return m
}

// Registry returns the node's registry, for a test or a component that
// registers collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails leaves its metrics out and the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
		// One scrape at a time is plenty; more would only queue
		// SQLite reads.
		MaxRequestsInFlight: 2,
		Timeout:             2 * scrapeTimeout,
	})
}

// routeNote carries, in Middleware's response writer, what the inner
// handlers learn about the request that the outer Middleware labels it
// with: the route pattern of the tenant mux (which sees a copy of the
// request, made by the tenant middleware, so its Pattern is not visible
// outside) and the Comune. It rides in the writer rather than in the
// request's context, which would cost a copy of the request and a
// context value on every request.
type routeNote struct {
	pattern string
	tenant  string
}

// Middleware measures every request of next: its duration by route
// pattern and status class, and the bookings it creates. It must wrap
// the outermost handler; Route, around the tenant mux, tells it the
// pattern matched there. WebSocket upgrades and event streams are kept
// out of the histogram (they last as long as the call or the page) and
// counted in sportello_http_streams_in_flight while open. A nil
// *Metrics returns next unchanged.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			// The writer is passed as is: the upgrade hijacks it.
			g := m.streams.WithLabelValues("websocket")
			g.Inc()
			defer g.Dec()
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, streams: m.sse}
		note := &rec.note
		start := time.Now()
		defer func() {
			if rec.stream {
				rec.streams.Dec()
			}
		}()
		next.ServeHTTP(rec, r)
		if rec.stream {
			return
		}
		status := rec.status
		if status == 0 {
			// Nothing written: net/http answers 200.
			status = http.StatusOK
		}
		route := note.pattern
		if route == "" {
			route = r.Pattern
		}
		if route == "" {
			route = "unmatched"
		}
		m.duration.WithLabelValues(route, statusClass(status)).Observe(time.Since(start).Seconds())
		if channel, ok := bookingCreated(route, status); ok && note.tenant != "" {
			m.bookings.WithLabelValues(note.tenant, channel).Inc()
		}
	})
}

// Route wraps the tenant mux: after it has served the request, it tells
// Middleware the pattern the mux matched ("unmatched" when none) and the
// request's Comune. A nil *Metrics returns next unchanged.
func (m *Metrics) Route(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		note := noteOf(w)
		if note == nil {
			return
		}
		// ServeMux sets Pattern on the request it was given, this one.
		note.pattern = r.Pattern
		if note.pattern == "" {
			note.pattern = "unmatched"
		}
		if t, ok := site.TenantFrom(r.Context()); ok {
			note.tenant = string(t.ID)
		}
	})
}

// noteOf returns the route note of Middleware's recorder among w and the
// writers it wraps (through Unwrap), nil outside Middleware.
func noteOf(w http.ResponseWriter) *routeNote {
	for {
		switch x := w.(type) {
		case *statusRecorder:
			return &x.note
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// statusClass turns a status into its class label, "1xx" to "5xx". The
// labels are constants, so that labelling a request builds no string.
func statusClass(status int) string {
	switch {
	case status < 100 || status > 599:
		return "other"
	case status < 200:
		return "1xx"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	}
	return "5xx"
}

// statusRecorder remembers the status written through it and notices
// event streams by their Content-Type. Unwrap lets http.ResponseController
// (and coder/websocket) reach the connection's writer.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	stream  bool
	streams prometheus.Gauge
	note    routeNote
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
		if strings.HasPrefix(s.Header().Get("Content-Type"), "text/event-stream") {
			s.stream = true
			s.streams.Inc()
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// Flush is here for handlers that look for http.Flusher directly rather
// than through http.ResponseController.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// stateCollector reads, at scrape time, what other parts of the node
// keep: raft's state, the outbox, the queues and the calls.
type stateCollector struct {
	src MetricsSources
	log *slog.Logger
}

var (
	descRaftState = prometheus.NewDesc("sportello_raft_state",
		"1 for the raft state this node is in (Leader, Follower, Candidate, Shutdown), 0 for the others.", []string{"state"}, nil)
	descRaftTerm        = prometheus.NewDesc("sportello_raft_term", "The current raft term.", nil, nil)
	descRaftLastIndex   = prometheus.NewDesc("sportello_raft_last_log_index", "The last index in this node's raft log.", nil, nil)
	descRaftCommitIndex = prometheus.NewDesc("sportello_raft_commit_index", "The last index this node knows committed.", nil, nil)
	descRaftApplied     = prometheus.NewDesc("sportello_raft_applied_index", "The last index applied to this node's SQLite.", nil, nil)
	descRaftLag         = prometheus.NewDesc("sportello_raft_apply_lag",
		"Commit index minus applied index. Raft's own entries (an election's no-op, membership changes) never reach SQLite, so a small steady lag is normal; a growing one is not.", nil, nil)
	descRaftContact = prometheus.NewDesc("sportello_raft_last_contact_seconds",
		"Seconds since this follower last heard from the leader (0 on the leader; absent when it never did).", nil, nil)
	descRaftServers = prometheus.NewDesc("sportello_raft_servers",
		"Members of the raft configuration as this node knows it, by suffrage (voter, nonvoter).", []string{"suffrage"}, nil)
	descRaftLeader = prometheus.NewDesc("sportello_raft_leader_known", "1 when this node knows a leader.", nil, nil)
	descRaftStale  = prometheus.NewDesc("sportello_raft_stale",
		"1 when this node may lag the cluster (no leader, or no contact with it for longer than stale_after): its slot listings answer 503.", nil, nil)
	descFSMPasses = prometheus.NewDesc("sportello_fsm_savepoint_free_batches_total",
		"Batches of log entries this node's state machine applied without a savepoint per command, by outcome: committed, or redone with savepoints because a command failed (cluster/optimistic.go).", []string{"outcome"}, nil)
	descOutbox = prometheus.NewDesc("sportello_outbox_items",
		"Outbox items (emails, push messages) waiting to be delivered (pending) or given up on (failed), by kind.", []string{"kind", "status"}, nil)
	descOutboxAge = prometheus.NewDesc("sportello_outbox_oldest_pending_seconds",
		"Age of the oldest pending outbox item, by kind.", []string{"kind"}, nil)
	descQueue = prometheus.NewDesc("sportello_queue_waiting",
		"Tickets waiting in an office's virtual queue (today's and yesterday's), by Comune and office.", []string{"tenant", "office"}, nil)
	descSFURooms        = prometheus.NewDesc("sportello_sfu_rooms", "Call rooms open on this node's SFU.", nil, nil)
	descSFUParticipants = prometheus.NewDesc("sportello_sfu_participants", "Participants connected to this node's SFU.", nil, nil)
	descSFUTracks       = prometheus.NewDesc("sportello_sfu_tracks", "Media tracks published on this node's SFU.", nil, nil)
	descSFUPackets      = prometheus.NewDesc("sportello_sfu_packets_forwarded_total",
		"RTP packets forwarded by this node's SFU (one per packet and subscriber).", nil, nil)
	descTURNAllocs  = prometheus.NewDesc("sportello_turn_allocations", "Live allocations on this node's TURN server.", nil, nil)
	descTURNDropped = prometheus.NewDesc("sportello_turn_dropped_packets_total",
		"Relayed packets dropped because their user was over the bandwidth cap.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descRaftTerm, descRaftLastIndex, descRaftCommitIndex,
		descRaftApplied, descRaftLag, descRaftContact, descRaftServers, descRaftLeader, descRaftStale,
		descFSMPasses, descOutbox, descOutboxAge, descQueue, descSFURooms, descSFUParticipants, descSFUTracks, descSFUPackets,
		descTURNAllocs, descTURNDropped} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	node := c.src.Node
	st := node.Status()
	// Every state is reported, so that a state's series exists (as 0)
	// before the node is ever in it.
	for _, s := range [...]string{"Leader", "Follower", "Candidate", "Shutdown"} {
		gauge(descRaftState, b2f(st.State == s), s)
	}
	gauge(descRaftTerm, float64(st.Term))
	gauge(descRaftLastIndex, float64(st.LastLogIndex))
	gauge(descRaftCommitIndex, float64(st.CommitIndex))
	gauge(descRaftApplied, float64(st.AppliedIndex))
	var lag uint64
	if st.CommitIndex > st.AppliedIndex {
		lag = st.CommitIndex - st.AppliedIndex
	}
	gauge(descRaftLag, float64(lag))
	if st.LastContact >= 0 {
		gauge(descRaftContact, st.LastContact.Seconds())
	}
	var voters, nonvoters int
	for _, s := range st.Servers {
		if s.Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	gauge(descRaftServers, float64(voters), "voter")
	gauge(descRaftServers, float64(nonvoters), "nonvoter")
	gauge(descRaftLeader, b2f(st.LeaderID != ""))
	stale, _ := node.Stale()
	gauge(descRaftStale, b2f(stale))
	committed, redone := node.SavepointFreePasses()
	ch <- prometheus.MustNewConstMetric(descFSMPasses, prometheus.CounterValue, float64(committed), "committed")
	ch <- prometheus.MustNewConstMetric(descFSMPasses, prometheus.CounterValue, float64(redone), "redone")

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if err := c.collectOutbox(ctx, gauge); err != nil {
		c.fail(ch, descOutbox, err)
	}
	if err := c.collectQueues(ctx, gauge); err != nil {
		c.fail(ch, descQueue, err)
	}

	if c.src.SFU != nil {
		s := c.src.SFU()
		gauge(descSFURooms, float64(s.Rooms))
		gauge(descSFUParticipants, float64(s.Participants))
		gauge(descSFUTracks, float64(s.Tracks))
		counter(descSFUPackets, float64(s.PacketsForwarded))
	}
	if c.src.TURN != nil {
		t := c.src.TURN()
		gauge(descTURNAllocs, float64(t.Allocations))
		counter(descTURNDropped, float64(t.Dropped))
	}
}

// fail reports a failed part of the scrape: promhttp serves the rest and
// logs the error (ContinueOnError).
func (c *stateCollector) fail(ch chan<- prometheus.Metric, d *prometheus.Desc, err error) {
	ch <- prometheus.NewInvalidMetric(d, err)
}

// collectOutbox counts the outbox items not yet delivered. The scan goes
// through the partial due index, which holds the pending and failed rows
// only, never the sent ones, which are most of the table (the query names
// the index's condition, status <> 'sent', so that SQLite uses it). Kinds
// are fixed by the code ("email", "queue.push", ...).
func (c *stateCollector) collectOutbox(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string)) error {
	rows, err := c.src.Node.DB().QueryContext(ctx, `SELECT kind, status, COUNT(*), MIN(created) FROM cluster_outbox
		WHERE status <> 'sent' AND status IN ('pending', 'failed') GROUP BY kind, status`)
	if err != nil {
		return fmt.Errorf("metrics: outbox: %w", err)
	}
	defer rows.Close()
	now := c.src.Now()
	for rows.Next() {
		var (
			kind, status string
			n, oldest    int64
		)
		if err := rows.Scan(&kind, &status, &n, &oldest); err != nil {
			return fmt.Errorf("metrics: outbox: %w", err)
		}
		gauge(descOutbox, float64(n), kind, status)
		if status == cluster.OutboxPending {
			gauge(descOutboxAge, max(0, now.Sub(time.Unix(0, oldest)).Seconds()), kind)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: outbox: %w", err)
	}
	return nil
}

// collectQueues counts the waiting tickets of every office with a queue.
// It walks queue_offices (one row per configured office) and, for each,
// counts through the index on (tenant, office_id, day, state): a seek
// per office and day, whatever the size of the ticket history. A
// ticket's day is its office's local date; yesterday, today and tomorrow
// in UTC cover every time zone, and yesterday's tickets still waiting
// past midnight are worth seeing.
func (c *stateCollector) collectQueues(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string)) error {
	now := c.src.Now().UTC()
	days := [3]string{now.AddDate(0, 0, -1).Format(time.DateOnly), now.Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)}
	rows, err := c.src.Node.DB().QueryContext(ctx, `SELECT o.tenant, o.office_id,
		(SELECT COUNT(*) FROM queue_tickets t WHERE t.tenant = o.tenant AND t.office_id = o.office_id
			AND t.day IN (?, ?, ?) AND t.state = 'waiting')
		FROM queue_offices o ORDER BY o.tenant, o.office_id LIMIT ?`, days[0], days[1], days[2], maxQueueSeries)
	if err != nil {
		return fmt.Errorf("metrics: queues: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ten, office string
			n           int64
		)
		if err := rows.Scan(&ten, &office, &n); err != nil {
			return fmt.Errorf("metrics: queues: %w", err)
		}
		gauge(descQueue, float64(n), ten, office)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: queues: %w", err)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// callsMetrics returns the SFU and TURN sources of c for MetricsSources,
// nil for what the node does not run (calls off, or no TURN server).
func callsMetrics(c *calls) (func() sfu.Stats, func() TURNStats) {
	if c == nil || c.sfu == nil {
		return nil, nil
	}
	sfuStats := c.sfu.Stats
	if c.turn == nil {
		return sfuStats, nil
	}
	t := c.turn
	return sfuStats, func() TURNStats { return TURNStats{Allocations: t.Allocations(), Dropped: t.Dropped()} }
}

// metricsServer is the admin listener of [metrics]: /metrics and /readyz
// only, nothing a citizen reaches.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
	once sync.Once
}

// startMetricsServer listens on cfg.Listen and serves m and ready there
// until Close. It returns nil, nil when the listener is off.
func startMetricsServer(cfg MetricsConfig, m *Metrics, ready http.Handler, log *slog.Logger) (*metricsServer, error) {
	if cfg.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /readyz", ready)
	s := &metricsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.With("component", "metrics").Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	log.Info("metrics listening", "component", "metrics", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the listener's address (the port chosen for ":0").
func (s *metricsServer) Addr() string { return s.ln.Addr().String() }

// Close stops the listener, letting scrapes in flight finish until ctx
// ends. A nil server (listener off) closes at once.
func (s *metricsServer) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var err error
	s.once.Do(func() {
		err = s.srv.Shutdown(ctx)
		if err != nil {
			s.srv.Close()
		}
		if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}
