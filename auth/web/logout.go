package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// logout ends the request's session: POST /_auth/logout with the CSRF
// token. The cookie is cleared; when the session's provider offers
// end_session_endpoint the browser goes there through the page of leave
// (RP-initiated logout, with id_token_hint and a return to the Comune's
// home page, which must be registered at the provider as a post-logout
// redirect URI), else home.
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
			if h.pages != nil {
				h.leave(w, r, p.Name, target)
				return
			}
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// leave answers a logout that continues at the provider with a page of
// the Comune that moves on by itself (the Refresh header, no script).
// A redirect would be simpler, but the logout is a form submission, and
// browsers apply the page's CSP form-action 'self' to every redirect
// that follows one: Chromium refuses the hop to the provider and shows an
// error page instead. A navigation from a page of our own is a new one,
// outside form-action; the page's link serves a browser that ignores
// Refresh.
func (h *Handler) leave(w http.ResponseWriter, r *http.Request, provider, target string) {
	w.Header().Set("Refresh", "0; url="+target)
	h.pages.Render(w, r, http.StatusOK, "uscita.html", site.Page{
		Title:       "Uscita",
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Uscita"}},
		Data:        struct{ Provider, URL string }{provider, target},
	})
}
