package site

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// LangCookie is the cookie that remembers the language a citizen chose
// with the language switch (?lang=xx).
const LangCookie = "sv_lang"

// langCookieMaxAge is one year: the choice is the citizen's and holds
// until they make another.
const langCookieMaxAge = 365 * 24 * 60 * 60

// OfferedLanguages returns the languages t's citizen pages are offered in:
// the Comune's Languages that Sportello has catalogs for, in the Comune's
// order (the first is the Comune's default), or {"it"} when none is left.
func OfferedLanguages(t tenant.Tenant) []string {
	var out []string
	for _, l := range t.Languages {
		l = strings.ToLower(strings.TrimSpace(l))
		if isSupported(l) && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return []string{defaultLang}
	}
	return out
}

// firstOffered returns OfferedLanguages(t)[0] without building the list.
func firstOffered(t tenant.Tenant) string {
	for _, l := range t.Languages {
		if l = strings.ToLower(strings.TrimSpace(l)); isSupported(l) {
			return l
		}
	}
	return defaultLang
}

// Negotiate picks the language of r among offered (non-empty, the default
// first): the ?lang= of the address when offered (the language switch),
// else the sv_lang cookie when offered (an earlier choice), else the best
// match of Accept-Language, else offered[0]. chosen is true when the
// language came from ?lang=, which the middleware then remembers in the
// cookie.
func Negotiate(r *http.Request, offered []string) (lang string, chosen bool) {
	if q := strings.ToLower(r.URL.Query().Get("lang")); q != "" && slices.Contains(offered, q) {
		return q, true
	}
	if c, err := r.Cookie(LangCookie); err == nil && slices.Contains(offered, c.Value) {
		return c.Value, false
	}
	if l, ok := matchAcceptLanguage(r.Header.Values("Accept-Language"), offered); ok {
		return l, false
	}
	return offered[0], false
}

// matchAcceptLanguage returns the offered language the header values rank
// highest (RFC 9110 §12.5.4): tags are compared on their primary subtag
// ("de-AT" asks for "de"), a higher q wins, equal q keeps the header's
// order, q=0 refuses a language, and "*" stands for the first offered
// language not named elsewhere. ok is false when nothing matches.
func matchAcceptLanguage(values []string, offered []string) (string, bool) {
	best, bestQ := "", 0.0
	refused := map[string]bool{}
	type pref struct {
		tag string
		q   float64
	}
	var prefs []pref
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			tag = strings.ToLower(strings.TrimSpace(tag))
			if tag == "" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0
					}
					q = f
				}
			}
			primary, _, _ := strings.Cut(tag, "-")
			if q == 0 {
				refused[primary] = true
				continue
			}
			prefs = append(prefs, pref{primary, q})
		}
	}
	for _, p := range prefs {
		cand := p.tag
		if cand == "*" {
			cand = ""
			for _, o := range offered {
				if !refused[o] && !slices.ContainsFunc(prefs, func(x pref) bool { return x.tag == o }) {
					cand = o
					break
				}
			}
		}
		if cand == "" || refused[cand] || !slices.Contains(offered, cand) {
			continue
		}
		if p.q > bestQ {
			best, bestQ = cand, p.q
		}
	}
	return best, best != ""
}

// negotiateLang sets the language of a request for a Comune: Italian on
// the back office (its pages are Italian only for now) and the operators'
// login, the negotiated one elsewhere. It marks citizen answers as
// varying with Accept-Language and Cookie, so that no cache hands a page
// in one language to a citizen who asked for another, and remembers a
// choice made with ?lang= in the sv_lang cookie.
func negotiateLang(w http.ResponseWriter, r *http.Request, t tenant.Tenant) string {
	if isBackOffice(r.URL.Path) || strings.HasPrefix(r.URL.Path, "/_auth/") {
		return defaultLang
	}
	w.Header().Add("Vary", "Accept-Language, Cookie")
	if r.URL.RawQuery == "" && len(r.Header["Cookie"]) == 0 && len(r.Header["Accept-Language"]) == 0 {
		// Nothing to negotiate with (API clients mostly): Negotiate would
		// answer the first offered language, found here without building
		// the list or parsing an empty query.
		return firstOffered(t)
	}
	lang, chosen := Negotiate(r, OfferedLanguages(t))
	if chosen && !strings.HasPrefix(r.URL.Path, "/api/") {
		http.SetCookie(w, &http.Cookie{
			Name:     LangCookie,
			Value:    lang,
			Path:     "/",
			MaxAge:   langCookieMaxAge,
			HttpOnly: true,
			Secure:   r.TLS != nil,
			SameSite: http.SameSiteLaxMode,
		})
	}
	return lang
}

// LangLink is one entry of the language switch.
type LangLink struct {
	// Code is the language ("en"), for lang= and hreflang=.
	Code string
	// Name is the language's own name ("English").
	Name string
	// URL is the current page in that language: its path and query with
	// lang= set.
	URL string
	// Current marks the page's language (aria-current).
	Current bool
}

// LangLinks returns the language switch of the page: one link per
// language the Comune offers; nil when it offers one only, on the back
// office, on neutral pages, on the Italian-only pages of Templates and on
// pages answering a form (a step of the booking flow, a form shown again
// with its errors): a link cannot carry what the form posted, and would
// lose the citizen's data or land on a page that needs it. The language
// chosen before (or the browser's) holds on those pages.
func (v View) LangLinks() []LangLink {
	if !v.PWA() || v.monolingual || v.posted {
		return nil
	}
	offered := OfferedLanguages(v.Tenant)
	if len(offered) < 2 {
		return nil
	}
	links := make([]LangLink, 0, len(offered))
	for _, l := range offered {
		q := url.Values{}
		for k, vs := range v.query {
			q[k] = vs
		}
		q.Set("lang", l)
		links = append(links, LangLink{
			Code:    l,
			Name:    LanguageName(l),
			URL:     v.Path + "?" + q.Encode(),
			Current: l == v.Lang,
		})
	}
	return links
}
