package web

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/queue"
)

// codaPage is a recorded HTML answer.
type codaPage struct {
	Status int
	Header http.Header
	Body   string
}

// browse sends a request as a browser on the Comune's own site would:
// form posts are same-origin.
func (e *env) browse(method, host, target string, form url.Values) codaPage {
	e.t.Helper()
	return e.browseFrom("same-origin", method, host, target, form)
}

func (e *env) browseFrom(fetchSite, method, host, target string, form url.Values) codaPage {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://"+host+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "http://"+host+target, nil)
	}
	req.Header.Set("Sec-Fetch-Site", fetchSite)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return codaPage{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

var (
	tagIDRE    = regexp.MustCompile(`\sid="([^"]+)"`)
	forRE      = regexp.MustCompile(`<label[^>]*\sfor="([^"]+)"`)
	inputRE    = regexp.MustCompile(`<(?:input|select|textarea)\s[^>]*>`)
	inputIDRE  = regexp.MustCompile(`\sid="([^"]+)"`)
	hiddenRE   = regexp.MustCompile(`type="(?:hidden|submit)"`)
	levelRE    = regexp.MustCompile(`<h([1-6])[\s>]`)
	fieldsetRE = regexp.MustCompile(`(?s)<fieldset[\s>].*?</fieldset>`)
)

// accessible checks, on a rendered page, what assistive technology needs
// from it: the page's language, ids used once, a label naming every
// visible control, a legend in every group of choices, and a heading
// outline that starts at h1 and never skips a level inside <main>.
func accessible(t *testing.T, name, body string) {
	t.Helper()
	if !strings.Contains(body, `<html lang="it">`) {
		t.Errorf("%s: page language is not declared as Italian", name)
	}
	seen := map[string]bool{}
	for _, m := range tagIDRE.FindAllStringSubmatch(body, -1) {
		if seen[m[1]] {
			t.Errorf("%s: id %q is not unique", name, m[1])
		}
		seen[m[1]] = true
	}
	named := map[string]bool{}
	for _, m := range forRE.FindAllStringSubmatch(body, -1) {
		named[m[1]] = true
	}
	for _, in := range inputRE.FindAllString(body, -1) {
		if hiddenRE.MatchString(in) {
			continue
		}
		id := inputIDRE.FindStringSubmatch(in)
		if id == nil || !named[id[1]] {
			t.Errorf("%s: control has no label: %s", name, in)
		}
	}
	for _, fs := range fieldsetRE.FindAllString(body, -1) {
		if !strings.Contains(fs, "<legend") {
			t.Errorf("%s: group of choices without a legend", name)
		}
	}
	start, end := strings.Index(body, "<main"), strings.Index(body, "</main>")
	if start < 0 || end < start {
		t.Fatalf("%s: no <main>", name)
	}
	last := 0
	for _, m := range levelRE.FindAllStringSubmatch(body[start:end], -1) {
		lvl := int(m[1][0] - '0')
		if lvl > last+1 {
			t.Errorf("%s: heading level jumps from h%d to h%d", name, last, lvl)
		}
		last = lvl
	}
	if last == 0 {
		t.Errorf("%s: no heading in <main>", name)
	}
}

// pageText is the page's visible text, tags removed and entities decoded,
// with runs of white space made one space.
func pageText(body string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func TestTakeANumberThroughTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	office := "/coda/" + e.bari.office.ID
	form := e.browse("GET", e.bari.host, office, nil)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, "Carta d&#39;identità") || !strings.Contains(form.Body, `action="`+office+`"`) {
		t.Fatalf("form page: got %d, want 200 with the office's service:\n%s", form.Status, form.Body)
	}
	accessible(t, "form", form.Body)

	// A wrong channel shows the form again with the error; nothing is taken.
	bad := e.browse("POST", e.bari.host, office, url.Values{"servizio": {e.bari.service.ID}, "canale": {"fax"}})
	if bad.Status != http.StatusUnprocessableEntity || !strings.Contains(bad.Body, `id="canale-errore"`) || !strings.Contains(bad.Body, `role="alert"`) {
		t.Errorf("bad channel: got %d, want 422 with the channel's error:\n%s", bad.Status, bad.Body)
	}
	accessible(t, "form with errors", bad.Body)
	if line, err := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); err != nil || len(line) != 0 {
		t.Errorf("after the refused form: line %v (%v), want empty", line, err)
	}
	// A post from another site is refused.
	if res := e.browseFrom("cross-site", "POST", e.bari.host, office, url.Values{"canale": {"in_person"}}); res.Status != http.StatusForbidden {
		t.Errorf("cross-site post: got %d, want 403", res.Status)
	}

	take := func() (string, codaPage) {
		t.Helper()
		res := e.browse("POST", e.bari.host, office, url.Values{"servizio": {e.bari.service.ID}, "canale": {"in_person"}})
		loc := res.Header.Get("Location")
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/coda/biglietto/") || !strings.Contains(loc, "?secret=") {
			t.Fatalf("take: got %d Location %q, want 303 to the ticket page", res.Status, loc)
		}
		return loc, e.browse("GET", e.bari.host, loc, nil)
	}
	_, first := take()
	if first.Status != http.StatusOK || !strings.Contains(first.Body, `id="numero">A001<`) || !strings.Contains(pageText(first.Body), "In attesa Sei il prossimo.") {
		t.Fatalf("first ticket page: got %d, want A001, waiting, next:\n%s", first.Status, first.Body)
	}
	accessible(t, "ticket", first.Body)
	if got := first.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("ticket page Referrer-Policy: got %q, want no-referrer", got)
	}
	for _, want := range []string{`aria-live="polite"`, `<noscript><meta http-equiv="refresh" content="20"></noscript>`, `data-coda-ticket="/api/v1/tickets/`, `>Lascia la coda</button>`} {
		if !strings.Contains(first.Body, want) {
			t.Errorf("ticket page lacks %s", want)
		}
	}
	_, second := take()
	if !strings.Contains(second.Body, `id="numero">A002<`) || !strings.Contains(pageText(second.Body), "C'è 1 persona prima di te, circa 30 minuti.") {
		t.Errorf("second ticket page: want A002 with one person before, 30 minutes:\n%s", pageText(second.Body))
	}

	// The operator calls the first: its page names the desk.
	if _, err := e.q.CallNext(context.Background(), e.bari.tenant, e.bari.office.ID, "3", nil); err != nil {
		t.Fatal(err)
	}
	again := e.browse("GET", e.bari.host, ticketPathOf(t, first.Body), nil)
	if !strings.Contains(again.Body, "È il tuo turno: sportello 3") {
		t.Errorf("called ticket page: want the desk:\n%s", pageText(again.Body))
	}
	// A wrong secret is an unknown ticket.
	if res := e.browse("GET", e.bari.host, "/coda/biglietto/x?secret=nope", nil); res.Status != http.StatusNotFound {
		t.Errorf("wrong secret: got %d, want 404", res.Status)
	}
}

