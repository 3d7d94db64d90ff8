package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/internal/loadrun"
	"github.com/sportello-virtuale/sportello/tenant"
)

// storeLoadRequest is the body of POST /v1/debug/store-load.
type storeLoadRequest struct {
	Tenant      string `json:"tenant"`
	ServiceID   string `json:"service_id"`
	Concurrency int    `json:"concurrency"`
	// Duration is a Go duration, at most one minute.
	Duration string `json:"duration"`
	// Max stops the run after this many bookings (0: 200000).
	Max int `json:"max,omitempty"`
	// FirstCitizen numbers the run's first citizen; the caller keeps runs
	// apart with it.
	FirstCitizen int64 `json:"first_citizen"`
}

// storeLoad answers POST /v1/debug/store-load: it books the service with
// booking.Book.Create in this process, from Concurrency goroutines, for
// Duration, each booking by a distinct citizen, and returns the
// loadrun.Result. It measures the store without HTTP on a real node of a
// real cluster (on a follower Create forwards to the leader): the load
// generator reports the HTTP path as a fraction of it. It is on the admin
// socket only, like the profiler, and books for real: use it on a bench
// Comune, never on a Comune in service.
func (a *adminServer) storeLoad(w http.ResponseWriter, r *http.Request) {
	var req storeLoadRequest
	if !a.decode(w, r, &req) {
		return
	}
	d, err := time.ParseDuration(req.Duration)
	fields := map[string]string{}
	if err != nil || d <= 0 || d > time.Minute {
		fields["duration"] = "want a duration from 1ns to 1m"
	}
	if req.Concurrency < 1 || req.Concurrency > 4096 {
		fields["concurrency"] = "want 1 to 4096"
	}
	if req.Max < 0 {
		fields["max"] = "want 0 or more"
	}
	if req.FirstCitizen < 0 || req.FirstCitizen > 300_000_000 {
		fields["first_citizen"] = "want 0 to 300000000"
	}
	if len(fields) > 0 {
		writeJSON(w, http.StatusBadRequest, adminError{adminErrorBody{Code: "invalid", Message: "invalid store-load request", Fields: fields}})
		return
	}
	if req.Max == 0 {
		req.Max = 200_000
	}
	t, err := a.tenants.Get(r.Context(), tenant.ID(req.Tenant))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	today := civil.DateOf(time.Now())
	all, err := a.book.Slots(r.Context(), t, req.ServiceID, today, today.AddDays(14))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Slots of the next hour would pass the minimum notice during the run.
	var slots []time.Time
	soon := time.Now().Add(time.Hour)
	for _, s := range all {
		if s.Start.After(soon) && s.Remaining > 0 {
			slots = append(slots, s.Start)
		}
	}
	if len(slots) == 0 {
		writeJSON(w, http.StatusConflict, adminError{adminErrorBody{Code: "no_slots", Message: "the service has no free slot in the next 14 days"}})
		return
	}
	var next atomic.Int64
	next.Store(req.FirstCitizen - 1)
	baseURL := siteURL(a.tenants.PrimaryHost(t), a.status().HTTPAddr, "")
	res := loadrun.Run(r.Context(), req.Concurrency, d, req.Max, func(ctx context.Context, _ int) string {
		i := next.Add(1)
		_, err := a.book.Create(ctx, t, booking.Request{
			ServiceID: req.ServiceID, Start: slots[i%int64(len(slots))], Channel: booking.InPerson,
			Citizen: booking.Citizen{
				GivenName: "Prova", FamilyName: fmt.Sprintf("Carico %d", i),
				FiscalCode: loadrun.FiscalCode(i), Email: fmt.Sprintf("prova%d@bench.localhost", i),
			},
			PrivacyAccepted: true,
		}, baseURL)
		return failureName(err)
	})
	writeJSON(w, http.StatusOK, res)
}

// failureName names an error of Book.Create for the load's error counts.
func failureName(err error) string {
	var nl *cluster.NotLeaderError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, cluster.ErrNoLeader), errors.As(err, &nl):
		return "no_leader"
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	case errors.Is(err, booking.ErrSlotFull):
		return "slot_full"
	}
	return "other"
}
