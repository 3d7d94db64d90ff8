package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sportello-virtuale/sportello/auth"
)

// scrapeURL GETs a /metrics URL and parses it.
func scrapeURL(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: %d %s", url, resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// TestE2EMetrics starts the real binary with a [metrics] listener,
// books, takes a ticket and scrapes: the families an operator's
// dashboard reads exist and move (bookings, queue length, raft state,
// HTTP latency, outbox backlog), and /metrics is not on the public
// listener.
func TestE2EMetrics(t *testing.T) {
	needBinary(t)
	t.Parallel()
	const host = "bari.localhost"
	dir := shortTempDir(t)
	metricsAddr := freeAddr(t)
	// A mail server that never answers: the confirmation emails stay in
	// the outbox, which is the backlog the metric shows.
	deadSMTP := freeAddr(t)
	smtpHost, smtpPort, _ := net.SplitHostPort(deadSMTP)
	extra := fmt.Sprintf(`
[http]
trust_proxy_headers = true

[metrics]
listen = %q

[outbox]
backoff = "1h"
max_backoff = "2h"
`, metricsAddr)
	cfg := clusterNodeConfig(t, dir, "m1", freeAddr(t), extra)
	// Deliver through SMTP (to nowhere) instead of the mailbox.
	raw := readFile(t, cfg)
	raw = strings.Replace(raw, "[mail]\ndelivery = \"mailbox\"\n", fmt.Sprintf("[mail]\ndelivery = \"smtp\"\ndefault_from = \"Sportello <noreply@sportello.localhost>\"\n\n[smtp]\nhost = %q\nport = %s\nsecurity = \"none\"\ndial_timeout = \"1s\"\n", smtpHost, smtpPort), 1)
	writeFile(t, cfg, raw)

	p := startProc(t, dir, "serve", "--config", cfg)
	metricsURL := "http://" + metricsAddr + "/metrics"
	before := scrapeURL(t, metricsURL)
	wantValue(t, before, "sportello_raft_state", map[string]string{"state": "Leader"}, 1)
	wantValue(t, before, "sportello_raft_leader_known", nil, 1)
	for _, name := range []string{"sportello_raft_term", "sportello_raft_applied_index", "sportello_raft_commit_index", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := before[name]; !ok {
			t.Errorf("scrape lacks %s", name)
		}
	}
	applied0, _ := value(before, "sportello_raft_applied_index", nil)

	svc := seedBari(t, p, dir, 5)
	// An administrator turns the office's queue on (always open), as in
	// the queue's end-to-end test.
	const password = "Amministratore-Metriche-2026"
	var secret string
	if err := queueE2EAdmin(dir, "monitor", password, &secret); err != nil {
		t.Fatal(err)
	}
	next, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	r, cookie := breakGlassLogin(t, p, host, "monitor", password, next)
	if r.Status != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login: %d\n%s", r.Status, tail(r.Body, 20))
	}
	queueE2EAlwaysOpen(t, operatorClient(p, host, cookie), svc.OfficeID)

	mid := scrapeURL(t, metricsURL)
	wantValue(t, mid, "sportello_queue_waiting", map[string]string{"tenant": "bari", "office": svc.OfficeID}, 0)
	if _, ok := value(mid, "sportello_bookings_created_total", map[string]string{"tenant": "bari", "channel": "api"}); ok {
		t.Errorf("bookings counted before any booking")
	}

	// A booking through the API and a ticket through the API.
	code, _ := backupDemoBook(t, p, host, svc.ID, 21)
	r = p.postJSON(t, p.url(host, "/api/v1/offices/"+svc.OfficeID+"/tickets"), map[string]any{"channel": "in_person"})
	wantStatus(t, "ticket", r, http.StatusCreated)

	// The confirmation email fails against the dead server and waits.
	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = scrapeURL(t, metricsURL)
		if n, _ := value(after, "sportello_outbox_items", map[string]string{"kind": "email", "status": "pending"}); n >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantValue(t, after, "sportello_bookings_created_total", map[string]string{"tenant": "bari", "channel": "api"}, 1)
	wantValue(t, after, "sportello_queue_waiting", map[string]string{"tenant": "bari", "office": svc.OfficeID}, 1)
	if n, ok := value(after, "sportello_outbox_items", map[string]string{"kind": "email", "status": "pending"}); !ok || n < 1 {
		t.Errorf("outbox backlog after booking %s: %v (%v), want at least 1 pending email", code, n, ok)
	}
	if _, ok := value(after, "sportello_outbox_oldest_pending_seconds", map[string]string{"kind": "email"}); !ok {
		t.Errorf("sportello_outbox_oldest_pending_seconds{kind=email} missing")
	}
	if n, ok := value(after, "sportello_http_request_duration_seconds", map[string]string{"route": "POST /api/v1/bookings", "code": "2xx"}); !ok || n != 1 {
		t.Errorf("HTTP latency of POST /api/v1/bookings: %v observations (%v), want 1", n, ok)
	}
	if n, _ := value(after, "sportello_raft_applied_index", nil); n <= applied0 {
		t.Errorf("applied index did not move: %v → %v", applied0, n)
	}
	if _, ok := after["sportello_http_streams_in_flight"]; !ok {
		t.Errorf("scrape lacks sportello_http_streams_in_flight")
	}
	// The admin listener also answers /readyz.
	resp, err := http.Get("http://" + metricsAddr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz on the metrics listener: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}

	// Not on the public listener, on any host.
	for _, h := range []string{host, "127.0.0.1", "localhost"} {
		r := p.get(t, p.url(h, "/metrics"))
		if r.Status == http.StatusOK || strings.Contains(r.Body, "sportello_raft_state") {
			t.Errorf("public listener serves /metrics for host %s: %d", h, r.Status)
		}
	}
	p.stop()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
