package cluster

import (
	"context"
	"sync"
)

// signal is a broadcast without loss: a waiter takes the current channel
// with wait, checks its condition, and blocks on the channel, which the
// next broadcast closes. Taking the channel before checking means no
// broadcast between the check and the block is missed.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns the channel the next broadcast closes.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// broadcast wakes every current waiter.
func (s *signal) broadcast() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// indexWaiter holds the FSM's applied index and wakes those waiting for it
// to reach a value. It is set only by the FSM goroutine, after the SQLite
// transaction that stored the index has committed.
type indexWaiter struct {
	mu    sync.Mutex
	index uint64
	ch    chan struct{}
}

func newIndexWaiter(index uint64) *indexWaiter {
	return &indexWaiter{index: index, ch: make(chan struct{})}
}

func (w *indexWaiter) get() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.index
}

// set stores index and wakes every waiter.
func (w *indexWaiter) set(index uint64) {
	w.mu.Lock()
	w.index = index
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

// changed returns a channel closed at the next set.
func (w *indexWaiter) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

// wait blocks until the index is at least index, ctx ends or stop closes.
func (w *indexWaiter) wait(ctx context.Context, index uint64, stop <-chan struct{}) error {
	for {
		w.mu.Lock()
		if w.index >= index {
			w.mu.Unlock()
			return nil
		}
		ch := w.ch
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		}
	}
}
