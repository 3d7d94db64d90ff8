package queue

import (
	"context"
	"errors"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
)

// TestEnrolledKiosk: an enrolled kiosk is exempt from the address cap;
// an office that takes kiosk tickets only from enrolled kiosks refuses
// the others, and a revoked kiosk's token opens nothing.
func TestEnrolledKiosk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.admitConfig(t, func(c *OfficeConfig) { c.MaxPerIP = 1 })
	f.clock.Set(at(9, 0))
	if _, _, err := f.q.EnrolKiosk(ctx, bari.ID, f.office.ID, " ", "u1"); !isField(err, "label") {
		t.Errorf("kiosk without a label: got %v, want a field error", err)
	}
	ks, token, err := f.q.EnrolKiosk(ctx, bari.ID, f.office.ID, "Ingresso", "u1")
	if err != nil || token == "" || ks.Label != "Ingresso" || ks.CreatedBy != "u1" || !ks.Active() {
		t.Fatalf("EnrolKiosk: %+v %q %v", ks, token, err)
	}
	if got, err := f.q.KioskByToken(ctx, bari.ID, f.office.ID, token); err != nil || got.ID != ks.ID {
		t.Fatalf("KioskByToken: %+v %v", got, err)
	}
	other, _, _ := setupOffice(t, f.book, bari.ID)
	if _, err := f.q.KioskByToken(ctx, bari.ID, other.ID, token); !errors.Is(err, ErrNotFound) {
		t.Errorf("token at another office: got %v, want ErrNotFound", err)
	}
	kiosk := TakeRequest{Source: SourceKiosk, ClientIP: "10.0.0.9", Kiosk: token}
	for range 3 {
		if err := f.takeErr(kiosk); err != nil {
			t.Fatalf("enrolled kiosk take: %v", err)
		}
	}
	anon := TakeRequest{Source: SourceKiosk, ClientIP: "10.0.0.8"}
	f.take(t, anon)
	if err := f.takeErr(anon); !errors.Is(err, ErrClientCap) {
		t.Errorf("second take of an unenrolled kiosk: got %v, want ErrClientCap", err)
	}
	f.admitConfig(t, func(c *OfficeConfig) { c.KioskOnly = true })
	anon.ClientIP = "10.0.0.7"
	if err := f.takeErr(anon); !errors.Is(err, ErrKioskNotEnrolled) {
		t.Errorf("unenrolled kiosk at a kiosk-only office: got %v, want ErrKioskNotEnrolled", err)
	}
	if err := f.takeErr(TakeRequest{Source: SourceKiosk, ClientIP: "10.0.0.7", Kiosk: "made-up"}); !errors.Is(err, ErrKioskNotEnrolled) {
		t.Errorf("made-up token: got %v, want ErrKioskNotEnrolled", err)
	}
	if err := f.takeErr(kiosk); err != nil {
		t.Errorf("enrolled kiosk at a kiosk-only office: %v", err)
	}
	// The web page is not the kiosk's door: kiosk-only does not touch it.
	if err := f.takeErr(TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.1"}); err != nil {
		t.Errorf("web take at a kiosk-only office: %v", err)
	}
	r, err := f.q.RevokeKiosk(ctx, bari.ID, f.office.ID, ks.ID)
	if err != nil || r.Active() {
		t.Fatalf("RevokeKiosk: %+v %v", r, err)
	}
	if err := f.takeErr(kiosk); !errors.Is(err, ErrKioskNotEnrolled) {
		t.Errorf("revoked kiosk: got %v, want ErrKioskNotEnrolled", err)
	}
	if _, err := f.q.RevokeKiosk(ctx, bari.ID, other.ID, ks.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke through another office: got %v, want ErrNotFound", err)
	}
	list, err := f.q.Kiosks(ctx, bari.ID, f.office.ID)
	if err != nil || len(list) != 1 || list[0].Active() {
		t.Errorf("Kiosks: %+v %v, want the revoked kiosk", list, err)
	}
	cmd, err := cluster.NewCommand(CmdKioskEnrol, 1, string(bari.ID), kioskEnrolPayload{ID: "k1", OfficeID: "o1", Label: "Ingresso", TokenHash: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	if got := describeKiosk(cmd); got != "kiosk=k1 office=o1" {
		t.Errorf("audit summary %q names more than the kiosk and its office", got)
	}
}

// TestRevokedKioskInApply: a take stamped with a kiosk that is revoked
// before the take is applied is refused by apply, on every node alike.
func TestRevokedKioskInApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	ks, _, err := f.q.EnrolKiosk(ctx, bari.ID, f.office.ID, "Ingresso", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.RevokeKiosk(ctx, bari.ID, f.office.ID, ks.ID); err != nil {
		t.Fatal(err)
	}
	p := takePayload{ID: "0123456789abcdef0123456789abcdef", OfficeID: f.office.ID, Channel: InPerson, DurationS: 600,
		SecretHash: hashSecret("s"), TimeZone: bari.TimeZone, Admit: &admitStamp{Source: SourceKiosk, KioskID: ks.ID, Open: []openSpan{{Start: at(8, 0), End: at(13, 0)}}}}
	if _, err := f.q.proposeV(ctx, CmdTake, p.version(), bari.ID, p); !errors.Is(err, ErrKioskNotEnrolled) {
		t.Errorf("take of a revoked kiosk: got %v, want ErrKioskNotEnrolled", err)
	}
	if p.version() != 3 {
		t.Errorf("a kiosk take is version %d, want 3", p.version())
	}
}
