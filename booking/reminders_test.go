package booking

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
	"github.com/sportello-virtuale/sportello/tenant"
)

// reminderKeys lists the reminder emails in node's outbox as
// "<sequence>/<minutes before>", in the order queued.
func reminderKeys(t *testing.T, node *cluster.Node) []string {
	t.Helper()
	items, err := node.Outbox(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.Kind != OutboxKind || !strings.Contains(it.Key, "/reminder-") {
			continue
		}
		parts := strings.Split(it.Key, "/")
		out = append(out, parts[len(parts)-2]+"/"+strings.TrimPrefix(parts[len(parts)-1], "reminder-"))
	}
	return out
}

// worker is a reminder worker over f's Book for the Comune bari.
func (f *fixture) worker(t *testing.T) *ReminderWorker {
	return &ReminderWorker{
		Book: f.book, IsLeader: f.node.IsLeader, Log: clustertest.Logger(t),
		Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil },
	}
}

func tick(t *testing.T, w *ReminderWorker) int {
	t.Helper()
	n, err := w.Tick(context.Background())
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return n
}

// The fixture's appointment: Wednesday 11 March 2026 at 10:00 in Rome,
// booked on Monday at 10:00; reminders 24 h and 2 h before by default.
func TestRemindersOncePerOffsetAndNotAfterCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	w := f.worker(t)
	start := f.at(2026, 3, 11, 10, 0)
	kept, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 2), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.Cancel(ctx, bari, gone.Booking.Code, gone.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if n := tick(t, w); n != 0 {
		t.Errorf("two days before: %d reminders", n)
	}
	f.clock.Set(start.Add(-24 * time.Hour).Add(time.Minute))
	if n := tick(t, w); n != 1 {
		t.Errorf("24 h before: %d reminders, want 1", n)
	}
	// Scanned again, and proposed again directly, as a second leader
	// would: nothing more is queued.
	if n := tick(t, w); n != 0 {
		t.Errorf("second scan: %d reminders", n)
	}
	res, err := f.book.propose(ctx, CmdReminderSend, bari.ID, reminderPayload{BookingID: kept.Booking.ID, Before: int64(24 * time.Hour / time.Second), Comune: comuneOf(bari)})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Value.(ReminderResult); r.Queued {
		t.Error("the same reminder was queued twice")
	}
	// The cancelled booking is refused even when proposed directly.
	if _, err := f.book.propose(ctx, CmdReminderSend, bari.ID, reminderPayload{BookingID: gone.Booking.ID, Sequence: 1, Before: int64(24 * time.Hour / time.Second), Comune: comuneOf(bari)}); !errors.Is(err, ErrCancelled) {
		t.Errorf("reminder of a cancelled booking: %v, want ErrCancelled", err)
	}
	f.clock.Set(start.Add(-2 * time.Hour))
	if n := tick(t, w); n != 1 {
		t.Errorf("2 h before: %d reminders, want 1", n)
	}
	f.clock.Set(start.Add(-time.Minute))
	if n := tick(t, w); n != 0 {
		t.Errorf("a minute before: %d reminders", n)
	}
	if got := reminderKeys(t, f.node); !slices.Equal(got, []string{"0/1440", "0/120"}) {
		t.Errorf("reminders queued %v, want 0/1440 then 0/120 (none for the cancelled booking)", got)
	}
	// A day after the appointment the worker prunes what the reminders
	// kept: the records and the manage link (the token).
	if n := countRows(t, f, "booking_reminder_links"); n != 1 {
		t.Errorf("%d manage links kept before the appointment, want the active booking's", n)
	}
	f.clock.Set(start.Add(25 * time.Hour))
	tick(t, w)
	for _, table := range []string{"booking_reminder_links", "booking_reminders_sent"} {
		if n := countRows(t, f, table); n != 0 {
			t.Errorf("%s: %d rows left after the appointment", table, n)
		}
	}
}

