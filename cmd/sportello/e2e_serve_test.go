package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

func TestFiscalCodeHelper(t *testing.T) {
	t.Parallel()
	for _, valid := range []string{"RSSMRA85T10A562S", "MRARSS80A01H501T"} {
		if got := checkChar(valid); got != valid[15] {
			t.Errorf("checkChar(%s) = %c, want %c", valid, got, valid[15])
		}
	}
	seen := map[string]bool{}
	for i := range 400 {
		fc := fiscalCode(i)
		if seen[fc] || !booking.ValidFiscalCode(fc) {
			t.Fatalf("fiscalCode(%d) = %s: duplicate or invalid", i, fc)
		}
		seen[fc] = true
	}
}

// serveConfig writes a configuration for a node on 127.0.0.1:0 that sends
// email to srv, with no booking rate limit (the race test books from one
// address) and quick outbox retries.
func serveConfig(t *testing.T, dataDir string, srv *smtptest.Server) string {
	t.Helper()
	body := fmt.Sprintf(`data_dir = %q
node_id = "e2e1"
listen = "127.0.0.1:0"
raft_addr = "127.0.0.1:0"
base_domain = "localhost"

[log]
level = "info"
format = "json"

[rate_limit]
bookings_per_minute = -1

[mail]
delivery = "smtp"
default_from = "Sportello <noreply@sportello.localhost>"

[smtp]
host = %q
port = %d
security = "none"
helo_name = "e2e.sportello.test"
timeout = "10s"

[outbox]
backoff = "200ms"
max_backoff = "2s"
`, dataDir, srv.Host, srv.Port)
	path := filepath.Join(t.TempDir(), "sportello.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// everyDay is a week open around the clock, so a test finds slots
// whatever the hour it runs at.
func everyDay() booking.Week {
	var w booking.Week
	for d := range w {
		w[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	return w
}

// TestServe runs `sportello serve` against a real SMTP server: the citizen
// books through the HTML form flow, gets the confirmation email, follows its
// manage link and cancels; the Comune is created with `sportello tenant`;
// 300 clients race for 20 slots; and a restart keeps everything.
func TestServe(t *testing.T) {
	needBinary(t)
	t.Parallel()
	srv := smtptest.Start(t)
	dataDir := shortTempDir(t)
	cfgPath := serveConfig(t, dataDir, srv)

	if out, errOut, code := runCLI(t, "serve", "--config", cfgPath, "--check"); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("serve --check: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	p := startProc(t, dataDir, "serve", "--config", cfgPath)

	// The Comune through the CLI, its office and services through the
	// admin socket.
	out, errOut, code := runCLI(t, "tenant", "create", "--data", dataDir, "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--sender", "Comune di Bari <noreply@bari.localhost>", "--patron", "San Nicola=12-06")
	if code != exitOK || !strings.Contains(out, p.url("bari.localhost", "/")) {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q; want 0 and the Comune's URL", code, out, errOut)
	}
	var office booking.Office
	p.adminDo(t, "POST", "/v1/tenants/bari/offices", booking.Office{
		Name: "Anagrafe", Address: "Largo Chiurlia, 27 – 70122 Bari", Phone: "080 577 2250", Hours: everyDay(),
	}, &office)
	var svc, race booking.Service
	p.adminDo(t, "POST", "/v1/tenants/bari/services", booking.Service{
		OfficeID: office.ID, Name: "Rilascio carta d'identità elettronica", Description: "Richiesta della CIE.",
		WhatToBring: []string{"Una fototessera recente"}, Duration: 30 * time.Minute,
		Channels: []booking.Channel{booking.InPerson}, Capacity: 2, MinNotice: time.Hour, HorizonDays: 30,
		MaxActivePerCitizen: 1,
	}, &svc)
	p.adminDo(t, "POST", "/v1/tenants/bari/services", booking.Service{
		OfficeID: office.ID, Name: "Cambio di residenza", Description: "Dichiarazione di residenza.",
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: time.Hour, HorizonDays: 30, MaxActivePerCitizen: 1,
	}, &race)
	host := "bari.localhost"

	var code1, token1 string
	t.Run("book and cancel through the HTML form, with email", func(t *testing.T) {
		code1, token1 = bookThroughForm(t, p, host, svc)
		confirmation := receive(t, srv, 1, code1)
		if got, want := confirmation.Message.Subject, code1; !strings.Contains(got, want) {
			t.Errorf("confirmation subject %q lacks the code %s", got, want)
		}
		if confirmation.Envelope.From != "noreply@bari.localhost" || confirmation.Envelope.HELO != "e2e.sportello.test" {
			t.Errorf("envelope from %q helo %q, want the Comune's sender and the configured HELO", confirmation.Envelope.From, confirmation.Envelope.HELO)
		}
		if ics := confirmation.calendar(t); !strings.Contains(ics, "METHOD:REQUEST") || !strings.Contains(ics, "STATUS:CONFIRMED") {
			t.Errorf("confirmation ICS lacks METHOD:REQUEST / STATUS:CONFIRMED:\n%s", ics)
		}
		if confirmation.Message.HTML == "" {
			t.Error("confirmation has no HTML part")
		}
		manage := confirmation.link(t, "/prenotazioni/"+code1)
		if u, _ := url.Parse(manage); u.Query().Get("token") != token1 {
			t.Errorf("manage link %s does not carry the token of the confirmation page %s", manage, token1)
		}

		// The manage link from the email, then the cancellation form.
		r := p.get(t, manage)
		wantStatus(t, "manage page", r, http.StatusOK)
		wantText(t, "manage page", r.Body, code1, "Annulla appuntamento")
		r = p.get(t, p.url(host, "/prenotazioni/"+code1+"/annulla?token="+url.QueryEscape(token1)))
		wantStatus(t, "cancel page", r, http.StatusOK)
		f := findForm(t, r.Body, "/prenotazioni/"+code1+"/annulla", "")
		r = p.postForm(t, p.url(host, f.Action), f.Values)
		wantStatus(t, "cancel", r, http.StatusSeeOther)
		r = p.get(t, p.url(host, r.Header.Get("Location")))
		wantStatus(t, "after cancel", r, http.StatusOK)
		wantText(t, "after cancel", r.Body, "annullat")

		cancellation := receive(t, srv, 2, code1)
		if ics := cancellation.calendar(t); !strings.Contains(ics, "METHOD:CANCEL") || !strings.Contains(ics, "STATUS:CANCELLED") {
			t.Errorf("cancellation ICS lacks METHOD:CANCEL / STATUS:CANCELLED:\n%s", ics)
		}
	})
	if code1 == "" {
		t.FailNow()
	}

	t.Run("tenant CLI", func(t *testing.T) {
		out, errOut, code := runCLI(t, "tenant", "create", "--data", dataDir, "--id", "lecce", "--name", "Comune di Lecce",
			"--istat", "075035", "--domain", "servizi.comune.lecce.it", "--patron", "Sant'Oronzo=08-26")
		if code != exitOK || !strings.Contains(out, "lecce.localhost") {
			t.Fatalf("tenant create lecce: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		tests := []struct {
			name     string
			args     []string
			wantCode int
			wantOut  []string
			wantErr  string
		}{
			{"list", []string{"tenant", "list", "--data", dataDir}, exitOK, []string{"bari", "Comune di Bari", "lecce", "075035", p.url("lecce.localhost", "/")}, ""},
			{"show, flags after the id", []string{"tenant", "show", "lecce", "--data", dataDir}, exitOK, []string{"Comune di Lecce", "servizi.comune.lecce.it", "Sant'Oronzo (26 agosto)", "LE"}, ""},
			{"show as JSON", []string{"tenant", "show", "--data", dataDir, "--json", "bari"}, exitOK, []string{`"istat": "072006"`, `"hosts"`}, ""},
			{"show unknown", []string{"tenant", "show", "nessuno", "--data", dataDir}, exitNotFound, nil, "not found"},
			{"create existing", []string{"tenant", "create", "--data", dataDir, "--id", "lecce", "--name", "Comune di Lecce", "--istat", "075035"}, exitConflict, nil, "exists"},
			{"create with a taken domain", []string{"tenant", "create", "--data", dataDir, "--id", "brindisi", "--name", "Comune di Brindisi", "--istat", "074001", "--domain", "servizi.comune.lecce.it"}, exitConflict, nil, "domain"},
			{"create invalid", []string{"tenant", "create", "--data", dataDir, "--id", "taranto", "--name", "Comune di Taranto", "--istat", "73"}, exitFailure, nil, "istat"},
			{"create without flags", []string{"tenant", "create", "--data", dataDir, "--id", "x"}, exitUsage, nil, "missing --istat, --name"},
			{"no node", []string{"tenant", "list", "--data", t.TempDir()}, exitUnavailable, nil, "no node is running"},
			{"unknown subcommand", []string{"tenant", "rename"}, exitUsage, nil, "unknown command"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, errOut, code := runCLI(t, tt.args...)
				if code != tt.wantCode {
					t.Fatalf("exit %d, want %d; stdout %q; stderr %q", code, tt.wantCode, out, errOut)
				}
				for _, w := range tt.wantOut {
					if !strings.Contains(out, w) {
						t.Errorf("stdout lacks %q:\n%s", w, out)
					}
				}
				if tt.wantErr != "" && !strings.Contains(strings.ToLower(errOut), tt.wantErr) {
					t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
				}
			})
		}
		// The new Comune answers on its subdomain and its own domain.
		for _, h := range []string{"lecce.localhost", "servizi.comune.lecce.it"} {
			r := p.get(t, p.url(h, "/"))
			wantStatus(t, "home of "+h, r, http.StatusOK)
			wantText(t, "home of "+h, r.Body, "Comune di Lecce")
		}
	})

	var raced []string
	t.Run("300 clients race for 20 slots", func(t *testing.T) {
		raced = raceForSlots(t, p, host, race, 300, 20)
	})

	t.Run("restart keeps the data, loses no email and sends none twice", func(t *testing.T) {
		// The race's confirmations may still be queued: the stop comes
		// while the outbox delivers them.
		p.stop()
		p = startProc(t, dataDir, "serve", "--config", cfgPath)
		r := p.get(t, p.url(host, "/api/v1/bookings/"+code1+"?token="+url.QueryEscape(token1)))
		wantStatus(t, "booking after restart", r, http.StatusOK)
		var got struct {
			Code   string `json:"code"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Code != code1 || got.Status != string(booking.Cancelled) {
			t.Errorf("booking after restart: %+v, want %s cancelled", got, code1)
		}
		var offices struct {
			Offices []booking.Office `json:"offices"`
		}
		p.adminDo(t, "GET", "/v1/tenants/bari/offices", nil, &offices)
		if len(offices.Offices) != 1 || len(offices.Offices[0].Services) != 2 {
			t.Errorf("after restart: %d offices, want 1 with 2 services", len(offices.Offices))
		}
		if raced != nil {
			// A slot won in the race is still taken.
			res := p.postJSON(t, p.url(host, "/api/v1/bookings"), bookingRequest(race.ID, raced[0], 999))
			wantStatus(t, "booking a raced slot after restart", res, http.StatusConflict)
		}

		// Every email arrives: the confirmation and cancellation of the
		// form booking and the race winners' confirmations, each once.
		want := 2
		if raced != nil {
			want += len(raced)
		}
		srv.Wait(t, want, 30*time.Second)
		time.Sleep(500 * time.Millisecond) // room for a duplicate to show up
		msgs := srv.Messages()
		ids := map[string]int{}
		for _, m := range msgs {
			parsed, err := mailer.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			ids[parsed.Header.Get("Message-Id")]++
		}
		if len(msgs) != want || len(ids) != want {
			t.Errorf("SMTP server got %d messages with %d distinct Message-IDs, want %d of each", len(msgs), len(ids), want)
		}
		var pending struct {
			Items []json.RawMessage `json:"items"`
		}
		p.adminDo(t, "GET", "/v1/outbox?status=pending", nil, &pending)
		if len(pending.Items) != 0 {
			t.Errorf("%d outbox items still pending, want 0", len(pending.Items))
		}
		p.stop()
	})
}

// bookThroughForm books svc's first free slot through the five steps of
// the HTML flow, as a browser without JavaScript, and returns the code and
// manage token from the confirmation page's address.
func bookThroughForm(t *testing.T, p *proc, host string, svc booking.Service) (code, token string) {
	t.Helper()
	r := p.get(t, p.url(host, "/servizi/"+svc.ID))
	wantStatus(t, "service page", r, http.StatusOK)
	if !strings.Contains(r.Body, `data-element="service-booking-access"`) {
		t.Errorf("service page lacks the booking button")
	}
	r = p.get(t, p.url(host, "/prenota?servizio="+svc.ID))
	wantStatus(t, "step 1", r, http.StatusOK)
	wantText(t, "step 1", r.Body, "1/5", "Anagrafe")
	f := findForm(t, r.Body, "/prenota", `name="servizio"`)

	step := func(f htmlForm, vai string) response {
		v := url.Values{}
		for k, vs := range f.Values {
			v[k] = vs
		}
		if vai != "" {
			v.Set("vai", vai)
		}
		return p.postForm(t, p.url(host, f.Action), v)
	}
	r = step(f, "")
	wantStatus(t, "step 2", r, http.StatusOK)
	f = findForm(t, r.Body, "/prenota", `name="inizio"`)
	if len(f.Radios["inizio"]) == 0 {
		t.Fatalf("step 2 offers no slot:\n%s", pageText(r.Body))
	}
	// The first slot more than a day ahead, so that the demo services'
	// 24-hour cancellation deadline still allows cancelling: near the end
	// of a month it is in the next one.
	later := func(f htmlForm) string {
		for _, v := range f.Radios["inizio"] {
			if at, err := time.Parse(time.RFC3339, v); err == nil && time.Until(at) > 25*time.Hour {
				return v
			}
		}
		return ""
	}
	pick := later(f)
	if pick == "" {
		now := time.Now()
		next := time.Date(now.Year(), now.Month()+1, 1, 12, 0, 0, 0, time.Local).Format("2006-01")
		v := url.Values{}
		for k, vs := range f.Values {
			v[k] = vs
		}
		v.Set("mese", next)
		r = p.postForm(t, p.url(host, f.Action), v)
		wantStatus(t, "step 2, next month", r, http.StatusOK)
		f = findForm(t, r.Body, "/prenota", `name="inizio"`)
		if pick = later(f); pick == "" {
			t.Fatalf("no slot more than a day ahead in %s:\n%s", next, pageText(r.Body))
		}
	}
	f.Values.Set("inizio", pick)

	r = step(f, "3")
	wantStatus(t, "step 3", r, http.StatusOK)
	f = findForm(t, r.Body, "/prenota", `name="dettagli"`)
	f.Values.Set("dettagli", "Rinnovo per scadenza.")

	r = step(f, "4")
	wantStatus(t, "step 4", r, http.StatusOK)
	f = findForm(t, r.Body, "/prenota", `name="nome"`)
	f.Values.Set("nome", "Maria")
	f.Values.Set("cognome", "Rossi")
	f.Values.Set("codice_fiscale", "RSSMRA85T10A562S")
	f.Values.Set("email", "maria.rossi@example.it")

	r = step(f, "5")
	wantStatus(t, "step 5", r, http.StatusOK)
	wantText(t, "step 5", r.Body, "5/5", "Riepilogo", "Maria", "maria.rossi@example.it")
	f = findForm(t, r.Body, "/prenotazioni", `name="privacy"`)
	f.Values.Set("privacy", "1")
	r = step(f, "")
	wantStatus(t, "submit", r, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Path, "/prenotazioni/BA-") {
		t.Fatalf("redirect after booking: %q, want /prenotazioni/BA-…", loc)
	}
	code, token = strings.TrimPrefix(u.Path, "/prenotazioni/"), u.Query().Get("token")
	r = p.get(t, p.url(host, loc))
	wantStatus(t, "confirmation", r, http.StatusOK)
	wantText(t, "confirmation", r.Body, "Appuntamento confermato", code, "maria.rossi@example.it", "Una fototessera recente")
	return code, token
}

// received is one email as the SMTP server got it.
type received struct {
	Envelope smtptest.Message
	Message  *mailer.Message
}

// receive waits for the n-th message and checks it is about code.
func receive(t *testing.T, srv *smtptest.Server, n int, code string) received {
	t.Helper()
	msgs := srv.Wait(t, n, 30*time.Second)
	m := msgs[n-1]
	parsed, err := mailer.Parse(m.Data)
	if err != nil {
		t.Fatalf("message %d is not valid MIME: %v\n%s", n, err, m.Data)
	}
	if len(m.To) != 1 || m.To[0] != "maria.rossi@example.it" {
		t.Errorf("message %d to %v, want [maria.rossi@example.it]", n, m.To)
	}
	if !strings.Contains(parsed.Text, code) {
		t.Errorf("message %d text lacks the code %s:\n%s", n, code, parsed.Text)
	}
	return received{m, parsed}
}

// calendar returns the message's text/calendar part.
func (r received) calendar(t *testing.T) string {
	t.Helper()
	for _, p := range r.Message.Parts {
		if p.ContentType == "text/calendar" {
			return string(p.Data)
		}
	}
	t.Fatalf("message %q has no text/calendar part", r.Message.Subject)
	return ""
}

// link returns the first absolute link of the text body whose path starts
// with prefix.
func (r received) link(t *testing.T, prefix string) string {
	t.Helper()
	for _, seg := range linkify(r.Message.Text) {
		if u, err := url.Parse(seg.URL); seg.URL != "" && err == nil && strings.HasPrefix(u.Path, prefix) {
			return seg.URL
		}
	}
	t.Fatalf("message text has no link to %s…:\n%s", prefix, r.Message.Text)
	return ""
}

// bookingRequest is the API body of citizen i booking start.
func bookingRequest(serviceID, start string, i int) map[string]any {
	return map[string]any{
		"service_id": serviceID, "start": start, "channel": "in_person", "privacy_accepted": true,
		"citizen": map[string]any{
			"given_name": "Cittadino", "family_name": fmt.Sprintf("Numero %d", i),
			"fiscal_code": fiscalCode(i), "email": fmt.Sprintf("cittadino%d@example.it", i),
		},
	}
}

// raceForSlots makes clients concurrent API clients race for the first
// slots free slots of svc (capacity 1), each slot sought by
// clients/slots of them, and checks that exactly one wins each slot and
// every other gets a clean 409. It returns the raced slots.
func raceForSlots(t *testing.T, p *proc, host string, svc booking.Service, clients, slots int) []string {
	t.Helper()
	today := civil.DateOf(time.Now())
	listed := slotsBetween(t, p, host, svc.ID, today, today.AddDays(7))
	// Slots at least two hours away: the test books them again after a
	// restart, and a slot listed a minute before its minimum notice ran
	// out would by then be refused as too soon rather than as taken.
	var starts []string
	margin := time.Now().Add(2 * time.Hour)
	for _, s := range listed {
		at, err := time.Parse(time.RFC3339, s.Start)
		if err != nil {
			t.Fatalf("slot start %q: %v", s.Start, err)
		}
		if s.Remaining == 1 && at.After(margin) && len(starts) < slots {
			starts = append(starts, s.Start)
		}
	}
	if len(starts) < slots {
		t.Fatalf("only %d free slots, want %d", len(starts), slots)
	}

	client := p.newClient(clients)
	type outcome struct {
		status int
		body   string
	}
	results := make([]outcome, clients)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			b, _ := json.Marshal(bookingRequest(svc.ID, starts[i%slots], i))
			req, _ := http.NewRequest("POST", p.url(host, "/api/v1/bookings"), strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/json")
			<-ready
			resp, err := client.Do(req)
			if err != nil {
				results[i] = outcome{-1, err.Error()}
				return
			}
			defer resp.Body.Close()
			b, _ = io.ReadAll(resp.Body)
			results[i] = outcome{resp.StatusCode, string(b)}
		})
	}
	begin := time.Now()
	close(ready)
	wg.Wait()
	elapsed := time.Since(begin)

	counts := map[int]int{}
	wonBy := map[string]int{}
	for i, o := range results {
		counts[o.status]++
		switch {
		case o.status == http.StatusCreated:
			wonBy[starts[i%slots]]++
		case o.status == http.StatusConflict:
			if !strings.Contains(o.body, `"code":"slot_full"`) {
				t.Errorf("client %d: 409 body %s, want code slot_full", i, o.body)
			}
		case o.status >= 500 || o.status < 0:
			t.Errorf("client %d: status %d: %s", i, o.status, o.body)
		}
	}
	t.Logf("%d clients, %d slots: %v in %v", clients, slots, counts, elapsed.Round(time.Millisecond))
	if counts[http.StatusCreated] != slots || counts[http.StatusConflict] != clients-slots || len(counts) != 2 {
		t.Errorf("statuses %v, want exactly %d × 201 and %d × 409", counts, slots, clients-slots)
	}
	for _, s := range starts {
		if wonBy[s] != 1 {
			t.Errorf("slot %s booked %d times, want once", s, wonBy[s])
		}
	}
	// The slot list agrees: the raced slots are full.
	full := map[string]bool{}
	for _, s := range slotsBetween(t, p, host, svc.ID, today, today.AddDays(7)) {
		if s.Remaining == 0 {
			full[s.Start] = true
		}
	}
	for _, s := range starts {
		if !full[s] {
			t.Errorf("slot %s still shows free places after the race", s)
		}
	}
	return starts
}
