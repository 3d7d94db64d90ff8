package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/internal/ratelimit"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// accessCookie holds the access secret a one-time link opened. Its path
// keeps it off every other page; Strict keeps it off cross-site
// requests; it lasts as long as the access.
const accessCookie = "sv_privacy"

// citizenCrumbs are the breadcrumbs of the citizen's pages in lang.
func citizenCrumbs(lang, last string) []site.Crumb {
	return []site.Crumb{{Label: tr(lang, "home"), URL: "/"}, {Label: tr(lang, "crumb.privacy"), URL: "/privacy"}, {Label: last}}
}

func citizenHeaders(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
}

// formView is the data of privacy_richiesta.html.
type formView struct {
	Email  string
	Errors map[string]string
	// Sent shows the answer instead of the form.
	Sent bool
	// General is an error of the whole form.
	General string
}

// citizenBegin does what every citizen page does first: it finds the
// Comune of the Host (404 elsewhere) and keeps the answer out of caches,
// frames and Referer headers; a POST must also come from the site's own
// pages, and its form is read under the cap. ok false means the answer
// is written.
func (h *Handler) citizenBegin(w http.ResponseWriter, r *http.Request) (t tenant.Tenant, ok bool) {
	t, ok = site.TenantFrom(r.Context())
	if !ok {
		h.site.Error(w, r, http.StatusNotFound, "")
		return t, false
	}
	citizenHeaders(w)
	if r.Method != http.MethodPost {
		return t, true
	}
	if err := h.csrf.Check(r); err != nil {
		h.citizenRefuse(w, r, http.StatusForbidden, "err.csrf")
		return t, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, err)
		return t, false
	}
	return t, true
}

// citizenRefuse answers a citizen's request that cannot go on with
// status and the message key in the request's language.
func (h *Handler) citizenRefuse(w http.ResponseWriter, r *http.Request, status int, key string) {
	h.site.Error(w, r, status, tr(site.LangFrom(r.Context()), key))
}

// renderForm shows privacy_richiesta.html.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, status int, v formView) {
	lang := site.LangFrom(r.Context())
	h.render(w, r, status, "privacy_richiesta.html", tr(lang, "form.title"), citizenCrumbs(lang, tr(lang, "form.crumb")), v)
}

// citizenForm answers GET /privacy/richiesta.
func (h *Handler) citizenForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.citizenBegin(w, r); !ok {
		return
	}
	h.renderForm(w, r, http.StatusOK, formView{Errors: map[string]string{}})
}

