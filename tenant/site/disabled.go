package site

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// DisabledCode is the JSON error code of every API answer on a disabled
// Comune's hosts.
const DisabledCode = "tenant_disabled"

// DisabledMessage is what citizens and operators read on a disabled
// Comune's hosts: the service is not available, without the reason (a
// note for administrators) and without a date, which nobody can promise.
func DisabledMessage(t tenant.Tenant) string {
	name := t.Name
	of := "di "
	if rest, ok := strings.CutPrefix(name, "Comune di "); ok {
		// "Il servizio del Comune di Bari", not "di Comune di Bari".
		of, name = "del ", "Comune di "+rest
	}
	return "Il servizio " + of + name + " non è al momento disponibile."
}

// disabled answers a request to a disabled Comune with 503 on every path:
// the page in the Comune's own layout (so the citizen sees it is the
// right site), a JSON error under /api/. The back office is no exception,
// so no one can sign in while the Comune is disabled. The answer is not
// cached, so that the site is back as soon as the Comune is enabled.
func (s *Site) disabled(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	nonce := newNonce()
	securityHeaders(w.Header(), r, nonce, t)
	w.Header().Set("Cache-Control", "no-store")
	msg := DisabledMessage(t)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]string{"code": DisabledCode, "message": msg},
		})
		return
	}
	// The message is Italian only for now, so the page is too.
	ctx := WithLang(withNonce(WithTenant(r.Context(), t), nonce), defaultLang)
	s.Error(w, r.WithContext(ctx), http.StatusServiceUnavailable, msg)
}
