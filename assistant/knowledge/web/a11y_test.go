package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	reHeading = regexp.MustCompile(`<h([1-6])\b`)
	reID      = regexp.MustCompile(`\sid="([^"]*)"`)
	reLabel   = regexp.MustCompile(`<label\b[^>]*\sfor="([^"]*)"`)
	reControl = regexp.MustCompile(`<(?:input|textarea|select)\b[^>]*>`)
	reAttr    = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

// accessible checks what every page needs for screen readers and
// keyboards: the page's language, ids used once, a label for every
// control, aria-describedby naming elements that exist, and headings
// that never skip a level.
func accessible(t *testing.T, name, page string) {
	t.Helper()
	if !strings.Contains(page, `<html lang="it"`) {
		t.Errorf("%s: no <html lang=\"it\">", name)
	}
	ids := map[string]int{}
	for _, m := range reID.FindAllStringSubmatch(page, -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("%s: id %q used %d times", name, id, n)
		}
	}
	labels := map[string]bool{}
	for _, m := range reLabel.FindAllStringSubmatch(page, -1) {
		labels[m[1]] = true
	}
	for _, c := range reControl.FindAllString(page, -1) {
		a := map[string]string{}
		for _, m := range reAttr.FindAllStringSubmatch(c, -1) {
			a[m[1]] = m[2]
		}
		if a["type"] == "hidden" || a["type"] == "submit" {
			continue
		}
		if !labels[a["id"]] {
			t.Errorf("%s: control without a label: %s", name, c)
		}
		for _, ref := range strings.Fields(a["aria-describedby"]) {
			if ids[ref] == 0 {
				t.Errorf("%s: aria-describedby %q names no element: %s", name, ref, c)
			}
		}
	}
	last := 0
	for _, m := range reHeading.FindAllStringSubmatch(page, -1) {
		level, _ := strconv.Atoi(m[1])
		if last > 0 && level > last+1 {
			t.Errorf("%s: heading h%d after h%d skips a level", name, level, last)
		}
		last = level
	}
}

// TestPagesAreAccessible renders every page, with and without errors.
func TestPagesAreAccessible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.login("bari", bariHost, "admin-1", "amministratori")
	admin.follow(admin.post("/gestione/assistente/faq/nuova", url.Values{"domanda": {"Serve la foto?"}, "risposta": {"Sì."}, "servizio": {"cie"}}))
	admin.follow(admin.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"varco\nzona a traffico limitato"}}))
	faqs, _ := e.store.FAQs(t.Context(), "bari")
	groups, _ := e.store.Synonyms(t.Context(), "bari")
	if len(faqs) != 1 || len(groups) != 1 {
		t.Fatalf("setup: %d FAQ, %d groups", len(faqs), len(groups))
	}
	pages := map[string]response{
		"overview":     admin.get("/gestione/assistente"),
		"try":          admin.get("/gestione/assistente?prova=" + url.QueryEscape("permesso varco carta didentita")),
		"try error":    admin.get("/gestione/assistente?prova=+"),
		"new FAQ":      admin.get("/gestione/assistente/faq/nuova"),
		"FAQ errors":   admin.post("/gestione/assistente/faq/nuova", url.Values{"servizio": {"nessuno"}, "ufficio": {"altrove"}}),
		"edit FAQ":     admin.get("/gestione/assistente/faq/" + faqs[0].ID),
		"delete FAQ":   admin.get("/gestione/assistente/faq/" + faqs[0].ID + "/elimina"),
		"new group":    admin.get("/gestione/assistente/sinonimi/nuovo"),
		"group errors": admin.post("/gestione/assistente/sinonimi/nuovo", url.Values{"frasi": {"uno"}, "servizio": {"nessuno"}}),
		"edit group":   admin.get("/gestione/assistente/sinonimi/" + groups[0].ID),
		"delete group": admin.get("/gestione/assistente/sinonimi/" + groups[0].ID + "/elimina"),
	}
	for name, r := range pages {
		if r.Status != http.StatusOK && r.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d", name, r.Status)
			continue
		}
		accessible(t, name, r.Body)
		if r.Status == http.StatusUnprocessableEntity && !strings.Contains(r.Body, `aria-invalid="true"`) {
			t.Errorf("%s: no field marked invalid", name)
		}
	}
}
