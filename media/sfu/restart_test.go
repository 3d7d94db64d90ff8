package sfu_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/sfu/sfutest"
)

// restartEffect measures, at sub, what one ICE restart of the
// publisher did to its video: the longest silence between two packets
// from since on, and when the first key frame arrived (zero if none in
// the window).
func restartEffect(sub *sfutest.Client, since time.Time) (gap time.Duration, key time.Time) {
	as := sub.Arrivals(since)
	prev := since
	for _, a := range as {
		gap = max(gap, a.At.Sub(prev))
		prev = a.At
	}
	for _, a := range as {
		if a.Key {
			return gap, a.At
		}
	}
	return gap, time.Time{}
}

// After the publisher restarts ICE on its pub connection, the subscriber
// gets a key frame as soon as the path is back, not at the next
// periodic PLI (up to keyframeEvery, 3 s, later): the packets lost
// while the path was down leave the decoder waiting for one. The Go
// publisher makes a key frame only when asked, as an encoder does; the
// restarts fall at different phases of the periodic PLI (each round
// takes 1.8 s, the period is 3 s), so without a PLI at the restart the
// delays spread over the period: before the fix, the key frame came
// 0.57 to 2.55 s after the restart, or not within 1.5 s. After it,
// typically 10–80 ms; on a loaded machine the publisher's side of the
// new ICE path occasionally takes up to a second to carry the SFU's
// PLIs (or, rarely, not within the 1.5 s window, counted as 1.5 s),
// hence a median rather than a worst case.
func TestKeyframeSoonAfterPubRestart(t *testing.T) {
	leaktest.Check(t)
	s := newServer(t, sfu.Config{})
	op := s.join(t, "kr", "op", "operator", false)
	next(t, op, "welcome")
	cit := s.join(t, "kr", "cit", "citizen", false)
	next(t, cit, "welcome")
	publish(t, op, sfutest.Media{Audio: true, Video: true})
	start := time.Now()
	waitFor(t, "a first key frame at the subscriber", func() bool {
		for _, a := range cit.Arrivals(start) {
			if a.Key {
				return true
			}
		}
		return false
	})
	const runs = 5
	var delays []time.Duration
	for i := range runs {
		time.Sleep(300 * time.Millisecond)
		t0 := time.Now()
		if err := op.RestartICE(contextFor(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		gap, key := restartEffect(cit, t0)
		if key.IsZero() {
			// Counted as the whole window: one slow path on a loaded
			// machine moves the median by one place, while a missing
			// PLI at the restart (the bug) misses most rounds.
			t.Logf("restart %d: no key frame within 1.5 s (longest silence %v)", i, gap.Round(time.Millisecond))
			delays = append(delays, 1500*time.Millisecond)
			continue
		}
		d := key.Sub(t0)
		delays = append(delays, d)
		t.Logf("restart %d: key frame %v after the restart (longest silence between video packets %v)",
			i, d.Round(time.Millisecond), gap.Round(time.Millisecond))
	}
	slices.Sort(delays)
	median := delays[runs/2]
	t.Logf("time from restart to key frame: median %v, worst %v", median.Round(time.Millisecond), delays[runs-1].Round(time.Millisecond))
	if median > 400*time.Millisecond {
		t.Errorf("median time from restart to key frame %v; want within 400 ms", median.Round(time.Millisecond))
	}
}
