package web

import (
	"encoding/json"
	"net/http"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
)

// jwks serves GET /_auth/jwks: the public keys with which the Comune's
// providers that use private_key_jwt verify the node's client assertions
// (current and previous key of each, with kid and alg). It is public by
// nature, and answers an empty set for a Comune without such providers so
// that a provider configured before the Comune switches still gets a
// valid document. Caching is short because a rotation must reach the
// provider soon.
func (h *Handler) jwks(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ps, err := h.store.Providers(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	set, err := auth.PublicJWKS(ps)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := json.Marshal(set)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}
