package site

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// errorPage is the site's template of error pages.
const errorPage = "error.html"

// errorData is the Data of the error page.
type errorData struct {
	Status  int
	Message string
}

// Error writes an error page with status and message (for the citizen, in
// the request's language, LangFrom; "" gives the standard text of status
// in that language) in the layout of the request's Comune, or in the
// neutral layout when the request has none.
// Web packages call it from their single error-mapping function.
func (s *Site) Error(w http.ResponseWriter, r *http.Request, status int, message string) {
	lang := LangFrom(r.Context())
	title := translate(lang, "error."+strconv.Itoa(status))
	if !hasKey(defaultLang, "error."+strconv.Itoa(status)) {
		title = translate(lang, "error.title")
	}
	if message == "" {
		message = defaultMessage(lang, status)
	}
	p := Page{Title: title, Data: errorData{Status: status, Message: message}}
	if _, ok := TenantFrom(r.Context()); ok {
		p.Breadcrumbs = []Crumb{{Label: translate(lang, "home"), URL: "/"}, {Label: title}}
	}
	s.render(w, r, s.own, status, errorPage, s.view(r, status, p))
}

// defaultMessage is the standard text of status in lang.
func defaultMessage(lang string, status int) string {
	key := "error.message." + strconv.Itoa(status)
	if hasKey(defaultLang, key) {
		return translate(lang, key)
	}
	return translate(lang, "error.message.default")
}

// notFound answers 404: the Comune's page when the request has one, the
// neutral page otherwise.
func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	if _, ok := TenantFrom(r.Context()); ok {
		s.Error(w, r, http.StatusNotFound, "")
		return
	}
	s.neutralError(w, r, http.StatusNotFound)
}

// neutralError answers for a host that is no Comune's (or whose Comune
// could not be read): the same bytes whatever the host, path or Comuni,
// and a JSON error under /api/.
func (s *Site) neutralError(w http.ResponseWriter, r *http.Request, status int) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		code := "not_found"
		if status != http.StatusNotFound {
			code = "unavailable"
		}
		json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]string{"code": code, "message": defaultMessage(defaultLang, status)},
		})
		return
	}
	// A request without a Comune renders the neutral layout: no tenant, no
	// theme, no nonce, so the body does not vary between requests.
	r = r.WithContext(withNonce(r.Context(), ""))
	title := translate(defaultLang, "error."+strconv.Itoa(status))
	p := Page{Title: title, Data: errorData{Status: status, Message: defaultMessage(defaultLang, status)}}
	v := View{Lang: defaultLang, Page: p, Data: p.Data, Status: status}
	s.render(w, r, s.own, status, errorPage, v)
}
