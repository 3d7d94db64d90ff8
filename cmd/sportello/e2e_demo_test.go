package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// apiOffices is the answer of GET /api/v1/offices.
type apiOffices struct {
	Offices []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Address  string `json:"address"`
		Services []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"services"`
	} `json:"offices"`
}

// TestDemo runs `sportello demo`: it seeds the Comune di Bari once, keeps
// the confirmation email of a booking in its mailbox page, refuses a second
// node on the same data dir and keeps everything across a restart.
func TestDemo(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dataDir := shortTempDir(t)
	args := []string{"demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn"}
	p := startProc(t, dataDir, args...)
	host := "bari.localhost"

	// The banner follows the admin socket; wait for its last line.
	p.waitStdout(t, "Stop with Ctrl+C", 30*time.Second)
	for _, path := range []string{"/", "/prenota", "/_demo/posta", "/api/v1/openapi.json"} {
		if u := p.url(host, path); !strings.Contains(p.stdout.String(), u) {
			t.Errorf("demo output lacks %s:\n%s", u, p.stdout.String())
		}
	}
	offices := demoAPIOffices(t, p, host)
	// The catalogue of a mid-size Comune (issue 9): at least 8 offices
	// and 30 services, for the assistant to work on.
	wantOffices := []string{"Ufficio Relazioni con il Pubblico", "Ripartizione Tutela Ambiente, Sanità e Igiene",
		"Ripartizione Urbanistica e Edilizia Privata", "Anagrafe", "Stato civile", "Ufficio elettorale", "Tributi",
		"Polizia locale", "Servizi sociali", "Pubblica istruzione"}
	if len(offices.Offices) != len(wantOffices) {
		t.Fatalf("demo has %d offices, want %d", len(offices.Offices), len(wantOffices))
	}
	total := 0
	for _, o := range offices.Offices {
		total += len(o.Services)
	}
	if total < 30 {
		t.Errorf("demo has %d services, want at least 30", total)
	}
	var cie string
	for _, name := range wantOffices {
		found := false
		for _, o := range offices.Offices {
			if o.Name != name {
				continue
			}
			found = true
			if n := len(o.Services); n < 2 || n > 10 {
				t.Errorf("office %q has %d services, want 2 to 10", name, n)
			}
			for _, s := range o.Services {
				if s.Name == "Rilascio carta d'identità elettronica" {
					cie = s.ID
				}
			}
		}
		if !found {
			t.Errorf("demo lacks office %q", name)
		}
	}
	if cie == "" {
		t.Fatal("demo lacks the service Rilascio carta d'identità elettronica")
	}
	r := p.get(t, p.url(host, "/"))
	wantStatus(t, "home", r, http.StatusOK)
	wantText(t, "home", r.Body, "Comune di Bari")

	// Operator login is wired: a provider the Comune has not configured
	// gets an Italian page, not a redirect anywhere.
	r = p.get(t, p.url(host, "/_auth/login?provider=nessuno"))
	wantStatus(t, "login with an unknown provider", r, http.StatusNotFound)
	wantText(t, "login with an unknown provider", r.Body, "non è configurato per questo Comune")

	// The demo's administrator: the banner names it, /_demo/accesso shows
	// its current code, and the break-glass login with it opens the back
	// office.
	wantText(t, "banner", p.stdout.String(), p.url(host, "/gestione"), demoAdminPassword)
	r = p.get(t, "http://"+p.HTTPAddr+"/_demo/accesso")
	wantStatus(t, "demo access page", r, http.StatusOK)
	totp := regexp.MustCompile(`aria-live="polite">(\d{6})<`).FindStringSubmatch(r.Body)
	if totp == nil {
		t.Fatalf("demo access page shows no code:\n%s", r.Body)
	}
	if _, cookie := breakGlassLogin(t, p, host, demoAdminUser, "sbagliata-1234", totp[1]); cookie != "" {
		t.Error("break-glass login with a wrong password gave a session")
	}
	_, cookie := breakGlassLogin(t, p, host, demoAdminUser, demoAdminPassword, totp[1])
	if cookie == "" {
		// The wrong try above used no code step; a step change between
		// reading the page and posting is the only other reason.
		r = p.get(t, "http://"+p.HTTPAddr+"/_demo/accesso")
		totp = regexp.MustCompile(`aria-live="polite">(\d{6})<`).FindStringSubmatch(r.Body)
		_, cookie = breakGlassLogin(t, p, host, demoAdminUser, demoAdminPassword, totp[1])
	}
	if cookie == "" {
		t.Fatal("break-glass login of the demo administrator gave no session")
	}
	r = withSession(t, p, host, "/gestione", cookie)
	wantStatus(t, "back office home", r, http.StatusOK)
	wantText(t, "back office home", r.Body, "Benvenuto, Amministratore demo", "I servizi prenotabili", "Gli operatori e gli amministratori")

	// The virtual queue's public API is mounted: a walk-in takes a ticket
	// at the first office and follows it through its status URL.
	r = p.postJSON(t, p.url(host, "/api/v1/offices/"+offices.Offices[0].ID+"/tickets"), map[string]string{"channel": "in_person"})
	wantStatus(t, "take a ticket", r, http.StatusCreated)
	var ticket struct {
		Number    string `json:"number"`
		Position  int    `json:"position"`
		StatusURL string `json:"status_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &ticket); err != nil || ticket.Number == "" || ticket.StatusURL == "" {
		t.Fatalf("ticket answer %q (%v): want a number and a status URL", r.Body, err)
	}
	su, err := url.Parse(ticket.StatusURL)
	if err != nil {
		t.Fatal(err)
	}
	r = p.get(t, p.url(host, su.RequestURI()))
	wantStatus(t, "ticket status", r, http.StatusOK)
	wantText(t, "ticket status", r.Body, ticket.Number, `"state":"waiting"`)
	for _, path := range []string{"/coda/urp", "/coda/urp/chiosco", "/coda/urp/tabellone"} {
		r = p.get(t, p.url(host, path))
		wantStatus(t, path, r, http.StatusOK)
	}
	r = p.get(t, p.url(host, "/coda/urp"))
	wantText(t, "take a number page", r.Body, "Prendi il numero")

	// A booking through the API, and its confirmation in the mailbox page.
	today := civil.DateOf(time.Now())
	r = p.get(t, p.url(host, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", cie, today, today.AddDays(30))))
	wantStatus(t, "slots", r, http.StatusOK)
	var slots struct {
		Slots []struct {
			Start     string `json:"start"`
			Remaining int    `json:"remaining"`
		} `json:"slots"`
	}
	if err := json.Unmarshal([]byte(r.Body), &slots); err != nil || len(slots.Slots) == 0 {
		t.Fatalf("slots: %v %s", err, r.Body)
	}
	r = p.postJSON(t, p.url(host, "/api/v1/bookings"), bookingRequest(cie, slots.Slots[0].Start, 7))
	wantStatus(t, "booking", r, http.StatusCreated)
	var created struct {
		Code      string `json:"code"`
		ManageURL string `json:"manage_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &created); err != nil {
		t.Fatal(err)
	}

	// The page answers on any host, e.g. the bare address.
	mailbox := "http://" + p.HTTPAddr + "/_demo/posta"
	var list response
	deadline := time.Now().Add(15 * time.Second)
	for {
		list = p.get(t, mailbox)
		if strings.Contains(list.Body, created.Code) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantStatus(t, "mailbox", list, http.StatusOK)
	wantText(t, "mailbox", list.Body, "Appuntamento confermato", created.Code, "cittadino7@example.it")
	if csp := list.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("mailbox CSP %q, want default-src 'none'", csp)
	}
	link := regexp.MustCompile(`href="(/_demo/posta/[^"/]+)"`).FindStringSubmatch(list.Body)
	if link == nil {
		t.Fatalf("mailbox lists no message link:\n%s", list.Body)
	}
	msg := p.get(t, "http://"+p.HTTPAddr+link[1])
	wantStatus(t, "message", msg, http.StatusOK)
	wantText(t, "message", msg.Body, "Comune di Bari", "Cosa portare", created.Code)
	if !strings.Contains(msg.Body, `<a href="`+strings.ReplaceAll(created.ManageURL, "&", "&amp;")+`">`) {
		t.Errorf("message page does not link the manage URL %s:\n%s", created.ManageURL, tail(msg.Body, 40))
	}
	ics := p.get(t, "http://"+p.HTTPAddr+link[1]+"/parti/1")
	wantStatus(t, "calendar part", ics, http.StatusOK)
	if !strings.HasPrefix(ics.Header.Get("Content-Type"), "text/calendar") || !strings.Contains(ics.Body, "METHOD:REQUEST") {
		t.Errorf("calendar part: %s\n%s", ics.Header.Get("Content-Type"), ics.Body)
	}
	htmlPart := p.get(t, "http://"+p.HTTPAddr+link[1]+"/html")
	wantStatus(t, "HTML version", htmlPart, http.StatusOK)
	if csp := htmlPart.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("HTML version CSP %q, want a sandbox", csp)
	}
	for _, bad := range []string{"/_demo/posta/nope", "/_demo/posta/..%2f..%2fcluster", link[1] + "/parti/9"} {
		r := p.get(t, "http://"+p.HTTPAddr+bad)
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, r.Status)
		}
	}

	// A second node on the same data dir is refused at once.
	_, errOut, code := runCLI(t, args...)
	if code != exitFailure || !strings.Contains(errOut, "another sportello node is running") {
		t.Errorf("second demo on the same data dir: exit %d, stderr %q; want 1 and a clear message", code, errOut)
	}

	// A restart seeds nothing twice and keeps the booking and the mail.
	p.stop()
	p = startProc(t, dataDir, args...)
	again := demoAPIOffices(t, p, host)
	if len(again.Offices) != len(offices.Offices) {
		t.Errorf("after restart: %d offices, want %d", len(again.Offices), len(offices.Offices))
	}
	for i := range again.Offices {
		if len(again.Offices[i].Services) != len(offices.Offices[i].Services) {
			t.Errorf("after restart: office %q has %d services, want %d", again.Offices[i].Name, len(again.Offices[i].Services), len(offices.Offices[i].Services))
		}
	}
	r = p.get(t, "http://"+p.HTTPAddr+"/_demo/posta")
	wantText(t, "mailbox after restart", r.Body, created.Code)
	r = p.get(t, p.url(host, "/api/v1/bookings/"+created.Code+"?token="+tokenOf(t, created.ManageURL)))
	wantStatus(t, "booking after restart", r, http.StatusOK)
	p.stop()
}

