package lincheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is a slot the driver books into.
type Target struct {
	ServiceID string
	// Start is the slot's start as the slot listing gives it (RFC 3339).
	Start string
	// Capacity is the number of free places of the slot when the run
	// begins: the "remaining" of the slot listing, nobody else booking or
	// cancelling there during the run.
	Capacity int
}

// Mix weighs the kinds of operation a client picks; zero weights are left
// out. A client with no booking code yet always creates.
type Mix struct {
	Create, Cancel, Get, Remaining int
}

// DriveConfig configures Drive.
type DriveConfig struct {
	// BaseURLs are the nodes, "http://127.0.0.1:8081"; each request goes to
	// one picked at random.
	BaseURLs []string
	// Host is the Host header that selects the Comune ("bari.localhost").
	Host string
	// Targets are the slots to book, all of them empty of other traffic.
	Targets []Target
	// MaxActivePerCitizen is the services' cap on active bookings per
	// fiscal code: 0 means 1 (the demo's), negative means no cap.
	MaxActivePerCitizen int
	// CitizensPerSlot is how many made-up citizens book each slot; each
	// citizen books only one slot, so slots are checked independently.
	// Default: capacity + 2, so that both 409s happen.
	CitizensPerSlot int
	// Clients is the number of concurrent clients (default 8).
	Clients int
	// Ops stops the run after that many operations; Duration after that
	// long. At least one must be set; the first reached ends the run.
	Ops      int
	Duration time.Duration
	// Stop, when closed, ends the run like Duration: no new operation
	// starts, and those in flight finish (unlike ending ctx, which cuts
	// them short into unknown outcomes).
	Stop <-chan struct{}
	// RequestTimeout bounds each request (default 5 s); a request past it
	// has an unknown outcome.
	RequestTimeout time.Duration
	// Think is the longest random pause of a client between operations
	// (default none), to stay under a rate limit on long runs.
	Think time.Duration
	// Mix weighs the operations (default 45 create, 20 cancel, 25 get,
	// 10 remaining). Get and Remaining read the answering node's local
	// state: against a cluster whose followers may serve stale reads, the
	// check flags them (a booking read as missing after its 201); weigh
	// them 0 to check the writes alone.
	Mix Mix
	// Seed makes the choice of operations reproducible. Citizens also
	// depend on RunID (default: the clock), so that runs against the same
	// data do not meet each other's bookings.
	Seed  uint64
	RunID uint64
	// Client sends the requests (default: a client with RequestTimeout).
	Client *http.Client
	// Logger receives a line per run (default: discard).
	Logger *slog.Logger
}

// ErrConfig says a DriveConfig cannot be run.
var ErrConfig = errors.New("invalid drive config")

// known is a booking a client created, which any client may read or
// cancel.
type known struct {
	code, token string
	slot        Slot
}

// driver is one run of Drive.
type driver struct {
	cfg      DriveConfig
	rec      *Recorder
	client   *http.Client
	slots    []Slot
	citizens [][]string // per target
	left     atomic.Int64
	deadline time.Time
	log      *slog.Logger

	mu    sync.Mutex
	codes []known
}

// SlotOf returns the model's name of the slot of serviceID starting at
// start (RFC 3339 in any offset).
func SlotOf(serviceID, start string) (Slot, error) {
	t, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return Slot{}, fmt.Errorf("slot start %q: %w", start, err)
	}
	return Slot{Service: serviceID, Start: t.UTC().Format(time.RFC3339)}, nil
}

// Drive runs clients against the booking API of cfg.BaseURLs until the
// operation budget or the duration is spent or ctx ends, and returns the
// recorded history. Requests that fail are recorded, not returned: the
// error is only about cfg. Every client waits for its request in flight,
// so Drive returns at most RequestTimeout after the end.
func Drive(ctx context.Context, cfg DriveConfig) (*Recorder, error) {
	if len(cfg.BaseURLs) == 0 || len(cfg.Targets) == 0 || (cfg.Ops <= 0 && cfg.Duration <= 0) {
		return nil, fmt.Errorf("%w: want base URLs, targets and ops or duration", ErrConfig)
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 8
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Mix == (Mix{}) {
		cfg.Mix = Mix{Create: 45, Cancel: 20, Get: 25, Remaining: 10}
	}
	if cfg.RunID == 0 {
		cfg.RunID = uint64(time.Now().UnixNano())
	}
	maxActive := cfg.MaxActivePerCitizen
	switch {
	case maxActive == 0:
		maxActive = 1
	case maxActive < 0:
		maxActive = 0
	}
	spec := Spec{Capacity: map[Slot]int{}, MaxActivePerCitizen: maxActive}
	d := &driver{cfg: cfg, client: cfg.Client, log: cfg.Logger}
	if d.client == nil {
		d.client = &http.Client{
			Timeout:       cfg.RequestTimeout,
			Transport:     &http.Transport{MaxIdleConnsPerHost: cfg.Clients},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("component", "lincheck")
	crnd := rand.New(rand.NewPCG(cfg.Seed, cfg.RunID))
	for _, tg := range cfg.Targets {
		s, err := SlotOf(tg.ServiceID, tg.Start)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if _, dup := spec.Capacity[s]; dup {
			return nil, fmt.Errorf("%w: slot %s twice", ErrConfig, s)
		}
		spec.Capacity[s] = tg.Capacity
		d.slots = append(d.slots, s)
		n := cfg.CitizensPerSlot
		if n <= 0 {
			n = tg.Capacity + 2
		}
		cs := make([]string, n)
		for i := range cs {
			cs[i] = fakeFiscalCode(crnd)
		}
		d.citizens = append(d.citizens, cs)
	}
	d.rec = NewRecorder(spec)
	if cfg.Ops > 0 {
		d.left.Store(int64(cfg.Ops))
	} else {
		d.left.Store(1 << 62)
	}
	if cfg.Duration > 0 {
		d.deadline = time.Now().Add(cfg.Duration)
	}
	d.log.Info("lincheck run", "nodes", len(cfg.BaseURLs), "slots", len(d.slots), "clients", cfg.Clients, "ops", cfg.Ops, "duration", cfg.Duration, "seed", cfg.Seed)

	// Each client goroutine ends when the budget, the duration or ctx
	// ends; Drive waits for all of them.
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx, rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)))
		}()
	}
	wg.Wait()
	return d.rec, nil
}

