package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

func TestFiscalCodesAreValidAndDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, i := range []int64{0, 1, 25, 26, 675, 676, 17575, 17576, 99_999_999, 308_915_775} {
		fc := fiscalCode(i)
		if !booking.ValidFiscalCode(fc) {
			t.Errorf("fiscalCode(%d) = %s, not a valid codice fiscale", i, fc)
		}
		if seen[fc] {
			t.Errorf("fiscalCode(%d) = %s repeats an earlier code", i, fc)
		}
		seen[fc] = true
	}
}

func TestParseLevels(t *testing.T) {
	t.Parallel()
	got, err := parseLevels("1, 16,64,256")
	if err != nil || len(got) != 4 || got[0] != 1 || got[3] != 256 {
		t.Errorf("parseLevels = %v, %v; want [1 16 64 256]", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-4", "5000"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("parseLevels(%q) succeeded, want an error", bad)
		}
	}
}

func TestPercentilesAndReport(t *testing.T) {
	t.Parallel()
	store := levelResult{concurrency: 16, elapsed: time.Second, errors: map[int]int{}, latencies: []time.Duration{time.Millisecond}}
	for range 199 {
		store.latencies = append(store.latencies, 2*time.Millisecond)
	}
	store.ok = len(store.latencies)
	r := levelResult{concurrency: 16, elapsed: 2 * time.Second, errors: map[int]int{0: 1, 503: 2},
		store: &store, loadgenCPU: time.Second, nodeCPU: 3 * time.Second}
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	r.ok = len(r.latencies)
	if r.p(50) != 50*time.Millisecond || r.p(99) != 99*time.Millisecond || r.rate() != 50 {
		t.Errorf("p50 %v, p99 %v, rate %v; want 50ms, 99ms, 50/s", r.p(50), r.p(99), r.rate())
	}
	var b strings.Builder
	report(&b, reportInfo{When: time.Unix(0, 0), CPUs: 2, FsyncPerSec: 100, FsyncSamples: 10, Duration: 2 * time.Second, Drain: true},
		[]levelResult{r, {concurrency: 1, elapsed: time.Second, errors: map[int]int{}}})
	for _, want := range []string{
		"| concurrency | HTTP bookings/s | HTTP p50 | HTTP p99 | errors | store bookings/s | store p50 | store p99 | HTTP / store | store / fsync | CPU loadgen | CPU node |",
		"| 16 | 50 | 50.0 ms | 99.0 ms | 1×net 2×503 | 200 | 2.00 ms | 2.00 ms | 0.25 | 2.00 | 50% | 150% |",
		"| 1 | 0 | 0.00 ms | 0.00 ms | 0 | – | – | – | – | – | 0% | 0% |",
		"100 fsyncs/s",
		"previous level's emails are delivered",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBodyIsTheAPIRequest(t *testing.T) {
	t.Parallel()
	b := &bench{service: booking.Service{ID: `svc-"1"`}, slots: []string{"2027-03-02T10:00:00+01:00"}, base: 7}
	var got struct {
		ServiceID       string `json:"service_id"`
		Start           string `json:"start"`
		Channel         string `json:"channel"`
		PrivacyAccepted bool   `json:"privacy_accepted"`
		Citizen         struct {
			GivenName  string `json:"given_name"`
			FamilyName string `json:"family_name"`
			FiscalCode string `json:"fiscal_code"`
			Email      string `json:"email"`
		} `json:"citizen"`
	}
	dec := json.NewDecoder(bytes.NewReader(b.body(42)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body is not the API's JSON: %v", err)
	}
	if got.ServiceID != `svc-"1"` || got.Start != b.slots[0] || got.Channel != "in_person" || !got.PrivacyAccepted ||
		got.Citizen.FamilyName != "Carico 42" || got.Citizen.FiscalCode != fiscalCode(49) || got.Citizen.Email != "prova42@bench.localhost" {
		t.Errorf("body decodes to %+v", got)
	}
}
