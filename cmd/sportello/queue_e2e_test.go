package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestQueueE2E is issue 5's end-to-end test of the virtual queue on the
// real binary: a three-node cluster, three operators on three desks (each
// logged in on a different node) and 50 citizens, walk-ins and booked
// ones checking in, taking tickets concurrently through the public API of
// every node while the operators call, serve and mark absent until the
// line is empty. Everything is set up through the product's interfaces:
// the CLI (Comune, break-glass operators), the admin socket (office and
// service, as seedBari), the back office (desks, the queue's settings)
// and the public API (bookings, tickets).
//
// It checks that every ticket was called exactly once, by one desk, and
// ended served or absent as the operator chose; that the numbers are
// consecutive and never repeated; that every citizen's status URL tells
// the final state and the desk; that the order of the calls followed the
// rule (due appointments, then walk-ins by arrival, then early
// appointments), judged only on pairs whose order the timing settles
// (qeOrderViolations); and that the three nodes hold identical state
// afterwards. Four citizens have a priority category, set through the two
// doors that offer one: two take their number at the office's kiosk
// ("Precedenza (disabilità, gravidanza)"), two are added by an operator
// with the desk page's "Aggiungi un cittadino alla coda"; one of each
// arrives before the first call, one while the operators work. Neither
// door gives them a ticket page, so their final state is not read from a
// status URL; the kiosk does not show the ticket's ID either, so their
// calls are matched by number.
//
// Three nodes, because the claims under test are cluster claims: numbers
// and call-next are decided in apply so that concurrent requests reaching
// different nodes can neither share a number nor a citizen. The existing
// helpers (clusterNodeConfig, cluster token, join through the
// configuration) make the cluster a few seconds of set-up.
//
// The appointments are one minute long, so the first free slot starts
// within a minute of the bookings; the operators start once it has
// begun, so that the line holds due appointments, walk-ins and early
// appointments at once. That wait, overlapped with the set-up, is most
// of the run: 30 to 70 seconds depending on where in the minute the
// bookings fall.
//
// The citizens come from 50 addresses, as behind the Comune's proxy:
// trust_proxy_headers is on and each citizen sends its own
// X-Forwarded-For, so the per-address rate limit and admission caps of
// the queue see 50 clients, as they would in production, instead of
// being lifted. Bookings are unlimited ([rate_limit] bookings_per_minute
// = -1, as in the other cluster tests). The queue is set always open
// (its settings page), so that the test does not depend on the hour.
func TestQueueE2E(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	phase := began
	step := func(what string) {
		t.Logf("%-40s %6v (total %v)", what, time.Since(phase).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		phase = time.Now()
	}
	const (
		host      = "bari.localhost"
		nodes     = 3
		operators = 3
		citizens  = 50
		// Booked citizens: bookedNow have the first free slot (due once
		// it starts, before the operators begin), bookedLater one that
		// starts three minutes after it (early for the whole run, even
		// on a slow machine where the set-up takes a minute and a half).
		bookedNow   = 8
		bookedLater = 4
		// wave1 walk-ins wait before the first call; the others arrive
		// while the operators work.
		wave1     = 20
		firstWave = bookedNow + bookedLater + wave1
		password  = "Operatore-Della-Coda-2026"
	)

	// The first node, which starts the cluster.
	ids := make([]string, nodes)
	dirs := make([]string, nodes)
	raftAddrs := make([]string, nodes)
	for i := range ids {
		ids[i], dirs[i], raftAddrs[i] = fmt.Sprintf("node%d", i+1), shortTempDir(t), freeAddr(t)
	}
	// The citizens' browsers' push service, for the three followers.
	pushes, pushConf := newQEPush(t)
	proxied := "\n[http]\ntrust_proxy_headers = true\n" + pushConf
	procs := make([]*proc, nodes)
	procs[0] = startProc(t, dirs[0], "serve", "--config",
		clusterNodeConfig(t, dirs[0], ids[0], raftAddrs[0], proxied+"\n[cluster]\ninit = true\nname = \"coda\"\n"))
	p := procs[0]
	step("first node")

	// The Comune, an office open all day every day (so that the test
	// does not depend on the clock) and a service of one-minute
	// appointments, so that the first free slot starts within a minute.
	if out, errOut, code := runCLI(t, "tenant", "create", "--data", dirs[0], "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--sender", "Comune di Bari <noreply@bari.localhost>"); code != exitOK {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var office booking.Office
	p.adminDo(t, "POST", "/v1/tenants/bari/offices", booking.Office{
		Name: "Anagrafe", Address: "Largo Chiurlia, 27 – 70122 Bari", Phone: "080 577 2250", Hours: everyDay(),
	}, &office)
	var svc booking.Service
	p.adminDo(t, "POST", "/v1/tenants/bari/services", booking.Service{
		OfficeID: office.ID, Name: "Certificati anagrafici", Description: "Certificati di residenza e stato di famiglia.",
		Duration: time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 100,
		HorizonDays: 1, MaxActivePerCitizen: 1,
	}, &svc)

	// The bookings, first of all: the sooner they are made, the less the
	// test waits for the first slot to start. They must be today's, on a
	// holiday too, and the run must not cross midnight (a booking is
	// checked in on its day, and the line is the day's): the test waits
	// for the new day in the last five minutes of one.
	openAllDayOnHolidays(t, p, dirs[0], host, office.ID)
	waitForNewDayWithin(t, 5*time.Minute)
	slot1, slot2 := queueE2ESlots(t, p, host, svc.ID)
	tickets := make([]*qeTicket, citizens)
	codes := make([]string, citizens)
	for i := range tickets {
		tickets[i] = &qeTicket{Citizen: i, Node: i % nodes, Priority: queueE2EPriority[i] != ""}
		if i < bookedNow+bookedLater {
			start := slot1
			if i >= bookedNow {
				start = slot2
			}
			r := p.postJSON(t, p.url(host, "/api/v1/bookings"), bookingRequest(svc.ID, start.Format(time.RFC3339), 500+i))
			wantStatus(t, fmt.Sprintf("booking of citizen %d at %s", i, start.Format("15:04")), r, http.StatusCreated)
			var b struct {
				Code string `json:"code"`
			}
			if err := json.Unmarshal([]byte(r.Body), &b); err != nil || b.Code == "" {
				t.Fatalf("booking answer %q: %v", r.Body, err)
			}
			codes[i], tickets[i].Appointment = b.Code, start
		}
	}
	step(fmt.Sprintf("bookings (slots %s and %s)", slot1.Format("15:04:05"), slot2.Format("15:04:05")))

	// Three operators: break-glass administrators made with the CLI, the
	// way an installation gets its first one, their codes computed from
	// the printed secrets. The CLI runs while the other nodes join, one
	// account after the other: each hashes its password with argon2id
	// (a race build's takes about a second of CPU), and with three at
	// once beside two nodes starting, on a loaded CI machine, one took
	// more than the CLI's 30 s.
	users := make([]string, operators)
	for i := range users {
		users[i] = fmt.Sprintf("operatore%d", i+1)
	}
	secrets := make([]string, operators)
	adminErrs := make(chan error, operators)
	go func() {
		for i := range users {
			adminErrs <- queueE2EAdmin(dirs[0], users[i], password, &secrets[i])
		}
	}()

	// The other two nodes join through their configuration.
	for i := 1; i < nodes; i++ {
		out, errOut, code := runCLI(t, "cluster", "token", "--data", dirs[0], "--ttl", "10m")
		tok := strings.TrimSpace(out)
		if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
			t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		procs[i] = startProc(t, dirs[i], "serve", "--config", clusterNodeConfig(t, dirs[i], ids[i], raftAddrs[i],
			proxied+fmt.Sprintf("\n[cluster]\njoin_token = %q\njoin_addr = %q\n", tok, raftAddrs[0])))
	}
	for range users {
		if err := <-adminErrs; err != nil {
			t.Fatal(err)
		}
	}
	step("two nodes joined, operators created")

	// Each operator logs in on its own node, once the accounts have
	// reached it.
	waitIdentical(t, 20*time.Second, procs...)
	cookies := make([]string, operators)
	for i := range cookies {
		next, _ := auth.TOTPCode(secrets[i], time.Now().Add(auth.TOTPPeriod))
		r, cookie := breakGlassLogin(t, procs[i], host, users[i], password, next)
		if r.Status != http.StatusSeeOther || cookie == "" {
			t.Fatalf("login of %s on %s: %d, cookie %q:\n%s", users[i], ids[i], r.Status, cookie, tail(r.Body, 20))
		}
		cookies[i] = cookie
	}
	step("operators logged in")

	// Three desks of the office, through the back office's form.
	admin := operatorClient(p, host, cookies[0])
	desks := make([]string, operators)
	labels := map[string]string{}
	for i := range desks {
		label := fmt.Sprintf("Sportello %d", i+1)
		desks[i] = queueE2EDesk(t, admin, office.ID, label, desks[:i])
		labels[desks[i]] = label
	}
	step("desks")

	// The queue takes tickets at any hour (the settings page's "Coda
	// sempre aperta"), so that the test does not depend on the time it
	// runs at; every other setting keeps its default, the per-address
	// and per-device caps included.
	queueE2EAlwaysOpen(t, admin, office.ID)
	step("queue settings")

	// Every operator opens the desk page of its desk on its node.
	deskForms := make([]url.Values, operators)
	opClients := make([]*qeClient, operators)
	for i := range opClients {
		opClients[i] = operatorClient(procs[i], host, cookies[i])
		deskForms[i] = queueE2EDeskForm(t, opClients[i], office.ID, desks[i])
	}
	step("desk pages")

	// The citizens: each takes its ticket on one of the nodes, from its
	// own address; booked ones check in with their booking code.
	citizenClients := make([]*http.Client, nodes)
	for i := range citizenClients {
		citizenClients[i] = procs[i].newClient(16)
	}
	var (
		mu   sync.Mutex
		byID = map[string]*qeTicket{}
	)
	take := func(k *qeTicket) error {
		c := &qeClient{p: procs[k.Node], c: citizenClients[k.Node], host: host,
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", k.Citizen+1)}}
		if how := queueE2EPriority[k.Citizen]; how != "" {
			if how == "desk" {
				c = opClients[k.Node]
			}
			id, number, err := queueE2EPriorityTake(k, how, c, office.ID, deskForms[k.Node])
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			k.ID, k.Number = id, number
			if id != "" {
				byID[id] = k
			}
			return nil
		}
		body := `{"channel":"in_person"}`
		if codes[k.Citizen] != "" {
			body = fmt.Sprintf(`{"channel":"in_person","booking_code":%q}`, codes[k.Citizen])
		}
		k.TakeStart = time.Now()
		r, err := c.postJSON("/api/v1/offices/"+office.ID+"/tickets", body)
		k.TakeEnd = time.Now()
		if err != nil {
			return err
		}
		if r.Status != http.StatusCreated {
			return fmt.Errorf("citizen %d on %s: take: %d %s", k.Citizen, ids[k.Node], r.Status, r.Body)
		}
		var a struct {
			ID        string `json:"id"`
			Number    string `json:"number"`
			StatusURL string `json:"status_url"`
		}
		if err := json.Unmarshal([]byte(r.Body), &a); err != nil || a.ID == "" || a.Number == "" {
			return fmt.Errorf("citizen %d: take answer %q: %v", k.Citizen, r.Body, err)
		}
		path, err := requestPath(a.StatusURL)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		k.ID, k.Number, k.StatusPath = a.ID, a.Number, path
		byID[a.ID] = k
		return nil
	}
	var log qeLog
	takeAll := func(ks []*qeTicket, gap time.Duration) {
		var wg sync.WaitGroup
		for _, k := range ks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := take(k); err != nil {
					log.fail("%v", err)
				}
			}()
			time.Sleep(gap)
		}
		wg.Wait()
	}
	// The first wave: every booked citizen and wave1 walk-ins, at once.
	takeAll(tickets[:firstWave], 0)
	if log.failed() {
		t.Fatalf("first wave of tickets: %v", log.errs)
	}
	step("first wave of tickets")

	// Three citizens of the first wave follow their ticket's event
	// stream, each on another node than the one it took the ticket on.
	type follower struct {
		k      *qeTicket
		node   int
		events []qeEvent
		err    error
		done   chan struct{}
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer fcancel()
	var followers []*follower
	for _, k := range tickets[firstWave-3 : firstWave] {
		f := &follower{k: k, node: (k.Node + 1) % nodes, done: make(chan struct{})}
		ready := make(chan struct{})
		go func() {
			defer close(f.done)
			f.events, f.err = qeFollow(fctx, procs[f.node], host, k.StatusPath, ready)
		}()
		select {
		case <-ready:
		case <-f.done:
			t.Fatalf("event stream of %s on %s ended before its first event: %v", k.Number, ids[f.node], f.err)
		case <-time.After(10 * time.Second):
			t.Fatalf("event stream of %s on %s sent nothing in 10s", k.Number, ids[f.node])
		}
		followers = append(followers, f)
	}
	// The same three ask for push notifications, through a third node;
	// every node offers the one key the cluster made.
	pushes.sameKey(t, procs, host)
	for _, f := range followers {
		n := (f.k.Node + 2) % nodes
		pushes.subscribe(t, &qeClient{p: procs[n], c: citizenClients[n], host: host,
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", f.k.Citizen+1)}}, f.k)
	}
	step("followers subscribed to push")

	// The operators start once the first appointments are due, so that
	// the line holds due appointments, walk-ins and early appointments
	// at once.
	if d := time.Until(slot1); d > 0 {
		time.Sleep(d + 50*time.Millisecond)
	}
	step("wait for the first appointments")

	var arrivalsDone atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		takeAll(tickets[firstWave:], 40*time.Millisecond)
		arrivalsDone.Store(true)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for i := range operators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queueE2EOperator(&log, i, opClients[i], desks[i], deskForms[i], &arrivalsDone, deadline)
		}()
	}
	wg.Wait()
	step("serving")
	if len(log.errs) > 0 {
		for _, err := range log.errs {
			t.Error(err)
		}
		t.FailNow()
	}
	// The kiosk's priority tickets are known by number only: their IDs
	// are those of the calls that gave that number.
	for _, k := range tickets {
		if k.ID != "" {
			continue
		}
		for _, c := range log.calls {
			if c.Number == k.Number {
				k.ID = c.Ticket
				byID[k.ID] = k
			}
		}
		if k.ID == "" {
			t.Fatalf("the kiosk's ticket %s of citizen %d was never called", k.Number, k.Citizen)
		}
	}

	// Numbers: one letter, consecutive from 1, never repeated; the
	// counter then is the order of arrival (the queue's Seq).
	seen := map[int]string{}
	for _, k := range tickets {
		letter, n, err := qeNumber(k.Number)
		if err != nil || letter != "A" {
			t.Fatalf("citizen %d got number %q (%v): want A and a counter (one group of services)", k.Citizen, k.Number, err)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("number %s given twice: tickets %s and %s", k.Number, other, k.ID)
		}
		seen[n], k.Seq = k.ID, n
	}
	for n := 1; n <= citizens; n++ {
		if _, ok := seen[n]; !ok {
			t.Errorf("number A%03d was never given: %d tickets should be A001–A%03d", n, citizens, citizens)
		}
	}

	// Calls: every ticket exactly once, by one desk.
	calls := log.calls
	sort.Slice(calls, func(i, j int) bool { return calls[i].Start.Before(calls[j].Start) })
	callOf := map[string]qeCall{}
	perDesk := map[string]int{}
	for _, c := range calls {
		if prev, dup := callOf[c.Ticket]; dup {
			t.Errorf("ticket %s called twice: by %s and by %s", byID[c.Ticket].Number, labels[prev.Desk], labels[c.Desk])
		}
		if byID[c.Ticket] == nil {
			t.Errorf("desk %s was given ticket %s, which no citizen took", labels[c.Desk], c.Ticket)
		}
		callOf[c.Ticket] = c
		perDesk[labels[c.Desk]]++
	}
	for _, k := range tickets {
		if _, ok := callOf[k.ID]; !ok {
			t.Errorf("ticket %s of citizen %d was never called", k.Number, k.Citizen)
		}
	}
	t.Logf("%d calls: %v", len(calls), perDesk)

	// Every citizen's status URL, on the node the citizen used, ends
	// served or absent, at the desk that called it.
	noShows := 0
	for _, k := range tickets {
		c, ok := callOf[k.ID]
		if !ok || k.StatusPath == "" {
			continue
		}
		r := procs[k.Node].get(t, procs[k.Node].url(host, k.StatusPath))
		wantStatus(t, "status of "+k.Number, r, http.StatusOK)
		var st struct {
			State string `json:"state"`
			Desk  string `json:"desk"`
		}
		if err := json.Unmarshal([]byte(r.Body), &st); err != nil {
			t.Fatalf("status of %s: %v %s", k.Number, err, r.Body)
		}
		want := "served"
		if queueE2ENoShow(k.ID) {
			want = "no_show"
			noShows++
		}
		if st.State != want || (st.Desk != c.Desk && st.Desk != labels[c.Desk]) {
			t.Errorf("ticket %s ends %q at desk %q; want %q at %s (%s)", k.Number, st.State, st.Desk, want, c.Desk, labels[c.Desk])
		}
	}

	// The order of the calls.
	violations, judged := qeOrderViolations(byID, calls)
	for _, v := range violations {
		t.Error(v)
	}
	classes := map[string]int{}
	for _, c := range calls {
		classes[qeClassNames[byID[c.Ticket].class(c.Start)]]++
	}
	order := make([]string, len(calls))
	for i, c := range calls {
		order[i] = byID[c.Ticket].Number
	}
	t.Logf("order of calls: %s", strings.Join(order, " "))
	t.Logf("classes at call time: %v; %d no-shows; %d (call, waiting ticket) pairs judged, %d violations",
		classes, noShows, judged, len(violations))
	if classes[qeClassNames[qeDue]] == 0 || classes[qeClassNames[qeWalkIn]] == 0 || classes[qeClassNames[qeEarly]] == 0 ||
		classes[qeClassNames[qePriority]] != len(queueE2EPriority) {
		t.Errorf("the run did not mix due appointments, walk-ins, early appointments and %d priority citizens: %v", len(queueE2EPriority), classes)
	}
	priorityPairs := 0
	for _, cx := range calls {
		for _, y := range byID {
			if cy, ok := callOf[y.ID]; ok && y != byID[cx.Ticket] && (y.Priority || byID[cx.Ticket].Priority) &&
				y.TakeEnd.Before(cx.Start) && cy.Start.After(cx.End) {
				priorityPairs++
			}
		}
	}
	if priorityPairs == 0 {
		t.Errorf("no (call, waiting ticket) pair with a priority citizen was judged")
	}
	var prio []string
	for i, c := range calls {
		if k := byID[c.Ticket]; k.Priority {
			prio = append(prio, fmt.Sprintf("%s (%s, taken %s, call %d of %d)", k.Number, queueE2EPriority[k.Citizen],
				k.TakeEnd.Sub(began).Round(time.Millisecond), i+1, len(calls)))
		}
	}
	t.Logf("priority citizens: %s; first call sent at %s; %d judged pairs involve one", strings.Join(prio, ", "),
		calls[0].Start.Sub(began).Round(time.Millisecond), priorityPairs)

	// The desk page of every operator shows a free desk and an empty line.
	for i, c := range opClients {
		r, err := c.get(deskURLFor(office.ID, desks[i]))
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("desk page of %s: %v %d", users[i], err, r.Status)
		}
		if cur := currentTicket(r.Body); cur != "" {
			t.Errorf("desk %s still holds %q after the line emptied", labels[desks[i]], cur)
		}
	}

	// The streams followed their tickets to the end, through whichever
	// node called them: waiting first, the final state and the desk
	// last, never a step back (the stream may skip a state that lasted
	// less than a read, never reorder).
	rank := map[string]int{"waiting": 0, "called": 1, "serving": 2, "served": 3, "no_show": 3}
	for _, f := range followers {
		select {
		case <-f.done:
		case <-time.After(15 * time.Second):
			t.Fatalf("event stream of %s on %s still open 15s after its ticket closed", f.k.Number, ids[f.node])
		}
		c := callOf[f.k.ID]
		if f.err != nil || len(f.events) < 2 {
			t.Errorf("event stream of %s on %s: %v, events %+v", f.k.Number, ids[f.node], f.err, f.events)
			continue
		}
		last := f.events[len(f.events)-1]
		if f.events[0].State != "waiting" || rank[last.State] != 3 || (last.Desk != c.Desk && last.Desk != labels[c.Desk]) {
			t.Errorf("event stream of %s on %s: %+v; want waiting first and closed at %s last", f.k.Number, ids[f.node], f.events, labels[c.Desk])
		}
		for i := 1; i < len(f.events); i++ {
			if r, ok := rank[f.events[i].State]; !ok || r < rank[f.events[i-1].State] {
				t.Errorf("event stream of %s on %s goes from %q to %q: %+v", f.k.Number, ids[f.node], f.events[i-1].State, f.events[i].State, f.events)
			}
		}
		t.Logf("event stream of %s on %s, called from %s: %s", f.k.Number, ids[f.node], ids[c.Operator], qeEventSummary(f.events, labels))
	}

	pushes.check(t, byID, func(id string) string { return labels[callOf[id].Desk] })
	step("pushes")

	waitIdentical(t, 20*time.Second, procs...)
	step("checks")
}

// queueE2ESlots returns the first slot of svc starting at least two
// seconds from now and the first one starting three minutes or more after
// it. (The slot a minute after was due before the operators began on a
// loaded machine, and the run had no early appointment to order.)
func queueE2ESlots(t *testing.T, p *proc, host, svc string) (time.Time, time.Time) {
	t.Helper()
	today := civil.DateOf(time.Now())
	var starts []time.Time
	for _, s := range slotsBetween(t, p, host, svc, today, today.AddDays(1)) {
		at, err := time.Parse(time.RFC3339, s.Start)
		if err != nil {
			t.Fatalf("slot start %q: %v", s.Start, err)
		}
		if s.Remaining > 0 && at.After(time.Now().Add(2*time.Second)) {
			starts = append(starts, at)
		}
	}
	if len(starts) == 0 {
		t.Fatal("no free slot from now on")
	}
	for _, at := range starts[1:] {
		if !at.Before(starts[0].Add(3 * time.Minute)) {
			return starts[0], at
		}
	}
	t.Fatalf("want a free slot three minutes after %v; got %v", starts[0], starts[:min(len(starts), 5)])
	return time.Time{}, time.Time{}
}

// deskListRE finds the desks on /gestione/sportelli.
var deskListRE = regexp.MustCompile(`href="/gestione/sportelli/([^"/?]+)"`)

// queueE2EDesk creates a desk of office through the back office's form
// (serving every service, at the counter) and returns its ID, found on
// the list as the one that is not in known.
func queueE2EDesk(t *testing.T, admin *qeClient, officeID, label string, known []string) string {
	t.Helper()
	r, err := admin.get("/gestione/sportelli/nuovo?ufficio=" + url.QueryEscape(officeID))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("new desk form: %v %d\n%s", err, r.Status, tail(r.Body, 30))
	}
	f := findForm(t, r.Body, "/gestione/sportelli/nuovo", `name="nome"`)
	f.Values.Set("nome", label)
	r, err = admin.postForm(f.Action, f.Values)
	if err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("create desk %s: %v %d\n%s", label, err, r.Status, pageText(r.Body))
	}
	r, err = admin.get("/gestione/sportelli")
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("desk list: %v %d", err, r.Status)
	}
	var fresh []string
	for _, m := range deskListRE.FindAllStringSubmatch(r.Body, -1) {
		if m[1] != "nuovo" && !slices.Contains(known, m[1]) && !slices.Contains(fresh, m[1]) {
			fresh = append(fresh, m[1])
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("after creating %s the desk list has new desks %v, want one", label, fresh)
	}
	return fresh[0]
}

