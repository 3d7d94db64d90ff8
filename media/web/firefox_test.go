package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/turn"
)

// page is a browser tab a cross-browser test drives: Chromium through
// chromedp, Firefox through WebDriver BiDi (internal/browsertest).
type page interface {
	label() string
	open(ctx context.Context, url string) error
	// evalJSON evaluates expression (awaiting a promise) and returns its
	// value as JSON.
	evalJSON(ctx context.Context, expression string) (string, error)
}

type chromePage struct{ b *browser }

func (p chromePage) label() string { return p.b.name }
func (p chromePage) open(_ context.Context, url string) error {
	return chromedp.Do(p.b.ctx, chromedp.Navigate(url))
}
func (p chromePage) evalJSON(_ context.Context, expression string) (string, error) {
	return chromedp.Run(p.b.ctx, chromedp.Evaluate[string](
		"Promise.resolve(("+expression+")).then(v => v === undefined ? 'null' : JSON.stringify(v))", chromedp.EvalAwaitPromise))
}

type firefoxPage struct{ b *browsertest.FirefoxBrowser }

func (p firefoxPage) label() string { return p.b.Name }
func (p firefoxPage) open(ctx context.Context, url string) error {
	return p.b.Navigate(ctx, url)
}
func (p firefoxPage) evalJSON(ctx context.Context, expression string) (string, error) {
	return p.b.EvalJSON(ctx, expression)
}

// newFirefox starts a headless Firefox with a fake camera and microphone.
func newFirefox(t *testing.T, bin, name string) page {
	t.Helper()
	return firefoxPage{browsertest.StartFirefox(t, bin, name, browsertest.FirefoxMediaPrefs(), 60*time.Second)}
}

// pEval evaluates expression in p and decodes its value.
func pEval[T any](t *testing.T, p page, expression string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var v T
	s, err := p.evalJSON(ctx, expression)
	if err == nil {
		err = json.Unmarshal([]byte(s), &v)
	}
	if err != nil {
		t.Fatalf("%s: %s: %v", p.label(), expression, err)
	}
	return v
}

// pState describes the page for a failure message.
func pState(p page) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := p.evalJSON(ctx, `({
		phase: window.sportelloCall ? sportelloCall.state : "no script",
		status: document.getElementById("call-status").textContent,
		main: document.querySelector("main").innerText.slice(0, 300),
	})`)
	if err != nil {
		return "page state unknown: " + err.Error()
	}
	return s
}

