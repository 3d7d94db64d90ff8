package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/booking"
)

// labelledDesk creates a counter of s's office labelled label and waits
// until the API's node has it; it returns the desk's ID.
func (e *env) labelledDesk(s seeded, label string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := e.book.WriteDesk(ctx, s.tenant.ID, booking.Desk{OfficeID: s.office.ID, Label: label, Kind: booking.DeskCounter}, false)
	if err != nil {
		e.t.Fatalf("WriteDesk: %v", err)
	}
	for {
		if _, err := e.book.Desk(ctx, s.tenant.ID, w.ID); err == nil {
			return w.ID
		}
		if ctx.Err() != nil {
			e.t.Fatal("the desk never reached the API's node")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCitizensReadTheDeskLabel: a ticket names its desk by ID, but the
// citizen's API answer, ticket page and the hall's board name it by its
// label, and a bare desk number reads "sportello 4".
func TestCitizensReadTheDeskLabel(t *testing.T) {
	e := newEnv(t, RateLimit{PerMinute: -1})
	desk := e.labelledDesk(e.bari, "Stanza 12")
	r := e.take(e.bari, `{"channel":"in_person"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("take: %d %+v", r.Status, r.Err)
	}
	ctx := context.Background()
	called, err := e.leaderQ.CallNext(ctx, e.bari.tenant, e.bari.office.ID, desk, nil)
	if err != nil || called.ID != r.Ticket.ID || called.Desk != desk {
		t.Fatalf("call: %+v %v", called, err)
	}
	target := path(t, r.Ticket.StatusURL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.do("GET", e.bari.host, target, "", "")
		if got.Ticket.State == "called" {
			if got.Ticket.Desk != "Stanza 12" {
				t.Fatalf("the API names the desk %q, want its label", got.Ticket.Desk)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call never reached the API's node: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	secret := target[strings.Index(target, "secret=")+len("secret="):]
	page := e.browse("GET", e.bari.host, "/coda/biglietto/"+r.Ticket.ID+"?secret="+secret, nil)
	if !strings.Contains(page.Body, "È il tuo turno: Stanza 12") || strings.Contains(page.Body, desk) {
		t.Errorf("the ticket page does not say «È il tuo turno: Stanza 12» or shows the desk's ID")
	}
	board := e.browse("GET", e.bari.host, "/coda/"+e.bari.office.ID+"/tabellone", nil)
	if !strings.Contains(board.Body, "Stanza 12") || strings.Contains(board.Body, desk) {
		t.Errorf("the board does not name the desk by its label")
	}
	if !strings.Contains(board.Body, `data-coda-audio`) || !strings.Contains(board.Body, "Attiva suono e voce") {
		t.Errorf("the board offers no sound")
	}
	quiet := e.browse("GET", e.bari.host, "/coda/"+e.bari.office.ID+"/tabellone?suono=no&voce=no", nil)
	if strings.Contains(quiet.Body, `data-coda-audio`) || !strings.Contains(quiet.Body, `data-coda-chime="0" data-coda-voice="0"`) {
		t.Errorf("suono=no&voce=no still offers sound")
	}
	for lang, want := range map[string]string{"it": "sportello 4", "en": "desk 4", "de": "Schalter 4"} {
		if got := place(lang, "4"); got != want {
			t.Errorf("place(%s, 4) = %q, want %q", lang, got, want)
		}
	}
	if got := place("de", "Stanza 12"); got != "Stanza 12" {
		t.Errorf("place(de, Stanza 12) = %q: a label is its own name", got)
	}
}

// TestBrowserBoardAnnouncesCalls: the hall's board in headless Chromium,
// once its button allowed sound, speaks each new call and each recall
// in the page's language (German here, ?lang=de) with a voice of that
// language and the desk's label ("Nummer A 2, Stanza 12", de-DE) through
// the browser's speech synthesis, and not the calls it found on opening.
// The synthesis is recorded by replacing speechSynthesis.speak in the
// page (a headless browser has no voice to hear).
func TestBrowserBoardAnnouncesCalls(t *testing.T) {
	chromium(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	desk := e.labelledDesk(e.bari, "Stanza 12")
	for range 2 {
		if r := e.take(e.bari, `{"channel":"in_person"}`); r.Status != http.StatusCreated {
			t.Fatalf("take: %d %+v", r.Status, r.Err)
		}
	}
	bg := context.Background()
	// One call before the board opens: it must not be announced.
	first, err := e.leaderQ.CallNext(bg, e.bari.tenant, e.bari.office.ID, "4", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.srv)
	// Closed after the browser (cleanups run last first): Close waits
	// for the board's open stream.
	t.Cleanup(srv.Close)
	ctx, base := browserOn(t, srv, e.bari.host, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/coda/"+e.bari.office.ID+"/tabellone?lang=de"),
		chromedp.WaitVisible(chromedp.CSS(`#audio-attiva`))); err != nil {
		t.Fatalf("open the board: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.said = []; window.speechSynthesis.speak = function (u) { window.said.push(u.text + "|" + u.lang); }; true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#audio-attiva`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("audio-attiva").getAttribute("aria-pressed") === "true"`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("the button did not turn sound on: %v", err)
	}
	// Let the board's stream deliver the list it opened with.
	time.Sleep(500 * time.Millisecond)
	if _, err := e.leaderQ.Served(bg, e.bari.tenant.ID, first.ID, "4"); err == nil {
		t.Fatal("a called ticket was closed as served before being served")
	}
	if _, err := e.leaderQ.NoShow(bg, e.bari.tenant.ID, first.ID, "4"); err != nil {
		t.Fatal(err)
	}
	second, err := e.leaderQ.CallNext(bg, e.bari.tenant, e.bari.office.ID, desk, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "Nummer A 2, Stanza 12|de-DE"
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.said.length === 1 && window.said[0] === "`+want+`"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		said, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.said)`))
		t.Fatalf("the board said %s, want only %q: %v", said, want, err)
	}
	// A recall is announced again.
	time.Sleep(1100 * time.Millisecond) // calls are stamped to the second
	if _, err := e.leaderQ.Recall(bg, e.bari.tenant.ID, second.ID, desk); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.said.length === 2 && window.said[1] === "`+want+`"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		said, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.said)`))
		t.Fatalf("after the recall the board said %s: %v", said, err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#chiamate li`), chromedp.NodeVisible))
	if err != nil || !strings.Contains(shown, "A002") || !strings.Contains(shown, "Stanza 12") {
		t.Errorf("the board's first line is %q (%v), want A002 at Stanza 12", shown, err)
	}
}