func demoAPIOffices(t *testing.T, p *proc, host string) apiOffices {
	t.Helper()
	r := p.get(t, p.url(host, "/api/v1/offices"))
	wantStatus(t, "offices", r, http.StatusOK)
	var out apiOffices
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func tokenOf(t *testing.T, manageURL string) string {
	t.Helper()
	_, tok, ok := strings.Cut(manageURL, "token=")
	if !ok {
		t.Fatalf("manage URL %q has no token", manageURL)
	}
	return tok
}

// TestCLI checks the commands that need no node.
func TestCLI(t *testing.T) {
	needBinary(t)
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{"version", []string{"version"}, exitOK, []string{"sportello " + e2eVersion, "commit " + e2eCommit, "go1."}, ""},
		{"help", []string{"help"}, exitOK, []string{"sportello demo", "sportello serve", "sportello tenant create"}, ""},
		{"no command", nil, exitUsage, nil, "usage"},
		{"unknown command", []string{"frobnicate"}, exitUsage, nil, `unknown command "frobnicate"`},
		{"serve without config", []string{"serve"}, exitUsage, nil, "--config"},
		{"serve with a missing config", []string{"serve", "--config", "/nonexistent/sportello.toml"}, exitUsage, nil, "no such file"},
		{"demo with a bad flag", []string{"demo", "--bogus"}, exitUsage, nil, "flag provided but not defined"},
		{"demo -h", []string{"demo", "-h"}, exitOK, nil, "-data dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q; stderr %q", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErr != "" && !strings.Contains(strings.ToLower(errOut), strings.ToLower(tt.wantErr)) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}
