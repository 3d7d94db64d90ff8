package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
)

// logStore is the node's raft log and stable store: segment files
// (seglog.go) in raftlog/ beside path, or, in tests, a bolt file in
// raft-boltdb's layout (boltlog.go). Either can be rewritten while raft
// runs (rewrite): compaction leaves the deleted entries' bytes in the file
// (bolt's free pages, the first segment's hidden records), so erased
// personal data would survive there. rewrite copies the live entries into
// a new file and replaces the old one; the lock holds raft's log calls for
// that short time (after a compaction with no trailing entries, the log
// holds a handful of entries).
//
// It also keeps the entries it stored last (recent) and answers GetLog
// for them from memory. Raft reads every entry back soon after storing
// it: the leader once per follower to send it, a follower to apply it.
// From the file, each read was a bolt transaction, a msgpack decode
// through reflection and a copy of the entry's data (a shared entry is
// tens of KB): the followers' CPU and garbage for bytes still in memory.
// Compaction (DeleteRange) and rewrite empty it, so an erased entry does
// not stay here either.
type logStore struct {
	mu   sync.RWMutex
	path string
	s    logBackend
	// repaired says what opening cut from a write torn by a crash, for
	// the node to log; empty when nothing was cut.
	repaired string
	// migrated is set when opening moved the entries of a bolt raft.db
	// into the segments (a node upgraded from before them).
	migrated bool

	recentMu sync.Mutex
	recent   [recentLogs]*raft.Log
}

// logBackend is what logStore needs of a log file: *segLog, or *boltLog
// for files written before the segments.
type logBackend interface {
	FirstIndex() (uint64, error)
	LastIndex() (uint64, error)
	GetLog(idx uint64, log *raft.Log) error
	StoreLogs(logs []*raft.Log) error
	DeleteRange(min, max uint64) error
	Set(k, v []byte) error
	Get(k []byte) ([]byte, error)
	SetUint64(k []byte, v uint64) error
	GetUint64(k []byte) (uint64, error)
	Sync() error
	Close() error
}

// segLogDir is the folder of the segment log, beside raft.db.
const segLogDir = "raftlog"

// recentLogs is how many of the last stored entries logStore keeps. A
// follower that keeps up needs the last few: raft sends and applies
// entries within milliseconds of storing them (MaxAppendEntries at a
// time); older ones are read from the file. Shared entries are up to a
// few hundred KB, so the cache stays small.
const recentLogs = 32

// stableKeys are the keys raft keeps in its stable store (raft.go of
// hashicorp/raft); rewrite copies them.
var stableKeys = []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"}

// openLogStore opens the segment log in raftlog/ beside path (raft.db),
// moving the entries of a bolt file at path there first if needed
// (migrateBoltLog).
func openLogStore(path string) (*logStore, error) {
	dir := filepath.Join(filepath.Dir(path), segLogDir)
	migrated, err := migrateBoltLog(path, dir)
	if err != nil {
		return nil, err
	}
	s, err := openSegLog(dir)
	if err != nil {
		return nil, err
	}
	return &logStore{path: path, s: s, repaired: s.repaired, migrated: migrated}, nil
}

// IsMonotonic tells raft (raft.MonotonicLogStore) that entries must follow
// each other: the segments refuse a gap. After installing a snapshot
// ahead of its log, raft then deletes the whole log before it stores the
// entries after the snapshot, instead of leaving a gap; a follower that
// kept trailing entries would otherwise refuse every entry from the
// leader (seen in the end-to-end TestOpsSnapshotCatchUp).
func (l *logStore) IsMonotonic() bool { return true }

func (l *logStore) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return 0, ErrClosed
	}
	return l.s.FirstIndex()
}

func (l *logStore) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return 0, ErrClosed
	}
	return l.s.LastIndex()
}

func (l *logStore) GetLog(idx uint64, log *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
	if l.getRecent(idx, log) {
		return nil
	}
	return l.s.GetLog(idx, log)
}

// getRecent copies the entry idx into log if it is among the recent ones.
// The copy shares Data with the stored entry, as raft's own LogCache
// does: raft and the FSM only read it.
func (l *logStore) getRecent(idx uint64, log *raft.Log) bool {
	l.recentMu.Lock()
	defer l.recentMu.Unlock()
	e := l.recent[idx%recentLogs]
	if e == nil || e.Index != idx {
		return false
	}
	*log = *e
	return true
}

// remember keeps logs, just stored, among the recent entries.
func (l *logStore) remember(logs []*raft.Log) {
	l.recentMu.Lock()
	defer l.recentMu.Unlock()
	for _, e := range logs {
		l.recent[e.Index%recentLogs] = e
	}
}

