package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// storeBench measures the ceiling under the HTTP path: Book.Create called
// in loadgen's own process on a one-node cluster of its own (raft log with
// fsync, SQLite FSM, the same defaults as `sportello serve`), in a fresh
// data dir on the same disk as the node's, with the same Comune and
// service. There is no HTTP, no tenant resolution and no email delivery
// (the emails stay queued in the outbox): what is left is the store.
type storeBench struct {
	dir   string
	node  *cluster.Node
	book  *booking.Book
	t     tenant.Tenant
	slots []time.Time
	svc   string
	next  atomic.Int64
	// errMu guards firstErr, the first error a booking returned.
	errMu    sync.Mutex
	firstErr error
}

// newStoreBench starts the in-process node in a new dir under parent and
// creates the bench Comune and service.
func newStoreBench(ctx context.Context, parent string) (_ *storeBench, err error) {
	dir, err := os.MkdirTemp(parent, "sportello-store-")
	if err != nil {
		return nil, err
	}
	s := &storeBench{dir: dir}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	reg := cluster.NewRegistry()
	tenant.Register(reg)
	booking.Register(reg)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if s.node, err = cluster.New(cluster.Config{
		Dir: filepath.Join(dir, "cluster"), NodeID: "store1", RaftAddr: "127.0.0.1:0", Registry: reg, Logger: log,
	}); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.node.Start(sctx); err != nil {
		return nil, err
	}
	tenants := tenant.NewRegistry(s.node, s.node.DB(), "localhost")
	if s.t, err = tenants.Create(ctx, benchComune()); err != nil {
		return nil, fmt.Errorf("store: create Comune: %w", err)
	}
	s.book = booking.NewBook(s.node, s.node.DB(), time.Now, rand.Reader)
	office, err := s.book.SaveOffice(ctx, s.t.ID, benchOfficeOf())
	if err != nil {
		return nil, fmt.Errorf("store: save office: %w", err)
	}
	svc := benchServiceOf(office.ID)
	if svc, err = s.book.SaveService(ctx, s.t.ID, svc); err != nil {
		return nil, fmt.Errorf("store: save service: %w", err)
	}
	s.svc = svc.ID
	today := civil.DateOf(time.Now())
	slots, err := s.book.Slots(ctx, s.t, svc.ID, today, today.AddDays(benchDays))
	if err != nil {
		return nil, fmt.Errorf("store: slots: %w", err)
	}
	soon := time.Now().Add(time.Hour) // as for the HTTP bench
	for _, sl := range slots {
		if sl.Start.After(soon) {
			s.slots = append(s.slots, sl.Start)
		}
	}
	if len(s.slots) == 0 {
		return nil, errors.New("store: the bench service has no free slot")
	}
	return s, nil
}

// runLevel books with Book.Create at concurrency c (see runLevel).
func (s *storeBench) runLevel(ctx context.Context, c int, d time.Duration, maxBookings int) levelResult {
	return runLevel(ctx, c, d, maxBookings, func(ctx context.Context) int {
		i := s.next.Add(1)
		_, err := s.book.Create(ctx, s.t, booking.Request{
			ServiceID: s.svc, Start: s.slots[i%int64(len(s.slots))], Channel: booking.InPerson,
			Citizen: booking.Citizen{
				GivenName: "Prova", FamilyName: fmt.Sprintf("Carico %d", i),
				FiscalCode: fiscalCode(i), Email: fmt.Sprintf("prova%d@bench.localhost", i),
			},
			PrivacyAccepted: true,
		}, "http://bench.localhost")
		if err != nil {
			s.errMu.Lock()
			if s.firstErr == nil {
				s.firstErr = err
			}
			s.errMu.Unlock()
			return http.StatusInternalServerError
		}
		return http.StatusCreated
	})
}

// err returns the first booking error, if any.
func (s *storeBench) err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.firstErr
}

// Close stops the in-process node and removes its dir.
func (s *storeBench) Close() {
	if s.node != nil {
		s.node.Close()
	}
	os.RemoveAll(s.dir)
}

// benchComune, benchOfficeOf and benchServiceOf are the bench Comune, its
// office and its service, the same over HTTP and in process.
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
