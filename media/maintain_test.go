package media_test

import (
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
)

func TestMaintainSweepsAndRotates(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := clustertest.NewClock(start)
	n := clockNode(t, clock)
	rs := media.NewRooms(n, testSecrets(t), clock.Now)
	ctx, cancel := context.WithCancel(ctxT(t))
	r, err := rs.Open(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: "T1"}, start, start.Add(20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(20*time.Minute + media.SweepGrace)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rs.Maintain(ctx, media.Maintenance{SweepEvery: 20 * time.Millisecond, RotateCheck: 20 * time.Millisecond, TURNRotation: time.Hour, Logger: clustertest.Logger(t)})
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := rs.Get(ctx, comune, r.ID)
		s, _ := rs.TURNSecrets(ctx)
		if got.State == media.StateEnded && len(s) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: room %s, %d TURN secrets", got.State, len(s))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An hour later the secret is replaced; the previous one is kept.
	clock.Advance(61 * time.Minute)
	for {
		if s, _ := rs.TURNSecrets(ctx); len(s) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the TURN secret was not rotated")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