var refreshTarget = regexp.MustCompile(`class="btn[^"]*" href="(/coda/biglietto/[^"]+)"`)

// ticketPathOf finds the ticket page's own link in its confirm form, or
// rebuilds it from the leave form's hidden fields.
func ticketPathOf(t *testing.T, body string) string {
	t.Helper()
	id := regexp.MustCompile(`action="/coda/biglietto/([^"]+)"`).FindStringSubmatch(body)
	secret := regexp.MustCompile(`name="secret" value="([^"]+)"`).FindStringSubmatch(body)
	if id == nil || secret == nil {
		t.Fatalf("no leave form on the ticket page:\n%s", body)
	}
	return "/coda/biglietto/" + id[1] + "?secret=" + url.QueryEscape(html.UnescapeString(secret[1]))
}

func TestLeaveTheQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	res := e.browse("POST", e.bari.host, "/coda/"+e.bari.office.ID, url.Values{"canale": {"video"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("take: got %d", res.Status)
	}
	loc := res.Header.Get("Location")
	u, _ := url.Parse(loc)
	secret := u.Query().Get("secret")
	// The first press asks for confirmation, and changes nothing.
	ask := e.browse("POST", e.bari.host, u.Path, url.Values{"secret": {secret}})
	if ask.Status != http.StatusOK || !strings.Contains(ask.Body, "Vuoi davvero lasciare la coda?") || !strings.Contains(ask.Body, `name="conferma" value="si"`) {
		t.Fatalf("leave: got %d, want the confirmation:\n%s", ask.Status, ask.Body)
	}
	accessible(t, "confirm", ask.Body)
	if m := refreshTarget.FindStringSubmatch(ask.Body); m == nil || html.UnescapeString(m[1]) != loc {
		t.Errorf("confirmation: the way back is %v, want %s", m, loc)
	}
	if got := e.browse("GET", e.bari.host, loc, nil); !strings.Contains(got.Body, "In attesa") {
		t.Errorf("after asking: want the ticket still waiting")
	}
	// A wrong secret leaves nobody.
	if bad := e.browse("POST", e.bari.host, u.Path, url.Values{"secret": {"nope"}, "conferma": {"si"}}); bad.Status != http.StatusNotFound {
		t.Errorf("leave with a wrong secret: got %d, want 404", bad.Status)
	}
	done := e.browse("POST", e.bari.host, u.Path, url.Values{"secret": {secret}, "conferma": {"si"}})
	if done.Status != http.StatusSeeOther || done.Header.Get("Location") != loc {
		t.Fatalf("confirmed leave: got %d %q, want 303 to %s", done.Status, done.Header.Get("Location"), loc)
	}
	after := e.browse("GET", e.bari.host, loc, nil)
	if !strings.Contains(after.Body, "Hai lasciato la coda") || strings.Contains(after.Body, "Lascia la coda</button>") ||
		strings.Contains(after.Body, `http-equiv="refresh"`) || strings.Contains(after.Body, "data-coda-ticket") {
		t.Errorf("after leaving: want the cancelled state, no button, no refresh, no stream:\n%s", after.Body)
	}
	k, err := e.q.TicketWithSecret(context.Background(), e.bari.tenant.ID, strings.TrimPrefix(u.Path, "/coda/biglietto/"), secret)
	if err != nil || k.State != queue.Cancelled {
		t.Errorf("ticket after leaving: %s (%v), want cancelled", k.State, err)
	}
}

func TestKioskAndBoard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	kiosk := "/coda/" + e.bari.office.ID + "/chiosco"
	board := "/coda/" + e.bari.office.ID + "/tabellone"
	k := e.browse("GET", e.bari.host, kiosk, nil)
	if k.Status != http.StatusOK || !strings.Contains(k.Body, `name="servizio" value="`+e.bari.service.ID+`"`) {
		t.Fatalf("kiosk: got %d, want a button for the service:\n%s", k.Status, k.Body)
	}
	accessible(t, "kiosk", k.Body)
	b := e.browse("GET", e.bari.host, board, nil)
	if b.Status != http.StatusOK || !strings.Contains(b.Body, "Nessuna chiamata per ora.") {
		t.Fatalf("empty board: got %d:\n%s", b.Status, b.Body)
	}
	accessible(t, "empty board", b.Body)

	took := e.browse("POST", e.bari.host, kiosk, url.Values{"servizio": {e.bari.service.ID}})
	if took.Status != http.StatusOK || !strings.Contains(took.Body, `id="numero">A001<`) ||
		!strings.Contains(took.Body, `<meta http-equiv="refresh" content="10;url=`+kiosk+`">`) || strings.Contains(took.Body, "secret") {
		t.Fatalf("kiosk ticket: got %d, want A001 shown for 10 s, no secret:\n%s", took.Status, took.Body)
	}
	accessible(t, "kiosk number", took.Body)
	if res := e.browse("POST", e.bari.host, kiosk, url.Values{"servizio": {e.lecce.service.ID}}); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("kiosk with another Comune's service: got %d, want 422", res.Status)
	}

	if _, err := e.q.CallNext(context.Background(), e.bari.tenant, e.bari.office.ID, "3", nil); err != nil {
		t.Fatal(err)
	}
	b = e.browse("GET", e.bari.host, board, nil)
	if !strings.Contains(pageText(b.Body), "A001 sportello 3") || !strings.Contains(b.Body, `data-coda-board="/api/v1/offices/`+e.bari.office.ID+`/queue/events"`) ||
		!strings.Contains(b.Body, `<noscript><meta http-equiv="refresh" content="30"></noscript>`) {
		t.Errorf("board after the call: want A001 at desk 3, the stream and the fallback:\n%s", b.Body)
	}
	accessible(t, "board", b.Body)
	if k := e.browse("GET", e.bari.host, kiosk, nil); k.Status != http.StatusOK {
		t.Errorf("kiosk after the call: got %d", k.Status)
	}
}

func TestAnotherComunesOfficeIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	res := e.browse("POST", e.bari.host, "/coda/"+e.bari.office.ID, url.Values{"canale": {"in_person"}})
	loc := res.Header.Get("Location")
	o := "/coda/" + e.bari.office.ID
	for _, tt := range []struct{ method, target string }{
		{"GET", o}, {"POST", o}, {"GET", o + "/chiosco"}, {"POST", o + "/chiosco"}, {"GET", o + "/tabellone"},
		{"GET", loc}, {"GET", "/coda/nope"}, {"GET", o + "/altro"},
	} {
		var form url.Values
		if tt.method == "POST" {
			form = url.Values{"canale": {"in_person"}}
		}
		host := e.lecce.host
		if strings.HasSuffix(tt.target, "nope") || strings.HasSuffix(tt.target, "altro") {
			host = e.bari.host
		}
		if got := e.browse(tt.method, host, tt.target, form); got.Status != http.StatusNotFound || !strings.Contains(got.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s %s on %s: got %d %s, want the 404 page", tt.method, tt.target, host, got.Status, got.Header.Get("Content-Type"))
		}
	}
	if got := e.do("GET", e.lecce.host, "/api/v1/offices/"+e.bari.office.ID+"/queue/events", "", ""); got.Status != http.StatusNotFound {
		t.Errorf("office events from another Comune: got %d, want 404", got.Status)
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 1 {
		t.Errorf("bari's line: got %d tickets, want only the one taken on bari's host", len(line))
	}
}

func TestScriptIsServedAndAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	res := e.browse("POST", e.bari.host, "/coda/"+e.bari.office.ID, url.Values{"canale": {"in_person"}})
	p := e.browse("GET", e.bari.host, res.Header.Get("Location"), nil)
	tag := regexp.MustCompile(`<script src="([^"]+)" nonce="([^"]+)"`).FindStringSubmatch(p.Body)
	if tag == nil {
		t.Fatalf("ticket page has no script tag:\n%s", p.Body)
	}
	src := html.UnescapeString(tag[1])
	csp := p.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(src, scriptPath+"?v=") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("script %q with nonce %q under CSP %q: want a same-origin script the policy allows", src, tag[2], csp)
	}
	if strings.Contains(p.Body, "<script>") || regexp.MustCompile(`\son[a-z]+="`).MatchString(p.Body) {
		t.Errorf("ticket page has inline script")
	}
	js := e.browse("GET", e.bari.host, src, nil)
	if js.Status != http.StatusOK || js.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(js.Header.Get("Cache-Control"), "immutable") || !strings.Contains(js.Body, "EventSource") {
		t.Errorf("script: got %d %q %q", js.Status, js.Header.Get("Content-Type"), js.Header.Get("Cache-Control"))
	}
	if old := e.browse("GET", e.bari.host, scriptPath+"?v=old", nil); old.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("script of another version: Cache-Control %q, want no-cache", old.Header.Get("Cache-Control"))
	}
}

// TestBoardEventsFollowTheCalls: the board's stream on a follower sends
// the (empty) list, then the call an operator made on the leader.
func TestBoardEventsFollowTheCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	e.take(e.bari, `{"channel":"in_person"}`)
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/offices/"+e.bari.office.ID+"/queue/events", nil)
	req.Host = e.bari.host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("office events: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() []apiCall {
		t.Helper()
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v []apiCall
				if err := json.Unmarshal([]byte(data), &v); err != nil {
					t.Fatalf("event %q: %v", data, err)
				}
				return v
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return nil
	}
	if v := next(); len(v) != 0 {
		t.Fatalf("first event: got %+v, want no calls", v)
	}
	if _, err := e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "2", nil); err != nil {
		t.Fatal(err)
	}
	if v := next(); len(v) != 1 || v[0].Number != "A001" || v[0].Desk != "2" || v[0].State != "called" {
		t.Errorf("after the call: got %+v, want A001 called at desk 2", v)
	}
}
