package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// TestBrowserFairProof opens the summary of a booking of a service that
// asks a proof of work in headless Chromium, under the real
// Content-Security-Policy: the page passes axe's WCAG 2.1 AA rules, the
// script solves the challenge, and "Invia" pressed at once waits for it
// and then books.
func TestBrowserFairProof(t *testing.T) {
	bin := browsertest.Chromium(t)
	e := newEnv(t)
	svc := e.bari.InPerson
	if _, err := e.book.SaveFairSettings(context.Background(), e.bari.Tenant.ID, svc.ID, booking.FairSettings{ProofOfWork: 14}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.srv)
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	base := "http://" + bariHost + ":" + port
	bctx := browsertest.Headless(t, bin,
		chromedp.Flag("host-resolver-rules", "MAP "+bariHost+" 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"))
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancel)

	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/prenota?servizio="+svc.ID)); err != nil {
		t.Fatalf("open the form: %v", err)
	}
	// Jump to the summary with the flow's state, as the steps would post
	// it (DevTools evaluation is not bound by the page's CSP).
	state := with(flowState(svc, slot(2, 10, 0)), "passo", "4", "vai", "5", "privacy", "")
	var js strings.Builder
	js.WriteString(`(function(){var f=document.createElement("form");f.method="post";f.action="/prenota";`)
	for k, vs := range state {
		for _, v := range vs {
			js.WriteString(`var i=document.createElement("input");i.type="hidden";i.name=` + jsString(k) + `;i.value=` + jsString(v) + `;f.appendChild(i);`)
		}
	}
	js.WriteString(`document.body.appendChild(f);f.submit();})()`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js.String()+";true")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`form[data-sv-pow] #privacy`))); err != nil {
		t.Fatalf("the summary did not appear: %v", err)
	}
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("axe: %s", v)
	}
	// Tick the privacy box and press Invia at once: the script holds the
	// post until the proof is found.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#privacy`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.steppers-btn-confirm`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	// The env's clock stands still, so the no-JavaScript wait never ends:
	// only a solved proof can book here. The post navigates, which
	// interrupts an evaluation: ask again
	// until the booking's page answers.
	var loc string
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		l, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
		if err == nil && strings.Contains(l, "confermato=1") {
			loc = l
			break
		}
	}
	if loc == "" {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("verifica-stato")||{}).textContent || document.title`))
		t.Fatalf("no booking after Invia (page says %q)", status)
	}
	if !strings.HasPrefix(loc, "/prenotazioni/BA-") {
		t.Errorf("booked page: %q", loc)
	}
}
