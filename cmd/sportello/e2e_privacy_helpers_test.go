package main

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"

	// The scan's diagnostics read a node's database read-only.
	_ "github.com/mattn/go-sqlite3"
)

// The helpers of e2e_privacy_test.go: a node configuration that sends
// email to a real SMTP server and compacts right after an erasure, a
// scan of a data folder for personal data in every form the node could
// have written it, and the citizens' and operators' steps over HTTP.

// privacyNodeConfig writes the configuration of node id: email over SMTP
// to srv (so that no copy of an email lands in the data folder, as the
// demo mailbox would keep one), no booking rate limit, quick outbox
// retries and a compaction at most a second after an erasure. extra is
// appended ([cluster] sections).
func privacyNodeConfig(t *testing.T, dataDir, id, raftAddr string, srv *smtptest.Server, extra string) string {
	t.Helper()
	body := fmt.Sprintf(`data_dir = %q
node_id = %q
listen = "127.0.0.1:0"
raft_addr = %q
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

[privacy]
retention_every = "1h"
compact_every = "1s"
compact_poll = "1s"
%s`, dataDir, id, raftAddr, srv.Host, srv.Port, extra)
	path := filepath.Join(t.TempDir(), id+".toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPrivacyCluster starts n nodes (1 or 3) of one cluster sending
// email to srv: the first initialises it, the others join through their
// configuration with a token of the first. It returns the processes and
// their data folders once every node holds the same state.
func startPrivacyCluster(t *testing.T, n int, srv *smtptest.Server) ([]*proc, []string) {
	t.Helper()
	procs := make([]*proc, n)
	dirs := make([]string, n)
	raftAddrs := make([]string, n)
	for i := range n {
		dirs[i], raftAddrs[i] = shortTempDir(t), freeAddr(t)
	}
	procs[0] = startProc(t, dirs[0], "serve", "--config",
		privacyNodeConfig(t, dirs[0], "p1", raftAddrs[0], srv, "\n[cluster]\ninit = true\nname = \"privacy\"\n"))
	for i := 1; i < n; i++ {
		out, errOut, code := runCLI(t, "cluster", "token", "--data", dirs[0], "--ttl", "10m")
		tok := strings.TrimSpace(out)
		if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
			t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		id := fmt.Sprintf("p%d", i+1)
		procs[i] = startProc(t, dirs[i], "serve", "--config", privacyNodeConfig(t, dirs[i], id, raftAddrs[i], srv,
			fmt.Sprintf("\n[cluster]\njoin_token = %q\njoin_addr = %q\n", tok, raftAddrs[0])))
	}
	return procs, dirs
}

// privacyAdmin makes an appliance administrator on the node of dataDir
// with the CLI, as an installation makes its first one, and logs it in
// on p over HTTP; the client carries the session.
func privacyAdmin(t *testing.T, p *proc, dataDir, host, user string) *qeClient {
	t.Helper()
	const password = "Riservatezza-Comunale-2026"
	var secret string
	if err := queueE2EAdmin(dataDir, user, password, &secret); err != nil {
		t.Fatal(err)
	}
	// The account was proposed through the admin socket; the login reads
	// the node's own copy, which may lag a moment on a follower.
	deadline := time.Now().Add(15 * time.Second)
	for {
		next, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
		r, cookie := breakGlassLogin(t, p, host, user, password, next)
		if cookie != "" {
			return operatorClient(p, host, cookie)
		}
		if time.Now().After(deadline) {
			t.Fatalf("login of %s: %d\n%s", user, r.Status, tail(pageText(r.Body), 20))
		}
		// A code is used once: wait for the next period before retrying.
		time.Sleep(time.Until(time.Now().Truncate(auth.TOTPPeriod).Add(auth.TOTPPeriod)) + 50*time.Millisecond)
	}
}

// mustGet and mustPostForm are the operator's requests in the test's
// own goroutine.
func mustGet(t *testing.T, c *qeClient, path string, want int) response {
	t.Helper()
	r, err := c.get(path)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "GET "+path, r, want)
	return r
}

func mustPostForm(t *testing.T, c *qeClient, path string, v url.Values, want int) response {
	t.Helper()
	r, err := c.postForm(path, v)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != want {
		t.Fatalf("POST %s: status %d, want %d; page:\n%s", path, r.Status, want, tail(pageText(r.Body), 40))
	}
	return r
}

// canary returns a string found nowhere else: prefix and 16 random hex
// digits.
func canary(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// needleForms returns the forms in which a node may have written s: as
// it is, lower-cased, and inside base64 (standard and URL alphabets) at
// each of the three byte alignments a value can have in a longer encoded
// blob (JSON encodes []byte as base64, and a payload may sit anywhere in
// it). For each alignment only the characters that depend on s alone are
// kept.
func needleForms(s string) map[string][]byte {
	out := map[string][]byte{"plain": []byte(s), "lower": []byte(strings.ToLower(s))}
	for pad := range 3 {
		data := append(make([]byte, pad), s...)
		for name, enc := range map[string]*base64.Encoding{"base64": base64.RawStdEncoding, "base64url": base64.RawURLEncoding} {
			e := enc.EncodeToString(data)
			// Character i carries bits [6i, 6i+6): it depends on s alone
			// from the first one past the pad's 8·pad bits to the last
			// one that ends inside the data.
			from := (8*pad + 5) / 6
			to := (8 * len(data)) / 6
			if to-from >= 8 {
				out[fmt.Sprintf("%s@%d", name, pad)] = []byte(e[from:to])
			}
		}
	}
	return out
}

// TestE2EPrivacyNeedleForms checks the scan's base64 forms against
// values embedded at every offset of an encoded blob.
func TestE2EPrivacyNeedleForms(t *testing.T) {
	t.Parallel()
	const s = "CANARINO-0123456789abcdef"
	forms := needleForms(s)
	for offset := range 7 {
		blob := append(append(bytes.Repeat([]byte{0xA5}, offset), s...), "coda"...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := []byte(enc.EncodeToString(blob))
			found := false
			for _, f := range forms {
				found = found || bytes.Contains(e, f)
			}
			if !found {
				t.Errorf("offset %d: no form of %q in %s", offset, s, e)
			}
		}
	}
	if !bytes.Contains([]byte(`{"details":"Rinnovo `+strings.ToLower(s)+`"}`), forms["lower"]) {
		t.Error("the lower-case form is not found")
	}
}

// scanDir reads every regular file under dir and returns, sorted, "file:
// label (form)" for each needle found. A file that vanishes while the
// node rewrites it (the compaction renames raft.db, removes snapshots) is
// skipped: the next scan reads its successor.
func scanDir(t *testing.T, dir string, needles map[string]string) []string {
	t.Helper()
	forms := map[string]map[string][]byte{}
	for label, s := range needles {
		forms[label] = needleForms(s)
	}
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for label, fs := range forms {
			for form, f := range fs {
				if bytes.Contains(b, f) {
					hits = append(hits, fmt.Sprintf("%s: %s (%s)", rel, label, form))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	sort.Strings(hits)
	return hits
}

// hitsOf keeps the hits of one needle.
func hitsOf(hits []string, label string) []string {
	var out []string
	for _, h := range hits {
		if strings.Contains(h, ": "+label+" (") {
			out = append(out, h)
		}
	}
	return out
}

// mailTo waits for the n-th message (from 1) to rcpt whose subject
// contains subject, and returns it parsed.
func mailTo(t *testing.T, srv *smtptest.Server, rcpt, subject string, n int, timeout time.Duration) received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		seen := 0
		var subjects []string
		for _, m := range srv.Messages() {
			if len(m.To) != 1 || !strings.EqualFold(m.To[0], rcpt) {
				continue
			}
			parsed, err := mailer.Parse(m.Data)
			if err != nil {
				t.Fatalf("message to %s is not valid MIME: %v\n%s", rcpt, err, m.Data)
			}
			subjects = append(subjects, parsed.Subject)
			if strings.Contains(parsed.Subject, subject) {
				if seen++; seen == n {
					return received{m, parsed}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message %d to %s about %q within %v; subjects to them: %q", n, rcpt, subject, timeout, subjects)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiSlot is a slot of GET /api/v1/services/{id}/slots.
type apiSlot struct {
	Start     string `json:"start"`
	Remaining int    `json:"remaining"`
}

// slotsOf lists svc's slots on p for the next days.
func slotsOf(t *testing.T, p *proc, host, svc string, days int) []apiSlot {
	t.Helper()
	today := civil.DateOf(time.Now())
	return slotsBetween(t, p, host, svc, today, today.AddDays(days))
}

// slotsBetween lists svc's slots on p from one day to another, both
// included.
func slotsBetween(t *testing.T, p *proc, host, svc string, from, to civil.Date) []apiSlot {
	t.Helper()
	r := p.get(t, p.url(host, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", svc, from, to)))
	wantStatus(t, "slots of "+svc, r, http.StatusOK)
	var list struct {
		Slots []apiSlot `json:"slots"`
	}
	if err := json.Unmarshal([]byte(r.Body), &list); err != nil {
		t.Fatalf("slots of %s: %v\n%s", svc, err, r.Body)
	}
	return list.Slots
}

// firstFreeSlot returns the first slot of svc with a free place at least
// two hours away (a slot about to pass its minimum notice would make the
// test depend on the second it runs).
func firstFreeSlot(t *testing.T, p *proc, host, svc string) apiSlot {
	t.Helper()
	for _, s := range slotsOf(t, p, host, svc, 30) {
		at, err := time.Parse(time.RFC3339, s.Start)
		if err != nil {
			t.Fatalf("slot start %q: %v", s.Start, err)
		}
		if s.Remaining > 0 && time.Until(at) > 2*time.Hour {
			return s
		}
	}
	t.Fatalf("no free slot of %s", svc)
	return apiSlot{}
}

// remainingAt returns the free places of svc's slot at start, -1 when the
// list does not show it.
func remainingAt(t *testing.T, p *proc, host, svc, start string) int {
	t.Helper()
	for _, s := range slotsOf(t, p, host, svc, 30) {
		if s.Start == start {
			return s.Remaining
		}
	}
	return -1
}

// citizen is one person of the tests.
type citizen struct {
	Given, Family, FiscalCode, Email, Details string
}

// bookAPI is the booking request of c for start.
func (c citizen) bookAPI(svc, start string) map[string]any {
	return map[string]any{
		"service_id": svc, "start": start, "channel": "in_person", "privacy_accepted": true, "details": c.Details,
		"citizen": map[string]any{"given_name": c.Given, "family_name": c.Family, "fiscal_code": c.FiscalCode, "email": c.Email},
	}
}

// apiCreated is the 201 answer of POST /api/v1/bookings.
type apiCreated struct {
	Code        string `json:"code"`
	Start       string `json:"start"`
	ManageToken string `json:"manage_token"`
}

// apiErrorAnswer is the JSON error of the API.
type apiErrorAnswer struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// book books body on p, retrying while the cluster has no leader for a
// moment (503 unavailable, nothing applied), and returns the answer.
func book(t *testing.T, p *proc, host string, body map[string]any) response {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := p.postJSON(t, p.url(host, "/api/v1/bookings"), body)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"code":"unavailable"`) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mustBook books body on p and returns the booking.
func mustBook(t *testing.T, p *proc, host string, body map[string]any) apiCreated {
	t.Helper()
	r := book(t, p, host, body)
	wantStatus(t, "booking", r, http.StatusCreated)
	var c apiCreated
	if err := json.Unmarshal([]byte(r.Body), &c); err != nil || c.Code == "" || c.ManageToken == "" {
		t.Fatalf("booking answer %v: %s", err, r.Body)
	}
	return c
}

// apiErr decodes an API error answer.
func apiErr(t *testing.T, r response) apiErrorAnswer {
	t.Helper()
	var e apiErrorAnswer
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("error answer %d is not JSON: %v\n%s", r.Status, err, r.Body)
	}
	return e
}

// takeTicket takes an in-person ticket of office on p, with email for the
// queue's emails, and returns its ID and status link.
func takeTicket(t *testing.T, p *proc, host, office, email string) (id, statusURL string) {
	t.Helper()
	r := p.postJSON(t, p.url(host, "/api/v1/offices/"+url.PathEscape(office)+"/tickets"), map[string]any{"channel": "in_person", "email": email})
	wantStatus(t, "ticket", r, http.StatusCreated)
	var k struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &k); err != nil || k.ID == "" {
		t.Fatalf("ticket answer %v: %s", err, r.Body)
	}
	return k.ID, k.StatusURL
}

// saveServiceForm opens the service's back-office form, sets the fields
// and saves it.
func saveServiceForm(t *testing.T, admin *qeClient, svcID string, set map[string]string) {
	t.Helper()
	path := "/gestione/servizi/" + url.PathEscape(svcID)
	r := mustGet(t, admin, path, http.StatusOK)
	f := findForm(t, r.Body, path, `name="verifica"`)
	for k, v := range set {
		f.Values.Set(k, v)
	}
	mustPostForm(t, admin, path, f.Values, http.StatusSeeOther)
}

// cookieOf returns the value of the cookie name set by r, "" if none.
func cookieOf(r response, name string) string {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// seedComune makes the Comune of Bari with the CLI on the node of dir,
// and one office open at the given hours, through p's admin socket.
func seedComune(t *testing.T, p *proc, dir string, hours booking.Week) booking.Office {
	t.Helper()
	if out, errOut, code := runCLI(t, "tenant", "create", "--data", dir, "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--sender", "Comune di Bari <noreply@bari.localhost>"); code != exitOK {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var office booking.Office
	p.adminDo(t, "POST", "/v1/tenants/bari/offices", booking.Office{
		Name: "Anagrafe", Address: "Largo Chiurlia, 27 – 70122 Bari", Phone: "080 577 2250", Hours: hours,
	}, &office)
	return office
}

// linkMail waits for a message to rcpt whose text links to a path
// starting with prefix, and returns the link.
func linkMail(t *testing.T, srv *smtptest.Server, rcpt, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range srv.Messages() {
			if len(m.To) != 1 || !strings.EqualFold(m.To[0], rcpt) {
				continue
			}
			parsed, err := mailer.Parse(m.Data)
			if err != nil {
				t.Fatalf("message to %s is not valid MIME: %v\n%s", rcpt, err, m.Data)
			}
			for _, seg := range linkify(parsed.Text) {
				if u, err := url.Parse(seg.URL); seg.URL != "" && err == nil && strings.HasPrefix(u.Path, prefix) {
					return seg.URL
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message to %s links to %s… within %v", rcpt, prefix, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rowsHolding returns, sorted, where the SQLite database at path holds s
// (case ignored): "table.column" for each column of a row holding it,
// and for the outbox the key and status of each such row. It tells a
// failing scan which rows kept the data.
func rowsHolding(t *testing.T, path, s string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatalf("tables of %s: %v", path, err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var out []string
	for _, table := range tables {
		var cols []string
		rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatalf("columns of %s: %v", table, err)
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		for _, c := range cols {
			where := fmt.Sprintf(`instr(lower(CAST("%s" AS TEXT)), lower(?)) > 0`, c)
			if table == "cluster_outbox" && c == "payload" {
				rows, err := db.Query(`SELECT key, status FROM cluster_outbox WHERE `+where+` ORDER BY key`, s)
				if err != nil {
					t.Fatalf("outbox of %s: %v", path, err)
				}
				for rows.Next() {
					var key, status string
					if err := rows.Scan(&key, &status); err != nil {
						t.Fatal(err)
					}
					out = append(out, "cluster_outbox key="+key+" ("+status+")")
				}
				rows.Close()
				continue
			}
			var n int
			if err := db.QueryRow(fmt.Sprintf(`SELECT count(*) FROM "%s" WHERE `, table)+where, s).Scan(&n); err != nil {
				t.Fatalf("search %s.%s: %v", table, c, err)
			}
			if n > 0 {
				out = append(out, fmt.Sprintf("%s.%s (%d rows)", table, c, n))
			}
		}
	}
	sort.Strings(out)
	return out
}

// statsMade returns the bookings made for the service named service of
// office with appointments on day (YYYY-MM-DD), from the back office's
// statistics as CSV.
func statsMade(t *testing.T, admin *qeClient, office, service, day string) int {
	t.Helper()
	r := mustGet(t, admin, "/gestione/statistiche?"+url.Values{"ufficio": {office}, "dal": {day}, "al": {day}, "formato": {"csv"}}.Encode(), http.StatusOK)
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("statistics CSV: %v\n%s", err, r.Body)
	}
	for _, rec := range recs {
		if len(rec) > 2 && rec[1] == service {
			n, err := strconv.Atoi(rec[2])
			if err != nil {
				t.Fatalf("statistics CSV row %q: %v", rec, err)
			}
			return n
		}
	}
	t.Fatalf("statistics CSV has no row for %q:\n%s", service, r.Body)
	return 0
}

// residue scans dir for needles after an erasure and returns what should
// not be there. One copy is allowed: the outbox row whose key starts with
// allowedKey (the email telling the citizen the decision), in the
// database, its WAL and the snapshots, which are copies of the database;
// allowed lists where it was found. Every database or snapshot holding a
// needle is opened to check that this outbox row is the only one.
func residue(t *testing.T, dir string, needles map[string]string, allowedKey string) (unexpected, allowed []string) {
	t.Helper()
	dbRows := func(file, value string) []string {
		path := filepath.Join(dir, file)
		if strings.HasSuffix(file, ".bin") {
			// A snapshot is a copy of the database: read a copy of it,
			// since opening it where it is could add files to the folder.
			b, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			path = filepath.Join(t.TempDir(), "snapshot.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return rowsHolding(t, path, value)
	}
	checked := map[string]bool{}
	check := func(file, label string) {
		if checked[file+"\x00"+label] {
			return
		}
		checked[file+"\x00"+label] = true
		for _, w := range dbRows(file, needles[label]) {
			if strings.HasPrefix(w, allowedKey) {
				allowed = append(allowed, file+": "+label+" in "+w)
			} else {
				unexpected = append(unexpected, file+": "+label+" in row "+w)
			}
		}
	}
	for label := range needles {
		check("cluster/state.db", label)
	}
	for _, h := range scanDir(t, dir, needles) {
		file, rest, _ := strings.Cut(h, ": ")
		label, _, _ := strings.Cut(rest, " (")
		switch {
		case file == "cluster/state.db", file == "cluster/state.db-wal":
			// The database's rows are checked above; its WAL holds
			// pages of those rows.
		case strings.HasPrefix(file, "cluster/snapshots/") && strings.HasSuffix(file, "/state.bin"):
			check(file, label)
		default:
			unexpected = append(unexpected, h)
		}
	}
	sort.Strings(allowed)
	sort.Strings(unexpected)
	return unexpected, allowed
}
