package privacy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/tenant"
)

// newComuneEnv is newEnv with the tenant registry, and Bari created in it.
func newComuneEnv(t *testing.T) (*env, *tenant.Registry) {
	t.Helper()
	e := newEnvWith(t, tenant.Register)
	reg := tenant.NewRegistry(e.node, e.node.DB(), "sportello.example.it")
	b := bari
	b.ISTAT = "072006"
	if _, err := reg.Create(context.Background(), b); err != nil {
		t.Fatalf("create Bari: %v", err)
	}
	return e, reg
}

// TestRetentionReachesADeletedComune deletes a Comune (disabled first,
// then deleted through tenant.Registry, which leaves a tombstone and the
// Comune's data in the other packages' tables) and runs the retention of
// every Comune: the deleted one's old booking is pseudonymised under the
// default policy, as a live Comune's would be, and a recent one is kept.
func TestRetentionReachesADeletedComune(t *testing.T) {
	e, reg := newComuneEnv(t)
	ctx := context.Background()
	maria := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"}
	old := e.bookAt(t, 1, 9, 0, maria, "")
	if _, err := reg.Disable(ctx, bari.ID, "Fusione con un altro Comune"); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if _, err := reg.Delete(ctx, bari.ID, bari.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := reg.Get(ctx, bari.ID); err == nil {
		t.Fatal("the deleted Comune is still in the registry")
	}
	// 92 days after the appointment: past the bookings' default 90.
	e.clock.Advance(93 * 24 * time.Hour)
	n, err := e.priv.ApplyRetention(ctx)
	if err != nil {
		t.Fatalf("ApplyRetention: %v", err)
	}
	var given, email, svc string
	if err := e.node.DB().QueryRow(`SELECT given_name, email, service_id FROM booking_bookings WHERE tenant = ? AND id = ?`,
		bari.ID, old.ID).Scan(&given, &email, &svc); err != nil {
		t.Fatal(err)
	}
	if n == 0 || given != "" || email != "" || svc != e.svc.ID {
		t.Errorf("after the retention (%d records): booking of the deleted Comune %q %q %q; want no personal data, service kept", n, given, email, svc)
	}
	hist, err := e.priv.Erasures(ctx, bari.ID, 10)
	if err != nil || len(hist) == 0 {
		t.Errorf("the deleted Comune's erasure history: %v, %v", hist, err)
	}
}

// TestRetentionUsesTheComunesDocumentPeriod: a Comune whose settings keep
// call documents 5 days has them erased after 6, while another Comune
// without the setting keeps its own under the default 30. The settings'
// period is read with no error counted.
func TestRetentionUsesTheComunesDocumentPeriod(t *testing.T) {
	e, reg := newComuneEnv(t)
	ctx := context.Background()
	lecce := tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035", CodePrefix: "LE", TimeZone: "Europe/Rome"}
	if _, err := reg.Create(ctx, lecce); err != nil {
		t.Fatalf("create Lecce: %v", err)
	}
	s, err := reg.Settings(ctx, bari.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.DocumentRetentionDays = 5
	if _, err := reg.SaveSettings(ctx, bari.ID, s); err != nil {
		t.Fatalf("SaveSettings: %v", err)
	}
	if d, err := reg.DocumentRetentionDays(ctx, bari.ID); err != nil || d != 5 {
		t.Fatalf("Bari's document retention: %d, %v", d, err)
	}
	put := func(tn tenant.ID, name string) docs.Document {
		t.Helper()
		pdf := []byte("%PDF-1.7\n1 0 obj << /Title (" + name + ") >> endobj\n" + strings.Repeat("x", 500) + "\n%%EOF\n")
		d, err := e.docs.Put(ctx, tn, "stanza-"+name, "booking:"+name, "Operatore", name+".pdf", bytes.NewReader(pdf), docs.Policy{})
		if err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
		return d
	}
	inBari := put(bari.ID, "bari")
	inLecce := put(lecce.ID, "lecce")
	count := func(tn tenant.ID, id string) int {
		var n int
		if err := e.node.DB().QueryRow(`SELECT COUNT(*) FROM media_docs WHERE tenant = ? AND id = ?`, tn, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Four days: inside both periods.
	e.clock.Advance(4 * 24 * time.Hour)
	if _, err := e.priv.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if count(bari.ID, inBari.ID) != 1 {
		t.Fatal("Bari's document went before its 5 days")
	}
	// Six days: past Bari's 5, within Lecce's default 30.
	e.clock.Advance(2 * 24 * time.Hour)
	if _, err := e.priv.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if count(bari.ID, inBari.ID) != 0 {
		t.Error("Bari's document is kept after 6 days, with a period of 5 in its settings")
	}
	if count(lecce.ID, inLecce.ID) != 1 {
		t.Error("Lecce's document went before the default period")
	}
	if n := e.priv.SettingsErrors(); n != 0 {
		t.Errorf("%d errors reading the settings", n)
	}
}
