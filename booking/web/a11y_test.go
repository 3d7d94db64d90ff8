package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
)

var (
	headingRE = regexp.MustCompile(`<h([1-6])\b`)
	idRE      = regexp.MustCompile(`\bid="([^"]*)"`)
	labelRE   = regexp.MustCompile(`<label\b[^>]*\bfor="([^"]*)"`)
	controlRE = regexp.MustCompile(`<(input|textarea|select)\b[^>]*>`)
	fieldsRE  = regexp.MustCompile(`(?s)<fieldset\b.*?</fieldset>`)
)

// checkAccessible checks what a page must have for screen readers and
// keyboards: the lang attribute, unique ids, a label for every control,
// aria-describedby pointing to existing elements, radio buttons inside a
// fieldset with a legend, and headings that never skip a level.
func checkAccessible(t *testing.T, name, page string) {
	t.Helper()
	if !strings.Contains(page, `<html lang="it">`) {
		t.Errorf("%s: no <html lang=\"it\">", name)
	}
	ids := map[string]int{}
	for _, m := range idRE.FindAllStringSubmatch(page, -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("%s: id %q used %d times", name, id, n)
		}
	}
	labels := map[string]bool{}
	for _, m := range labelRE.FindAllStringSubmatch(page, -1) {
		labels[m[1]] = true
	}
	for _, c := range controlRE.FindAllString(page, -1) {
		a := attrs(c)
		if a["type"] == "hidden" || a["type"] == "submit" {
			continue
		}
		if !labels[a["id"]] {
			t.Errorf("%s: control without a label: %s", name, c)
		}
		for _, ref := range strings.Fields(a["aria-describedby"]) {
			if ids[ref] == 0 {
				t.Errorf("%s: aria-describedby=%q points to no element: %s", name, ref, c)
			}
		}
	}
	// Every radio button lies in a fieldset with a legend.
	outside := fieldsRE.ReplaceAllStringFunc(page, func(fs string) string {
		if !strings.Contains(fs, "<legend") {
			t.Errorf("%s: fieldset without a legend", name)
		}
		return ""
	})
	if strings.Contains(outside, `type="radio"`) {
		t.Errorf("%s: radio button outside a fieldset", name)
	}
	prev := 0
	main := page[strings.Index(page, "<main"):strings.Index(page, "</main>")]
	for _, m := range headingRE.FindAllStringSubmatch(main, -1) {
		lvl, _ := strconv.Atoi(m[1])
		if lvl > prev+1 {
			t.Errorf("%s: heading h%d after h%d", name, lvl, prev)
		}
		prev = lvl
	}
}

func TestAccessibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	state := flowState(b.Remote, slot(2, 10, 0))
	c := e.create(t, b, b.Remote, slot(3, 10, 0), booking.Video, citizen(1))
	pages := map[string]response{
		"servizi":       e.get(bariHost, "/servizi"),
		"servizio":      e.get(bariHost, "/servizi/"+b.Remote.ID),
		"uffici":        e.get(bariHost, "/uffici"),
		"step 1":        e.get(bariHost, "/prenota"),
		"step 1 errors": e.postForm(bariHost, "/prenota", url.Values{"passo": {"1"}, "vai": {"2"}}),
		"step 2":        e.postForm(bariHost, "/prenota", with(state, "passo", "1", "vai", "2")),
		"step 2 errors": e.postForm(bariHost, "/prenota", with(state, "passo", "2", "vai", "3", "inizio", "")),
		"step 3":        e.postForm(bariHost, "/prenota", with(state, "passo", "2", "vai", "3")),
		"step 3 errors": e.postForm(bariHost, "/prenota", with(state, "passo", "3", "vai", "4", "canale", "")),
		"step 4":        e.postForm(bariHost, "/prenota", with(state, "passo", "3", "vai", "4")),
		"step 4 errors": e.postForm(bariHost, "/prenota", with(state, "passo", "4", "vai", "5", "nome", "", "email", "x", "telefono", "?")),
		"step 5":        e.postForm(bariHost, "/prenota", with(state, "passo", "4", "vai", "5")),
		"step 5 errors": e.postForm(bariHost, "/prenotazioni", with(state, "privacy", "")),
		"booking":       e.get(bariHost, booking.ManagePath(c.Booking.Code, c.ManageToken)+"&confermato=1"),
		"cancel":        e.get(bariHost, bookingPath(c.Booking.Code, "annulla", c.ManageToken)),
		"move":          e.get(bariHost, bookingPath(c.Booking.Code, "sposta", c.ManageToken)),
		"move errors":   e.postForm(bariHost, "/prenotazioni/"+c.Booking.Code+"/sposta", url.Values{"token": {c.ManageToken}}),
		"not found":     e.get(bariHost, "/servizi/nessuno"),
	}
	for name, r := range pages {
		if r.Status >= 500 {
			t.Errorf("%s: status %d", name, r.Status)
			continue
		}
		checkAccessible(t, name, r.Body)
	}
	if pages["step 4 errors"].Status != http.StatusUnprocessableEntity {
		t.Errorf("step 4 errors: got %d", pages["step 4 errors"].Status)
	}
}