// pWait polls expression in p until it is true.
func pWait(t *testing.T, p page, what, expression string, timeout time.Duration) {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := p.evalJSON(ctx, expression)
		cancel()
		if err == nil && s == "true" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: %s: not within %v (last %s, %v; %s)", p.label(), what, timeout, s, err, pState(p))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pClick activates the button sel as the keyboard does: focus, then the
// click event that Enter on a focused button fires.
func pClick(t *testing.T, p page, sel string) {
	t.Helper()
	pWait(t, p, "see "+sel, fmt.Sprintf(`(() => { const b = document.querySelector(%q); return !!b && !b.hidden && b.offsetParent !== null })()`, sel), 10*time.Second)
	pEval[bool](t, p, fmt.Sprintf(`(() => { const b = document.querySelector(%q); b.focus(); b.click(); return true })()`, sel))
}

// pMediaFlows checks that p decodes video frames and receives audio, and
// that both counters grow.
func pMediaFlows(t *testing.T, p page) callStats {
	t.Helper()
	pWait(t, p, "decode video frames and receive audio",
		`sportelloCall.stats().then(s => s.video.framesDecoded > 0 && s.audio.bytesReceived > 0)`, 20*time.Second)
	first := pEval[callStats](t, p, `sportelloCall.stats()`)
	start := time.Now()
	var last callStats
	for time.Since(start) < 10*time.Second {
		time.Sleep(250 * time.Millisecond)
		last = pEval[callStats](t, p, `sportelloCall.stats()`)
		if last.Video.FramesDecoded > first.Video.FramesDecoded && last.Audio.BytesReceived > first.Audio.BytesReceived {
			t.Logf("%s: %v frames decoded, %v audio bytes (grew within %v)", p.label(), last.Video.FramesDecoded,
				last.Audio.BytesReceived, time.Since(start).Round(10*time.Millisecond))
			return last
		}
	}
	t.Errorf("%s: in 10 s, video frames decoded went from %v to %v and audio bytes from %v to %v: the media does not flow",
		p.label(), first.Video.FramesDecoded, last.Video.FramesDecoded, first.Audio.BytesReceived, last.Audio.BytesReceived)
	return last
}

// pChat sends text from one page through the chat form and waits for it
// on the other.
func pChat(t *testing.T, from, to page, text string) {
	t.Helper()
	if open := pEval[bool](t, from, `!document.getElementById("pannello-chat").hidden`); !open {
		pClick(t, from, "#btn-chat")
	}
	pEval[bool](t, from, fmt.Sprintf(`(() => { const i = document.getElementById("chat-testo"); i.value = %q; i.dispatchEvent(new Event("input")); return true })()`, text))
	pClick(t, from, "#chat-form button[type=submit]")
	pWait(t, to, "receive the chat message "+text,
		fmt.Sprintf(`[...document.querySelectorAll("#chat-messaggi .sv-text")].some(e => e.textContent === %q)`, text), 10*time.Second)
}

// pCall is call for any two pages: the operator enters, admits the
// citizen from the lobby, both decode each other's video, receive each
// other's audio, and chat both ways.
func pCall(t *testing.T, e *env, op, cit page, room string) {
	t.Helper()
	for _, p := range []page{op, cit} {
		who := "operatore"
		if p == cit {
			who = "cittadino"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := p.open(ctx, e.srv.URL+"/call/"+who+"?room="+room)
		cancel()
		if err != nil {
			t.Fatalf("%s: open the page: %v", p.label(), err)
		}
		pWait(t, p, "camera preview", `(() => { const v = document.getElementById("anteprima"); return !!v.srcObject && v.srcObject.getVideoTracks().length === 1 })()`, 15*time.Second)
	}
	pClick(t, op, "#entra")
	pWait(t, op, "enter the call", `sportelloCall.state === "call"`, 10*time.Second)
	pClick(t, cit, "#entra")
	pWait(t, cit, "wait in the lobby", `sportelloCall.state === "lobby"`, 10*time.Second)
	pWait(t, op, "see the citizen knocking", `!!document.querySelector("#sala-lista button[data-knock=admit]")`, 10*time.Second)
	pClick(t, op, "#sala-lista button[data-knock=admit]")
	pWait(t, cit, "be admitted", `sportelloCall.state === "call"`, 10*time.Second)
	pMediaFlows(t, op)
	pMediaFlows(t, cit)
	pChat(t, op, cit, "Buongiorno, mi sente? "+room)
	pChat(t, cit, op, "Sì, la sento bene. "+room)
}

// TestFirefoxCall: the call works in Firefox too. A Firefox citizen with
// a Chromium operator, then two Firefox browsers, each pair in its own
// room: both sides decode the other's video, receive its audio and chat.
// Skipped without Firefox unless SPORTELLO_REQUIRE_FIREFOX is set, and
// without Chromium unless SPORTELLO_REQUIRE_BROWSER is.
func TestFirefoxCall(t *testing.T) {
	ff := browsertest.FirefoxBin(t)
	bin := chromium(t)
	if !inNetns(t, "TestFirefoxCall") {
		return
	}
	// Firefox gathers no candidate on loopback: it needs an interface.
	browsertest.AddTestInterface(t)
	e := newEnv(t, sfu.Config{Loopback: true, RelayAcceptanceMinWait: 100 * time.Millisecond})
	srv := withTURN(t, e)
	start := time.Now()
	op := chromePage{newBrowser(t, bin, "operator (Chromium)", 2*time.Minute)}
	cit := newFirefox(t, ff, "citizen (Firefox)")
	pCall(t, e, op, cit, "mista")
	if t.Failed() {
		return
	}
	t.Logf("Chromium operator and Firefox citizen: media and chat both ways (%v)", time.Since(start).Round(100*time.Millisecond))

	// Firefox publishes its camera in simulcast layers too, and the SFU
	// forwards the one the Chromium side asks for.
	pWait(t, cit, "send camera layers", `sportelloCall.stats().then(s => Object.values(s.pub.layers).filter(l => l.bytes > 0).length >= 2)`, 20*time.Second)
	layers := pEval[pubLayers](t, cit, `sportelloCall.stats().then(s => s.pub.layers)`)
	t.Logf("Firefox sends layers %+v", layers)
	widths := map[string]float64{}
	for _, l := range []string{"l", "h"} {
		pEval[bool](t, op, fmt.Sprintf(`sportelloCall.setLayer(%q), true`, l))
		want := layers[l].FrameWidth
		cond := fmt.Sprintf(`sportelloCall.stats().then(s => s.video.frameWidth > 0 && (%v === 0 || s.video.frameWidth === %v))`, want, want)
		if l == "h" {
			// A loaded machine makes Firefox's encoder pause its top
			// layer now and then (it adapts to CPU); the SFU then
			// forwards the best layer that flows, the middle one. What
			// must hold is that asking high gives a wider picture than
			// asking low.
			cond = fmt.Sprintf(`sportelloCall.stats().then(s => s.video.frameWidth > %v)`, widths["l"])
		}
		pWait(t, op, "decode Firefox's layer "+l, cond, 30*time.Second)
		widths[l] = pEval[float64](t, op, `sportelloCall.stats().then(s => s.video.frameWidth)`)
		pMediaFlows(t, op)
	}
	if !(widths["l"] < widths["h"]) {
		t.Errorf("Chromium decodes Firefox's low layer %v wide and its high one %v: want narrower", widths["l"], widths["h"])
	}
	t.Logf("Chromium decodes Firefox's layers: low %v, high %v pixels wide", widths["l"], widths["h"])

	start = time.Now()
	op2 := newFirefox(t, ff, "operator (Firefox)")
	pCall(t, e, op2, cit, "firefox")
	t.Logf("two Firefox browsers: media and chat both ways (%v)", time.Since(start).Round(100*time.Millisecond))
	if t.Failed() {
		return
	}

	// Both Firefox browsers forced through the TURN server.
	start = time.Now()
	pCall(t, e, op2, cit, "firefox-relay&relay=1")
	for _, p := range []page{op2, cit} {
		st := pEval[callStats](t, p, `sportelloCall.stats()`)
		if st.Sub.Pair == nil || st.Sub.Pair.Local != "relay" || st.Pub == nil || st.Pub.Pair == nil || st.Pub.Pair.Local != "relay" {
			t.Errorf("%s: pairs sub %+v pub %+v, want local relay candidates", p.label(), st.Sub.Pair, st.Pub)
		}
	}
	if srv.Allocations() == 0 {
		t.Error("the TURN server holds no allocation during the relayed call")
	}
	t.Logf("two Firefox browsers through TURN (%v)", time.Since(start).Round(100*time.Millisecond))
}

// withTURN starts a TURN server on loopback that may relay to the SFU
// there, and gives e's sessions credentials for it.
func withTURN(t *testing.T, e *env) *turn.Server {
	t.Helper()
	secret := []byte("turn-secret-of-the-test-0123456789")
	srv, err := turn.Start(turn.Config{
		Realm: "sportello", UDP: "127.0.0.1:0",
		RelayIP: net.ParseIP("127.0.0.1"), RelayBind: "127.0.0.1",
		Secrets:    func() [][]byte { return [][]byte{secret} },
		AllowPeers: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr(browsertest.TestInterfaceAddr)},
		Logger:     quietLogger(t),
	})
	if err != nil {
		t.Fatalf("start TURN: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	udp, _, _ := srv.Addrs()
	user, pass := turn.Credentials(secret, "test", time.Now().Add(time.Hour))
	e.ice = []media.ICEServer{{URLs: []string{"turn:" + udp.String() + "?transport=udp"}, Username: user, Credential: pass}}
	return srv
}