// deskURLFor is the desk page of an office's desk.
func deskURLFor(officeID, desk string) string {
	return "/gestione/coda?" + url.Values{"ufficio": {officeID}, "sportello": {desk}}.Encode()
}

// queueE2EDeskForm opens the desk page until it offers the call button
// (the desk may take a moment to reach the operator's node) and returns
// the fields of its form: CSRF token, office and desk.
func queueE2EDeskForm(t *testing.T, c *qeClient, officeID, desk string) url.Values {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.get(deskURLFor(officeID, desk))
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := formValues(r.Body, "/gestione/coda/chiama"); ok && r.Status == http.StatusOK {
			if v.Get("csrf") == "" || v.Get("ufficio") != officeID || v.Get("sportello") != desk {
				t.Fatalf("call form of desk %s has fields %v", desk, v)
			}
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("desk page of %s on %s: %d without the call button:\n%s", desk, c.p.dataDir, r.Status, pageText(r.Body))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queueE2ENoShow is whether the operator marks the ticket's citizen
// absent: about one in eight, decided from the ticket's random ID so that
// the operator needs nothing but what the desk page shows.
func queueE2ENoShow(id string) bool {
	return strings.HasSuffix(id, "0") || strings.HasSuffix(id, "7")
}

// queueE2EOperator is one operator at its desk: call the next ticket,
// then start and close it as served (or mark the citizen absent), until
// the line is empty and no citizen is still arriving. Every call that
// gave a ticket is logged with the times it was sent and answered.
func queueE2EOperator(log *qeLog, op int, c *qeClient, desk string, form url.Values, arrivalsDone *atomic.Bool, deadline time.Time) {
	post := func(path string, want int) (response, bool) {
		r, err := c.postForm(path, form)
		if err != nil {
			log.fail("operator %d: %v", op+1, err)
			return r, false
		}
		if r.Status != want {
			log.fail("operator %d: POST %s: %d, want %d: %s", op+1, path, r.Status, want, pageText(r.Body))
			return r, false
		}
		return r, true
	}
	for !log.failed() {
		if time.Now().After(deadline) {
			log.fail("operator %d: the line did not empty in time", op+1)
			return
		}
		// Read before calling: an empty line after the last arrival is
		// the end, an empty line before it a pause.
		done := arrivalsDone.Load()
		start := time.Now()
		r, err := c.postForm("/gestione/coda/chiama", form)
		end := time.Now()
		if err != nil {
			log.fail("operator %d: call: %v", op+1, err)
			return
		}
		switch {
		case r.Status == http.StatusConflict && strings.Contains(pageText(r.Body), "Nessuno in attesa per questo sportello"):
			if done {
				return
			}
			time.Sleep(20 * time.Millisecond)
			continue
		case r.Status != http.StatusSeeOther:
			log.fail("operator %d: call: %d: %s", op+1, r.Status, pageText(r.Body))
			return
		}
		path, err := requestPath(r.Header.Get("Location"))
		if err != nil {
			log.fail("operator %d: call redirect %q: %v", op+1, r.Header.Get("Location"), err)
			return
		}
		page, err := c.get(path)
		if err != nil || page.Status != http.StatusOK {
			log.fail("operator %d: desk page after the call: %v %d", op+1, err, page.Status)
			return
		}
		id := currentTicket(page.Body)
		if id == "" || strings.HasPrefix(id, "several:") {
			log.fail("operator %d: desk page after the call shows ticket %q:\n%s", op+1, id, pageText(page.Body))
			return
		}
		log.call(qeCall{Desk: desk, Operator: op, Ticket: id, Number: currentNumber(page.Body), Start: start, End: end})
		base := "/gestione/coda/" + url.PathEscape(id)
		if queueE2ENoShow(id) {
			// Called again once, then marked absent.
			if _, ok := post(base+"/richiama", http.StatusSeeOther); !ok {
				return
			}
			if _, ok := post(base+"/assente", http.StatusSeeOther); !ok {
				return
			}
			continue
		}
		if _, ok := post(base+"/inizia", http.StatusSeeOther); !ok {
			return
		}
		// The service itself: short, but long enough for the other
		// desks' calls to interleave.
		time.Sleep(time.Duration(10+int(id[len(id)-2])%3*10) * time.Millisecond)
		if _, ok := post(base+"/servito", http.StatusSeeOther); !ok {
			return
		}
	}
}

// queueE2EAdmin creates and confirms a break-glass administrator with
// the CLI, as municipal IT would (password piped, code computed from the
// printed secret), and stores its TOTP secret in secret. It runs in a
// goroutine of its own, so it returns errors rather than failing the test.
func queueE2EAdmin(dataDir, user, password string, secret *string) error {
	run := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, sportelloBin, args...)
		var o, e bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("sportello %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, o.String(), e.String())
		}
		return o.String(), nil
	}
	out, err := run(password+"\n", "admin", "create", "--data", dataDir, "--username", user,
		"--display-name", "Operatore "+strings.TrimPrefix(user, "operatore"), "--password-stdin")
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(out, "\n") {
		if s, ok := strings.CutPrefix(line, "Secret: "); ok {
			*secret = strings.TrimSpace(s)
		}
	}
	if *secret == "" {
		return fmt.Errorf("admin create %s printed no secret:\n%s", user, out)
	}
	code, err := auth.TOTPCode(*secret, time.Now())
	if err != nil {
		return err
	}
	_, err = run(code+"\n", "admin", "confirm", user, "--data", dataDir)
	return err
}

