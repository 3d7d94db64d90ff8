package queue

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// statsHistory plays a known day at the fixture's office (Monday 9 March
// 2026) and one ticket on Tuesday, and returns the office of a second
// Bari office with one ticket, and Milan's office with one ticket:
//
//	09:00 A001 (identity card) and B001 (certificates) taken
//	09:10 A002 (no service) taken
//	09:20 desk 1 calls A001 (waited 20 min), starts at 09:25, served 09:40
//	09:30 desk 2 calls B001 (waited 30 min), no-show at 09:35
//	09:45 A002 leaves the line
//	10:05 A003, 10:10 A004 (identity card) taken
//	10:15 desk 1 calls A003 (10 min), starts 10:15, served 10:45
//	10:50 desk 1 calls A004 (40 min), starts 10:50, served 11:00
//	Tuesday 09:05 A001 taken, still waiting
func statsHistory(t *testing.T, f *fixture) (other booking.Office) {
	t.Helper()
	ctx := context.Background()
	take := func(hh, mm int, svc string) Taken {
		f.clock.Set(at(hh, mm))
		return f.take(t, TakeRequest{ServiceID: svc})
	}
	step := func(hh, mm int, name string, fn func(context.Context, string, string) (Ticket, error), k Ticket, desk string) {
		t.Helper()
		f.clock.Set(at(hh, mm))
		if _, err := fn(ctx, k.ID, desk); err != nil {
			t.Fatalf("%s %s at %02d:%02d: %v", name, k.Number, hh, mm, err)
		}
	}
	call := func(hh, mm int, desk, want string) Ticket {
		t.Helper()
		f.clock.Set(at(hh, mm))
		k, err := f.q.CallNext(ctx, bari, f.office.ID, desk, nil)
		if err != nil || k.Number != want {
			t.Fatalf("call at %02d:%02d: got %s, %v; want %s", hh, mm, k.Number, err, want)
		}
		return k
	}
	start := func(c context.Context, id, desk string) (Ticket, error) {
		return f.q.StartServing(c, bari.ID, id, desk)
	}
	served := func(c context.Context, id, desk string) (Ticket, error) { return f.q.Served(c, bari.ID, id, desk) }
	noShow := func(c context.Context, id, desk string) (Ticket, error) { return f.q.NoShow(c, bari.ID, id, desk) }

	take(9, 0, f.cie.ID)
	take(9, 0, f.cert.ID)
	leaver := take(9, 10, "")
	k := call(9, 20, "1", "A001")
	step(9, 25, "start", start, k, "1")
	k2 := call(9, 30, "2", "B001")
	step(9, 35, "no-show", noShow, k2, "2")
	step(9, 40, "served", served, k, "1")
	f.clock.Set(at(9, 45))
	if _, err := f.q.Cancel(ctx, bari.ID, leaver.Ticket.ID, leaver.Secret); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	take(10, 5, f.cie.ID)
	take(10, 10, f.cie.ID)
	k = call(10, 15, "1", "A003")
	step(10, 15, "start", start, k, "1")
	step(10, 45, "served", served, k, "1")
	k = call(10, 50, "1", "A004")
	step(10, 50, "start", start, k, "1")
	step(11, 0, "served", served, k, "1")

	// Tuesday: one ticket still waiting.
	f.clock.Set(at(9, 5).AddDate(0, 0, 1))
	f.take(t, TakeRequest{ServiceID: f.cie.ID})

	// Another office of Bari, and Milan, each with a ticket on Monday.
	f.clock.Set(at(9, 0))
	var err error
	other, err = f.book.SaveOffice(ctx, bari.ID, booking.Office{Name: "Tributi", Address: "Via Roma 1", Hours: f.office.Hours})
	if err != nil {
		t.Fatal(err)
	}
	f.take(t, TakeRequest{OfficeID: other.ID})
	mOffice, _, _ := setupOffice(t, f.book, milano.ID)
	if _, err := f.q.Take(ctx, milano, TakeRequest{OfficeID: mOffice.ID, Channel: InPerson}); err != nil {
		t.Fatalf("take at Milan: %v", err)
	}
	return other
}

