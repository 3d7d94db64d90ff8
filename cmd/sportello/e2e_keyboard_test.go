package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestKeyboardOnly books an appointment, cancels it and takes a queue
// ticket in headless Chromium with the keyboard alone: Tab, Shift-Tab,
// Enter, Space and the arrow keys, sent as real key events through the
// DevTools protocol (Input.dispatchKeyEvent), and letters typed the same
// way into the fields. No click and no script moves the focus or sends a
// form. Along the way it asserts that every element the focus lands on
// shows it (an outline or a box shadow, on the element or on the label
// that draws a styled radio or checkbox), and on every page that Tab,
// pressed long enough, leaves every widget and comes back round: no
// keyboard trap, the video call page included.
func TestKeyboardOnly(t *testing.T) {
	needBinary(t)
	t.Parallel()
	e := startA11yDemo(t)
	k := &keyboard{t: t, bctx: a11yBrowser(t), noFocus: map[string]bool{}}

	// From the home page to the booking form.
	k.open(e.base + "/")
	k.noTrap("home")
	k.tabTo("the link to the booking form", func(f focused) bool { return f.Tag == "a" && strings.HasPrefix(f.Href, "/prenota") })
	k.enter()
	k.wantPath("/prenota")

	// Step 1: the first service with Tab, the second with an arrow.
	k.noTrap("booking step 1")
	first := k.tabTo("a service", func(f focused) bool { return f.Type == "radio" && f.Name == "servizio" })
	k.key(keyArrowDown)
	second := k.focus()
	if second.Name != "servizio" || second.Value == first.Value || !second.Checked {
		t.Errorf("ArrowDown on the service %q gave focus to %+v, want the next service checked", first.Value, second)
	}
	k.next("booking step 1")
	// Step 2: a slot far enough ahead to be cancelled online below (the
	// demo's services take changes until 24 hours before), whatever the
	// time the test runs at: the second month listed, and its last slot
	// (ArrowUp from the first wraps round the group), picked with Space.
	k.noTrap("booking step 2")
	months := 0
	k.tabTo("the second month", func(f focused) bool {
		if f.Tag == "button" && f.Name == "mese" {
			months++
		}
		return months == 2
	})
	k.enter()
	k.noTrap("booking step 2, the second month")
	k.tabTo("a slot", func(f focused) bool { return f.Type == "radio" && f.Name == "inizio" })
	slot := k.key(keyArrowUp)
	if start, err := time.Parse(time.RFC3339, slot.Value); slot.Name != "inizio" || err != nil || time.Until(start) < 48*time.Hour {
		t.Fatalf("ArrowUp on the month's first slot gave focus to %+v, want its last slot, days ahead", slot)
	}
	if !slot.Checked {
		k.key(keySpace)
	}
	if f := k.focus(); !f.Checked {
		t.Errorf("Space on the slot %q left it unchecked", f.Value)
	}
	k.next("booking step 2")
	// Step 3: the channel is chosen already.
	k.noTrap("booking step 3")
	k.next("booking step 3")
	// Step 4: the applicant, typed into each field.
	k.noTrap("booking step 4")
	for _, f := range []struct{ name, text string }{
		{"nome", "Lucia"}, {"cognome", "Tastiera"}, {"codice_fiscale", fiscalCode(400)}, {"email", "lucia.tastiera@example.it"},
	} {
		k.tabTo("the field "+f.name, func(x focused) bool { return x.Name == f.name && x.Tag == "input" })
		k.typeText(f.text)
	}
	k.next("booking step 4")
	// Step 5: the privacy box ticked with Space, then Invia.
	k.noTrap("booking step 5")
	k.tabTo("the privacy checkbox", func(f focused) bool { return f.Type == "checkbox" && f.Name == "privacy" })
	k.key(keySpace)
	if f := k.focus(); !f.Checked {
		t.Errorf("Space on the privacy checkbox left it unchecked")
	}
	k.tabTo("the button that sends the booking", func(f focused) bool {
		return f.Tag == "button" && f.Type == "submit" && f.FormAction == "" && f.Form == "/prenotazioni"
	})
	k.enter()
	manage, err := url.Parse(a11yPath(k.bctx))
	if err != nil || !strings.HasPrefix(manage.Path, "/prenotazioni/") || manage.Query().Get("token") == "" {
		t.Fatalf("after sending the booking the browser is on %s, want the booking's page", a11yPath(k.bctx))
	}
	code, token := strings.TrimPrefix(manage.Path, "/prenotazioni/"), manage.Query().Get("token")
	if st := bookingStatus(t, e, code, token); st != "active" {
		t.Errorf("booking %s made with the keyboard: status %q, want active", code, st)
	}

	// The cancellation: the link on the booking's page, then the button.
	k.noTrap("booking page")
	k.tabTo("the link to cancel", func(f focused) bool { return f.Tag == "a" && strings.Contains(f.Href, "/annulla") })
	k.enter()
	k.noTrap("cancel page")
	k.tabTo("the button that cancels", func(f focused) bool {
		return f.Tag == "button" && f.Type == "submit" && strings.HasSuffix(f.Form, "/annulla")
	})
	k.enter()
	if st := bookingStatus(t, e, code, token); st != "cancelled" {
		t.Errorf("booking %s after cancelling with the keyboard: status %q, want cancelled", code, st)
	}

	// A ticket of the URP's queue: the form's defaults, then its button
	// (Space on a button sends the form as Enter does).
	k.open(e.base + "/coda/urp")
	k.noTrap("take a number")
	k.tabTo("the button that takes a ticket", func(f focused) bool { return f.Tag == "button" && f.Type == "submit" })
	k.press(keySpace, true)
	if p := a11yPath(k.bctx); !strings.HasPrefix(p, "/coda/biglietto/") {
		t.Fatalf("after taking a ticket the browser is on %s, want the ticket's page", p)
	}
	k.noTrap("ticket")

	// The video appointment: neither the waiting room nor the call page
	// keeps the focus.
	waiting, call := e.videoBooking(t, 401)
	k.open(e.base + waiting)
	k.noTrap("waiting room")
	ticketID, err := a11yEval[string](k.bctx, `document.querySelector("[data-push-ticket]")?.dataset.pushTicket || ""`)
	if err != nil || ticketID == "" {
		t.Fatalf("the waiting room did not check the citizen in (%v):\n%s", err, pageTextOf(k.bctx))
	}
	k.open(e.base + call)
	k.noTrap("call page before the call opens")
	// The operator calls the citizen from a remote desk and opens the
	// call; the citizen's page is then the call itself, with its video,
	// controls and chat.
	newCallOperator(t, e).open(t, ticketID)
	k.open(e.base + call)
	if n, err := a11yEval[int](k.bctx, `document.querySelectorAll("video, #chiamata").length`); err != nil || n == 0 {
		t.Errorf("the citizen's page after the operator opened the call is not the call (%v):\n%s", err, pageTextOf(k.bctx))
	}
	k.noTrap("call page")

	// Shift-Tab walks back.
	before := k.focus()
	k.key(keyTab)
	k.key(keyShiftTab)
	if after := k.focus(); after.Key() != before.Key() {
		t.Errorf("Tab then Shift-Tab moved the focus from %s to %s", before, after)
	}
	for f := range k.noFocus {
		t.Errorf("focus not visible on %s", f)
	}
	t.Logf("%d key presses", k.presses)
}

