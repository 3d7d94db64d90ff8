package web

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sportello-virtuale/sportello/media/sfu"
)

// pubLayers is what the publisher's page says it sends of its camera:
// each simulcast layer's bytes, width, and what limits the encoder.
type pubLayers map[string]struct {
	Bytes      float64 `json:"bytes"`
	FrameWidth float64 `json:"frameWidth"`
	Limit      string  `json:"limit"`
}

// sending lists the layers that send, widest first.
func (l pubLayers) sending() []string {
	var out []string
	for _, r := range []string{"h", "m", "l"} {
		if l[r].Bytes > 0 && l[r].FrameWidth > 0 {
			out = append(out, r)
		}
	}
	return out
}

// limited says what Chromium reports limits its encoder ("cpu",
// "bandwidth"), or "" when nothing does.
func (l pubLayers) limited() string {
	for _, x := range l {
		if x.Limit != "" && x.Limit != "none" {
			return x.Limit
		}
	}
	return ""
}

// overloaded says whether the machine has more runnable work than cores
// (the one-minute load average of /proc/loadavg), and the figures.
func overloaded() (bool, string) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return false, err.Error()
	}
	f := strings.Fields(string(b))
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return false, err.Error()
	}
	return load > float64(runtime.NumCPU()), fmt.Sprintf("load average %.1f on %d cores", load, runtime.NumCPU())
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
	// Chromium sends all three layers unless its encoder is short of CPU
	// or its estimate of the bandwidth says less (the page keeps the
	// frame rate, "maintain-framerate", so it drops the top layers). On a
	// machine with more work than cores, as under the full suite with the
	// race detector on two cores, both happen: the encoders starve, and
	// the SFU's late feedback looks like a congested path. There the
	// layers that do send are what the SFU's switching is checked with,
	// widest and narrowest; on a machine that is not overloaded, fewer
	// than three layers after 20 s is a failure.
	var layers pubLayers
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		layers = eval[pubLayers](t, op, `sportelloCall.stats().then(s => s.pub.layers)`)
		if len(layers.sending()) == 3 {
			break
		}
		if time.Now().After(end) {
			busy, load := overloaded()
			if !busy || layers.limited() == "" {
				t.Fatalf("operator: want three camera layers sending, stats say %+v (%s; %s)", layers,
					eval[string](t, op, `sportelloCall.stats().then(s => JSON.stringify(s.pub))`), load)
			}
			if time.Now().After(end.Add(40 * time.Second)) {
				if len(layers.sending()) < 2 {
					t.Skipf("operator: Chromium sends %v of its camera's layers, limited by %s, with the machine overloaded (%s): no two layers to switch between", layers.sending(), layers.limited(), load)
				}
				break
			}
		}
	}
	top, bottom := "h", "l"
	if s := layers.sending(); len(s) < 3 {
		top, bottom = s[0], s[len(s)-1]
		t.Logf("operator: Chromium sends layers %v only, limited by %s, with the machine overloaded", s, layers.limited())
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
	high := width(top)
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
	low := width(bottom)
	if !(low > 0 && low < high) {
		t.Errorf("the low layer decodes %v pixels wide, the high one %v: want narrower", low, high)
	}
	if again := width(top); again != high {
		t.Errorf("back to the high layer: %v pixels wide, want %v", again, high)
	}
	mediaFlows(t, op)
}