// more takes one operation from the budget.
func (d *driver) more(ctx context.Context) bool {
	if ctx.Err() != nil || (!d.deadline.IsZero() && time.Now().After(d.deadline)) {
		return false
	}
	select {
	case <-d.cfg.Stop:
		return false
	default:
	}
	return d.left.Add(-1) >= 0
}

// run is one client's loop.
func (d *driver) run(ctx context.Context, rnd *rand.Rand) {
	client := d.rec.NewClient()
	m := d.cfg.Mix
	total := m.Create + m.Cancel + m.Get + m.Remaining
	for d.more(ctx) {
		if d.cfg.Think > 0 {
			time.Sleep(time.Duration(rnd.Int64N(int64(d.cfg.Think))))
		}
		k, have := d.pick(rnd)
		var res Result
		write := true
		switch n := rnd.IntN(total); {
		case n < m.Create || !have:
			res = d.create(ctx, client, rnd)
		case n < m.Create+m.Cancel:
			res = d.cancel(ctx, client, rnd, k)
		case n < m.Create+m.Cancel+m.Get:
			res, write = d.get(ctx, client, rnd, k), false
		default:
			res, write = d.remaining(ctx, client, rnd), false
		}
		if res == Unknown && write {
			// A write of unknown outcome never returns: go on as a new
			// client. Back off a little, as a node may be down.
			client = d.rec.NewClient()
			time.Sleep(time.Duration(10+rnd.IntN(40)) * time.Millisecond)
		}
	}
}

// pick returns a booking some client created: half of the time one of the
// latest few, likelier still active, else any.
func (d *driver) pick(rnd *rand.Rand) (known, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.codes)
	if n == 0 {
		return known{}, false
	}
	if recent := min(n, 2*len(d.slots)); rnd.IntN(2) == 0 {
		return d.codes[n-1-rnd.IntN(recent)], true
	}
	return d.codes[rnd.IntN(n)], true
}

