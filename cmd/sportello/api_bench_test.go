package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/internal/loadrun"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/legal"
)

// BenchmarkAPIBookingHTTP measures POST /api/v1/bookings through the
// node's whole HTTP handler (newHandler: metrics, tenant, sessions, the
// booking API) on a real single node, with the body loadgen sends and 64
// keep-alive clients written by hand as loadgen's are. The per-request
// cost of the HTTP path is net/http.(*conn).serve in its CPU profile
// minus booking.(*Book).Create, divided by the bookings:
//
//	go test ./cmd/sportello -run '^$' -bench APIBookingHTTP -benchtime 20000x -cpuprofile /tmp/api.prof
//	go tool pprof -top -cum /tmp/api.prof | grep -E 'conn\).serve|Book\).Create'
func BenchmarkAPIBookingHTTP(b *testing.B) {
	node := clustertest.Node(b, tenant.Register, booking.Register, queue.Register, queue.RegisterAppIO, auth.Register, push.Register,
		media.Register, docs.Register, knowledge.Register, legal.Register, privacy.Register, requests.Register)
	ctx := context.Background()
	cfg := defaultConfig()
	// Every client comes from 127.0.0.1: the rate limit would refuse them.
	cfg.RateLimit.BookingsPerMinute, cfg.RateLimit.Burst = 1<<30, 1<<30
	tenants := tenant.NewRegistry(node, node.DB(), cfg.BaseDomain)
	bari := demoTenant()
	if _, err := tenants.Create(ctx, bari); err != nil {
		b.Fatal(err)
	}
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	var week booking.Week
	for d := range week {
		week[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	office, err := book.SaveOffice(ctx, bari.ID, booking.Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, booking.Service{
		OfficeID: office.ID, Name: "Carta d'identità", Description: "Prova di carico.",
		Duration: 5 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1000, HorizonDays: 15,
	})
	if err != nil {
		b.Fatal(err)
	}
	today := civil.DateOf(time.Now())
	all, err := book.Slots(ctx, bari, svc.ID, today, today.AddDays(14))
	if err != nil {
		b.Fatal(err)
	}
	loc := bari.Location()
	var slots []string
	for _, s := range all {
		if s.Start.After(time.Now().Add(time.Hour)) {
			slots = append(slots, s.Start.In(loc).Format(time.RFC3339))
		}
	}
	m := NewMetrics(MetricsSources{Node: node, Logger: clustertest.Logger(b)})
	handler, err := newHandler(cfg, runOptions{metrics: m}, node, tenants, book, nil, &pushWiring{}, clustertest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	host := tenants.PrimaryHost(bari)
	body := func(i int64) []byte {
		// loadgen's body (cmd/loadgen/bench.go), in its key order.
		out := make([]byte, 0, 384)
		out = append(out, `{"service_id":`...)
		out = strconv.AppendQuote(out, svc.ID)
		out = append(out, `,"start":`...)
		out = strconv.AppendQuote(out, slots[i%int64(len(slots))])
		out = append(out, `,"channel":"in_person","privacy_accepted":true,"citizen":{"given_name":"Prova","family_name":"Carico `...)
		out = strconv.AppendInt(out, i, 10)
		out = append(out, `","fiscal_code":"`...)
		out = append(out, loadrun.FiscalCode(1_000_000+i)...)
		out = append(out, `","email":"prova`...)
		out = strconv.AppendInt(out, i, 10)
		return append(out, `@bench.localhost"}}`...)
	}
	const clients = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			var buf []byte
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				bd := body(i)
				buf = append(buf[:0], "POST /api/v1/bookings HTTP/1.1\r\nHost: "+host+
					"\r\nUser-Agent: sportello-bench\r\nContent-Type: application/json\r\nContent-Length: "...)
				buf = strconv.AppendInt(buf, int64(len(bd)), 10)
				buf = append(buf, "\r\n\r\n"...)
				buf = append(buf, bd...)
				if _, err := c.Write(buf); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("booking %d: %d %s", i, resp.StatusCode, got)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
