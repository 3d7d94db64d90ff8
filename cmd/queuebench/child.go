package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/queue"
	queueweb "github.com/sportello-virtuale/sportello/queue/web"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// childEnv names the server a queuebench process runs when it is the
// child: "queue" (a node with the queue's handler) or "baseline" (a bare
// SSE broadcaster). The parent re-executes its own binary with it set, so
// that the server and the clients are two processes, each with its own
// limit of open files (10,000 streams are 10,000 sockets on each side).
const childEnv = "QUEUEBENCH_CHILD"

// The bench Comune.
const (
	benchTenant = "bench"
	baseDomain  = "localhost"
	benchHost   = benchTenant + "." + baseDomain
)

// ready is the line a child prints on stdout once it serves.
type ready struct {
	// HTTP is the address of the public server (the streams, the API).
	HTTP string `json:"http"`
	// Control is the address of the operator's side: POST /call, GET /stats.
	Control string `json:"control"`
	// Office is the bench office (queue mode).
	Office string `json:"office,omitempty"`
}

// childStats is the answer of GET /stats.
type childStats struct {
	Goroutines int   `json:"goroutines"`
	Hubs       int   `json:"hubs"`
	Reads      int64 `json:"reads"`
	Lookups    int64 `json:"lookups"`
}

// callAnswer is the answer of POST /call.
type callAnswer struct {
	Number string `json:"number"`
}

