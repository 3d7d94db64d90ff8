package lincheck

import (
	"context"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// TestDriveNodeDown drives a node that is down: no connection is made, so
// every operation is rejected (it changed nothing), none is unknown, and no
// booking is acknowledged.
func TestDriveNodeDown(t *testing.T) {
	t.Parallel()
	// Port 1 is privileged and unused: a port freed by closing a listener
	// could be taken again at once by a test running in parallel, whose
	// server would then answer (or half-answer) the driver.
	addr := "127.0.0.1:1"
	stop := make(chan struct{})
	time.AfterFunc(5*time.Second, func() { close(stop) })
	rec, err := Drive(context.Background(), DriveConfig{
		BaseURLs: []string{"http://" + addr},
		Targets:  []Target{{ServiceID: "svc", Start: "2030-01-07T09:00:00+01:00", Capacity: 1}},
		Clients:  2, Ops: 20, Stop: stop, Seed: 1,
	})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	st := rec.Stats()
	if got := st["create"][Rejected]; got != 20 {
		t.Errorf("creates rejected: got %d, want 20 (%v)", got, st)
	}
	if got := len(rec.Acknowledged()); got != 0 {
		t.Errorf("acknowledged: got %d, want 0", got)
	}
	if res, _, _ := rec.Check(10*time.Second, ""); res != porcupine.Ok {
		t.Errorf("Check: got %v, want ok", res)
	}
}

// TestDriveStop ends a run by closing Stop before its budget is spent.
func TestDriveStop(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	close(stop)
	rec, err := Drive(context.Background(), DriveConfig{
		BaseURLs: []string{"http://127.0.0.1:1"},
		Targets:  []Target{{ServiceID: "svc", Start: "2030-01-07T09:00:00+01:00", Capacity: 1}},
		Ops:      1000, Stop: stop,
	})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if n := len(rec.History()); n != 0 {
		t.Errorf("operations after Stop: got %d, want 0", n)
	}
}

// TestAcknowledged derives the final status of acknowledged bookings from
// a history: a cancel acknowledged makes it cancelled, a cancel of unknown
// outcome leaves either status possible, a rejected one changes nothing.
func TestAcknowledged(t *testing.T) {
	t.Parallel()
	slot := Slot{Service: "svc", Start: "2030-01-07T08:00:00Z"}
	r := NewRecorder(Spec{Capacity: map[Slot]int{slot: 5}})
	c := r.NewClient()
	for _, code := range []string{"A", "B", "C", "D"} {
		id := r.Call(c, Input{Kind: Create, Slot: slot, Citizen: code})
		r.setToken(code, "tok"+code)
		r.Return(id, Output{Result: Created, Code: code})
	}
	id := r.Call(c, Input{Kind: Create, Slot: slot, Citizen: "E"})
	r.Return(id, Output{Result: Unknown})
	c = r.NewClient()
	for code, res := range map[string]Result{"B": CancelOK, "C": Unknown, "D": Rejected} {
		id := r.Call(c, Input{Kind: Cancel, Slot: slot, Code: code})
		r.Return(id, Output{Result: res})
		if res == Unknown {
			c = r.NewClient()
		}
	}
	want := map[string]string{"A": "active", "B": "cancelled", "C": "", "D": "active"}
	got := r.Acknowledged()
	if len(got) != len(want) {
		t.Fatalf("acknowledged: got %d bookings, want %d: %+v", len(got), len(want), got)
	}
	for _, b := range got {
		if b.Status != want[b.Code] || b.Token != "tok"+b.Code || b.Slot != slot {
			t.Errorf("booking %s: got status %q token %q slot %v, want %q tok%s %v", b.Code, b.Status, b.Token, b.Slot, want[b.Code], b.Code, slot)
		}
	}
}
