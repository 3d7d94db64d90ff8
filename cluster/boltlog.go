package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// boltLog is the raft log and stable store in a bolt file, in the layout
// of hashicorp/raft-boltdb v2, which wrote it before: bucket "logs" keyed
// by the entry's index (8 bytes, big-endian) holding the entry in msgpack
// as raft-boltdb's encoder writes it, and bucket "conf" for raft's stable
// keys. A file written by either opens in the other (TestBoltLogCompat),
// so nodes move between versions with their log.
//
// It exists for the write path. raft-boltdb encoded every entry through
// go-msgpack's reflection into a buffer grown from empty: for a shared
// entry of tens of KB, five to six doublings, 2 KB of garbage per booking
// on every node and a fresh large allocation for each, which the kernel
// had to fault in and zero again after the Go scavenger returned it.
// appendLogMsgpack writes the same bytes into one buffer reused from
// commit to commit. Reads (entries not among logStore's recent ones, at
// start and for a lagging follower) decode with go-msgpack as before.
type boltLog struct {
	db *bbolt.DB
	// mp decodes entries; a handle caches what it learns of a type, and
	// is safe for concurrent use.
	mp codec.MsgpackHandle

	// scratch holds the encoded entries of one StoreLogs until its
	// commit (bolt keeps the values it is given until then); StoreLogs
	// runs in raft's one goroutine, the mutex only keeps it sound.
	scratchMu sync.Mutex
	scratch   []byte
}

var (
	boltLogsBucket = []byte("logs")
	boltConfBucket = []byte("conf")
)

// errKeyNotFound is the stable store's answer for a key never set. Raft
// recognises it by its text, "not found", the one raft-boltdb used.
var errKeyNotFound = errors.New("not found")

// maxKeptScratch bounds the buffer boltLog keeps between commits: a
// burst of large entries should not pin its size for the node's life.
const maxKeptScratch = 4 << 20

func openBoltLog(path string) (*boltLog, error) {
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(boltLogsBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(boltConfBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &boltLog{db: db}, nil
}

func (b *boltLog) Close() error { return b.db.Close() }

// Sync flushes the file to disk.
func (b *boltLog) Sync() error { return b.db.Sync() }

func boltKey(idx uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), idx)
}

func (b *boltLog) FirstIndex() (uint64, error) {
	var idx uint64
	err := b.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(boltLogsBucket).Cursor().First(); k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

func (b *boltLog) LastIndex() (uint64, error) {
	var idx uint64
	err := b.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(boltLogsBucket).Cursor().Last(); k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

func (b *boltLog) GetLog(idx uint64, log *raft.Log) error {
	return b.db.View(func(tx *bbolt.Tx) error {
		val := tx.Bucket(boltLogsBucket).Get(boltKey(idx))
		if val == nil {
			return raft.ErrLogNotFound
		}
		// Decoded from a reader, as raft-boltdb did: the entry's slices
		// are copies, not views of the file's memory map, which ends
		// with the transaction.
		return codec.NewDecoder(bytes.NewReader(val), &b.mp).Decode(log)
	})
}

func (b *boltLog) StoreLogs(logs []*raft.Log) error {
	b.scratchMu.Lock()
	defer b.scratchMu.Unlock()
	size := 0
	for _, l := range logs {
		size += logMsgpackSize(l)
	}
	buf := b.scratch[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	err := b.db.Update(func(tx *bbolt.Tx) error {
		bucket := tx.Bucket(boltLogsBucket)
		for _, l := range logs {
			start := len(buf)
			var err error
			if buf, err = appendLogMsgpack(buf, l); err != nil {
				return err
			}
			// The three-index slice keeps a later append (one that did
			// not fit the size computed above) from writing over it.
			if err := bucket.Put(boltKey(l.Index), buf[start:len(buf):len(buf)]); err != nil {
				return err
			}
		}
		return nil
	})
	if cap(buf) <= maxKeptScratch {
		b.scratch = buf[:0]
	} else {
		b.scratch = nil
	}
	return err
}

// DeleteRange deletes the entries from min to max, both included.
func (b *boltLog) DeleteRange(min, max uint64) error {
	return b.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(boltLogsBucket).Cursor()
		for k, _ := c.Seek(boltKey(min)); k != nil; k, _ = c.Next() {
			if binary.BigEndian.Uint64(k) > max {
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltLog) Set(k, v []byte) error {
	return b.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(boltConfBucket).Put(k, v)
	})
}

func (b *boltLog) Get(k []byte) ([]byte, error) {
	var v []byte
	err := b.db.View(func(tx *bbolt.Tx) error {
		val := tx.Bucket(boltConfBucket).Get(k)
		if val == nil {
			return errKeyNotFound
		}
		v = append([]byte(nil), val...)
		return nil
	})
	return v, err
}

func (b *boltLog) SetUint64(k []byte, v uint64) error {
	return b.Set(k, boltKey(v))
}

func (b *boltLog) GetUint64(k []byte) (uint64, error) {
	return stableUint64(b.Get(k))
}

// stableUint64 reads a stable value that SetUint64 wrote (boltKey's eight
// big-endian bytes), as Get returned it.
func stableUint64(v []byte, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.New("cluster: raft log: stable value is not 8 bytes")
	}
	return binary.BigEndian.Uint64(v), nil
}
