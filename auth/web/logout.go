package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// logout ends the request's session: POST /_auth/logout with the CSRF
// token. The cookie is cleared; when the session's provider offers
// end_session_endpoint the browser goes there (RP-initiated logout, with
// id_token_hint and a return to the Comune's home page, which must be
// registered at the provider as a post-logout redirect URI), else home.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	ctx := r.Context()
	s, _, ok := SessionFrom(ctx)
	if !ok {
		clearCookie(w, SessionCookie)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !validCSRF(r, s) {
		h.fail(w, r, errCSRF)
		return
	}
	if err := h.store.EndSession(ctx, t.ID, s.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	clearCookie(w, SessionCookie)
	target := "/"
	if p, err := h.store.Provider(ctx, t.ID, s.Provider); err == nil {
		if d, err := h.discover(ctx, p.Issuer); err == nil && d.endSession != "" {
			v := url.Values{
				"client_id":                {p.ClientID},
				"post_logout_redirect_uri": {h.origin(r) + "/"},
			}
			if s.IDToken != "" {
				v.Set("id_token_hint", s.IDToken)
			}
			sep := "?"
			if strings.Contains(d.endSession, "?") {
				sep = "&"
			}
			target = d.endSession + sep + v.Encode()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
