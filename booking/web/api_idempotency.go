package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// idempotencyHeader names the client's idempotency key on the API's writes
// (POST /api/v1/bookings, DELETE /api/v1/bookings/{code}, POST
// /api/v1/bookings/{code}/move). A repeat of a request with the same key
// and the same content gets the first request's answer and changes
// nothing; with other content it gets 422 idempotency_key_reused. Keys are
// remembered for cluster.DedupWindow.
const idempotencyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds the key's length.
const maxIdempotencyKey = 255

// errBadIdempotencyKey is the answer to an Idempotency-Key header that is
// empty, repeated, too long or not printable ASCII.
var errBadIdempotencyKey = errors.New("invalid Idempotency-Key header")

// idempotent returns ctx carrying the request ID and fingerprint of r's
// idempotency key (cluster.WithRequestID), or ctx unchanged when r has
// none. The request ID is a hash of the Comune and the key, so two
// Comuni never share one; the fingerprint is a hash of the method, the
// path, the manage token presented (so a key replayed with another token
// is refused, never answered with the booking) and the request body as
// decoded (in, nil for none) and encoded again, so that spacing and field
// order do not count.
func idempotent(ctx context.Context, r *http.Request, t tenant.ID, token string, in any) (context.Context, error) {
	values, ok := r.Header[idempotencyHeader]
	if !ok {
		return ctx, nil
	}
	if len(values) != 1 || !validIdempotencyKey(values[0]) {
		return ctx, errBadIdempotencyKey
	}
	body, err := json.Marshal(in)
	if err != nil {
		return ctx, err
	}
	rid := sha256.New()
	writeParts(rid, "sportello.idempotency.v1", string(t), values[0])
	fp := sha256.New()
	tok := sha256.Sum256([]byte(token))
	writeParts(fp, r.Method, r.URL.Path, string(tok[:]), string(body))
	return cluster.WithRequestID(ctx, "api/"+hex.EncodeToString(rid.Sum(nil)), hex.EncodeToString(fp.Sum(nil))), nil
}

// writeParts writes each part with its length first, so that no two lists
// of parts give the same bytes.
func writeParts(h interface{ Write([]byte) (int, error) }, parts ...string) {
	for _, p := range parts {
		n := len(p)
		h.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		h.Write([]byte(p))
	}
}

// validIdempotencyKey reports whether key has 1 to 255 printable ASCII
// characters (space to tilde).
func validIdempotencyKey(key string) bool {
	if len(key) == 0 || len(key) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}
