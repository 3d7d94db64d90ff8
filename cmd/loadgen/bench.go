package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
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

// bench books benchService over HTTP.
type bench struct {
	n       *node
	host    string
	service booking.Service
	slots   []string
	// next numbers the bookings of the run; base makes the citizens of
	// this run differ from earlier runs on the same node.
	next atomic.Int64
	base int64
	// bookURL is the URL of POST /api/v1/bookings.
	bookURL string
}

// newBench creates (or finds) the bench Comune, office and service
// through the admin socket and lists the service's slots.
func newBench(ctx context.Context, n *node) (*bench, error) {
	b := &bench{n: n, host: benchTenant + "." + n.status.BaseDomain}
	b.bookURL = b.url("/api/v1/bookings")
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
	client := b.client(1)
	resp, err := b.get(ctx, client, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", b.service.ID, today, today.AddDays(benchDays)))
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

// client returns an HTTP client that reaches the node for any host name
// and keeps conns connections open.
func (b *bench) client(conns int) *http.Client {
	addr := b.n.status.HTTPAddr
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

func (b *bench) url(path string) string {
	_, port, _ := net.SplitHostPort(b.n.status.HTTPAddr)
	return "http://" + net.JoinHostPort(b.host, port) + path
}

func (b *bench) get(ctx context.Context, c *http.Client, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", b.url(path), nil)
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

// book makes booking number i and returns the HTTP status (0 for a
// transport error). The body is appended by hand, not marshalled from a
// map: loadgen shares the node's two cores, and every microsecond it
// spends is one the node does not get.
func (b *bench) book(ctx context.Context, c *http.Client, i int64) int {
	req, err := http.NewRequestWithContext(ctx, "POST", b.bookURL, bytes.NewReader(b.body(i)))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// body is the JSON request of booking number i.
func (b *bench) body(i int64) []byte {
	body := make([]byte, 0, 384)
	body = append(body, `{"service_id":`...)
	body = strconv.AppendQuote(body, b.service.ID)
	body = append(body, `,"start":`...)
	body = strconv.AppendQuote(body, b.slots[i%int64(len(b.slots))])
	body = append(body, `,"channel":"in_person","privacy_accepted":true,"citizen":{"given_name":"Prova","family_name":"Carico `...)
	body = strconv.AppendInt(body, i, 10)
	body = append(body, `","fiscal_code":"`...)
	body = append(body, fiscalCode(b.base+i)...)
	body = append(body, `","email":"prova`...)
	body = strconv.AppendInt(body, i, 10)
	return append(body, `@bench.localhost"}}`...)
}

// levelResult is the outcome of one concurrency level.
type levelResult struct {
	concurrency int
	ok          int
	elapsed     time.Duration
	latencies   []time.Duration // of the successful bookings, sorted
	errors      map[int]int     // status (0: transport error) → count
	// loadgenCPU and nodeCPU are the CPU time loadgen and the node used
	// during the level (warm-up included; nodeCPU is zero for a node
	// loadgen did not start).
	loadgenCPU, nodeCPU time.Duration
	// store is the in-process store level of the same concurrency, run
	// just before (nil without -store).
	store *levelResult
	// drainedBefore is how long loadgen waited, before the level, for the
	// node to deliver the emails of the previous one.
	drainedBefore time.Duration
}

// cpuShare returns d as a percentage of one core over the level.
func (r levelResult) cpuShare(d time.Duration) float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return 100 * d.Seconds() / r.elapsed.Seconds()
}

func (r levelResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// p returns the q-th percentile latency (nearest rank).
func (r levelResult) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q/100*float64(len(r.latencies))+0.5) - 1
	i = max(0, min(i, len(r.latencies)-1))
	return r.latencies[i]
}

func (r levelResult) errorString() string {
	if len(r.errors) == 0 {
		return "0"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(r.errors)) {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "net"
		}
		parts = append(parts, fmt.Sprintf("%d×%s", r.errors[s], name))
	}
	return strings.Join(parts, " ")
}

// runLevel books over HTTP at concurrency c (see runLevel).
func (b *bench) runLevel(ctx context.Context, c int, d time.Duration, maxBookings int) levelResult {
	client := b.client(c)
	defer client.CloseIdleConnections()
	return runLevel(ctx, c, d, maxBookings, func(ctx context.Context) int {
		return b.book(ctx, client, b.next.Add(1))
	})
}

// runLevel keeps c clients calling book back to back for d (or until max
// bookings) after a warm-up round (one call each; over HTTP it opens the
// connections). book returns an HTTP status, 201 for a booking made.
func runLevel(ctx context.Context, c int, d time.Duration, maxBookings int, book func(context.Context) int) levelResult {
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() { book(ctx) })
	}
	wg.Wait()

	type worker struct {
		lat    []time.Duration
		errors map[int]int
	}
	workers := make([]worker, c)
	var count atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		workers[w].errors = map[int]int{}
		wg.Go(func() {
			me := &workers[w]
			for time.Now().Before(deadline) && ctx.Err() == nil && count.Add(1) <= int64(maxBookings) {
				t0 := time.Now()
				status := book(ctx)
				if status == http.StatusCreated {
					me.lat = append(me.lat, time.Since(t0))
				} else {
					me.errors[status]++
				}
			}
		})
	}
	wg.Wait()
	r := levelResult{concurrency: c, elapsed: time.Since(start), errors: map[int]int{}}
	for _, w := range workers {
		r.latencies = append(r.latencies, w.lat...)
		for s, n := range w.errors {
			r.errors[s] += n
		}
	}
	slices.Sort(r.latencies)
	r.ok = len(r.latencies)
	return r
}

// fiscalCode returns a valid codice fiscale unique to i (for i below
// 26^6): the twelve letters of surname and name spell i in base 26, the
// birth data is fixed and the check character is computed.
func fiscalCode(i int64) string {
	var letters [6]byte
	for k := 5; k >= 0; k-- {
		letters[k] = byte('A' + i%26)
		i /= 26
	}
	base := string(letters[:]) + "85T10A562"
	return base + string(checkChar(base))
}

// checkChar computes the control character of the first 15 characters:
// odd positions (1st, 3rd, …) through the conversion table, even ones by
// value, the sum modulo 26 as a letter.
func checkChar(s string) byte {
	odd := [...]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for i := 0; i < 15; i++ {
		v := int(s[i] - 'A')
		if s[i] >= '0' && s[i] <= '9' {
			v = int(s[i] - '0')
		}
		if i%2 == 0 {
			sum += odd[v]
		} else {
			sum += v
		}
	}
	return byte('A' + sum%26)
}