// bookingStatus reads a booking's status through the public API.
func bookingStatus(t *testing.T, e *a11yEnv, code, token string) string {
	t.Helper()
	r := e.p.get(t, e.p.url(e.host, "/api/v1/bookings/"+url.PathEscape(code)+"?token="+url.QueryEscape(token)))
	var b struct {
		Status string `json:"status"`
	}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &b) != nil {
		t.Fatalf("booking %s through the API: %d %s", code, r.Status, tail(r.Body, 5))
	}
	return b.Status
}

// keyDef is a key as Input.dispatchKeyEvent takes it.
type keyDef struct {
	key, code string
	vk        int64
	text      string
	shift     bool
}

var (
	keyTab       = keyDef{key: "Tab", code: "Tab", vk: 9}
	keyShiftTab  = keyDef{key: "Tab", code: "Tab", vk: 9, shift: true}
	keyEnter     = keyDef{key: "Enter", code: "Enter", vk: 13, text: "\r"}
	keySpace     = keyDef{key: " ", code: "Space", vk: 32, text: " "}
	keyArrowDown = keyDef{key: "ArrowDown", code: "ArrowDown", vk: 40}
	keyArrowUp   = keyDef{key: "ArrowUp", code: "ArrowUp", vk: 38}
)

// focused is what the test knows of the element that has the focus.
type focused struct {
	Tag, ID, Name, Type, Value, Text, Href string
	// Form is the action of the element's form, FormAction its own.
	Form, FormAction string
	// Step is the booking step of the element's form (its field passo).
	Step    string
	Checked bool
	// Visible: the element, or the label that draws it, shows the focus
	// with an outline or a box shadow; Style is what was found.
	Visible bool
	Style   string
	Path    string
}

