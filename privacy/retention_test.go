package privacy_test

import (
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/queue"
)

// TestRetentionDefaults runs the retention with the default policy and
// an injected clock: a booking whose appointment ended more than 90 days
// ago is pseudonymised (its statistics stay), one under legal hold and a
// recent one are not; a ticket older than 30 days loses its contacts;
// nothing happens before the periods end.
func TestRetentionDefaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	maria := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it", Phone: "3331234567"}
	old := e.bookAt(t, 1, 9, 0, maria, "vecchia")
	held := e.bookAt(t, 1, 9, 30, maria, "bloccata")
	if _, err := e.q.Take(ctx, bari, queue.TakeRequest{OfficeID: e.off.ID, ServiceID: e.svc.ID,
		Channel: queue.InPerson, Email: "luigi@example.it", Source: queue.SourceDesk}); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if err := e.priv.SetHold(ctx, bari.ID, held.ID, true, "Contenzioso", cluster.Actor{ID: "u1", Name: "Anna"}); err != nil {
		t.Fatalf("SetHold: %v", err)
	}
	if err := e.priv.SetHold(ctx, bari.ID, "nessuna", true, "x", cluster.Actor{}); err == nil {
		t.Error("a hold on a booking that does not exist was accepted")
	}

	// 25 days later nothing is due.
	e.clock.Advance(25 * 24 * time.Hour)
	if n, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || n != 0 {
		t.Fatalf("RetainTenant after 25 days: %d, %v; want nothing", n, err)
	}
	// 35 days: the ticket's contacts go, the bookings stay.
	e.clock.Advance(10 * 24 * time.Hour)
	if n, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || n != 1 {
		t.Fatalf("RetainTenant after 35 days: %d, %v; want the ticket", n, err)
	}
	var notify int
	e.node.DB().QueryRow(`SELECT COUNT(*) FROM queue_notify WHERE tenant = 'bari'`).Scan(&notify)
	if notify != 0 {
		t.Errorf("%d ticket emails kept after 30 days", notify)
	}
	var tickets int
	e.node.DB().QueryRow(`SELECT COUNT(*) FROM queue_tickets WHERE tenant = 'bari'`).Scan(&tickets)
	if tickets != 1 {
		t.Errorf("the ticket row (statistics) is gone: %d", tickets)
	}
	// 92 days after the appointment: the old booking is pseudonymised.
	e.clock.Advance(58 * 24 * time.Hour)
	if n, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || n != 1 {
		t.Fatalf("RetainTenant after 93 days: %d, %v; want one booking", n, err)
	}
	row := func(id string) (name, email, svc, status string) {
		e.node.DB().QueryRow(`SELECT given_name, email, service_id, status FROM booking_bookings WHERE tenant = 'bari' AND id = ?`, id).
			Scan(&name, &email, &svc, &status)
		return
	}
	if name, email, svc, status := row(old.ID); name != "" || email != "" || svc != e.svc.ID || status != "active" {
		t.Errorf("old booking: %q %q %q %q; want no personal data, service and status kept", name, email, svc, status)
	}
	if name, email, _, _ := row(held.ID); name != "Maria" || email != "maria@example.it" {
		t.Errorf("held booking lost its data: %q %q", name, email)
	}
	// Again: nothing more to do.
	if n, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || n != 0 {
		t.Errorf("second pass: %d, %v", n, err)
	}
	// A Comune's own shorter period applies.
	if err := e.priv.SetPolicy(ctx, bari.ID, privacy.Policy{Days: map[privacy.Class]int{privacy.ClassAudit: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := e.priv.SetPolicy(ctx, bari.ID, privacy.Policy{Days: map[privacy.Class]int{"altro": 5}}); err == nil {
		t.Error("an unknown class was accepted")
	}
	var audit int
	e.node.DB().QueryRow(`SELECT COUNT(*) FROM cluster_audit WHERE tenant = 'bari'`).Scan(&audit)
	e.clock.Advance(2 * 24 * time.Hour)
	if _, err := e.priv.RetainTenant(ctx, bari.ID); err != nil {
		t.Fatal(err)
	}
	var after int
	e.node.DB().QueryRow(`SELECT COUNT(*) FROM cluster_audit WHERE tenant = 'bari' AND at < ?`,
		e.clock.Now().Add(-24*time.Hour).UnixMilli()).Scan(&after)
	if audit == 0 || after != 0 {
		t.Errorf("audit rows before %d, older than a day after retention %d", audit, after)
	}
	hist, err := e.priv.Erasures(ctx, bari.ID, 10)
	if err != nil || len(hist) < 2 {
		t.Errorf("erasure history %v %v", hist, err)
	}
}