// childMain runs the child's server until its stdin closes (the parent
// went) or it gets SIGTERM, and returns the exit code.
func childMain(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The parent holds our stdin; when it exits, so do we.
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	switch mode {
	case "queue":
		err = serveQueue(ctx, log)
	case "baseline":
		err = serveBaseline(ctx)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "queuebench child: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the public and control handlers on loopback ports, prints
// the ready line with extra filled in, and serves until ctx ends.
func serve(ctx context.Context, public, control http.Handler, r ready) error {
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pub.Close()
		return err
	}
	// The public server has the timeouts of `sportello serve`'s defaults
	// where they matter: a header timeout, and a write timeout the
	// streams lift for themselves.
	ps := &http.Server{Handler: public, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	cs := &http.Server{Handler: control, ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- ps.Serve(pub) }()
	go func() { errs <- cs.Serve(ctl) }()
	r.HTTP, r.Control = pub.Addr().String(), ctl.Addr().String()
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	// Streams never end by themselves: close rather than drain.
	ps.Close()
	cs.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// serveQueue runs a one-node cluster on a fresh data dir with the
// Comune "bench" and its office, and serves the queue's routes through
// queue/web's Handler wired as cmd/sportello wires it, the API's rate
// limit lifted by configuration (queueweb.RateLimit{PerMinute: -1}) and
// the office's admission limits off (its OfficeConfig).
func serveQueue(ctx context.Context, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "queuebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	reg := cluster.NewRegistry()
	tenant.Register(reg)
	booking.Register(reg)
	queue.Register(reg)
	node, err := cluster.New(cluster.Config{
		Dir: filepath.Join(dir, "cluster"), NodeID: "bench1", RaftAddr: "127.0.0.1:0", Registry: reg, Logger: log,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := node.Start(sctx); err != nil {
		return err
	}
	tenants := tenant.NewRegistry(node, node.DB(), baseDomain)
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	q := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: tenants, Logger: log})
	if err != nil {
		return err
	}
	h, err := queueweb.New(queueweb.Config{
		Queue: q, Site: s, Logger: log, Changes: node, RateLimit: queueweb.RateLimit{PerMinute: -1},
	})
	if err != nil {
		return err
	}
	t, office, err := seed(sctx, tenants, book, q)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	control := http.NewServeMux()
	control.HandleFunc("POST /call", func(w http.ResponseWriter, r *http.Request) {
		k, err := q.CallNext(r.Context(), t, office, r.FormValue("desk"), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_ = json.NewEncoder(w).Encode(callAnswer{Number: k.Number})
	})
	control.HandleFunc("POST /gc", freeMemory)
	control.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st := h.FanoutStats()
		_ = json.NewEncoder(w).Encode(childStats{Goroutines: runtime.NumGoroutine(), Hubs: st.Hubs, Reads: st.Reads, Lookups: st.Lookups})
	})
	return serve(ctx, s.Tenant(mux), control, ready{Office: office})
}

// freeMemory answers POST /gc: a full collection that returns the free
// memory to the system, so that the RSS measured next is what the server
// holds rather than garbage waiting for the collector.
func freeMemory(w http.ResponseWriter, r *http.Request) {
	debug.FreeOSMemory()
	w.WriteHeader(http.StatusNoContent)
}

// seed creates the Comune "bench" and an office open around the clock
// whose queue takes any number of tickets from one address.
func seed(ctx context.Context, tenants *tenant.Registry, book *booking.Book, q *queue.Queue) (tenant.Tenant, string, error) {
	t, err := tenants.Create(ctx, tenant.Tenant{ID: benchTenant, Name: "Comune di Prova", ISTAT: "999999", CodePrefix: "PR", TimeZone: "Europe/Rome"})
	if err != nil {
		return tenant.Tenant{}, "", err
	}
	var week booking.Week
	for d := range week {
		week[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	o, err := book.SaveOffice(ctx, t.ID, booking.Office{Name: "Sportello di prova", Address: "Via della Prova, 1", Hours: week})
	if err != nil {
		return tenant.Tenant{}, "", err
	}
	if err := q.Configure(ctx, t.ID, queue.OfficeConfig{
		OfficeID: o.ID, EarlyCheckIn: queue.DefaultEarlyCheckIn, LateCheckIn: queue.DefaultLateCheckIn, Sample: queue.DefaultSample,
		AlwaysOpen: true,
	}); err != nil {
		return tenant.Tenant{}, "", err
	}
	return t, o.ID, nil
}

// serveBaseline is the loopback limit: a bare net/http SSE broadcaster
// with the same semantics as the hub (every client gets every change at
// once, a slow one only the latest), no tenant, no storage, no per-client
// view. Each event is padded to the size of a ticket's view.
func serveBaseline(ctx context.Context) error {
	b := &broadcaster{clients: map[chan struct{}]struct{}{}, event: baselineEvent(0)}
	public := http.NewServeMux()
	public.HandleFunc("GET /sse", b.stream)
	control := http.NewServeMux()
	control.HandleFunc("POST /call", func(w http.ResponseWriter, r *http.Request) {
		desk, err := strconv.Atoi(r.FormValue("desk"))
		if err != nil {
			http.Error(w, "desk", http.StatusBadRequest)
			return
		}
		b.publish(baselineEvent(desk))
		_ = json.NewEncoder(w).Encode(callAnswer{Number: strconv.Itoa(desk)})
	})
	control.HandleFunc("POST /gc", freeMemory)
	control.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(childStats{Goroutines: runtime.NumGoroutine()})
	})
	return serve(ctx, public, control, ready{})
}

// baselineEvent is the broadcaster's event for call desk: about as long
// as a ticket's view (id, number, position, estimate, status URL).
func baselineEvent(desk int) []byte {
	return fmt.Appendf(nil, `{"desk":"%d","pad":"%s"}`, desk, strings.Repeat("x", 200))
}

// broadcaster hands the latest event to every client.
type broadcaster struct {
	mu      sync.Mutex
	clients map[chan struct{}]struct{}
	event   []byte
	seq     int
}

func (b *broadcaster) publish(ev []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.event = ev
	b.seq++
	for c := range b.clients {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (b *broadcaster) stream(w http.ResponseWriter, r *http.Request) {
	c := make(chan struct{}, 1)
	c <- struct{}{}
	b.mu.Lock()
	b.clients[c] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.clients, c)
		b.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c:
		}
		b.mu.Lock()
		ev, seq := b.event, b.seq
		b.mu.Unlock()
		if _, err := fmt.Fprintf(w, "id: %d\nevent: call\ndata: %s\n\n", seq, ev); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
