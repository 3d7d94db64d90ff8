package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// logStore is the node's raft log and stable store: a raft-boltdb file
// that can be rewritten while raft runs (rewrite). Bolt does not clear
// the pages it frees: after log compaction the deleted entries' bytes
// stay in the file's free pages until they happen to be reused, so
// erased personal data would survive there. rewrite copies the live
// entries and keys into a new file and replaces the old one; the lock
// holds raft's log calls for that short time (after a compaction with no
// trailing entries, the log holds a handful of entries).
type logStore struct {
	mu   sync.RWMutex
	path string
	s    *raftboltdb.BoltStore
}

// stableKeys are the keys raft keeps in its stable store (raft.go of
// hashicorp/raft); rewrite copies them.
var stableKeys = []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"}

func openLogStore(path string) (*logStore, error) {
	s, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return nil, err
	}
	return &logStore{path: path, s: s}, nil
}

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
	return l.s.GetLog(idx, log)
}

func (l *logStore) StoreLog(log *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
	return l.s.StoreLog(log)
}

func (l *logStore) StoreLogs(logs []*raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
	return l.s.StoreLogs(logs)
}

func (l *logStore) DeleteRange(min, max uint64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		// Raft's transport can still answer a peer while the node closes.
		return ErrClosed
	}
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
	return err
}

// rewrite replaces the file by a fresh one holding only the live log
// entries and stable keys, so that no deleted entry's bytes remain in it.
// The new file is written beside the old one, synced, and renamed over
// it; a crash before the rename leaves the old file, which is complete.
func (l *logStore) rewrite() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == nil {
		return ErrClosed
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
		case errors.Is(err, raftboltdb.ErrKeyNotFound):
			// raft-boltdb's ErrKeyNotFound: never set on this node.
		default:
			return fmt.Errorf("cluster: rewrite raft log: key %s: %w", k, err)
		}
	}
	tmp := l.path + ".rewrite"
	os.Remove(tmp)
	fresh, err := raftboltdb.New(raftboltdb.Options{Path: tmp})
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
	s, err := raftboltdb.New(raftboltdb.Options{Path: l.path})
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
