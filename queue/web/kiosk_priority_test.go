package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/queue"
)

// TestKioskPriority takes a number with a priority at the kiosk: the
// separate button leads to the choice of the category, with the note on
// proof, then to the services; the ticket jumps ahead of the walk-ins
// who took their numbers before. A forged category is refused and
// nothing is taken.
func TestKioskPriority(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	ctx := context.Background()
	kiosk := "/coda/" + e.bari.office.ID + "/chiosco"
	home := e.browse("GET", e.bari.host, kiosk, nil)
	if home.Status != http.StatusOK || !strings.Contains(home.Body, `href="`+kiosk+`?precedenza=1"`) ||
		!strings.Contains(pageText(home.Body), "Precedenza (disabilità, gravidanza)") {
		t.Fatalf("kiosk: got %d, want the priority button:\n%s", home.Status, pageText(home.Body))
	}
	for range 2 {
		if r := e.browse("POST", e.bari.host, kiosk, url.Values{"servizio": {""}}); r.Status != http.StatusOK {
			t.Fatalf("walk-in at the kiosk: got %d", r.Status)
		}
	}

	choose := e.browse("GET", e.bari.host, kiosk+"?precedenza=1", nil)
	text := pageText(choose.Body)
	if choose.Status != http.StatusOK || !strings.Contains(choose.Body, `href="`+kiosk+`?precedenza=disability"`) ||
		!strings.Contains(choose.Body, `href="`+kiosk+`?precedenza=pregnancy"`) || !strings.Contains(text, "può chiederti un documento") ||
		!strings.Contains(choose.Body, `<meta http-equiv="refresh" content="90;url=`+kiosk+`">`) || strings.Contains(choose.Body, `name="servizio"`) {
		t.Fatalf("priority choice: got %d, want the two categories, the note on proof and the idle return:\n%s", choose.Status, text)
	}
	accessible(t, "priority choice", choose.Body)
	if r := e.browse("GET", e.bari.host, kiosk+"?precedenza=vip", nil); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("unknown category: got %d, want 422", r.Status)
	}
	services := e.browse("GET", e.bari.host, kiosk+"?precedenza=pregnancy", nil)
	if services.Status != http.StatusOK || !strings.Contains(services.Body, `<input type="hidden" name="precedenza" value="pregnancy">`) ||
		!strings.Contains(services.Body, `name="servizio" value="`+e.bari.service.ID+`"`) || !strings.Contains(pageText(services.Body), "Precedenza per gravidanza") {
		t.Fatalf("priority services: got %d:\n%s", services.Status, pageText(services.Body))
	}
	accessible(t, "priority services", services.Body)

	line := func() []queue.Ticket {
		t.Helper()
		l, err := e.q.Line(ctx, e.bari.tenant, e.bari.office.ID)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	before := len(line())
	for _, v := range []string{"vip", "1", "disabilita"} {
		r := e.browse("POST", e.bari.host, kiosk, url.Values{"servizio": {e.bari.service.ID}, "precedenza": {v}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(pageText(r.Body), "Scegli la categoria di precedenza") {
			t.Errorf("kiosk take with category %q: got %d, want 422:\n%s", v, r.Status, pageText(r.Body))
		}
	}
	if n := len(line()); n != before {
		t.Fatalf("refused priority takes changed the line from %d to %d tickets", before, n)
	}

	took := e.browse("POST", e.bari.host, kiosk, url.Values{"servizio": {e.bari.service.ID}, "precedenza": {"pregnancy"}})
	if took.Status != http.StatusOK || !strings.Contains(took.Body, `id="numero">A003<`) || !strings.Contains(pageText(took.Body), "Hai la precedenza (gravidanza)") ||
		!strings.Contains(pageText(took.Body), "Sei il prossimo") {
		t.Fatalf("priority ticket: got %d, want A003 next with the priority:\n%s", took.Status, pageText(took.Body))
	}
	accessible(t, "priority number", took.Body)
	l := line()
	if len(l) != 3 || l[0].Number != "A003" || l[0].Priority != queue.Pregnancy || l[1].Number != "A001" {
		t.Errorf("line after the priority ticket: %v, want A003 (pregnancy) first", deskNumbers(l))
	}
	k, err := e.q.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "1", nil)
	if err != nil || k.Number != "A003" {
		t.Errorf("call-next: %s (%v), want the priority ticket A003", k.Number, err)
	}
}
