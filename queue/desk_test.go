package queue

import (
	"context"
	"testing"
)

// TestAtDesk follows what a desk holds through a ticket's life: nothing,
// the called ticket, the served one, then nothing again; another desk
// and another Comune see nothing.
func TestAtDesk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	holds := func(desk string) string {
		t.Helper()
		k, ok, err := f.q.AtDesk(ctx, bari, f.office.ID, desk)
		if err != nil {
			t.Fatalf("AtDesk: %v", err)
		}
		if !ok {
			return ""
		}
		return k.Number + ":" + string(k.State)
	}
	if got := holds("1"); got != "" {
		t.Fatalf("free desk holds %s", got)
	}
	k := f.take(t, TakeRequest{}).Ticket
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := holds("1"), k.Number+":called"; got != want {
		t.Errorf("after the call: %q, want %q", got, want)
	}
	if got := holds("2"); got != "" {
		t.Errorf("desk 2 holds %s", got)
	}
	other := bari
	other.ID = "lecce"
	if k, ok, err := f.q.AtDesk(ctx, other, f.office.ID, "1"); err != nil || ok {
		t.Errorf("another Comune sees %+v %v %v", k, ok, err)
	}
	if _, err := f.q.StartServing(ctx, bari.ID, k.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if got, want := holds("1"), k.Number+":serving"; got != want {
		t.Errorf("while serving: %q, want %q", got, want)
	}
	if _, err := f.q.Served(ctx, bari.ID, k.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if got := holds("1"); got != "" {
		t.Errorf("after serving the desk holds %s", got)
	}
}
