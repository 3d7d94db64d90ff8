package booking

import (
	"context"
	"errors"
	"sync"

	"github.com/sportello-virtuale/sportello/tenant"
)

// ProofBits returns the proof-of-work bits a booking of serviceID must
// carry: 0 when none is asked or the service does not exist (the booking
// itself then reports it unknown). The booking API asks it on every
// request. FairSettings loads the service with its hours and then the
// settings, two queries and about 40 µs, the larger part of the API's
// own work per booking; only the settings matter here, and the service
// only when a proof is asked. The answer is kept while the node's applied
// index stays where it was when the settings were read: until the node
// applies another command nothing in its database has changed (under
// load, the index moves a few dozen times a second, against a thousand
// requests).
func (b *Book) ProofBits(ctx context.Context, t tenant.ID, serviceID string) (int, error) {
	var at uint64
	ai, indexed := b.p.(interface{ AppliedIndex() uint64 })
	if indexed {
		// Read before the queries: what they read is at least as new as
		// the state at this index.
		at = ai.AppliedIndex()
		if bits, ok := b.proofs.get(at, t, serviceID); ok {
			return bits, nil
		}
	}
	bits, err := b.proofBits(ctx, t, serviceID)
	if err == nil && indexed {
		b.proofs.put(at, t, serviceID, bits)
	}
	return bits, err
}

func (b *Book) proofBits(ctx context.Context, t tenant.ID, serviceID string) (int, error) {
	s, err := loadFair(ctx, b.db, t, serviceID)
	if err != nil || s.ProofOfWork <= 0 {
		return 0, err
	}
	if _, err := loadService(ctx, b.db, t, serviceID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	return s.ProofOfWork, nil
}

// proofCacheSize bounds the services kept; the map is emptied when full.
const proofCacheSize = 4096

// proofCache keeps ProofBits' answers read at one applied index (0:
// nothing kept); an answer read at another index empties it.
type proofCache struct {
	mu   sync.Mutex
	at   uint64
	bits map[proofKey]int
}

type proofKey struct {
	tenant  tenant.ID
	service string
}

func (c *proofCache) get(at uint64, t tenant.ID, service string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at == 0 || c.at != at {
		return 0, false
	}
	bits, ok := c.bits[proofKey{t, service}]
	return bits, ok
}

func (c *proofCache) put(at uint64, t tenant.ID, service string, bits int) {
	if at == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at != at || c.bits == nil || len(c.bits) >= proofCacheSize {
		if at < c.at {
			return // read at an older index than what is kept
		}
		c.at, c.bits = at, make(map[proofKey]int)
	}
	c.bits[proofKey{t, service}] = bits
}
