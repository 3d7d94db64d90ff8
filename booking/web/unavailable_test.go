package web

import (
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestWritesWithoutClusterAnswer503 proposes through a real node that has
// been closed (reads still come from a live node): the write cannot be
// committed, and the API answers 503 with Retry-After, not 500.
func TestWritesWithoutClusterAnswer503(t *testing.T) {
	e := newEnv(t)
	down := clustertest.Node(t, tenant.Register, booking.Register)
	if err := down.Close(); err != nil {
		t.Fatalf("close node: %v", err)
	}
	h, err := New(Config{
		Book:      booking.NewBook(down, e.node.DB(), e.clock.Now, rand.Reader),
		Site:      e.handler.site,
		Logger:    clustertest.Logger(t),
		Now:       e.clock.Now,
		RateLimit: RateLimit{PerMinute: -1},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	e.srv = e.handler.site.Tenant(mux)

	body := bookingJSON(e.bari.InPerson.ID, slot(2, 10, 0), "in_person", citizen(7))
	r := e.postJSON(bariHost, "/api/v1/bookings", body, nil)
	wantAPIError(t, r, http.StatusServiceUnavailable, "unavailable")
	if got := r.Header.Get("Retry-After"); got != retryUnavailable {
		t.Errorf("Retry-After: got %q, want %q", got, retryUnavailable)
	}
}