// queueE2EAlwaysOpen ticks "Coda sempre aperta" in the office's queue
// settings, leaving every other field as the form shows it.
func queueE2EAlwaysOpen(t *testing.T, admin *qeClient, officeID string) {
	t.Helper()
	const path = "/gestione/coda/impostazioni"
	r, err := admin.get(path + "?ufficio=" + url.QueryEscape(officeID))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("queue settings: %v %d\n%s", err, r.Status, tail(r.Body, 30))
	}
	f := findForm(t, r.Body, path, `name="sempre_aperta"`)
	f.Values.Set("sempre_aperta", "1")
	r, err = admin.postForm(path, f.Values)
	if err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("save queue settings: %v %d\n%s", err, r.Status, pageText(r.Body))
	}
	r, err = admin.get(path + "?ufficio=" + url.QueryEscape(officeID))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputRE.FindAllString(r.Body, -1) {
		if a := tagAttrs(in); a["name"] == "sempre_aperta" {
			if _, checked := a["checked"]; checked {
				return
			}
		}
	}
	t.Fatalf("queue settings after the save do not show the queue always open:\n%s", pageText(r.Body))
}

// queueE2EPriority are the citizens with a priority category and the
// door they take it through: the office's kiosk, or the desk page's add
// form of the operator on their node. Citizens 27 and 28 are in the
// first wave (before the first call; not among the three followers,
// who need a status URL), 40 and 45 arrive while the operators work.
var queueE2EPriority = map[int]string{27: "kiosk", 28: "desk", 40: "kiosk", 45: "desk"}

