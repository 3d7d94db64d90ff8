package docs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Cipher encrypts the chunks of documents under a key of their Comune,
// so that destroying the key makes them unreadable wherever a copy of the
// bytes survives (crypto-shredding; package privacy's Keys implements
// it). Set Store.Cipher before the store is used; a store without one
// stores documents in the clear, and reads both kinds.
type Cipher interface {
	Seal(ctx context.Context, t tenant.ID, aad string, plain []byte) ([]byte, error)
	Open(ctx context.Context, t tenant.ID, aad string, sealed []byte) ([]byte, error)
	// Sealed reports whether stored bytes were made by Seal.
	Sealed(data []byte) bool
}

// sealedVersion is the version of a media.doc.commit whose chunks are
// sealed: it carries StoredSHA256, which nodes that know only version 1
// would refuse, so the version gate holds it back until they know it.
const sealedVersion = 2

// chunkAAD binds a sealed chunk to its document and place.
func chunkAAD(doc string, seq int) string { return "media_docs\x00" + doc + "\x00" + strconv.Itoa(seq) }

// split cuts data into chunks of chunkSize bytes.
func split(data []byte) [][]byte {
	var out [][]byte
	for off := 0; off < len(data); off += chunkSize {
		out = append(out, data[off:min(off+chunkSize, len(data))])
	}
	return out
}

// sealChunks seals each chunk and returns the sealed chunks and the
// SHA-256 of their concatenation, which the commit checks in apply (the
// plain SHA-256, checked by readers, cannot be checked there).
func (s *Store) sealChunks(ctx context.Context, t tenant.ID, id string, parts [][]byte) ([][]byte, string, error) {
	h := sha256.New()
	out := make([][]byte, len(parts))
	for i, p := range parts {
		sealed, err := s.Cipher.Seal(ctx, t, chunkAAD(id, i), p)
		if err != nil {
			return nil, "", err
		}
		h.Write(sealed)
		out[i] = sealed
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}

// openChunk returns the plain bytes of a stored chunk: sealed chunks are
// opened with the store's cipher (without one, they stay as stored and
// the reader's SHA-256 check fails).
func (s *Store) openChunk(ctx context.Context, t tenant.ID, id string, seq int, data []byte) ([]byte, error) {
	if s.Cipher == nil || !s.Cipher.Sealed(data) {
		return data, nil
	}
	return s.Cipher.Open(ctx, t, chunkAAD(id, seq), data)
}