// countRows counts the rows of a table of bari.
func countRows(t *testing.T, f *fixture, table string) int {
	t.Helper()
	var n int
	if err := f.node.DB().QueryRow(`SELECT count(*) FROM `+table+` WHERE tenant = ?`, bari.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRemindersOfALateBookingAreTheLaterOnes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	w := f.worker(t)
	start := f.at(2026, 3, 11, 10, 0)
	// Booked on Tuesday at 11:00, 23 h before: inside the 24 h
	// reminder's window, but after its time.
	f.clock.Set(f.at(2026, 3, 10, 11, 0))
	c, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if n := tick(t, w); n != 0 {
		t.Errorf("just booked: %d reminders, want none", n)
	}
	if _, err := f.book.propose(ctx, CmdReminderSend, bari.ID, reminderPayload{BookingID: c.Booking.ID, Before: int64(24 * time.Hour / time.Second), Comune: comuneOf(bari)}); !errors.Is(err, ErrReminderNotDue) {
		t.Errorf("24 h reminder proposed directly: %v, want ErrReminderNotDue", err)
	}
	f.clock.Set(start.Add(-2 * time.Hour))
	if n := tick(t, w); n != 1 {
		t.Errorf("2 h before: %d reminders, want 1", n)
	}
	if got := reminderKeys(t, f.node); !slices.Equal(got, []string{"0/120"}) {
		t.Errorf("reminders queued %v, want only 0/120", got)
	}
}

func TestMovedBookingGetsItsRemindersAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	w := f.worker(t)
	start := f.at(2026, 3, 11, 10, 0)
	c, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(-24 * time.Hour))
	if n := tick(t, w); n != 1 {
		t.Fatalf("24 h before: %d reminders, want 1", n)
	}
	// Moved to Thursday at 11:00, at the last moment allowed.
	moved := f.at(2026, 3, 12, 11, 0)
	if _, err := f.book.Move(ctx, bari, c.Booking.Code, c.ManageToken, moved, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(-2 * time.Hour))
	if n := tick(t, w); n != 0 {
		t.Errorf("the old time's 2 h reminder was sent: %d", n)
	}
	f.clock.Set(moved.Add(-24 * time.Hour))
	if n := tick(t, w); n != 1 {
		t.Errorf("24 h before the new time: %d reminders, want 1", n)
	}
	f.clock.Set(moved.Add(-2 * time.Hour))
	if n := tick(t, w); n != 1 {
		t.Errorf("2 h before the new time: %d reminders, want 1", n)
	}
	if got := reminderKeys(t, f.node); !slices.Equal(got, []string{"0/1440", "1/1440", "1/120"}) {
		t.Errorf("reminders queued %v, want 0/1440, 1/1440, 1/120", got)
	}
	// The reminder carries the new time, the manage link and no fiscal
	// code.
	items, _ := f.node.Outbox(ctx, "", 1000)
	var n Notice
	for _, it := range items {
		if strings.HasSuffix(it.Key, "/1/reminder-120") {
			if err := json.Unmarshal(it.Payload, &n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !n.Booking.Start.Equal(moved) || n.ManageURL != "https://bari.example.it"+ManagePath(c.Booking.Code, c.ManageToken) ||
		n.Booking.Citizen.FiscalCode != "" || n.Before != 2*time.Hour {
		t.Errorf("reminder notice: start %v, manage %q, fiscal code %q, before %v", n.Booking.Start, n.ManageURL, n.Booking.Citizen.FiscalCode, n.Before)
	}
}

func TestReminderSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	s, err := f.book.ReminderSettings(ctx, bari.ID)
	if err != nil || !s.Default || !slices.Equal(s.Offsets, DefaultReminderOffsets()) {
		t.Fatalf("default settings %+v, %v", s, err)
	}
	offsets, err := ParseReminderOffsets("2 h; 1 g, 30 min")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatReminderOffsets(offsets); got != "24 h, 2 h, 30 min" {
		t.Errorf("parsed and formatted: %q", got)
	}
	for _, bad := range []string{"10 min", "200", "2 h, 2", "1 settimana", "x", "1, 2, 3, 4, 5", "1,5 h", "24,2", "1.5"} {
		var ve *ValidationError
		if _, err := ParseReminderOffsets(bad); !errors.As(err, &ve) || ve.Fields["reminders"] == "" {
			t.Errorf("ParseReminderOffsets(%q) = %v, want a field error", bad, err)
		}
	}
	if _, err := f.book.SaveReminderSettings(ctx, bari.ID, []time.Duration{time.Minute}); err == nil {
		t.Error("an offset of a minute was saved")
	}
	if _, err := f.book.SaveReminderSettings(ctx, bari.ID, offsets); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.book.ReminderSettings(ctx, bari.ID); s.Default || FormatReminderOffsets(s.Offsets) != "24 h, 2 h, 30 min" {
		t.Errorf("saved settings %+v", s)
	}
	// Off: a booking gets no reminder at all.
	if _, err := f.book.SaveReminderSettings(ctx, bari.ID, nil); err != nil {
		t.Fatal(err)
	}
	start := f.at(2026, 3, 11, 10, 0)
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	w := f.worker(t)
	for _, before := range []time.Duration{24 * time.Hour, 2 * time.Hour, 30 * time.Minute} {
		f.clock.Set(start.Add(-before))
		if n := tick(t, w); n != 0 {
			t.Errorf("reminders off, %v before: %d sent", before, n)
		}
	}
}

// reminderCluster starts a three-node cluster whose leaders stamp
// commands with clock, each node with the booking commands and an outbox
// deliverer that records which node delivered what.
func reminderCluster(t *testing.T, clock *clustertest.Clock, delivered *deliveries) []*cluster.Node {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*cluster.Node, 3)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{
			NodeID: id, Identity: clustertest.Identity(t, ca, id), Join: i > 0,
			HeartbeatTimeout: 300 * time.Millisecond, Now: clock.Now, OutboxBackoff: 100 * time.Millisecond,
		}, Register)
		nodes[i].HandleOutbox(OutboxKind, delivered.deliverer(id))
	}
	clustertest.Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(nodes))
	for _, n := range nodes[1:] {
		go func() { errs <- n.Start(ctx) }()
	}
	for _, n := range nodes[1:] {
		for n.RaftAddr() == "" {
			time.Sleep(5 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, n.Config().NodeID, n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for range nodes[1:] {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// deliveries records the outbox deliveries by key and node.
type deliveries struct {
	mu sync.Mutex
	by map[string][]string
}

func (d *deliveries) deliverer(node string) cluster.Deliverer {
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.by[m.Key] = append(d.by[m.Key], node)
		return nil
	}
}

// reminders returns the deliveries of reminder emails.
func (d *deliveries) reminders() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]string{}
	for k, v := range d.by {
		if strings.Contains(k, "/reminder-") {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// waitReminders waits until want reminder emails have been delivered.
func (d *deliveries) waitReminders(t *testing.T, want int) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := d.reminders()
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRemindersNeverTwiceAcrossALeaderChange runs the worker on every
// node of a three-node cluster, as after a failover when the old leader
// has not yet noticed: each proposes the 24 h reminder, one is queued
// and delivered once. Then the leader is stopped; the new leader's
// worker finds the 24 h reminder done and sends the 2 h one, once.
func TestRemindersNeverTwiceAcrossALeaderChange(t *testing.T) {
	t.Parallel()
	clock := clustertest.NewClock(startTime)
	delivered := &deliveries{by: map[string][]string{}}
	nodes := reminderCluster(t, clock, delivered)
	ctx := context.Background()
	books := make([]*Book, len(nodes))
	workers := make([]*ReminderWorker, len(nodes))
	for i, n := range nodes {
		books[i] = NewBook(n, n.DB(), clock.Now, rand.Reader)
		workers[i] = &ReminderWorker{Book: books[i], IsLeader: n.IsLeader, Log: clustertest.Logger(t),
			Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil }}
	}
	office, err := books[1].SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84",
		Hours: everyDay(Interval{hm(8, 0), hm(18, 0)})})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := books[1].SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "CIE", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 2, HorizonDays: 30, CancelDeadline: time.Hour, MaxActivePerCitizen: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC) // 10:00 in Rome
	c, err := books[2].Create(ctx, bari, Request{ServiceID: svc.ID, Start: start, Channel: InPerson, PrivacyAccepted: true, Lang: "de",
		Citizen: Citizen{GivenName: "Anna", FamilyName: "Huber", FiscalCode: testFiscalCode(3), Email: "anna@example.it"}}, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(-23 * time.Hour))
	leader := clustertest.Leader(t, nodes...)
	for i, n := range nodes {
		// Every node waits for the booking, then scans as if it led.
		_ = n
		for {
			if _, err := books[i].Get(ctx, bari.ID, c.Booking.Code, c.ManageToken); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	counts := make([]int, len(nodes))
	for i := range nodes {
		wg.Go(func() { counts[i] = tickSettled(t, workers[i]) })
	}
	wg.Wait()
	// A proposal whose answer was lost in an election may have queued
	// without saying so: the outbox below is the judge, this at most.
	if total := counts[0] + counts[1] + counts[2]; total > 1 {
		t.Errorf("three workers queued %v reminders, want 1 in all", counts)
	}
	got := delivered.waitReminders(t, 1)
	if len(got) != 1 {
		t.Fatalf("24 h reminder deliveries %v", got)
	}
	if keys := reminderKeys(t, leader); !slices.Equal(keys, []string{"0/1440"}) {
		t.Errorf("reminders queued by three workers: %v, want one 0/1440", keys)
	}
	// Let the leader record the delivery, then stop it.
	waitOutboxSent(t, leader)
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*cluster.Node
	var restWorkers []*ReminderWorker
	for i, n := range nodes {
		if n != leader {
			rest = append(rest, n)
			restWorkers = append(restWorkers, workers[i])
		}
	}
	newLeader := clustertest.Leader(t, rest...)
	for i, n := range rest {
		if n == newLeader {
			if q := tickSettled(t, restWorkers[i]); q != 0 {
				t.Errorf("new leader queued the 24 h reminder again (%d)", q)
			}
			clock.Set(start.Add(-2 * time.Hour))
			tickSettled(t, restWorkers[i])
		}
	}
	got = delivered.waitReminders(t, 2)
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	got = delivered.reminders()
	if len(got) != 2 {
		t.Errorf("reminder deliveries %v, want the 24 h and the 2 h one", got)
	}
	for k, by := range got {
		if len(by) != 1 {
			t.Errorf("%s delivered %d times (%v)", k, len(by), by)
		}
	}
	if keys := reminderKeys(t, newLeader); !slices.Equal(keys, []string{"0/1440", "0/120"}) {
		t.Errorf("reminders in the new leader's outbox %v", keys)
	}
}

// tickSettled runs w.Tick, again while it fails for want of a leader (an
// election under a loaded machine), and returns what the successful run
// queued.
func tickSettled(t *testing.T, w *ReminderWorker) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	queued := 0
	for {
		n, err := w.Tick(context.Background())
		queued += n
		transient := errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrNotLeader) ||
			errors.Is(err, cluster.ErrOutcomeUnknown) || errors.Is(err, context.DeadlineExceeded)
		if err == nil || !transient || time.Now().After(deadline) {
			if err != nil {
				t.Errorf("Tick: %v", err)
			}
			return queued
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitOutboxSent waits until every item of node's outbox is sent.
func waitOutboxSent(t *testing.T, node *cluster.Node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		items, err := node.Outbox(context.Background(), "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		pending := 0
		for _, it := range items {
			if it.Status != cluster.OutboxSent {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("outbox not sent within 30 s")
}
