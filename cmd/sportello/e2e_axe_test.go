package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// TestAxeEveryPage runs axe-core (vendored in internal/browsertest) in
// headless Chromium on every type of page of a running `sportello demo`,
// at WCAG 2.1 levels A and AA, and wants no violation:
//
//   - logged out, in each language (?lang=it|en|de): the home, the
//     offices, the services and one service, the legal pages, every step
//     of the booking flow (and the steps that show field errors), the
//     booking's page, its move and cancel pages and the cancellation,
//     the queue's take-a-number form, a ticket, leaving the queue, the
//     kiosk, its screens and the number it shows, the display board, the
//     video appointment's waiting room and its call page, before and
//     after the operator opens the call, the assistant (where it is
//     mounted), the offline page and the 404 page;
//   - logged in as the demo administrator (through the break-glass login
//     page, which is checked too): /gestione and every back-office page
//     reachable from it by links, up to three of each kind (boPageKind),
//     every form for something new also sent empty (its field errors),
//     and the desk holding a ticket with its transfer page.
//
// A page that reloads itself (a meta refresh, which axe always reports:
// WCAG 2.2.1) passes only if a link marked data-sv-refresh-off leads to
// the same page without the reload (refreshCanStop).
//
// The pages are what a citizen gets: the browser runs their scripts, and
// axe goes in through the DevTools protocol, so the Content Security
// Policy stays as strict as in production.
func TestAxeEveryPage(t *testing.T) {
	needBinary(t)
	t.Parallel()
	e := startA11yDemo(t)
	bctx := a11yBrowser(t)
	c := &axeChecker{t: t, bctx: bctx, e: e, seen: map[string]bool{}}
	start := time.Now()

	for i, lang := range a11yLangs() {
		c.citizenPages(lang, i)
	}
	c.backOffice()

	if len(c.otherLang) > 0 {
		t.Logf("pages in another language than ?lang= asked: %s", strings.Join(c.otherLang, ", "))
	}
	t.Logf("axe-core %s: %d pages checked, %d violations, in %v", browsertest.AxeVersion(), c.pages, c.violations,
		time.Since(start).Round(time.Second))
}

// axeChecker runs axe on pages and reports what it finds.
type axeChecker struct {
	t          *testing.T
	bctx       context.Context
	e          *a11yEnv
	pages      int
	violations int
	// op is the operator who opens the video calls, made when first
	// needed.
	op *callOperator
	// otherLang are the pages that answered ?lang=xx in another
	// language.
	otherLang []string
	// seen keeps each violation (rule and page kind) reported once,
	// whatever the language.
	seen map[string]bool
}

// open navigates to path (on the Comune's host) and checks the page,
// which must answer want.
func (c *axeChecker) open(what, path string, want int) bool {
	c.t.Helper()
	status, err := a11yOpen(c.bctx, c.e.base+path)
	if err != nil {
		c.t.Errorf("%s: %v", what, err)
		return false
	}
	return c.check(what, status, want)
}