// apiError is the error body of the API.
type apiError struct {
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

// do sends one request and returns the status and body; err is a transport
// error or a body cut short, both unknown outcomes, or errNotSent.
func (d *driver) do(ctx context.Context, rnd *rand.Rand, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	base := strings.TrimSuffix(d.cfg.BaseURLs[rnd.IntN(len(d.cfg.BaseURLs))], "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if d.cfg.Host != "" {
		req.Host = d.cfg.Host
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			// No connection, so no request: a node that is down (the
			// chaos test kills nodes) changed nothing.
			return 0, nil, fmt.Errorf("%w: %w", errNotSent, err)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, b, nil
}

// errNotSent is the error of do when the request never left: the
// connection could not be made. The operation is Rejected, not Unknown.
var errNotSent = errors.New("request not sent")

// definite reports whether an answer says the request certainly changed
// nothing: a 4xx (the server refused it), or a 503 with the code
// unavailable, by which the API promises that the write reached no leader
// (no leader known, node closing), so that a retry is safe. Taking the
// promise at its word puts it to the test: a write applied all the same
// makes the history illegal. A 503 outcome_unknown and every other 5xx
// are unknown outcomes.
func definite(status int, body []byte) bool {
	return (status >= 400 && status < 500) || (status == http.StatusServiceUnavailable && errorCode(body) == "unavailable")
}

func errorCode(body []byte) string {
	var e apiError
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

func (d *driver) create(ctx context.Context, client int, rnd *rand.Rand) Result {
	t := rnd.IntN(len(d.slots))
	tg, slot := d.cfg.Targets[t], d.slots[t]
	cf := d.citizens[t][rnd.IntN(len(d.citizens[t]))]
	id := d.rec.Call(client, Input{Kind: Create, Slot: slot, Citizen: cf})
	body := map[string]any{
		"service_id": tg.ServiceID,
		"start":      tg.Start,
		"channel":    "in_person",
		"citizen": map[string]string{
			"given_name": "Prova", "family_name": "Linearizzabilità", "fiscal_code": cf,
			"email": "lincheck." + strings.ToLower(cf) + "@example.org",
		},
		"privacy_accepted": true,
	}
	status, b, err := d.do(ctx, rnd, http.MethodPost, "/api/v1/bookings", body)
	out := Output{Result: Unknown}
	switch {
	case errors.Is(err, errNotSent):
		out.Result = Rejected
	case err != nil:
	case status == http.StatusCreated:
		var c struct {
			Code        string `json:"code"`
			ManageToken string `json:"manage_token"`
		}
		if json.Unmarshal(b, &c) == nil && c.Code != "" {
			out = Output{Result: Created, Code: c.Code}
			d.rec.setToken(c.Code, c.ManageToken)
			d.mu.Lock()
			d.codes = append(d.codes, known{code: c.Code, token: c.ManageToken, slot: slot})
			d.mu.Unlock()
		}
	case status == http.StatusConflict && errorCode(b) == "slot_full":
		out.Result = SlotFull
	case status == http.StatusConflict && errorCode(b) == "already_booked":
		out.Result = AlreadyBooked
	case definite(status, b):
		out.Result = Rejected
	}
	d.rec.Return(id, out)
	return out.Result
}

func (d *driver) cancel(ctx context.Context, client int, rnd *rand.Rand, k known) Result {
	id := d.rec.Call(client, Input{Kind: Cancel, Slot: k.slot, Code: k.code})
	status, b, err := d.do(ctx, rnd, http.MethodDelete, "/api/v1/bookings/"+url.PathEscape(k.code)+"?token="+url.QueryEscape(k.token), nil)
	out := Output{Result: Unknown}
	switch {
	case errors.Is(err, errNotSent):
		out.Result = Rejected
	case err != nil:
	case status == http.StatusOK:
		out.Result = CancelOK
	case status == http.StatusNotFound:
		out.Result = NotFound
	case status == http.StatusConflict && errorCode(b) == "cancelled":
		out.Result = AlreadyCancelled
	case definite(status, b):
		out.Result = Rejected
	}
	d.rec.Return(id, out)
	return out.Result
}

func (d *driver) get(ctx context.Context, client int, rnd *rand.Rand, k known) Result {
	id := d.rec.Call(client, Input{Kind: Get, Slot: k.slot, Code: k.code})
	status, b, err := d.do(ctx, rnd, http.MethodGet, "/api/v1/bookings/"+url.PathEscape(k.code)+"?token="+url.QueryEscape(k.token), nil)
	out := Output{Result: Unknown}
	switch {
	case errors.Is(err, errNotSent):
		out.Result = Rejected
	case err != nil:
	case status == http.StatusOK:
		var g struct {
			Status    string `json:"status"`
			ServiceID string `json:"service_id"`
			Start     string `json:"start"`
			Citizen   struct {
				FiscalCode string `json:"fiscal_code"`
			} `json:"citizen"`
		}
		if json.Unmarshal(b, &g) != nil {
			break
		}
		s, err := SlotOf(g.ServiceID, g.Start)
		if err != nil {
			break
		}
		out = Output{Start: s.Start, Citizen: g.Citizen.FiscalCode}
		switch g.Status {
		case "active":
			out.Result = Active
		case "cancelled":
			out.Result = Cancelled
		default:
			out.Result = Unknown
		}
	case status == http.StatusNotFound:
		out.Result = NotFound
	}
	d.rec.Return(id, out)
	return out.Result
}

func (d *driver) remaining(ctx context.Context, client int, rnd *rand.Rand) Result {
	t := rnd.IntN(len(d.slots))
	tg, slot := d.cfg.Targets[t], d.slots[t]
	start, _ := time.Parse(time.RFC3339, tg.Start)
	day := start.Format(time.DateOnly) // the Comune's day: the listing's offset
	id := d.rec.Call(client, Input{Kind: Remaining, Slot: slot})
	status, b, err := d.do(ctx, rnd, http.MethodGet, "/api/v1/services/"+url.PathEscape(tg.ServiceID)+"/slots?from="+day+"&to="+day, nil)
	out := Output{Result: Unknown}
	if err == nil && status == http.StatusOK {
		var l struct {
			Slots []struct {
				Start     string `json:"start"`
				Remaining int    `json:"remaining"`
			} `json:"slots"`
		}
		if json.Unmarshal(b, &l) == nil {
			for _, s := range l.Slots {
				if got, err := SlotOf(tg.ServiceID, s.Start); err == nil && got == slot {
					out = Output{Result: Counted, Remaining: s.Remaining}
				}
			}
		}
	}
	d.rec.Return(id, out)
	return out.Result
}
