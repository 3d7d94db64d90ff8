package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestTakeBeforeSchemaV5: a node of this version that serves on an older
// cluster's schema (queue version 4, no queue_pending: a rolling upgrade
// under an older leader) applies walk-in takes with their caps exactly as
// an older member does, instead of failing them and diverging from it.
func TestTakeBeforeSchemaV5(t *testing.T) {
	t.Parallel()
	f := &fixture{clock: clustertest.NewClock(startTime)}
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now}, register, clustertest.HandleSQL)
	clustertest.Start(t, f.node)
	ctx := context.Background()
	clustertest.RunSQL(t, f.node, `DROP TABLE queue_pending`)
	f.book = booking.NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.q = New(f.node, f.node.DB(), f.book, f.clock.Now, rand.Reader)
	f.office, f.cie, f.cert = setupOffice(t, f.book, bari.ID)
	cfg := defaultConfig(f.office.ID)
	cfg.AlwaysOpen, cfg.DailyCap, cfg.MaxPerDevice, cfg.MaxPerIP = true, 3, 0, 2
	if err := f.q.Configure(ctx, bari.ID, cfg); err != nil {
		t.Fatal(err)
	}
	web := func(ip string) TakeRequest { return TakeRequest{Source: SourceWeb, ClientIP: ip} }
	f.take(t, web("192.0.2.7"))
	f.take(t, web("192.0.2.7"))
	if err := f.takeErr(web("192.0.2.7")); !errors.Is(err, ErrClientCap) {
		t.Fatalf("third ticket of one address: got %v, want ErrClientCap", err)
	}
	f.take(t, web("192.0.2.8"))
	if err := f.takeErr(web("192.0.2.9")); !errors.Is(err, ErrDailyCap) {
		t.Fatalf("fourth ticket of the day: got %v, want ErrDailyCap", err)
	}
}
