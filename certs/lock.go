package certs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Lock timing. A lease of two minutes refreshed every 30 seconds survives
// three lost refreshes (a leader election, a slow disk) before another
// node may take the lock over; a holder that died blocks the others for
// at most two minutes, which certmagic's operations (an ACME order, a
// renewal) tolerate easily.
const (
	defaultLease   = 2 * time.Minute
	defaultRefresh = 30 * time.Second
	defaultPollMin = 250 * time.Millisecond
	defaultPollMax = 2 * time.Second
)

// heldLock is a lock this Storage holds: the holder ID it was granted
// under and the refresher that keeps its lease.
type heldLock struct {
	holder string
	stop   context.CancelFunc
	done   chan struct{}
}

// newHolder names one acquisition: the node, then 64 random bits, so that
// two Lock calls on one node are two holders too.
func (s *Storage) newHolder() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return s.node.Config().NodeID + "/" + hex.EncodeToString(b), nil
}

// acquire proposes one acquisition under holder with a fresh lease.
func (s *Storage) acquire(ctx context.Context, name, holder string) error {
	now := s.now()
	return s.propose(ctx, CmdLockAcquire, lockPayload{
		Name: name, Holder: holder, Now: now.UnixMilli(), Expires: now.Add(s.lease).UnixMilli(),
	})
}

// retryable says whether Lock should try again after err: the lock is
// held by another, or the cluster is between leaders for a moment.
func retryable(err error) bool {
	return errors.Is(err, ErrLockHeld) || errors.Is(err, cluster.ErrNoLeader) ||
		errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrOutcomeUnknown)
}

// Lock takes the named lock for the cluster, waiting (polling from 250 ms,
// doubling to 2 s) while another holder has it, until it is granted or ctx
// ends. The lease is refreshed every 30 s until Unlock; a holder that
// stops refreshing (its node died) loses the lock two minutes after its
// last refresh.
func (s *Storage) Lock(ctx context.Context, name string) error {
	holder, err := s.newHolder()
	if err != nil {
		return err
	}
	wait := s.pollMin
	for {
		err := s.acquire(ctx, name, holder)
		if err == nil {
			s.hold(name, holder)
			return nil
		}
		if ctx.Err() != nil {
			s.abandon(name, holder)
			return fmt.Errorf("certs: lock %s: %w", name, ctx.Err())
		}
		if !retryable(err) {
			return fmt.Errorf("certs: lock %s: %w", name, err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("certs: lock %s: %w", name, ctx.Err())
		}
		wait = min(2*wait, s.pollMax)
	}
}

// TryLock makes one attempt at the named lock: true if granted (and then
// refreshed until Unlock, as with Lock), false if another holder has it.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	holder, err := s.newHolder()
	if err != nil {
		return false, err
	}
	err = s.acquire(ctx, name, holder)
	switch {
	case err == nil:
		s.hold(name, holder)
		return true, nil
	case errors.Is(err, ErrLockHeld):
		return false, nil
	case ctx.Err() != nil:
		s.abandon(name, holder)
	}
	return false, fmt.Errorf("certs: try lock %s: %w", name, err)
}

// abandon releases what an acquisition interrupted by its context may
// have been granted anyway (the command can commit after the caller gave
// up), so that the lock does not stay taken for a whole lease.
func (s *Storage) abandon(name, holder string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.propose(ctx, CmdLockRelease, lockPayload{Name: name, Holder: holder}); err != nil {
		s.logger().Warn("certs: releasing an abandoned lock acquisition", "lock", name, "err", err)
	}
}

// hold records the lock and starts its refresher.
func (s *Storage) hold(name, holder string) {
	ctx, stop := context.WithCancel(context.Background())
	h := &heldLock{holder: holder, stop: stop, done: make(chan struct{})}
	s.mu.Lock()
	if old := s.held[name]; old != nil {
		// A lock of this Storage that was taken over after its lease
		// ended (a refresh failed long enough): its refresher stops.
		old.stop()
	}
	s.held[name] = h
	s.mu.Unlock()
	go s.keep(ctx, name, h)
}

// keep refreshes the lease every s.refresh until stopped, or until a
// refresh says the lock was taken over.
func (s *Storage) keep(ctx context.Context, name string, h *heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.renew(ctx, name, h.holder)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, ErrLockLost):
			s.logger().Error("certs: lock lost: its lease ended and another node took it over", "lock", name, "holder", h.holder)
			return
		case errors.Is(err, cluster.ErrClosed):
			return
		default:
			s.logger().Warn("certs: refreshing a lock's lease failed, will retry", "lock", name, "err", err)
		}
	}
}

// renew proposes a new end of the lease, a lease from now.
func (s *Storage) renew(ctx context.Context, name, holder string) error {
	ctx, cancel := context.WithTimeout(ctx, s.refresh)
	defer cancel()
	return s.propose(ctx, CmdLockRefresh, lockPayload{Name: name, Holder: holder, Expires: s.now().Add(s.lease).UnixMilli()})
}

// RenewLockLease confirms that this Storage still holds the lock and
// refreshes its lease now. certmagic asks for a lease as long as its
// next retry (up to days) before waiting for it; we keep the normal
// lease instead, because the refresher extends it for as long as the
// holder lives, and a lease of days would block every other node that
// long if this one died while waiting.
func (s *Storage) RenewLockLease(ctx context.Context, name string, _ time.Duration) error {
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("certs: renew lock %s: %w", name, ErrLockLost)
	}
	if err := s.renew(ctx, name, h.holder); err != nil {
		return fmt.Errorf("certs: renew lock %s: %w", name, err)
	}
	return nil
}

// Unlock releases a lock this Storage holds: it stops the refresher and
// proposes a release that apply grants only to the same holder, so an
// Unlock that comes after the lease was taken over leaves the new
// holder's lock alone. Unlock of a lock this Storage does not hold does
// nothing.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	h.stop()
	<-h.done
	if err := s.propose(context.WithoutCancel(ctx), CmdLockRelease, lockPayload{Name: name, Holder: h.holder}); err != nil {
		return fmt.Errorf("certs: unlock %s: %w", name, err)
	}
	return nil
}

// Close stops refreshing every lock this Storage holds, without releasing
// them (the node is going away: their leases end by themselves).
func (s *Storage) Close() {
	s.mu.Lock()
	held := s.held
	s.held = make(map[string]*heldLock)
	s.mu.Unlock()
	for _, h := range held {
		h.stop()
		<-h.done
	}
}
