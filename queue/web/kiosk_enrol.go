package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Kiosk enrolment (queue/kiosks.go). The back office's page
// /gestione/coda/chioschi lists an office's kiosks, enrols one with a
// label and revokes one; an enrolment shows, once, a link with the
// kiosk's token. Opened on the kiosk, the link stores the token in
// kioskCookie and goes on to the kiosk page without it, so the token
// does not stay in the address bar or the history. The kiosk's takes
// then carry the token, which exempts them from the address cap, and
// an office "solo chioschi registrati" refuses the kiosk page to every
// other browser.

// kioskCookie holds an enrolled kiosk's token. __Host- keeps another
// Comune's subdomain from setting or reading it; HttpOnly keeps it from
// scripts; SameSite=Strict keeps it off requests started by other sites.
const kioskCookie = "__Host-sportello_kiosk"

// kioskCookieAge is how long the kiosk keeps its token: browsers cap a
// cookie's life at 400 days; a kiosk opens its page every day, and a
// revocation is what ends an enrolment.
const kioskCookieAge = 400 * 24 * time.Hour

// qKioskKey is the enrolment link's parameter.
const qKioskKey = "chiave"

// kioskToken returns the token of the kiosk's cookie ("" for none).
func kioskToken(r *http.Request) string {
	if c, err := r.Cookie(kioskCookie); err == nil && len(c.Value) <= 64 {
		return c.Value
	}
	return ""
}

// kioskEnrolLink answers a kiosk page opened with ?chiave=: a valid
// token of the office goes into the cookie and the browser on to the
// kiosk page (303); another token is refused (403) and nothing is set.
func (c *citizen) kioskEnrolLink(w http.ResponseWriter, r *http.Request, t tenant.Tenant, o booking.Office, token string) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if _, err := c.h.q.KioskByToken(r.Context(), t.ID, o.ID, token); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			c.h.site.Error(w, r, http.StatusForbidden, tr(site.LangFrom(r.Context()), "kiosk.not_enrolled"))
			return
		}
		c.pageError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: kioskCookie, Value: token, Path: "/", MaxAge: int(kioskCookieAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/coda/"+url.PathEscape(o.ID)+"/chiosco", http.StatusSeeOther)
}

// kioskAdmitted reports whether the browser may use the office's kiosk
// page, and the kiosk token its takes carry: every browser may, unless
// the office takes kiosk tickets only from enrolled kiosks. When it
// returns false it has answered the request (403).
func (c *citizen) kioskAdmitted(w http.ResponseWriter, r *http.Request, t tenant.Tenant, o booking.Office) (string, bool) {
	token := kioskToken(r)
	cfg, err := c.h.q.Config(r.Context(), t.ID, o.ID)
	if err != nil {
		c.pageError(w, r, err)
		return "", false
	}
	if !cfg.KioskOnly {
		return token, true
	}
	if _, err := c.h.q.KioskByToken(r.Context(), t.ID, o.ID, token); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			c.h.site.Error(w, r, http.StatusForbidden, tr(site.LangFrom(r.Context()), "kiosk.not_enrolled"))
			return "", false
		}
		c.pageError(w, r, err)
		return "", false
	}
	return token, true
}

// Form fields of the kiosks' page.
const (
	kioskFormOffice = "ufficio"
	kioskFormLabel  = "etichetta"
)

// kiosksView is kiosks.html.
type kiosksView struct {
	CSRF, Flash string
	HasOffices  bool
	Office      formField
	OfficeID    string
	OfficeName  string
	Kiosks      []kioskRow
	Label       formField
	Errors      []fieldError
	// Link is the enrolment link of the kiosk just enrolled, shown once.
	Link, LinkLabel string
}

// kioskRow is one kiosk in the list.
type kioskRow struct {
	ID, Label, Created, CreatedBy, Revoked string
	Active                                 bool
}

// kioskOffices returns the active offices the user supervises (the
// Comune's administrator: all of them).
func (p *officePages) kioskOffices(r *http.Request, a deskReq) ([]booking.Office, error) {
	offices, err := p.configOffices(r.Context(), a)
	if err != nil {
		return nil, err
	}
	var out []booking.Office
	for _, o := range offices {
		if a.user.Allowed(auth.RoleSupervisor, o.ID) {
			out = append(out, o)
		}
	}
	return out, nil
}

// kiosks answers GET /gestione/coda/chioschi?ufficio=…: the office's
// kiosks and the form to enrol one.
func (p *officePages) kiosks(w http.ResponseWriter, r *http.Request, a deskReq) {
	flash := ""
	if r.URL.Query().Get(qCfgOutcome) == "revocato" {
		flash = "Chiosco revocato: da ora non dà più numeri come chiosco registrato."
	}
	p.kiosksRender(w, r, a, http.StatusOK, strings.TrimSpace(r.URL.Query().Get(kioskFormOffice)), "", nil, flash, "", "")
}