// figures writes a row's figures on one line, for comparison.
func figures(r StatsRow) string {
	return fmt.Sprintf("taken=%d called=%d served=%d no_show=%d abandoned=%d open=%d wait=%v/%v/%d service=%v/%v/%d line=%d",
		r.Taken, r.Called, r.Served, r.NoShow, r.Abandoned, r.Open, r.Wait.Avg, r.Wait.P90, r.Wait.N,
		r.Service.Avg, r.Service.P90, r.Service.N, r.MaxLine)
}

func TestStatsFigures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	statsHistory(t, f)
	ctx := context.Background()
	monday := civil.DateOf(at(12, 0))
	st, err := f.q.Stats(ctx, bari, []string{f.office.ID}, monday, monday)
	if err != nil {
		t.Fatal(err)
	}
	// Waits 20, 30, 10, 40 min: mean 25, 90th percentile the 4th of 4.
	// Services 15, 30, 10 min: mean 18:20, 90th percentile the 3rd of 3.
	// The line: 3 at 09:10 (A001, B001, A002).
	check := func(name string, got StatsRow, want string) {
		t.Helper()
		if g := figures(got); g != want {
			t.Errorf("%s:\n got %s\nwant %s", name, g, want)
		}
	}
	check("total", st.Total, "taken=5 called=4 served=3 no_show=1 abandoned=1 open=0 wait=25m0s/40m0s/4 service=18m20s/30m0s/3 line=3")
	if len(st.Hours) != 2 || st.Hours[0].Hour != 9 || st.Hours[1].Hour != 10 {
		t.Fatalf("hours: got %+v, want 9 and 10", st.Hours)
	}
	check("09", st.Hours[0], "taken=3 called=2 served=1 no_show=1 abandoned=1 open=0 wait=25m0s/30m0s/2 service=15m0s/15m0s/1 line=3")
	check("10", st.Hours[1], "taken=2 called=2 served=2 no_show=0 abandoned=0 open=0 wait=25m0s/40m0s/2 service=20m0s/30m0s/2 line=2")

	svc := map[string]StatsRow{}
	for _, r := range st.Services {
		if r.OfficeID != f.office.ID {
			t.Errorf("service row of office %s", r.OfficeID)
		}
		svc[r.ServiceID] = r
	}
	if len(svc) != 3 {
		t.Fatalf("services: got %d rows, want 3: %+v", len(svc), st.Services)
	}
	check("identity card", svc[f.cie.ID], "taken=3 called=3 served=3 no_show=0 abandoned=0 open=0 wait=23m20s/40m0s/3 service=18m20s/30m0s/3 line=2")
	check("certificates", svc[f.cert.ID], "taken=1 called=1 served=0 no_show=1 abandoned=0 open=0 wait=30m0s/30m0s/1 service=0s/0s/0 line=1")
	check("no service", svc[""], "taken=1 called=0 served=0 no_show=0 abandoned=1 open=0 wait=0s/0s/0 service=0s/0s/0 line=1")

	if len(st.Desks) != 2 || st.Desks[0].Desk != "1" || st.Desks[1].Desk != "2" {
		t.Fatalf("desks: got %+v", st.Desks)
	}
	check("desk 1", st.Desks[0], "taken=3 called=3 served=3 no_show=0 abandoned=0 open=0 wait=23m20s/40m0s/3 service=18m20s/30m0s/3 line=0")
	check("desk 2", st.Desks[1], "taken=1 called=1 served=0 no_show=1 abandoned=0 open=0 wait=30m0s/30m0s/1 service=0s/0s/0 line=0")

	// Two days: Tuesday's ticket is open; every office of Bari adds the
	// other office's ticket, never Milan's.
	st, err = f.q.Stats(ctx, bari, []string{f.office.ID}, monday, monday.AddDays(1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Total.Taken != 6 || st.Total.Open != 1 {
		t.Errorf("two days: %s, want 6 taken, 1 open", figures(st.Total))
	}
	st, err = f.q.Stats(ctx, bari, nil, monday, monday)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total.Taken != 6 || st.Total.Open != 1 || st.Total.MaxLine != 3 {
		t.Errorf("every office: %s, want 6 taken, 1 open, line 3", figures(st.Total))
	}
	st, err = f.q.Stats(ctx, bari, []string{}, monday, monday)
	if err != nil || st.Total.Taken != 0 || len(st.Hours)+len(st.Services)+len(st.Desks) != 0 {
		t.Errorf("no office: %s, %v; want nothing", figures(st.Total), err)
	}
	st, err = f.q.Stats(ctx, milano, nil, monday, monday)
	if err != nil || st.Total.Taken != 1 {
		t.Errorf("Milan: %s, %v; want its one ticket", figures(st.Total), err)
	}
	if _, err := f.q.Stats(ctx, bari, nil, monday, monday.AddDays(-1)); err == nil || !strings.Contains(err.Error(), "to") {
		t.Errorf("reversed period: got %v, want a validation error", err)
	}
}

// TestLinePeaksCarryAcrossHours checks that a line with no event in an
// hour is counted in it, and that a call and a take at the same second
// do not make the line longer.
func TestLinePeaksCarryAcrossHours(t *testing.T) {
	t.Parallel()
	u := func(hh, mm int) int64 { return at(hh, mm).Unix() }
	ts := []statsTicket{
		{taken: u(9, 0), called: u(9, 30), state: Served},
		{taken: u(9, 30), called: u(12, 10), state: Called},
		{taken: u(9, 30), state: Cancelled, done: u(11, 5)},
		{taken: u(11, 0), state: Waiting},
	}
	p := linePeaks(ts, bari.Location())
	want := [24]int{}
	want[9], want[10], want[11], want[12] = 2, 2, 3, 2
	if p.byHour != want || p.max != 3 {
		t.Errorf("peaks: got %v max %d, want %v max 3", p.byHour, p.max, want)
	}
}

func TestSummarizeNearestRank(t *testing.T) {
	t.Parallel()
	secs := []int64{50, 10, 40, 20, 30, 60, 70, 80, 90, 100, 110}
	got := summarize(secs)
	// 11 values: the 90th percentile is the 10th (ceil 9.9), 100 s.
	if got.N != 11 || got.Avg != 60*time.Second || got.P90 != 100*time.Second {
		t.Errorf("summarize: got %+v", got)
	}
	if (summarize(nil) != Times{}) {
		t.Errorf("summarize(nil) is not zero")
	}
}

// TestStatsCost measures the report over many tickets, taken and served
// through commands; it runs only with QUEUE_STATS_COST=1 (it takes a
// while) and logs the time per ticket.
func TestStatsCost(t *testing.T) {
	if os.Getenv("QUEUE_STATS_COST") == "" {
		t.Skip("set QUEUE_STATS_COST=1 to measure")
	}
	f := newFixture(t)
	ctx := context.Background()
	const n = 3000
	cfg, err := f.q.Config(ctx, bari.ID, f.office.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AlwaysOpen, cfg.DailyCap, cfg.MaxPerDevice, cfg.MaxPerIP = true, 0, 0, 0
	if err := f.q.Configure(ctx, bari.ID, cfg); err != nil {
		t.Fatal(err)
	}
	at := startTime
	for i := range n {
		at = at.Add(3 * time.Minute)
		f.clock.Set(at)
		svc := f.cie.ID
		if i%3 == 0 {
			svc = f.cert.ID
		}
		k := f.take(t, TakeRequest{ServiceID: svc})
		f.clock.Set(at.Add(time.Minute))
		if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.q.StartServing(ctx, bari.ID, k.Ticket.ID, "1"); err != nil {
			t.Fatal(err)
		}
		f.clock.Set(at.Add(2 * time.Minute))
		if _, err := f.q.Served(ctx, bari.ID, k.Ticket.ID, "1"); err != nil {
			t.Fatal(err)
		}
	}
	from, to := civil.DateOf(startTime.In(bari.Location())), civil.DateOf(at.In(bari.Location()))
	const rounds = 20
	start := time.Now()
	for range rounds {
		st, err := f.q.Stats(ctx, bari, []string{f.office.ID}, from, to)
		if err != nil || st.Total.Taken != n {
			t.Fatalf("stats: %d tickets, %v", st.Total.Taken, err)
		}
	}
	per := time.Since(start) / rounds
	t.Logf("%d tickets over %s..%s: %v per report, %v per ticket", n, from, to, per, per/n)
}
