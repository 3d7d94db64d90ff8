package web

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// TestAdminComuneReminders sets the reminders on /gestione/comune: the
// defaults are shown written out, a bad value is refused with an Italian
// message next to the field and changes nothing (not even the other
// fields), a good one is saved for this Comune only, and an empty field
// turns the reminders off.
func TestAdminComuneReminders(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	ctx := context.Background()
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	r := admin.get(bariHost, "/gestione/comune")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /gestione/comune: %d", r.Status)
	}
	f := findForm(t, r.Body, "/gestione/comune", "")
	if got := f.Values.Get(fcmReminders); got != "24 h, 2 h" {
		t.Errorf("reminders field %q, want the defaults 24 h, 2 h", got)
	}
	if !strings.Contains(r.Body, `<label for="promemoria"`) || !strings.Contains(text(r.Body), "Promemoria degli appuntamenti") {
		t.Errorf("no labelled reminders field in its fieldset")
	}

	f.Values.Set(fcmReminders, "10 min")
	f.Values.Set(fcmRegion, "Regione Puglia")
	r = admin.post("/gestione/comune", f.Values)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad reminders: %d, want 422", r.Status)
	}
	for _, want := range []string{"almeno 15 minuti prima", `aria-invalid="true"`, `id="promemoria-errore"`, `value="10 min"`, `href="#promemoria"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("refused form lacks %q", want)
		}
	}
	if s, _ := ae.book.ReminderSettings(ctx, "bari"); !s.Default {
		t.Errorf("a refused form changed the reminders: %+v", s)
	}
	if c, _ := ae.registryOf().Get(ctx, "bari"); c.Region == "Regione Puglia" {
		t.Errorf("a refused form changed the region")
	}

	f.Values.Set(fcmReminders, "48, 1 h")
	r = admin.follow(t, admin.post("/gestione/comune", f.Values))
	if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Impostazioni del Comune salvate.") {
		t.Fatalf("after save: %d\n%s", r.Status, text(r.Body))
	}
	if got := findForm(t, r.Body, "/gestione/comune", "").Values.Get(fcmReminders); got != "48 h, 1 h" {
		t.Errorf("page after save shows %q", got)
	}
	if s, _ := ae.book.ReminderSettings(ctx, "bari"); !slices.Equal(s.Offsets, []time.Duration{48 * time.Hour, time.Hour}) {
		t.Errorf("saved reminders %+v", s)
	}
	if s, _ := ae.book.ReminderSettings(ctx, "lecce"); !s.Default {
		t.Errorf("Lecce's reminders changed: %+v", s)
	}

	f.Values.Set(fcmReminders, "")
	admin.follow(t, admin.post("/gestione/comune", f.Values))
	if s, _ := ae.book.ReminderSettings(ctx, "bari"); s.Default || len(s.Offsets) != 0 {
		t.Errorf("emptied field: reminders %+v, want none", s)
	}
	var _ = booking.MaxReminders
}