// check runs axe on the page the browser shows, which answered status
// (want expected).
func (c *axeChecker) check(what string, status, want int) bool {
	c.t.Helper()
	if status != want {
		alert, _ := a11yEval[string](c.bctx, `[...document.querySelectorAll('main .alert, main [role="alert"]')].map(e => e.innerText.trim()).join(" | ")`)
		c.t.Errorf("%s: %s answered %d, want %d (%s)", what, a11yPath(c.bctx), status, want, alert)
		if status >= 500 {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(c.bctx, a11yTimeout)
	defer cancel()
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		c.t.Errorf("%s: %v", what, err)
		return false
	}
	c.pages++
	kind, lang, _ := strings.Cut(what, " [")
	if lang = strings.TrimSuffix(lang, "]"); lang != "" {
		// Until every page follows ?lang=, a page in another language
		// is noted, not failed: its text and its lang attribute agree
		// either way, which is what WCAG 3.1.1 asks.
		if got, _ := a11yEval[string](c.bctx, `document.documentElement.lang`); got != lang {
			c.otherLang = append(c.otherLang, fmt.Sprintf("%s=%s", kind, got))
		}
	}
	for _, v := range vs {
		if v.ID == "meta-refresh" && c.refreshCanStop(what) {
			continue
		}
		c.violations++
		if key := kind + "|" + v.ID; !c.seen[key] {
			c.seen[key] = true
			c.t.Errorf("%s (%s): %s", what, a11yPath(c.bctx), v)
		}
	}
	return true
}

// refreshCanStop reports whether the page, which reloads itself with a
// meta refresh, lets the user turn the reload off (WCAG 2.2.1, which axe
// cannot see): a link marked data-sv-refresh-off that leads to the same
// page without the refresh.
func (c *axeChecker) refreshCanStop(what string) bool {
	c.t.Helper()
	found, err := a11yEval[string](c.bctx, `(async () => {
		const a = document.querySelector("a[data-sv-refresh-off]");
		if (!a) return "no link marked data-sv-refresh-off";
		const html = await (await fetch(a.getAttribute("href"))).text();
		const doc = new DOMParser().parseFromString(html, "text/html");
		const left = [...doc.querySelectorAll('meta[http-equiv="refresh" i]')].filter(m => !m.closest("noscript"));
		return left.length ? a.getAttribute("href") + " still reloads itself" : "";
	})()`)
	if err != nil || found != "" {
		c.t.Logf("%s: the reload cannot be turned off: %s %v", what, found, err)
		return false
	}
	c.t.Logf("%s: reloads itself, and a link turns that off (WCAG 2.2.1)", what)
	return true
}

// citizenPages checks the citizen's pages in lang; i tells the runs
// apart (a new citizen books each time).
func (c *axeChecker) citizenPages(lang string, i int) {
	t, bctx := c.t, c.bctx
	in := func(what string) string { return what + " [" + lang + "]" }
	for _, pg := range []struct{ what, path string }{
		{"home", "/"},
		{"offices", "/uffici"},
		{"services", "/servizi"},
		{"privacy notice", "/privacy"},
		{"accessibility statement", "/accessibilita"},
		{"legal notes", "/note-legali"},
		{"offline page", "/offline"},
	} {
		c.open(in(pg.what), withLang(pg.path, lang), http.StatusOK)
	}
	c.open(in("404 page"), withLang("/pagina-che-non-esiste", lang), http.StatusNotFound)
	if c.open(in("services"), withLang("/servizi", lang), http.StatusOK) {
		if href, err := a11yEval[string](bctx, `document.querySelector('main a[href^="/servizi/"]')?.getAttribute("href") || ""`); err != nil || href == "" {
			t.Errorf("%s: no link to a service (%v)", in("services"), err)
		} else {
			c.open(in("service"), withLang(href, lang), http.StatusOK)
		}
	}

	// The booking flow, every step, with its field errors.
	c.bookingFlow(lang, i)

	// The queue: the form, a ticket, the kiosk and the board.
	if c.open(in("take a number"), withLang("/coda/urp", lang), http.StatusOK) {
		status, err := a11ySubmit(bctx, `document.querySelector('main form[method="post"] button[type="submit"]').click()`)
		if err != nil {
			t.Errorf("%s: take a ticket: %v", in("ticket"), err)
		} else if strings.HasPrefix(a11yPath(bctx), "/coda/biglietto/") {
			c.check(in("ticket"), status, http.StatusOK)
			// Leaving the queue: the confirmation, then the ticket
			// left (a browser may hold one active ticket at a time).
			for _, what := range []string{"leave the queue", "ticket left"} {
				status, err := a11ySubmit(bctx, `document.querySelector('main form[action^="/coda/biglietto/"] button[type="submit"]').click()`)
				if err != nil {
					t.Errorf("%s: %v", in(what), err)
					break
				}
				c.check(in(what), status, http.StatusOK)
			}
		} else {
			t.Errorf("%s: taking a ticket led to %s (%d)", in("ticket"), a11yPath(bctx), status)
		}
	}
	if c.open(in("kiosk"), withLang("/coda/urp/chiosco", lang), http.StatusOK) {
		// The kiosk's other screens: checking in with a booking code,
		// asking for priority.
		screens, err := a11yEval[[]string](bctx, `[...document.querySelectorAll('main a[href^="/coda/urp/chiosco?"]')].map(a => a.getAttribute("href"))`)
		if err != nil {
			t.Errorf("%s: %v", in("kiosk"), err)
		}
		for _, href := range screens {
			c.open(in("kiosk "+strings.SplitN(href, "?", 2)[1]), withLang(href, lang), http.StatusOK)
		}
		if _, err := a11yOpen(bctx, c.e.base+withLang("/coda/urp/chiosco", lang)); err != nil {
			t.Errorf("%s: %v", in("kiosk"), err)
		}
		// The kiosk prints the number on its screen, then goes back
		// to its first page by itself.
		status, err := a11ySubmit(bctx, `document.querySelector('main form[action$="/chiosco"] button[name="servizio"]').click()`)
		if err != nil {
			t.Errorf("%s: %v", in("kiosk ticket"), err)
		} else {
			c.check(in("kiosk ticket"), status, http.StatusOK)
		}
	}
	c.open(in("display board"), withLang("/coda/urp/tabellone", lang), http.StatusOK)

	// The video appointment: the waiting room checks the citizen in,
	// then the call page (the operator has not opened the call yet).
	waiting, call := c.e.videoBooking(t, 60+i)
	if c.open(in("waiting room"), withLang(waiting, lang), http.StatusOK) {
		ticketID, err := a11yEval[string](bctx, `document.querySelector("[data-push-ticket]")?.dataset.pushTicket || ""`)
		if err != nil || ticketID == "" {
			t.Errorf("%s: the citizen was not checked in (%v)", in("waiting room"), err)
		} else {
			c.open(in("call page before the call opens"), withLang(call, lang), http.StatusOK)
			// The operator opens the call: the page is the call itself.
			if c.op == nil {
				c.op = newCallOperator(t, c.e)
			}
			c.op.open(t, ticketID)
			c.open(in("call page"), withLang(call, lang), http.StatusOK)
			c.op.done(t, ticketID)
		}
	}

	// The assistant, where it is mounted (issue 9).
	if r := c.e.p.get(t, c.e.p.url(c.e.host, "/assistente")); r.Status == http.StatusOK {
		c.open(in("assistant"), withLang("/assistente", lang), http.StatusOK)
	}
}

// bookingFlow books an appointment through the form in lang, checking
// every step, then the booking's page, the move page (and its errors)
// and the cancellation.
func (c *axeChecker) bookingFlow(lang string, i int) {
	t, bctx := c.t, c.bctx
	in := func(what string) string { return what + " [" + lang + "]" }
	if !c.open(in("booking step 1"), withLang("/prenota", lang), http.StatusOK) {
		return
	}
	step := func(what string, values map[string]string, fill bool, want int) bool {
		t.Helper()
		status, err := a11ySubmitBookingStep(bctx, values, fill)
		if err != nil {
			t.Errorf("%s: %v", in(what), err)
			return false
		}
		return c.check(in(what), status, want)
	}
	citizen := map[string]string{
		"nome": "Giulia", "cognome": fmt.Sprintf("Esposito %d", i), "codice_fiscale": fiscalCode(300 + i),
		"email": fmt.Sprintf("giulia%d@example.it", i), "telefono": "080 123 4567",
	}
	// Step 1 sent with no service: its field error.
	if !step("booking step 1 with errors", nil, false, http.StatusUnprocessableEntity) ||
		!step("booking step 2", nil, true, http.StatusOK) ||
		!c.slotDaysAhead(in("booking step 2, the second month")) ||
		!step("booking step 3", nil, true, http.StatusOK) ||
		!step("booking step 4", nil, true, http.StatusOK) ||
		// Step 4 sent empty: the applicant's field errors.
		!step("booking step 4 with errors", nil, false, http.StatusUnprocessableEntity) ||
		!step("booking step 5", citizen, true, http.StatusOK) ||
		!step("booking page", nil, true, http.StatusOK) {
		return
	}
	manage, err := url.Parse(a11yPath(bctx))
	if err != nil || !strings.HasPrefix(manage.Path, "/prenotazioni/") || manage.Query().Get("token") == "" {
		t.Errorf("%s: the booking ended on %s, want its page", in("booking page"), a11yPath(bctx))
		return
	}
	token := "?token=" + url.QueryEscape(manage.Query().Get("token"))
	if c.open(in("move"), withLang(manage.Path+"/sposta"+token, lang), http.StatusOK) {
		// Sent with no new slot: the move page's error.
		status, err := a11ySubmit(bctx, `document.querySelector('main form[action$="/sposta"] button[type="submit"]:not([hidden]):last-of-type').click()`)
		if err != nil {
			t.Errorf("%s: %v", in("move with errors"), err)
		} else {
			c.check(in("move with errors"), status, http.StatusUnprocessableEntity)
		}
	}
	if c.open(in("cancel"), withLang(manage.Path+"/annulla"+token, lang), http.StatusOK) {
		status, err := a11ySubmit(bctx, `document.querySelector('main form[action$="/annulla"] button[type="submit"]').click()`)
		if err != nil {
			t.Errorf("%s: %v", in("cancelled"), err)
		} else {
			c.check(in("cancelled"), status, http.StatusOK)
		}
	}
}

// slotDaysAhead picks, on step 2 of the booking flow, a slot far enough
// ahead for the booking to be moved and cancelled online afterwards
// whatever the time the test runs at: the demo's services take changes
// until 24 hours before the appointment, and the first free slot of a
// service with 24 hours' notice is only seconds outside that deadline
// (one with 2 hours' notice, well inside it). The second month listed
// (the horizon is 60 days, so it is there in full) and its last slot.
func (c *axeChecker) slotDaysAhead(what string) bool {
	t, bctx := c.t, c.bctx
	status, err := a11ySubmit(bctx, `document.querySelectorAll('main button[name="mese"]')[1].click()`)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	if !c.check(what, status, http.StatusOK) || status != http.StatusOK {
		return false
	}
	value, err := a11yEval[string](bctx, `(() => {
		const rs = [...document.querySelectorAll('main input[type="radio"][name="inizio"]')];
		if (rs.length === 0) return "";
		rs[rs.length - 1].checked = true;
		return rs[rs.length - 1].value;
	})()`)
	if start, perr := time.Parse(time.RFC3339, value); err != nil || perr != nil || time.Until(start) < 48*time.Hour {
		t.Errorf("%s: the last slot is %q (%v), want one at least two days ahead", what, value, err)
		return false
	}
	return true
}

// backOffice logs the demo administrator in through the break-glass
// page and checks /gestione and the back-office pages it links to,
// following links under /gestione breadth first. Pages of one kind
// (the same section and depth: /gestione/uffici/urp and
// /gestione/uffici/anagrafe) are checked at most three times, and what is not
// an HTML page (a CSV export, a calendar) is left alone.
func (c *axeChecker) backOffice() {
	t, bctx := c.t, c.bctx
	if !c.open("break-glass login", "/_auth/locale?return=%2Fgestione", http.StatusOK) {
		return
	}
	if err := a11yDo(bctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), demoAdminUser, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), demoAdminPassword, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), c.e.demoCode(t), chromedp.NodeVisible),
	); err != nil {
		t.Fatalf("fill the login form: %v", err)
	}
	if _, err := a11ySubmit(bctx, `document.querySelector('form[action="/_auth/locale"] button[type="submit"]').click()`); err != nil {
		t.Fatalf("log in: %v", err)
	}
	if p := a11yPath(bctx); p != "/gestione" {
		t.Fatalf("after the login the browser is on %s, want /gestione", p)
	}

	queue := []string{"/gestione"}
	visited := map[string]bool{"/gestione": true}
	kinds := map[string]int{}
	var checked []string
	for len(queue) > 0 && c.pages < 400 {
		path := queue[0]
		queue = queue[1:]
		kind := boPageKind(path)
		if kinds[kind]++; kinds[kind] > 3 {
			continue
		}
		ct, err := a11yEval[string](bctx, fmt.Sprintf(`fetch(%q, {method: "HEAD", redirect: "manual"}).then(r => r.type === "opaqueredirect" ? "redirect" : (r.headers.get("content-type") || ""))`, path))
		if err != nil || !strings.HasPrefix(ct, "text/html") {
			continue
		}
		if !c.open("back office "+kind, path, http.StatusOK) {
			continue
		}
		checked = append(checked, path)
		links, err := a11yEval[[]string](bctx, `[...document.querySelectorAll('a[href^="/gestione"]')].map(a => a.getAttribute("href"))`)
		if err != nil {
			t.Errorf("links of %s: %v", path, err)
			continue
		}
		// A form for something new, sent empty: its field errors.
		if p := strings.SplitN(path, "?", 2)[0]; strings.HasSuffix(p, "/nuovo") || strings.HasSuffix(p, "/nuova") {
			status, err := a11ySubmit(bctx, `document.querySelector('main form[method="post"] button[type="submit"]').click()`)
			if err != nil {
				t.Errorf("send %s empty: %v", path, err)
			} else {
				c.check("back office "+kind+" with errors", status, http.StatusUnprocessableEntity)
			}
		}
		sort.Strings(links)
		for _, l := range links {
			l, _, _ = strings.Cut(l, "#")
			if !visited[l] {
				visited[l] = true
				queue = append(queue, l)
			}
		}
	}
	c.desk()
	var sections []string
	for k := range kinds {
		sections = append(sections, k)
	}
	sort.Strings(sections)
	t.Logf("back-office page kinds reached: %s\npages checked: %s", strings.Join(sections, ", "), strings.Join(checked, " "))
	if len(sections) < 8 {
		t.Errorf("only %d kinds of back-office pages reached from /gestione: %v", len(sections), sections)
	}
}

