package web

import (
	"net/http"
	"slices"
	"strings"
)

// apiFallback answers every /api/v1/ request that no API route takes, in
// JSON like the rest of the API rather than with the HTML 404 page: 405
// with an Allow header when the path exists under another method, 404
// otherwise.
func (h *Handler) apiFallback() http.Handler {
	// probe knows the API paths without their methods; allowed lists the
	// methods of each path pattern.
	probe := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range h.routes {
		if !rt.api {
			continue
		}
		if _, ok := allowed[rt.path]; !ok {
			probe.Handle(rt.path, http.NotFoundHandler())
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := probe.Handler(r)
		if methods, ok := allowed[pattern]; ok && pattern != "" {
			slices.Sort(methods)
			w.Header().Set("Allow", strings.Join(slices.Compact(methods), ", "))
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: errorDetail{
				Code:    "method_not_allowed",
				Message: "Metodo non consentito su questo indirizzo.",
			}})
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{
			Code:    "not_found",
			Message: "Indirizzo dell'API inesistente: consulta /api/v1/openapi.json.",
		}})
	})
}
