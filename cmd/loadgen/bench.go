package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/internal/loadrun"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The bench Comune and its service. The service opens around the clock
// every day with 1000 places per 5-minute slot and no cap per citizen, so
// the measurement is never limited by free slots.
const (
	benchTenant  = "bench"
	benchOffice  = "Sportello di prova di carico"
	benchService = "Prenotazione di prova di carico"
	benchDays    = 14
)

// bench books benchService over HTTP, through every node of a fleet.
type bench struct {
	f       fleet
	host    string
	service booking.Service
	slots   []string
	// next numbers the bookings of the run; base makes the citizens of
	// this run differ from earlier runs on the same node.
	next atomic.Int64
	base int64
	// storeNext numbers the citizens of the direct-to-store levels, apart
	// from those of the HTTP levels.
	storeNext atomic.Int64
}

// newBench creates (or finds) the bench Comune, office and service
// through the first node's admin socket and lists the service's slots.
func newBench(ctx context.Context, f fleet) (*bench, error) {
	n := f[0]
	b := &bench{f: f, host: benchTenant + "." + n.status.BaseDomain}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b.base = int64(binary.BigEndian.Uint32(rnd[:]) % 100_000_000)

	code, err := n.adminCall(ctx, "GET", "/v1/tenants/"+benchTenant, nil, nil)
	if code == http.StatusNotFound {
		_, err = n.adminCall(ctx, "POST", "/v1/tenants", benchComune(), nil)
	}
	if err != nil {
		return nil, err
	}
	var offices struct {
		Offices []booking.Office `json:"offices"`
	}
	if _, err := n.adminCall(ctx, "GET", "/v1/tenants/"+benchTenant+"/offices", nil, &offices); err != nil {
		return nil, err
	}
	var office booking.Office
	for _, o := range offices.Offices {
		if o.Name == benchOffice {
			office = o
		}
	}
	if office.ID == "" {
		if _, err := n.adminCall(ctx, "POST", "/v1/tenants/"+benchTenant+"/offices", benchOfficeOf(), &office); err != nil {
			return nil, err
		}
	}
	for _, s := range office.Services {
		if s.Name == benchService {
			b.service = s
		}
	}
	if b.service.ID == "" {
		if _, err := n.adminCall(ctx, "POST", "/v1/tenants/"+benchTenant+"/services", benchServiceOf(office.ID), &b.service); err != nil {
			return nil, err
		}
	}

	today := civil.DateOf(time.Now())
	var slots struct {
		Slots []struct {
			Start     string `json:"start"`
			Remaining int    `json:"remaining"`
		} `json:"slots"`
	}
	client := b.client(n, 1)
	resp, err := b.get(ctx, n, client, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", b.service.ID, today, today.AddDays(benchDays)))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp, &slots); err != nil {
		return nil, fmt.Errorf("slots: %w", err)
	}
	// Slots of the next hour are left out: they pass the minimum notice
	// while the run lasts.
	soon := time.Now().Add(time.Hour)
	for _, s := range slots.Slots {
		if at, err := time.Parse(time.RFC3339, s.Start); err == nil && s.Remaining > 0 && at.After(soon) {
			b.slots = append(b.slots, s.Start)
		}
	}
	if len(b.slots) == 0 {
		return nil, errors.New("the bench service has no free slot")
	}
	return b, nil
}

// benchComune, benchOfficeOf and benchServiceOf are the bench Comune, its
// office and its service.
func benchComune() tenant.Tenant {
	return tenant.Tenant{
		ID: benchTenant, Name: "Comune di Prova", ISTAT: "999999", CodePrefix: "PR",
		Sender: tenant.Sender{Name: "Comune di Prova", Address: "noreply@bench.localhost"},
	}
}

func benchOfficeOf() booking.Office {
	var week booking.Week
	for d := range week {
		week[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	return booking.Office{Name: benchOffice, Address: "Via della Prova, 1", Hours: week}
}

func benchServiceOf(officeID string) booking.Service {
	return booking.Service{
		OfficeID: officeID, Name: benchService, Description: "Servizio fittizio per misurare le prestazioni.",
		Duration: 5 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1000,
		HorizonDays: benchDays + 1, MaxActivePerCitizen: 0,
	}
}

// client returns an HTTP client that reaches node n for any host name
// and keeps conns connections open.
func (b *bench) client(n *node, conns int) *http.Client {
	addr := n.status.HTTPAddr
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			DisableCompression:  true,
		},
	}
}

