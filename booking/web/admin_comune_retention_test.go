package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestAdminComuneDocumentRetention sets the retention of call documents
// from /gestione/comune: a value out of bounds or not a number is refused
// with a field error and changes nothing; 7 is stored and shown again;
// emptying the field goes back to the default (0).
func TestAdminComuneDocumentRetention(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	admin := ae.login(ae.bari, "admin-1", "Anna Bianchi", "amministratori")
	reg := ae.registryOf()
	ctx := context.Background()

	r := admin.get(bariHost, "/gestione/comune")
	wantText(t, r.Body, "Videochiamate", "Per quanti giorni conservare i documenti scambiati nelle videochiamate")
	if !strings.Contains(r.Body, `<label for="`+fcmRetention+`"`) {
		t.Errorf("the retention field has no label")
	}
	f := findForm(t, r.Body, "/gestione/comune", "")
	for _, bad := range []string{"0", "366", "-3", "sette", "7.5"} {
		f.Values.Set(fcmRetention, bad)
		r = admin.post("/gestione/comune", f.Values)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("retention %q: got %d, want 422", bad, r.Status)
		}
		if !strings.Contains(r.Body, `id="`+fcmRetention+`-errore"`) || !strings.Contains(text(r.Body), "tra 1 e 365") {
			t.Errorf("retention %q: no field error", bad)
		}
		if d, err := reg.DocumentRetentionDays(ctx, "bari"); err != nil || d != 0 {
			t.Errorf("retention %q refused but stored %d (%v)", bad, d, err)
		}
	}

	f.Values.Set(fcmRetention, "7")
	r = admin.follow(t, admin.post("/gestione/comune", f.Values))
	if r.Status != http.StatusOK {
		t.Fatalf("save 7: got %d\n%s", r.Status, text(r.Body))
	}
	if got := findForm(t, r.Body, "/gestione/comune", "").Values.Get(fcmRetention); got != "7" {
		t.Errorf("page after save: retention %q, want 7", got)
	}
	if d, err := reg.DocumentRetentionDays(ctx, "bari"); err != nil || d != 7 {
		t.Errorf("stored retention %d (%v), want 7", d, err)
	}
	if d, _ := reg.DocumentRetentionDays(ctx, "lecce"); d != 0 {
		t.Errorf("Lecce's retention changed to %d", d)
	}

	f.Values.Set(fcmRetention, "")
	admin.follow(t, admin.post("/gestione/comune", f.Values))
	if d, err := reg.DocumentRetentionDays(ctx, "bari"); err != nil || d != 0 {
		t.Errorf("emptied retention: stored %d (%v), want 0", d, err)
	}
}
