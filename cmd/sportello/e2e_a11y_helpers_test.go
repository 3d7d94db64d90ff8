package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/browsertest"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The helpers of the accessibility and performance tests (issue 10):
// TestAxe, TestKeyboardOnly, TestPerformanceBudgets and
// TestZoomAndReducedMotion. They run the real `sportello demo` and drive
// headless Chromium through the DevTools protocol.

// a11yLangs are the languages every citizen page is checked in, through
// `?lang=`: every language the site supports (the demo Comune offers
// them all).
func a11yLangs() []string { return site.Languages() }

// a11yEnv is a running demo with what the page tests need beyond the
// demo's own seed: an office open all day with a video service, so that
// the waiting room and the call page exist at any hour of the day.
type a11yEnv struct {
	p    *proc
	dir  string
	host string
	// base is http://bari.localhost:PORT.
	base string
	// videoOffice and videoService are the all-day office and its
	// five-minute video service.
	videoOffice, videoService string
}

// startA11yDemo starts `sportello demo` and adds the video office.
func startA11yDemo(t *testing.T) *a11yEnv {
	t.Helper()
	dir := shortTempDir(t)
	p := startProc(t, dir, "demo", "--data", dir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn")
	e := &a11yEnv{p: p, dir: dir, host: "bari.localhost"}
	e.base = strings.TrimSuffix(p.url(e.host, "/"), "/")
	var office booking.Office
	p.adminDo(t, "POST", "/v1/tenants/bari/offices", booking.Office{
		Name: "Sportello telematico", Address: "Corso Vittorio Emanuele II, 84 – 70122 Bari", Phone: "080 577 1111", Hours: everyDay(),
	}, &office)
	var svc booking.Service
	p.adminDo(t, "POST", "/v1/tenants/bari/services", booking.Service{
		OfficeID: office.ID, Name: "Consulenza in videochiamata", Description: "Un colloquio con l'ufficio in videochiamata.",
		Duration: 5 * time.Minute, Channels: []booking.Channel{booking.Video}, Capacity: 10,
		HorizonDays: 1, MaxActivePerCitizen: 1,
	}, &svc)
	e.videoOffice, e.videoService = office.ID, svc.ID
	openAllDayOnHolidays(t, p, dir, e.host, office.ID)
	return e
}

// videoBooking books the next slot of the video service for citizen i
// through the API and returns the waiting room's path and the call
// page's path (both carry the join token). The slot starts within five
// minutes: inside the check-in window, so the waiting room checks the
// citizen in.
func (e *a11yEnv) videoBooking(t *testing.T, i int) (waiting, call string) {
	t.Helper()
	start := callNextSlot(t, e.p, e.host, e.videoService)
	req := bookingRequest(e.videoService, start.Format(time.RFC3339), i)
	req["channel"] = "video"
	r := e.p.postJSON(t, e.p.url(e.host, "/api/v1/bookings"), req)
	wantStatus(t, "video booking", r, http.StatusCreated)
	var b struct {
		Code    string  `json:"code"`
		JoinURL *string `json:"join_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &b); err != nil || b.Code == "" || b.JoinURL == nil {
		t.Fatalf("video booking answer %q: %v", r.Body, err)
	}
	u, err := url.Parse(*b.JoinURL)
	if err != nil {
		t.Fatal(err)
	}
	tok := url.QueryEscape(u.Query().Get("t"))
	return "/chiamata/" + url.PathEscape(b.Code) + "?t=" + tok, "/chiamata/" + url.PathEscape(b.Code) + "/video?t=" + tok
}

// demoCodeRE finds the demo administrator's current code on /_demo/accesso.
var demoCodeRE = regexp.MustCompile(`aria-live="polite">(\d{6})<`)

// demoCode returns the demo administrator's current TOTP code.
func (e *a11yEnv) demoCode(t *testing.T) string {
	t.Helper()
	r := e.p.get(t, "http://"+e.p.HTTPAddr+"/_demo/accesso")
	m := demoCodeRE.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil {
		t.Fatalf("demo access page: %d, no code:\n%s", r.Status, tail(r.Body, 20))
	}
	return m[1]
}

// a11yBrowser starts headless Chromium for the page tests, with a fake
// camera and microphone that it may use without asking (the call page
// asks for them), and any extra options.
func a11yBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	bin := browsertest.Chromium(t)
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}, extra...)
	return browsertest.Headless(t, bin, opts...)
}

// a11yTimeout bounds every browser step.
const a11yTimeout = 30 * time.Second

// a11yDo runs browser steps, each call bounded by a11yTimeout.
func a11yDo(bctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(bctx, a11yTimeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// a11yEval evaluates a JavaScript expression in the page (awaiting a
// promise it returns) and decodes its value.
func a11yEval[T any](bctx context.Context, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(bctx, a11yTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// a11yOpen navigates to rawURL, waits for the load event, and returns
// the HTTP status of the document.
func a11yOpen(bctx context.Context, rawURL string) (int, error) {
	ctx, cancel := context.WithTimeout(bctx, a11yTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(rawURL))
	for try := 0; try < 2 && err != nil && strings.Contains(err.Error(), "net::ERR_ABORTED"); try++ {
		// The page shown before reloads itself (the call page before
		// the call opens, the desk pages): a reload that fires as this
		// navigation starts cancels it. Again, as a citizen would.
		time.Sleep(200 * time.Millisecond)
		resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(rawURL))
	}
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", rawURL, err)
	}
	if resp == nil {
		return 0, fmt.Errorf("open %s: no response", rawURL)
	}
	return int(resp.Status), nil
}

// a11ySubmit runs the JavaScript statement act (which submits a form or
// clicks a link) and waits until the page it leads to has loaded; it
// returns that page's status.
func a11ySubmit(bctx context.Context, act string) (int, error) {
	ctx, cancel := context.WithTimeout(bctx, a11yTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Evaluate[chromedp.Void](act))
	if err != nil {
		return 0, fmt.Errorf("%s: %w (page %s)", act, err, location(bctx))
	}
	if resp == nil { // a navigation within the document
		return http.StatusOK, nil
	}
	return int(resp.Status), nil
}

// withLang adds ?lang=xx to a path.
func withLang(path, lang string) string {
	if strings.Contains(path, "?") {
		return path + "&lang=" + lang
	}
	return path + "?lang=" + lang
}

// a11yPath returns the path and query of the page the browser shows.
func a11yPath(bctx context.Context) string {
	u, err := url.Parse(location(bctx))
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

// a11yFillJS is a JavaScript function, for the pages of the booking flow,
// that fills the last form of the page that posts to /prenota or
// /prenotazioni (the step's main form; the month picker of step 2 comes
// before it): it picks the first option of every radio group with none
// picked, ticks required checkboxes, types the values of fields by name,
// and returns the form. The test then submits it with its last visible
// submit button (Avanti, Invia).
const a11yFillJS = `function(values) {
	const forms = [...document.querySelectorAll('main form[method="post"]')].filter(f => /^\/prenota(zioni)?$/.test(f.getAttribute("action")));
	const f = forms[forms.length - 1];
	if (!f) throw new Error("no booking form on " + location.pathname);
	const groups = new Set([...f.querySelectorAll('input[type="radio"]')].map(r => r.name));
	for (const g of groups) {
		const rs = [...f.querySelectorAll('input[type="radio"]')].filter(r => r.name === g);
		if (!rs.some(r => r.checked)) rs[0].checked = true;
	}
	for (const c of f.querySelectorAll('input[type="checkbox"][required]')) c.checked = true;
	for (const [k, v] of Object.entries(values)) {
		const el = f.querySelector('[name="' + k + '"]:not([type="hidden"])');
		if (el) el.value = v;
	}
	return f;
}`

// a11ySubmitBookingStep fills the current step of the booking flow with
// values (nil: submit it as it is, to get its field errors) and goes on.
func a11ySubmitBookingStep(bctx context.Context, values map[string]string, fill bool) (int, error) {
	if values == nil {
		values = map[string]string{}
	}
	arg, _ := json.Marshal(values)
	fillExpr := "(" + a11yFillJS + ")(" + string(arg) + ")"
	if !fill {
		fillExpr = `[...document.querySelectorAll('main form[method="post"]')].filter(f => /^\/prenota(zioni)?$/.test(f.getAttribute("action"))).pop()`
	}
	return a11ySubmit(bctx, `(() => {
		const f = `+fillExpr+`;
		const bs = [...f.querySelectorAll('button[type="submit"]')].filter(b => !b.hidden && b.offsetParent !== null && !b.getAttribute("formaction"));
		bs[bs.length - 1].click();
	})()`)
}

// jsonUnmarshal decodes a JSON answer's body.
func jsonUnmarshal(body string, v any) error { return json.Unmarshal([]byte(body), v) }

// callOperator is an operator at a remote desk of the video office,
// logged in over HTTP: an appliance administrator made with the CLI, so
// that its codes do not use up the demo administrator's.
type callOperator struct {
	opc  *qeClient
	e    *a11yEnv
	desk string
}

// newCallOperator makes the operator, logs it in and makes its remote
// desk in the video office.
func newCallOperator(t *testing.T, e *a11yEnv) *callOperator {
	t.Helper()
	const user, password = "operatrice-video", "Videochiamata-Accessibile-2026"
	var secret string
	if err := queueE2EAdmin(e.dir, user, password, &secret); err != nil {
		t.Fatal(err)
	}
	next, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	r, cookie := breakGlassLogin(t, e.p, e.host, user, password, next)
	if cookie == "" {
		t.Fatalf("operator login: %d\n%s", r.Status, tail(r.Body, 20))
	}
	opc := operatorClient(e.p, e.host, cookie)
	r, err := opc.get("/gestione/sportelli/nuovo?ufficio=" + url.QueryEscape(e.videoOffice))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("new desk form: %v %d", err, r.Status)
	}
	f := findForm(t, r.Body, "/gestione/sportelli/nuovo", `name="nome"`)
	f.Values.Set("nome", "Postazione video")
	f.Values.Set("tipo", string(booking.DeskRemote))
	f.Values.Set("ufficio", e.videoOffice)
	if r, err = opc.postForm(f.Action, f.Values); err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("create the remote desk: %v %d\n%s", err, r.Status, pageText(r.Body))
	}
	r, err = opc.get("/gestione/coda?ufficio=" + url.QueryEscape(e.videoOffice))
	m := callDeskRE.FindStringSubmatch(r.Body)
	if err != nil || m == nil {
		t.Fatalf("the desk page of the video office offers no desk (%v):\n%s", err, pageText(r.Body))
	}
	return &callOperator{opc: opc, e: e, desk: m[1]}
}

// callDeskRE finds the first desk the desk page's form offers.
var callDeskRE = regexp.MustCompile(`<select[^>]*name="sportello"[^>]*>\s*(?:<option value="">[^<]*</option>\s*)?<option value="([^"]+)"`)

// open calls the next ticket at the desk (the citizen checked in, whose
// ticket is ticketID) and opens its call, as the operator's browser
// would: the citizen's call page is the call from then on.
func (o *callOperator) open(t *testing.T, ticketID string) {
	t.Helper()
	form := queueE2EDeskForm(t, o.opc, o.e.videoOffice, o.desk)
	if r, err := o.opc.postForm("/gestione/coda/chiama", form); err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("call the next citizen: %v %d\n%s", err, r.Status, pageText(r.Body))
	}
	if r, err := o.opc.get("/gestione/chiamate/" + url.PathEscape(ticketID)); err != nil || r.Status != http.StatusOK {
		t.Fatalf("open the call of ticket %s: %v %d\n%s", ticketID, err, r.Status, pageText(r.Body))
	}
}

// done closes the ticket at the desk as served (starting the service
// first if opening the call did not), so that the desk can call again.
func (o *callOperator) done(t *testing.T, ticketID string) {
	t.Helper()
	form := url.Values{}
	r, err := o.opc.get(deskURLFor(o.e.videoOffice, o.desk))
	if v, ok := formValues(r.Body, "/gestione/coda/"+ticketID+"/servito"); err == nil && ok {
		form = v
	} else if v, ok := formValues(r.Body, "/gestione/coda/"+ticketID+"/inizia"); err == nil && ok {
		if r, err := o.opc.postForm("/gestione/coda/"+ticketID+"/inizia", v); err != nil || r.Status != http.StatusSeeOther {
			t.Fatalf("start serving %s: %v %d\n%s", ticketID, err, r.Status, pageText(r.Body))
		}
		form = v
	} else {
		t.Fatalf("the desk page does not hold ticket %s (%v):\n%s", ticketID, err, pageText(r.Body))
	}
	if r, err := o.opc.postForm("/gestione/coda/"+ticketID+"/servito", form); err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("close %s as served: %v %d\n%s", ticketID, err, r.Status, pageText(r.Body))
	}
}