// url is path on the bench Comune's host at node n's port.
func (b *bench) url(n *node, path string) string {
	_, port, _ := net.SplitHostPort(n.status.HTTPAddr)
	return "http://" + net.JoinHostPort(b.host, port) + path
}

func (b *bench) get(ctx context.Context, n *node, c *http.Client, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", b.url(n, path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body, err
}

// body is the JSON request of booking number i. It is appended by hand,
// not marshalled from a map: loadgen shares the nodes' two cores, and
// every microsecond it spends is one the nodes do not get.
func (b *bench) body(i int64) []byte {
	body := make([]byte, 0, 384)
	body = append(body, `{"service_id":`...)
	body = strconv.AppendQuote(body, b.service.ID)
	body = append(body, `,"start":`...)
	body = strconv.AppendQuote(body, b.slots[i%int64(len(b.slots))])
	body = append(body, `,"channel":"in_person","privacy_accepted":true,"citizen":{"given_name":"Prova","family_name":"Carico `...)
	body = strconv.AppendInt(body, i, 10)
	body = append(body, `","fiscal_code":"`...)
	body = append(body, loadrun.FiscalCode(b.base+i)...)
	body = append(body, `","email":"prova`...)
	body = strconv.AppendInt(body, i, 10)
	return append(body, `@bench.localhost"}}`...)
}

// levelResult is the outcome of one concurrency level over HTTP.
type levelResult struct {
	loadrun.Result
	// loadgenCPU and nodeCPU are the CPU time loadgen and the nodes (all
	// of them) used during the level, warm-up and catch-up included.
	loadgenCPU, nodeCPU time.Duration
	// catchUp is how long after the level's end the last node took to
	// apply everything applied anywhere at that end, and lag how many
	// log entries it was behind then.
	catchUp time.Duration
	lag     uint64
	// nodeIO is what the nodes wrote during the level.
	nodeIO procIO
	// store is the direct-to-store level of the same concurrency, run just
	// before on the leader (nil without -store).
	store *loadrun.Result
	// drainedBefore is how long loadgen waited, before the level, for the
	// cluster to deliver the emails of the previous one.
	drainedBefore time.Duration
}

// cpuShare returns d as a percentage of one core over the level and its
// catch-up.
func (r levelResult) cpuShare(d time.Duration) float64 {
	if r.Elapsed+r.catchUp <= 0 {
		return 0
	}
	return 100 * d.Seconds() / (r.Elapsed + r.catchUp).Seconds()
}

// sustained is the rate counted until every node has applied the level:
// what the cluster keeps up, not only what the leader answers while the
// followers fall behind.
func (r levelResult) sustained() float64 {
	if r.Elapsed+r.catchUp <= 0 {
		return 0
	}
	return float64(r.OK) / (r.Elapsed + r.catchUp).Seconds()
}

// runLevel books over HTTP at concurrency c; worker w sends its bookings
// to node w mod len(fleet), so the load spreads evenly over the nodes.
func (b *bench) runLevel(ctx context.Context, c int, d time.Duration, maxBookings int) levelResult {
	all := &bookConns{}
	defer all.closeAll()
	stop := context.AfterFunc(ctx, all.closeAll)
	defer stop()
	workers := make([]*bookConn, c)
	for w := range workers {
		n := b.f[w%len(b.f)]
		_, port, _ := net.SplitHostPort(n.status.HTTPAddr)
		workers[w] = newBookConn(all, n.status.HTTPAddr, net.JoinHostPort(b.host, port), "/api/v1/bookings")
	}
	r := loadrun.Run(ctx, c, d, maxBookings, func(ctx context.Context, w int) string {
		return workers[w].post(ctx, b.body(b.next.Add(1)))
	})
	return levelResult{Result: r}
}

// storeLevel runs the direct-to-store level of concurrency c on node n
// (POST /v1/debug/store-load: Book.Create in the node's process, no HTTP).
func (b *bench) storeLevel(ctx context.Context, n *node, c int, d time.Duration, maxBookings int) (loadrun.Result, error) {
	var r loadrun.Result
	first := b.base + 150_000_000 + b.storeNext.Add(int64(maxBookings)) - int64(maxBookings)
	_, err := n.adminCallTimeout(ctx, d+2*time.Minute, "POST", "/v1/debug/store-load", map[string]any{
		"tenant": benchTenant, "service_id": b.service.ID, "concurrency": c,
		"duration": d.String(), "max": maxBookings, "first_citizen": first,
	}, &r)
	return r, err
}
