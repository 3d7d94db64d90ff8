package web

import (
	_ "embed"
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
)

// openAPIDoc is the OpenAPI 3.1 description of /api/v1, written by hand.
// The tests check that it lists every API route and that the handlers'
// answers carry the fields its schemas require.
//
//go:embed openapi.json
var openAPIDoc []byte

// apiOpenAPI answers GET /api/v1/openapi.json.
func (h *Handler) apiOpenAPI(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(openAPIDoc)
}
