package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestZoomAndReducedMotion checks two WCAG 2.1 AA needs on the citizen
// pages in headless Chromium:
//
//   - 1.4.10 Reflow and 1.4.4 Resize text: at 200% zoom of a 1280×800
//     window (a 640×400 CSS viewport at device scale 2, which is what
//     zooming does to the layout) no page scrolls sideways;
//   - 2.3.3 Animation from interactions, and the users who ask their
//     system for less motion: with prefers-reduced-motion: reduce, no CSS
//     animation or transition of any element (or its ::before and
//     ::after) lasts longer than 0.01 s, and none is running.
func TestZoomAndReducedMotion(t *testing.T) {
	needBinary(t)
	t.Parallel()
	e := startA11yDemo(t)
	bctx := a11yBrowser(t)
	manage := zoomBookingPath(t, e)
	waiting, _ := e.videoBooking(t, 501)
	pages := []string{"/", "/uffici", "/servizi", "/servizi/rilascio-carta-d-identita-elettronica", "/prenota",
		manage, manage[:strings.Index(manage, "?")] + "/sposta" + manage[strings.Index(manage, "?"):],
		"/coda/urp", perfTicketPath(t, e), "/coda/urp/chiosco", "/coda/urp/tabellone", waiting,
		"/privacy", "/accessibilita", "/offline", "/pagina-che-non-esiste"}

	ctx, cancel := context.WithTimeout(bctx, a11yTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 640, Height: 400, DeviceScaleFactor: 2, Mobile: false,
	}); err != nil {
		t.Fatalf("Emulation.setDeviceMetricsOverride: %v", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
	for _, path := range pages {
		shown := path
		if i := strings.Index(shown, "?"); i > 0 {
			shown = shown[:i] // no secrets in the log
		}
		status, err := a11yOpen(bctx, e.base+path)
		if err != nil || (status != http.StatusOK && status != http.StatusNotFound) {
			t.Errorf("%s: %d %v", shown, status, err)
			continue
		}
		if reduce, _ := a11yEval[bool](bctx, `matchMedia("(prefers-reduced-motion: reduce)").matches`); !reduce {
			t.Fatalf("%s: the page does not see prefers-reduced-motion: reduce", shown)
		}
		wide, err := a11yEval[[]string](bctx, zoomOverflowJS)
		if err != nil {
			t.Errorf("%s: %v", shown, err)
		}
		for _, w := range wide {
			t.Errorf("%s at 200%% zoom scrolls sideways: %s", shown, w)
		}
		moving, err := a11yEval[[]string](bctx, reducedMotionJS)
		if err != nil {
			t.Errorf("%s: %v", shown, err)
		}
		for _, m := range moving {
			t.Errorf("%s with reduced motion: %s", shown, m)
		}
	}
}

// zoomBookingPath books the first free slot of the identity card
// service through the API and returns its page's path.
func zoomBookingPath(t *testing.T, e *a11yEnv) string {
	t.Helper()
	slot := firstSlot(t, e, "rilascio-carta-d-identita-elettronica")
	r := e.p.postJSON(t, e.p.url(e.host, "/api/v1/bookings"), bookingRequest("rilascio-carta-d-identita-elettronica", slot, 502))
	wantStatus(t, "booking", r, http.StatusCreated)
	var b struct {
		ManageURL string `json:"manage_url"`
	}
	if err := jsonUnmarshal(r.Body, &b); err != nil || b.ManageURL == "" {
		t.Fatalf("booking answer %s: %v", r.Body, err)
	}
	return b.ManageURL[strings.Index(b.ManageURL, "/prenotazioni/"):]
}

// firstSlot returns the start of the first free slot of a service in the
// next 30 days that is at least two days ahead: the booking's move page,
// checked above, shows the month's free slots only while the booking can
// be changed, until 24 hours before it (the demo's services), whatever
// the time the test runs at.
func firstSlot(t *testing.T, e *a11yEnv, svc string) string {
	t.Helper()
	now := time.Now()
	r := e.p.get(t, e.p.url(e.host, fmt.Sprintf("/api/v1/services/%s/slots?from=%s&to=%s", svc,
		now.Format(time.DateOnly), now.AddDate(0, 0, 30).Format(time.DateOnly))))
	var list struct {
		Slots []struct {
			Start     string `json:"start"`
			Remaining int    `json:"remaining"`
		} `json:"slots"`
	}
	if err := jsonUnmarshal(r.Body, &list); err != nil {
		t.Fatalf("slots of %s: %d %v", svc, r.Status, err)
	}
	for _, s := range list.Slots {
		if at, err := time.Parse(time.RFC3339, s.Start); err == nil && s.Remaining > 0 && time.Until(at) > 48*time.Hour {
			return s.Start
		}
	}
	t.Fatalf("no free slot of %s two days ahead or more", svc)
	return ""
}

// zoomOverflowJS returns nothing when the page does not scroll sideways,
// else the page's width against the viewport's and the elements that
// reach past the viewport's right edge (the outermost ones).
const zoomOverflowJS = `(() => {
	const vw = document.documentElement.clientWidth;
	const sw = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
	if (sw <= vw + 1) return [];
	const out = ["page " + sw + "px wide in a viewport of " + vw + "px"];
	for (const el of document.body.querySelectorAll("*")) {
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.right <= vw + 1) continue;
		if (el.parentElement && el.parentElement.getBoundingClientRect().right > vw + 1 && el.parentElement !== document.body) continue;
		let inScroller = false;
		for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
			const ox = getComputedStyle(a).overflowX;
			if (ox === "auto" || ox === "scroll" || ox === "hidden" || ox === "clip") { inScroller = true; break; }
		}
		if (inScroller) continue;
		out.push("<" + el.tagName.toLowerCase() + (el.id ? " id=" + el.id : "") + (el.className && typeof el.className === "string" ? " class='" + el.className + "'" : "") + "> right edge at " + Math.round(r.right) + "px");
		if (out.length > 6) break;
	}
	return out;
})()`

// reducedMotionJS lists the elements whose CSS animation or transition
// lasts longer than 0.01 s, and the animations running.
const reducedMotionJS = `(() => {
	const secs = (v) => Math.max(...v.split(",").map(x => x.trim().endsWith("ms") ? parseFloat(x) / 1000 : parseFloat(x) || 0));
	const out = [];
	const name = (el, pseudo) => "<" + el.tagName.toLowerCase() + (el.id ? " id=" + el.id : "") +
		(el.className && typeof el.className === "string" ? " class='" + el.className + "'" : "") + ">" + (pseudo || "");
	for (const el of [document.documentElement, ...document.querySelectorAll("*")]) {
		for (const pseudo of [null, "::before", "::after"]) {
			const cs = getComputedStyle(el, pseudo);
			if (cs.animationName !== "none" && secs(cs.animationDuration) > 0.01) {
				out.push(name(el, pseudo) + " animation " + cs.animationName + " " + cs.animationDuration);
			}
			if (cs.transitionProperty !== "none" && secs(cs.transitionDuration) > 0.01) {
				out.push(name(el, pseudo) + " transition " + cs.transitionProperty + " " + cs.transitionDuration);
			}
			if (out.length > 8) return out;
		}
	}
	for (const a of document.getAnimations()) {
		const d = a.effect && a.effect.getComputedTiming().duration;
		if (a.playState === "running" && d > 10) out.push("running animation " + (a.animationName || a.id || "") + " of " + d + " ms");
	}
	return out;
})()`
