package web

import (
	"net/http"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestStaleNodeHidesAvailability serves the slot listings with a real
// node that is closed, and so reports stale, as the Freshness: the API
// answers 503 "stale" with Retry-After and the step-2 page an Italian
// message, instead of availability that may be outdated. The same handler
// with a fresh node (the env's leader) serves the slots.
func TestStaleNodeHidesAvailability(t *testing.T) {
	e := newEnv(t)
	down := clustertest.Node(t, tenant.Register, booking.Register)
	if err := down.Close(); err != nil {
		t.Fatalf("close node: %v", err)
	}
	if stale, _ := down.Stale(); !stale {
		t.Fatalf("closed node: Stale() = false, want true")
	}
	use := func(f Freshness) {
		h, err := New(Config{
			Book:      e.handler.book,
			Site:      e.handler.site,
			Logger:    clustertest.Logger(t),
			Now:       e.clock.Now,
			RateLimit: RateLimit{PerMinute: -1},
			Freshness: f,
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		mux := http.NewServeMux()
		h.Routes(mux)
		e.srv = e.handler.site.Tenant(mux)
	}
	slots := "/api/v1/services/" + e.bari.InPerson.ID + "/slots?from=2027-03-01&to=2027-03-05"
	step2 := "/prenota?servizio=" + e.bari.InPerson.ID + "&ufficio=" + e.bari.Office.ID

	t.Run("stale", func(t *testing.T) {
		use(down)
		r := e.get(bariHost, slots)
		wantAPIError(t, r, http.StatusServiceUnavailable, "stale")
		if got := r.Header.Get("Retry-After"); got != retryUnavailable {
			t.Errorf("Retry-After: got %q, want %q", got, retryUnavailable)
		}
		r = e.get(bariHost, step2)
		if r.Status == http.StatusOK {
			// Step 1 shows no slots; advance to step 2.
			r = e.advance(bariHost, findForm(t, r.Body, "/prenota", `name="servizio"`), "")
		}
		wantStatus(t, r, http.StatusServiceUnavailable)
		wantText(t, r.Body, "Non riusciamo a mostrare le disponibilità aggiornate")
	})
	t.Run("fresh", func(t *testing.T) {
		use(e.node)
		r := e.get(bariHost, slots)
		wantStatus(t, r, http.StatusOK)
	})
}