var (
	kioskNumberRE = regexp.MustCompile(`id="numero">([A-Z][0-9]{3,4})<`)
	addedNumberRE = regexp.MustCompile(`Aggiunto il numero ([A-Z][0-9]{3,4}):`)
)

// queueE2EPriorityTake takes a priority ticket for k through the kiosk
// (c is the citizen's client) or the desk page's add form (c is the
// operator's, form its desk form), and returns its ID (unknown at the
// kiosk, which shows only the number) and number. It stamps k's take
// interval around the request that takes the ticket.
func queueE2EPriorityTake(k *qeTicket, how string, c *qeClient, officeID string, form url.Values) (string, string, error) {
	category := "disability"
	if k.Citizen%2 == 0 {
		category = "pregnancy"
	}
	if how == "kiosk" {
		k.TakeStart = time.Now()
		r, err := c.postForm("/coda/"+url.PathEscape(officeID)+"/chiosco", url.Values{"servizio": {""}, "precedenza": {category}})
		k.TakeEnd = time.Now()
		if err != nil {
			return "", "", err
		}
		m := kioskNumberRE.FindStringSubmatch(r.Body)
		if r.Status != http.StatusOK || m == nil || !strings.Contains(pageText(r.Body), "Hai la precedenza") {
			return "", "", fmt.Errorf("citizen %d at the kiosk with a priority: %d %s", k.Citizen, r.Status, pageText(r.Body))
		}
		return "", m[1], nil
	}
	v := url.Values{"csrf": {form.Get("csrf")}, "ufficio": {officeID}, "sportello": {form.Get("sportello")},
		"servizio": {""}, "canale": {"in_person"}, "precedenza": {category}}
	k.TakeStart = time.Now()
	r, err := c.postForm("/gestione/coda/aggiungi", v)
	k.TakeEnd = time.Now()
	if err != nil {
		return "", "", err
	}
	if r.Status != http.StatusSeeOther {
		return "", "", fmt.Errorf("citizen %d added at the desk: %d %s", k.Citizen, r.Status, pageText(r.Body))
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil || u.Query().Get("biglietto") == "" {
		return "", "", fmt.Errorf("citizen %d added at the desk: Location %q", k.Citizen, r.Header.Get("Location"))
	}
	page, err := c.get(u.RequestURI())
	if err != nil {
		return "", "", err
	}
	m := addedNumberRE.FindStringSubmatch(pageText(page.Body))
	if page.Status != http.StatusOK || m == nil {
		return "", "", fmt.Errorf("citizen %d added at the desk: the page does not tell the number: %d %s", k.Citizen, page.Status, pageText(page.Body))
	}
	return u.Query().Get("biglietto"), m[1], nil
}
