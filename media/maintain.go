package media

import (
	"context"
	"log/slog"
	"time"
)

// Maintenance says how often the leader's housekeeping of rooms and TURN
// secrets runs. Zero fields take the defaults.
type Maintenance struct {
	// SweepEvery is how often expired rooms are ended and the rooms of
	// departed nodes moved (default a minute).
	SweepEvery time.Duration
	// RotateCheck is how often the TURN secret's age is checked (default
	// ten minutes), and TURNRotation the age at which it is replaced
	// (default a day). Credentials live for less than that (a few hours),
	// and the previous secret stays valid, so nobody is cut off.
	RotateCheck  time.Duration
	TURNRotation time.Duration
	// Logger receives failures (slog.Default when nil).
	Logger *slog.Logger
}

func (m Maintenance) withDefaults() Maintenance {
	if m.SweepEvery <= 0 {
		m.SweepEvery = time.Minute
	}
	if m.RotateCheck <= 0 {
		m.RotateCheck = 10 * time.Minute
	}
	if m.TURNRotation <= 0 {
		m.TURNRotation = 24 * time.Hour
	}
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	return m
}

// Maintain runs the housekeeping until ctx ends: while this node leads it
// calls Sweep and Rehome every SweepEvery and RotateTURN every RotateCheck
// (the first of each at once). Every node may run it; only the leader acts, so the
// commands are proposed once and carry the leader's time. A failure is
// logged and retried at the next tick.
func (rs *Rooms) Maintain(ctx context.Context, m Maintenance) {
	m = m.withDefaults()
	sweep := time.NewTicker(m.SweepEvery)
	defer sweep.Stop()
	rotate := time.NewTicker(m.RotateCheck)
	defer rotate.Stop()
	doSweep, doRotate := true, true
	for {
		if rs.node.IsLeader() {
			if doSweep {
				if n, err := rs.Sweep(ctx); err != nil && ctx.Err() == nil {
					m.Logger.Warn("media: sweep rooms", "err", err)
				} else if n > 0 {
					m.Logger.Info("media: rooms ended after their time", "rooms", n)
				}
				if n, err := rs.Rehome(ctx); err != nil && ctx.Err() == nil {
					m.Logger.Warn("media: move rooms of departed nodes", "err", err)
				} else if n > 0 {
					m.Logger.Info("media: rooms moved off departed nodes", "rooms", n)
				}
			}
			if doRotate {
				if err := rs.RotateTURN(ctx, m.TURNRotation); err != nil && ctx.Err() == nil {
					m.Logger.Warn("media: rotate TURN secret", "err", err)
				}
			}
		}
		doSweep, doRotate = false, false
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			doSweep = true
		case <-rotate.C:
			doRotate = true
		}
	}
}