// boPageKind names a back-office path by its shape: a segment that looks
// like an ID (a digit or a dash in it) is "*", words are kept, and the
// names of the query's parameters follow:
// /gestione/servizi/cambio-di-residenza → "servizi/*",
// /gestione/coda?ufficio=urp&aggiungi=1 → "coda?aggiungi,ufficio".
// Short IDs without a digit or a dash (the demo's "urp") count as words:
// a few more pages are checked, none is missed.
func boPageKind(path string) string {
	u, err := url.Parse(path)
	if err != nil {
		return path
	}
	segs := strings.Split(strings.Trim(strings.TrimPrefix(u.Path, "/gestione"), "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = []string{"home"}
	}
	for i := 1; i < len(segs); i++ {
		if strings.ContainsAny(segs[i], "0123456789-") {
			segs[i] = "*"
		}
	}
	kind := strings.Join(segs, "/")
	var keys []string
	for k := range u.Query() {
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		kind += "?" + strings.Join(keys, ",")
	}
	return kind
}

// desk checks the operator's desk holding a ticket, and the page that
// transfers it: a citizen takes a number at the URP through the API, the
// administrator calls it from the URP's desk.
func (c *axeChecker) desk() {
	t := c.t
	r := c.e.p.postJSON(t, c.e.p.url(c.e.host, "/api/v1/offices/urp/tickets"), map[string]string{"channel": "in_person"})
	if r.Status != http.StatusCreated {
		t.Errorf("take a ticket for the desk: %d %s", r.Status, tail(r.Body, 5))
		return
	}
	if !c.open("back office desk", "/gestione/coda?ufficio=urp", http.StatusOK) {
		return
	}
	// The desks of the office, as the page's form offers them: the
	// first that serves the ticket (a counter, not the video station)
	// calls it.
	desks, err := a11yEval[[]string](c.bctx, `[...document.querySelectorAll('main form[action="/gestione/coda"] select[name="sportello"] option')].map(o => o.value).filter(v => v)`)
	if err != nil || len(desks) == 0 {
		t.Errorf("the desk page offers no desk (%v)", err)
		return
	}
	called := false
	for _, d := range desks {
		if status, err := a11yOpen(c.bctx, c.e.base+"/gestione/coda?ufficio=urp&sportello="+url.QueryEscape(d)); err != nil || status != http.StatusOK {
			t.Errorf("desk %s: %d %v", d, status, err)
			return
		}
		status, err := a11ySubmit(c.bctx, `document.querySelector('main form[action="/gestione/coda/chiama"] button[type="submit"]').click()`)
		if err != nil {
			t.Errorf("call the next citizen at desk %s: %v", d, err)
			return
		}
		if status == http.StatusOK {
			called = true
			c.check("back office desk with a ticket", status, http.StatusOK)
			break
		}
	}
	if !called {
		t.Errorf("no desk of the URP called the ticket taken")
		return
	}
	href, err := a11yEval[string](c.bctx, `document.querySelector('main a[href*="/trasferisci"]')?.getAttribute("href") || ""`)
	if err != nil || href == "" {
		t.Errorf("the desk holding a ticket links to no transfer page (%v)", err)
		return
	}
	c.open("back office transfer", href, http.StatusOK)
}