// forgetRecent drops the recent entries: after DeleteRange (raft deletes
// a conflicting suffix before storing the leader's entries), a rewrite
// or Close.
func (l *logStore) forgetRecent() {
	l.recentMu.Lock()
	defer l.recentMu.Unlock()
	clear(l.recent[:])
}

func (l *logStore) StoreLog(log *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
	if err := l.s.StoreLogs([]*raft.Log{log}); err != nil {
		return err
	}
	l.remember([]*raft.Log{log})
	return nil
}

func (l *logStore) StoreLogs(logs []*raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
	if err := l.s.StoreLogs(logs); err != nil {
		return err
	}
	l.remember(logs)
	return nil
}

func (l *logStore) DeleteRange(min, max uint64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
	// Forgotten first: once the range is gone from the file, no reader
	// may find those entries here.
	l.forgetRecent()
	return l.s.DeleteRange(min, max)
}

func (l *logStore) Set(k, v []byte) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Only raft's heartbeat fast path, which runs in the transport's
		// goroutine and can pass its shutdown check just before the node
		// closes, writes here after Close: it saves the current term, and
		// raft panics on any error. Dropping that write is safe (a node
		// that restarts with an older term learns the new one from the
		// next message; votes are saved by raft's main loop, which has
		// stopped), a panic while closing is not.
		return nil
	}
	return l.s.Set(k, v)
}

func (l *logStore) Get(k []byte) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return nil, ErrClosed
	}
	return l.s.Get(k)
}

func (l *logStore) SetUint64(k []byte, v uint64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Only raft's heartbeat fast path, which runs in the transport's
		// goroutine and can pass its shutdown check just before the node
		// closes, writes here after Close: it saves the current term, and
		// raft panics on any error. Dropping that write is safe (a node
		// that restarts with an older term learns the new one from the
		// next message; votes are saved by raft's main loop, which has
		// stopped), a panic while closing is not.
		return nil
	}
	return l.s.SetUint64(k, v)
}

func (l *logStore) GetUint64(k []byte) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return 0, ErrClosed
	}
	return l.s.GetUint64(k)
}

func (l *logStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == nil {
		return nil
	}
	err := l.s.Close()
	l.s = nil
	l.forgetRecent()
	return err
}

// rewrite replaces the file by a fresh one holding only the live log
// entries and stable keys, so that no deleted entry's bytes remain in it.
// The new file is written beside the old one, synced, and renamed over
// it; a crash before the rename leaves the old file, which is complete.
// A segment log does this for its first segment (segLog.rewrite).
func (l *logStore) rewrite() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == nil {
		return ErrClosed
	}
	// The entries stay the same, but the store may end closed or reopened
	// on the old file: start again from the file.
	l.forgetRecent()
	if seg, ok := l.s.(*segLog); ok {
		return seg.rewrite()
	}
	first, err := l.s.FirstIndex()
	if err != nil {
		return err
	}
	last, err := l.s.LastIndex()
	if err != nil {
		return err
	}
	var logs []*raft.Log
	if last > 0 {
		for i := first; i <= last; i++ {
			e := new(raft.Log)
			if err := l.s.GetLog(i, e); err != nil {
				return fmt.Errorf("cluster: rewrite raft log: entry %d: %w", i, err)
			}
			logs = append(logs, e)
		}
	}
	stable := map[string][]byte{}
	for _, k := range stableKeys {
		v, err := l.s.Get([]byte(k))
		switch {
		case err == nil:
			stable[k] = v
		case errors.Is(err, errKeyNotFound):
			// Never set on this node.
		default:
			return fmt.Errorf("cluster: rewrite raft log: key %s: %w", k, err)
		}
	}
	tmp := l.path + ".rewrite"
	os.Remove(tmp)
	fresh, err := openBoltLog(tmp)
	if err != nil {
		return fmt.Errorf("cluster: rewrite raft log: %w", err)
	}
	werr := func() error {
		if len(logs) > 0 {
			if err := fresh.StoreLogs(logs); err != nil {
				return err
			}
		}
		for k, v := range stable {
			if err := fresh.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return fresh.Sync()
	}()
	if cerr := fresh.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("cluster: rewrite raft log: %w", werr)
	}
	if err := l.s.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cluster: rewrite raft log: close: %w", err)
	}
	renameErr := os.Rename(tmp, l.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(l.path))
	}
	// Whatever happened, the node needs a log: reopen the file at path
	// (the new one, or the old one when the rename failed).
	s, err := openBoltLog(l.path)
	if err != nil {
		l.s = nil
		return errors.Join(renameErr, fmt.Errorf("cluster: reopen raft log: %w", err))
	}
	l.s = s
	if renameErr != nil {
		os.Remove(tmp)
		return fmt.Errorf("cluster: rewrite raft log: %w", renameErr)
	}
	return nil
}