// citizenSend answers POST /privacy/richiesta: it sends the one-time
// link. The answer is the same whether the Comune knows the address or
// not, and whether the address had reached its hourly limit: nothing on
// the page tells anyone what the Comune holds.
func (h *Handler) citizenSend(w http.ResponseWriter, r *http.Request) {
	t, ok := h.citizenBegin(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get(fEmail))
	v := formView{Email: email, Errors: map[string]string{}}
	lang := site.LangFrom(r.Context())
	if !requests.ValidEmail(strings.ToLower(email)) {
		v.Errors[fEmail] = tr(lang, "form.err.email")
		h.renderForm(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if ok, _ := h.limiter.Allow(ratelimit.Key(site.ClientIP(r, h.trustProxy)), h.now()); !ok {
		v.General = tr(lang, "form.err.rate")
		h.renderForm(w, r, http.StatusTooManyRequests, v)
		return
	}
	base := site.Origin(r, h.trustProxy) + "/privacy/richiesta/"
	if _, err := h.store.SendLinkIn(r.Context(), t, email, base, lang); err != nil {
		h.fail(w, r, err)
		return
	}
	h.renderForm(w, r, http.StatusOK, formView{Sent: true, Email: email})
}

// confirmView is the data of privacy_conferma.html.
type confirmView struct {
	Action string
}

// citizenConfirm answers GET /privacy/richiesta/{token}: a button, not
// the data. Mail filters open the links of incoming messages; spending
// the link on a GET would let them use it up before the citizen.
func (h *Handler) citizenConfirm(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.citizenBegin(w, r); !ok {
		return
	}
	lang := site.LangFrom(r.Context())
	h.render(w, r, http.StatusOK, "privacy_conferma.html", tr(lang, "confirm.title"),
		citizenCrumbs(lang, tr(lang, "confirm.crumb")), confirmView{Action: "/privacy/richiesta/" + r.PathValue("token")})
}

// citizenOpen answers POST /privacy/richiesta/{token}: it spends the
// link, keeps the access in a cookie and shows the data.
func (h *Handler) citizenOpen(w http.ResponseWriter, r *http.Request) {
	t, ok := h.citizenBegin(w, r)
	if !ok {
		return
	}
	acc, err := h.store.UseLink(r.Context(), t.ID, r.PathValue("token"))
	if errors.Is(err, requests.ErrLinkInvalid) {
		h.citizenRefuse(w, r, http.StatusGone, "err.link")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: accessCookie, Value: acc.Secret, Path: "/privacy", Expires: acc.Until,
		MaxAge: int(requests.AccessTTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil || strings.HasPrefix(site.Origin(r, h.trustProxy), "https:"),
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/privacy/i-miei-dati", http.StatusSeeOther)
}

// citizenEmail returns the verified address of the request's access
// cookie, or writes the "open a link first" page and returns false.
func (h *Handler) citizenEmail(w http.ResponseWriter, r *http.Request, t tenant.Tenant) (string, string, bool) {
	c, err := r.Cookie(accessCookie)
	if err != nil {
		h.citizenRefuse(w, r, http.StatusForbidden, "err.no_access")
		return "", "", false
	}
	email, err := h.store.AccessEmail(r.Context(), t.ID, c.Value)
	if errors.Is(err, requests.ErrAccessInvalid) && h.fresh != nil {
		// The link may have been spent through another node that this
		// one has not caught up with yet.
		if ferr := h.fresh.ReadFresh(r.Context()); ferr == nil {
			email, err = h.store.AccessEmail(r.Context(), t.ID, c.Value)
		}
	}
	if errors.Is(err, requests.ErrAccessInvalid) {
		h.citizenRefuse(w, r, http.StatusForbidden, "err.expired")
		return "", "", false
	}
	if err != nil {
		h.fail(w, r, err)
		return "", "", false
	}
	return email, c.Value, true
}

// citizenCSRF is the hidden field of the citizen's forms: derived from
// the access secret, which a cross-site page cannot read.
func citizenCSRF(secret string) string {
	sum := sha256.Sum256([]byte("privacyreq.csrf:" + secret))
	return hex.EncodeToString(sum[:16])
}

// citizenExport returns the data tied to the verified address, or
// writes the failure and returns false.
func (h *Handler) citizenExport(w http.ResponseWriter, r *http.Request, t tenant.Tenant, email string) (requests.Export, bool) {
	ex, err := h.exporter.Export(r.Context(), t, requests.Subject{Email: email}, requests.ScopeCitizen)
	if err != nil {
		h.fail(w, r, err)
		return requests.Export{}, false
	}
	return ex, true
}

// citizenOwnData begins a GET of the citizen's own data: the Comune, the
// data tied to the verified address and the access secret. ok false
// means the answer is written.
func (h *Handler) citizenOwnData(w http.ResponseWriter, r *http.Request) (t tenant.Tenant, ex requests.Export, secret string, ok bool) {
	if t, ok = h.citizenBegin(w, r); !ok {
		return t, ex, "", false
	}
	email, secret, ok := h.citizenEmail(w, r, t)
	if !ok {
		return t, ex, "", false
	}
	ex, ok = h.citizenExport(w, r, t, email)
	return t, ex, secret, ok
}

// renderExport shows the citizen's privacy_export.html.
func (h *Handler) renderExport(w http.ResponseWriter, r *http.Request, status int, v exportView) {
	lang := site.LangFrom(r.Context())
	h.render(w, r, status, "privacy_export.html", tr(lang, "export.title"), citizenCrumbs(lang, tr(lang, "export.title")), v)
}

// citizenData answers GET /privacy/i-miei-dati: the data tied to the
// verified address.
func (h *Handler) citizenData(w http.ResponseWriter, r *http.Request) {
	_, ex, secret, ok := h.citizenOwnData(w, r)
	if !ok {
		return
	}
	v := exportView{Export: ex, CSRF: citizenCSRF(secret), Errors: map[string]string{}}
	if r.URL.Query().Get("esito") == "registrata" {
		v.Flash = tr(site.LangFrom(r.Context()), "export.flash")
	}
	h.renderExport(w, r, http.StatusOK, v)
}

// citizenJSON answers GET /privacy/i-miei-dati/dati.json.
func (h *Handler) citizenJSON(w http.ResponseWriter, r *http.Request) {
	t, ex, _, ok := h.citizenOwnData(w, r)
	if !ok {
		return
	}
	writeJSON(w, ex, "i-miei-dati-"+string(t.ID)+".json")
}

// citizenErase answers POST /privacy/i-miei-dati/cancellazione: the
// citizen's erasure request for the verified address.
func (h *Handler) citizenErase(w http.ResponseWriter, r *http.Request) {
	t, ok := h.citizenBegin(w, r)
	if !ok {
		return
	}
	email, secret, ok := h.citizenEmail(w, r, t)
	if !ok {
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(citizenCSRF(secret))) != 1 {
		h.citizenRefuse(w, r, http.StatusForbidden, "err.csrf")
		return
	}
	lang := site.LangFrom(r.Context())
	_, err := h.store.File(r.Context(), t, requests.Filing{Subject: requests.Subject{Email: email},
		Origin: requests.OriginCitizen, Note: r.PostForm.Get(fNote), Lang: lang})
	if err == nil {
		http.Redirect(w, r, "/privacy/i-miei-dati?esito=registrata", http.StatusSeeOther)
		return
	}
	fe, isInput := fieldErrs(err)
	if !isInput {
		h.fail(w, r, err)
		return
	}
	ex, ok := h.citizenExport(w, r, t, email)
	if !ok {
		return
	}
	v := exportView{Export: ex, CSRF: citizenCSRF(secret), Errors: map[string]string{}}
	for k, m := range fe {
		if k == fNote {
			// The domain's message is Italian; the note's only rule is
			// its length.
			m = tr(lang, "erase.err.note", requests.MaxNote)
		}
		v.Errors[k] = m
	}
	h.renderExport(w, r, http.StatusUnprocessableEntity, v)
}