// Key identifies the element on its page.
func (f focused) Key() string {
	return fmt.Sprintf("%s#%s[name=%s][value=%s][href=%s]%s", f.Tag, f.ID, f.Name, f.Value, f.Href, f.Text)
}

func (f focused) String() string {
	return fmt.Sprintf("<%s id=%q name=%q type=%q href=%q> %q", f.Tag, f.ID, f.Name, f.Type, f.Href, f.Text)
}

// focusJS describes document.activeElement. The focus counts as visible
// when the element has a non-zero outline or a box shadow, or, for a
// radio or checkbox that Bootstrap Italia hides to draw its own, when its
// label or the label's ::before or ::after has one, or when a close
// ancestor draws it with :focus-within (a card that links as a whole).
const focusJS = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body || el === document.documentElement) return {Tag: "body", Path: location.pathname};
	const shows = (cs) => (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || (cs.boxShadow && cs.boxShadow !== "none");
	const desc = (cs) => cs.outlineStyle + " " + cs.outlineWidth + " " + cs.outlineColor + " / " + cs.boxShadow;
	let visible = shows(getComputedStyle(el)), style = desc(getComputedStyle(el));
	if (!visible && el.labels && el.labels.length) {
		const l = el.labels[0];
		for (const pseudo of [null, "::before", "::after"]) {
			const cs = getComputedStyle(l, pseudo);
			if (shows(cs)) { visible = true; style = "label" + (pseudo || "") + ": " + desc(cs); break; }
		}
	}
	// A card that links as a whole draws the focus of its link around
	// itself (:focus-within).
	for (let a = el.parentElement, i = 0; !visible && a && i < 4; a = a.parentElement, i++) {
		const cs = getComputedStyle(a);
		if (a.matches(":focus-within") && shows(cs)) { visible = true; style = a.tagName.toLowerCase() + "." + a.className + ":focus-within: " + desc(cs); }
	}
	return {
		Tag: el.tagName.toLowerCase(), ID: el.id || "", Name: el.getAttribute("name") || "", Type: el.getAttribute("type") || "",
		Value: el.value || "", Text: (el.innerText || "").trim().replace(/\s+/g, " ").slice(0, 60), Href: el.getAttribute("href") || "",
		Form: el.form ? (el.form.getAttribute("action") || "") : "", FormAction: el.getAttribute("formaction") || "",
		Step: el.form?.querySelector('[name="passo"]')?.value || "",
		Checked: !!el.checked, Visible: !!visible, Style: style, Path: location.pathname,
	};
})()`

// keyboard drives the page with key events and keeps what it found.
type keyboard struct {
	t       *testing.T
	bctx    context.Context
	presses int
	// noFocus are the elements whose focus was not visible.
	noFocus map[string]bool
}

// open loads a page by its address, as following a link from an email
// or a QR code does.
func (k *keyboard) open(rawURL string) {
	k.t.Helper()
	if status, err := a11yOpen(k.bctx, rawURL); err != nil || status != http.StatusOK {
		k.t.Fatalf("open %s: %d %v", rawURL, status, err)
	}
}

// dispatch sends one key press (down and up) through the DevTools
// protocol.
func (k *keyboard) dispatch(ctx context.Context, d keyDef) error {
	var mod int64
	if d.shift {
		mod = 8
	}
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: d.key, Code: d.code,
		WindowsVirtualKeyCode: d.vk, NativeVirtualKeyCode: d.vk, Text: d.text, UnmodifiedText: d.text, Modifiers: mod}
	if d.text == "" {
		down.Type = input.DispatchKeyEventTypeRawKeyDown
	}
	if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
		return err
	}
	k.presses++
	up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: d.key, Code: d.code,
		WindowsVirtualKeyCode: d.vk, NativeVirtualKeyCode: d.vk, Modifiers: mod}
	_, err := chromedp.Call(ctx, input.DispatchKeyEvent, up)
	return err
}

// key presses a key that does not leave the page, and notes whether the
// element that has the focus afterwards shows it.
func (k *keyboard) key(d keyDef) focused {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.bctx, a11yTimeout)
	defer cancel()
	if err := k.dispatch(ctx, d); err != nil {
		k.t.Fatalf("key %s: %v", d.key, err)
	}
	f := k.focus()
	if f.Tag != "body" && !f.Visible {
		k.noFocus[f.Path+" "+f.String()+" ("+f.Style+")"] = true
	}
	return f
}

// press presses a key that loads another page (Enter on a link or a
// button, Space on a button) and waits until it has loaded; wantLoad
// false allows for a key that does not.
func (k *keyboard) press(d keyDef, wantLoad bool) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.bctx, a11yTimeout)
	defer cancel()
	from := location(k.bctx)
	resp, err := chromedp.RunResponse(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		return k.dispatch(ctx, d)
	}))
	if err != nil && wantLoad {
		k.t.Fatalf("%s on %s: no page loaded: %v", d.key, from, err)
	}
	if resp != nil && resp.Status >= 500 {
		k.t.Fatalf("%s on %s: %s answered %d", d.key, from, resp.URL, resp.Status)
	}
}

// enter presses Enter on a link or a button.
func (k *keyboard) enter() { k.t.Helper(); k.press(keyEnter, true) }

// focus describes the focused element.
func (k *keyboard) focus() focused {
	k.t.Helper()
	f, err := a11yEval[focused](k.bctx, focusJS)
	if err != nil {
		k.t.Fatalf("focused element: %v", err)
	}
	return f
}

// typeText types s into the focused field, one key event a character.
func (k *keyboard) typeText(s string) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.bctx, a11yTimeout)
	defer cancel()
	for _, r := range s {
		c := string(r)
		if err := k.dispatch(ctx, keyDef{key: c, text: c}); err != nil {
			k.t.Fatalf("type %q: %v", c, err)
		}
	}
}

// maxTabs bounds the Tab presses spent looking for an element or going
// round a page.
const maxTabs = 250

// tabTo presses Tab until the focus is on an element that match
// accepts, and returns it.
func (k *keyboard) tabTo(what string, match func(focused) bool) focused {
	k.t.Helper()
	if f := k.focus(); match(f) {
		return f
	}
	for range maxTabs {
		if f := k.key(keyTab); match(f) {
			return f
		}
	}
	k.t.Fatalf("%d Tab presses on %s did not reach %s", maxTabs, a11yPath(k.bctx), what)
	return focused{}
}

// next tabs to the step's Avanti button (the last submit button of the
// step's form that goes forward) and presses Enter.
func (k *keyboard) next(what string) {
	k.t.Helper()
	k.tabTo("Avanti on "+what, func(f focused) bool {
		return f.Tag == "button" && f.Type == "submit" && f.Name == "vai" && f.Form == "/prenota" && f.FormAction == "" &&
			f.Step != "" && f.Value > f.Step
	})
	k.enter()
	if a, err := a11yEval[int](k.bctx, `document.querySelectorAll('[aria-invalid="true"], .is-invalid').length`); err == nil && a > 0 {
		k.t.Fatalf("%s sent with the keyboard shows %d field errors:\n%s", what, a, pageTextOf(k.bctx))
	}
}

// wantPath fails the test unless the browser shows path.
func (k *keyboard) wantPath(path string) {
	k.t.Helper()
	if got, _, _ := strings.Cut(a11yPath(k.bctx), "?"); got != path {
		k.t.Fatalf("the browser is on %s, want %s", a11yPath(k.bctx), path)
	}
}

// pageTextOf returns the text of the page's main element, for a failure.
func pageTextOf(bctx context.Context) string {
	s, _ := a11yEval[string](bctx, `(document.querySelector("main") || document.body).innerText`)
	return s
}

// noTrap presses Tab until the focus has gone round the page (back to
// the element it started from, or out to the page itself) and fails
// the test when it does not within maxTabs presses: some widget keeps
// the focus. The focus ends where it started.
func (k *keyboard) noTrap(page string) {
	k.t.Helper()
	start := k.focus()
	seen := map[string]int{}
	for i := range maxTabs {
		f := k.key(keyTab)
		if f.Tag == "body" || (i > 0 && f.Key() == start.Key()) {
			return
		}
		seen[f.Key()]++
	}
	var most string
	for key, n := range seen {
		if n > seen[most] {
			most = key
		}
	}
	k.t.Errorf("keyboard trap on %s (%s): %d Tab presses never came round; most visited: %s (%d times)",
		page, a11yPath(k.bctx), maxTabs, most, seen[most])
}