// kioskCreate answers POST /gestione/coda/chioschi: it enrols a kiosk
// and shows, once, the link that enrols the browser that opens it. The
// answer is the page itself rather than a redirect: the token is never
// stored, so it cannot be shown by a later GET.
func (p *officePages) kioskCreate(w http.ResponseWriter, r *http.Request, a deskReq) {
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, err)
		return
	}
	officeID := strings.TrimSpace(r.PostForm.Get(kioskFormOffice))
	label := strings.TrimSpace(r.PostForm.Get(kioskFormLabel))
	if !p.mayKiosk(w, r, a, officeID) {
		return
	}
	k, token, err := p.h.q.EnrolKiosk(r.Context(), a.t.ID, officeID, label, a.user.ID)
	var ve *queue.ValidationError
	switch {
	case errors.As(err, &ve):
		p.kiosksRender(w, r, a, http.StatusUnprocessableEntity, officeID, label, map[string]string{kioskFormLabel: ve.Fields["label"]}, "", "", "")
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	p.h.log.Info("kiosk enrolled", "tenant", a.t.ID, "office", officeID, "kiosk", k.ID, "user", a.user.ID)
	link := p.h.baseURL(r) + "/coda/" + url.PathEscape(officeID) + "/chiosco?" + qKioskKey + "=" + url.QueryEscape(token)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	p.kiosksRender(w, r, a, http.StatusOK, officeID, "", nil, "", link, k.Label)
}

// kioskRevoke answers POST /gestione/coda/chioschi/{id}/revoca.
func (p *officePages) kioskRevoke(w http.ResponseWriter, r *http.Request, a deskReq) {
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, err)
		return
	}
	officeID := strings.TrimSpace(r.PostForm.Get(kioskFormOffice))
	if !p.mayKiosk(w, r, a, officeID) {
		return
	}
	k, err := p.h.q.RevokeKiosk(r.Context(), a.t.ID, officeID, r.PathValue("id"))
	switch {
	case errors.Is(err, queue.ErrNotFound):
		p.h.site.Error(w, r, http.StatusNotFound, "Chiosco inesistente.")
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	p.h.log.Info("kiosk revoked", "tenant", a.t.ID, "office", officeID, "kiosk", k.ID, "user", a.user.ID)
	v := url.Values{kioskFormOffice: {officeID}, qCfgOutcome: {"revocato"}}
	http.Redirect(w, r, "/gestione/coda/chioschi?"+v.Encode(), http.StatusSeeOther)
}

// mayKiosk checks that officeID is an active office the user
// supervises, answering 404 or 403 otherwise.
func (p *officePages) mayKiosk(w http.ResponseWriter, r *http.Request, a deskReq, officeID string) bool {
	offices, err := p.configOffices(r.Context(), a)
	if err != nil {
		p.fail(w, r, err)
		return false
	}
	for _, o := range offices {
		if o.ID == officeID {
			if !a.user.Allowed(auth.RoleSupervisor, o.ID) {
				p.h.site.Error(w, r, http.StatusForbidden, "Non sei responsabile di questo ufficio.")
				return false
			}
			return true
		}
	}
	p.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente o archiviato.")
	return false
}

// kiosksRender renders the kiosks of officeID ("" for the first office
// the user supervises).
func (p *officePages) kiosksRender(w http.ResponseWriter, r *http.Request, a deskReq, status int, officeID, label string, fe map[string]string, flash, link, linkLabel string) {
	offices, err := p.kioskOffices(r, a)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := kiosksView{CSRF: a.csrf, Flash: flash, HasOffices: len(offices) > 0, Link: link, LinkLabel: linkLabel}
	if officeID == "" && len(offices) > 0 {
		officeID = offices[0].ID
	}
	v.Office = formField{ID: kioskFormOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio"}
	found := false
	for _, o := range offices {
		sel := o.ID == officeID
		if sel {
			v.OfficeID, v.OfficeName, found = o.ID, o.Name, true
		}
		v.Office.Choices = append(v.Office.Choices, deskChoice{Value: o.ID, Label: o.Name, Selected: sel})
	}
	if officeID != "" && !found {
		p.h.site.Error(w, r, http.StatusForbidden, "Ufficio inesistente, archiviato o non tuo.")
		return
	}
	if found {
		list, err := p.h.q.Kiosks(r.Context(), a.t.ID, officeID)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		loc := a.t.Location()
		for _, k := range list {
			row := kioskRow{ID: k.ID, Label: k.Label, Created: k.Created.In(loc).Format("02/01/2006 15:04"), CreatedBy: k.CreatedBy, Active: k.Active()}
			if !k.Active() {
				row.Revoked = k.Revoked.In(loc).Format("02/01/2006 15:04")
			}
			v.Kiosks = append(v.Kiosks, row)
		}
	}
	v.Label = formField{ID: kioskFormLabel, Label: "Nome del chiosco", Type: "text", Value: label, Error: fe[kioskFormLabel],
		Hint: "Per riconoscerlo nell'elenco, ad esempio «Ingresso principale»."}
	if v.Label.Error != "" {
		v.Errors = append(v.Errors, fieldError{Field: kioskFormLabel, Label: v.Label.Label, Message: v.Label.Error})
	}
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}, {Label: "Chioschi della coda"}}
	w.Header().Set("X-Frame-Options", "DENY")
	p.pages.Render(w, r, status, "kiosks.html", site.Page{Title: "Chioschi della coda", Breadcrumbs: crumbs, Data: v})
}
