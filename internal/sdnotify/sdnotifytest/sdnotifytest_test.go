package sdnotifytest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/sdnotify"
	"github.com/sportello-virtuale/sportello/internal/sdnotify/sdnotifytest"
)

func TestWaitFor(t *testing.T) {
	s := sdnotifytest.Listen(t)
	t.Setenv("NOTIFY_SOCKET", s.Path())
	if err := sdnotify.Status("starting"); err != nil {
		t.Fatal(err)
	}
	if err := sdnotify.Notify("READY=1", "STATUS=serving"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen, err := s.WaitFor(ctx, "READY=1")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "STATUS=starting" || seen[1] != "READY=1\nSTATUS=serving" {
		t.Fatalf("got %q, want the status then the readiness", seen)
	}
}

func TestNextHonoursContext(t *testing.T) {
	s := sdnotifytest.Listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Next returned %v after its context ended", d)
	}
}
