package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/sportello-virtuale/sportello/tenant"
)

// maxLogoutTokenBytes caps the body of a back-channel logout request: a
// form with one signed token.
const maxLogoutTokenBytes = 64 << 10

// backchannel receives a provider's back-channel logout (OpenID Connect
// Back-Channel Logout 1.0): POST /_auth/backchannel-logout?provider=ID
// with logout_token, the URI to register at the provider as
// backchannel_logout_uri. The token is verified with the provider's keys
// (signature, iss, aud, exp, the logout event, no nonce, sub or sid) and
// the sessions it names end on every node. It answers 200, or 400 with a
// JSON error; it is called by the provider's server, not by a browser, so
// it has no CSRF check: only a token signed by the provider has effect.
func (h *Handler) backchannel(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutTokenBytes)
	refuse := func(err error) {
		h.log.WarnContext(ctx, "back-channel logout refused", "tenant", t.ID, "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
	}
	p, err := h.store.Provider(ctx, t.ID, r.URL.Query().Get("provider"))
	if err != nil {
		refuse(err)
		return
	}
	raw := r.PostFormValue("logout_token")
	if raw == "" {
		refuse(fmt.Errorf("no logout_token"))
		return
	}
	d, err := h.discover(ctx, p.Issuer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lt, err := d.provider.Verifier(&oidc.Config{ClientID: p.ClientID, Now: h.now}).VerifyLogout(h.clientContext(ctx), raw)
	if err != nil {
		refuse(err)
		return
	}
	n, err := h.store.BackchannelLogout(ctx, t.ID, lt.Issuer, lt.Subject, lt.SessionID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(ctx, "back-channel logout", "tenant", t.ID, "provider", p.ID, "sessions", n)
	w.WriteHeader(http.StatusOK)
}
