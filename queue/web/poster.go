package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The poster at the office door (issue 5: "a QR code at the office
// door"): /gestione/coda/cartello?ufficio=… is an A4 page to print with
// the office's name, "Prendi il numero dal telefono", the QR code of the
// office's ticket page (/coda/{office}) and its address in letters for
// whoever cannot scan; /gestione/coda/cartello.svg gives the QR code
// alone, for a poster of the Comune's own design. Both are for the staff
// of the office (operators and supervisors, as the desk page), who are
// the ones at the door. The code is drawn by the binary (qr.go), so no
// Comune has to paste its address into an online generator.

// posterView is the data of desk_cartello.html.
type posterView struct {
	Offices  []deskChoice
	OfficeID string
	Office   booking.Office
	URL      string
	QR       template.HTML
	SVG      string
}

// posterOffice resolves the office of a poster request: the one named
// (it must be the user's, 403 otherwise), or the first of the user's
// offices. It answers the request itself and returns false when there is
// none.
func (d *deskPages) posterOffice(w http.ResponseWriter, r *http.Request, a deskReq) (deskPlace, bool) {
	officeID := strings.TrimSpace(r.URL.Query().Get(qDeskOffice))
	p, err := d.place(r.Context(), a, officeID, "")
	switch {
	case errors.Is(err, errDeskForbidden):
		d.forbidden(w, r, a, officeID)
		return p, false
	case errors.Is(err, errDeskUnknown):
		d.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente o archiviato.")
		return p, false
	case err != nil:
		d.fail(w, r, err)
		return p, false
	case p.office.ID == "":
		d.h.site.Error(w, r, http.StatusNotFound, "Il tuo profilo non è assegnato a nessun ufficio: chiedi a un amministratore di assegnartene uno.")
		return p, false
	}
	return p, true
}

// ticketPageURL is the absolute address of the office's ticket page, the
// QR code's content. It is on the Comune's own domain when it has one and
// the staff opened the page through the implied subdomain: a poster
// lasts for years, and the Comune's domain is the address the citizens
// trust and that survives a change of provider. The Comune's own domain
// is served with TLS (certs), hence https. Otherwise it is the host the
// page was asked on, which site.Tenant resolved to this Comune.
func (h *Handler) ticketPageURL(r *http.Request, domains []string, officeID string) string {
	base := h.baseURL(r)
	if len(domains) > 0 && !slices.Contains(domains, strings.ToLower(r.Host)) {
		base = "https://" + domains[0]
	}
	return base + "/coda/" + url.PathEscape(officeID)
}

// poster answers GET /gestione/coda/cartello?ufficio=….
func (d *deskPages) poster(w http.ResponseWriter, r *http.Request, a deskReq) {
	p, ok := d.posterOffice(w, r, a)
	if !ok {
		return
	}
	link := d.h.ticketPageURL(r, a.t.Domains, p.office.ID)
	svg, err := qrSVG(link, "Codice QR per prendere il numero: "+link)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v := posterView{OfficeID: p.office.ID, Office: p.office, URL: link,
		// qrSVG escapes the only text it writes (the title); the rest
		// is numbers.
		QR:  template.HTML(svg),
		SVG: "/gestione/coda/cartello.svg?" + url.Values{qDeskOffice: {p.office.ID}}.Encode()}
	for _, o := range p.offices {
		v.Offices = append(v.Offices, deskChoice{Value: o.ID, Label: o.Name, Selected: o.ID == p.office.ID})
	}
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"},
		{Label: "Coda", URL: "/gestione/coda?" + url.Values{qDeskOffice: {p.office.ID}}.Encode()}, {Label: "Cartello con il codice QR"}}
	d.pages.Render(w, r, http.StatusOK, "desk_cartello.html", site.Page{Title: "Cartello: " + p.office.Name, Breadcrumbs: crumbs, Data: v})
}

// posterSVG answers GET /gestione/coda/cartello.svg?ufficio=…: the QR
// code alone, as a file to download.
func (d *deskPages) posterSVG(w http.ResponseWriter, r *http.Request, a deskReq) {
	p, ok := d.posterOffice(w, r, a)
	if !ok {
		return
	}
	link := d.h.ticketPageURL(r, a.t.Domains, p.office.ID)
	svg, err := qrSVG(link, "Codice QR per prendere il numero: "+link)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("X-Content-Type-Options", "nosniff")
	// The SVG is self-contained and has no script; a CSP of its own
	// keeps it so even when a browser opens it as a page.
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Content-Disposition", `attachment; filename="coda-`+safeFileName(p.office.ID)+`.svg"`)
	h.Set("Cache-Control", "private, no-cache")
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + svg + "\n"))
}

// safeFileName keeps the letters, digits, dashes and underscores of s,
// for a Content-Disposition file name.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}
