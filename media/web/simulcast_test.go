package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sportello-virtuale/sportello/media/sfu"
)

// pubLayers is what the publisher's page says it sends of its camera:
// each simulcast layer's bytes and width.
type pubLayers map[string]struct {
	Bytes      float64 `json:"bytes"`
	FrameWidth float64 `json:"frameWidth"`
}

// TestBrowserSimulcast: the camera goes out in three layers, and the SFU
// forwards to a receiver the layer it asks for. Two Chromium browsers:
// the operator's page publishes layers h, m and l (its outbound-rtp
// stats list all three, each sending); the citizen's page asks for the
// high layer and decodes the full width, then for the low one and
// decodes a narrower picture, then for the high one again, and the video
// never stops on the way (frames decoded keep growing, the call stays).
func TestBrowserSimulcast(t *testing.T) {
	bin := chromium(t)
	if !inNetns(t, "TestBrowserSimulcast") {
		return
	}
	e := newEnv(t, sfu.Config{Loopback: true})
	// A 30 fps camera (Chromium's fake one gives 20 by default), so the
	// frame rate the receiver decodes says whether the chain keeps it.
	op := newBrowser(t, bin, "operator", 2*time.Minute, chromedp.Flag("use-fake-device-for-media-stream", "fps=30"))
	cit := newBrowser(t, bin, "citizen", 2*time.Minute)
	call(t, e, op, cit, "simulcast", false)
	if t.Failed() {
		return
	}
	var layers pubLayers
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		layers = eval[pubLayers](t, op, `sportelloCall.stats().then(s => s.pub.layers)`)
		sending := 0
		for _, r := range []string{"h", "m", "l"} {
			if layers[r].Bytes > 0 && layers[r].FrameWidth > 0 {
				sending++
			}
		}
		if sending == 3 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("operator: want three camera layers sending, stats say %+v (%s)", layers,
				eval[string](t, op, `sportelloCall.stats().then(s => JSON.stringify(s.pub))`))
		}
	}
	t.Logf("operator sends layers %+v", layers)

	width := func(layer string) float64 {
		t.Helper()
		eval[bool](t, cit, fmt.Sprintf(`sportelloCall.setLayer(%q), true`, layer))
		// The switch happens on the new layer's next key frame, which
		// the SFU asks for at once; the width of decoded frames follows.
		var w float64
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(300 * time.Millisecond)
			w = eval[float64](t, cit, `sportelloCall.stats().then(s => s.video.frameWidth)`)
			if want := layers[layer].FrameWidth; want > 0 && w == want {
				break
			}
		}
		st := mediaFlows(t, cit)
		if st.Phase != "call" {
			t.Errorf("citizen left the call switching to layer %s: %+v", layer, st)
		}
		t.Logf("citizen asks for layer %s: decodes %v pixels wide", layer, w)
		return w
	}
	high := width("h")
	// Issue 10's "at least 20 fps when bandwidth allows": the camera runs
	// at 30 frames a second and the log says how many the receiver
	// decodes of the high layer. A measurement, not an assertion: under
	// the full suite's load the two browsers' software encoders starve
	// (media/web/DESIGN.md has the figures).
	f0 := eval[float64](t, cit, `sportelloCall.stats().then(s => s.video.framesDecoded)`)
	t0 := time.Now()
	time.Sleep(3 * time.Second)
	f1 := eval[float64](t, cit, `sportelloCall.stats().then(s => s.video.framesDecoded)`)
	t.Logf("citizen decodes the high layer at %.1f frames a second", (f1-f0)/time.Since(t0).Seconds())
	low := width("l")
	if !(low > 0 && low < high) {
		t.Errorf("the low layer decodes %v pixels wide, the high one %v: want narrower", low, high)
	}
	if again := width("h"); again != high {
		t.Errorf("back to the high layer: %v pixels wide, want %v", again, high)
	}
	mediaFlows(t, op)
}
