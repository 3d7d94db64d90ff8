package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Form fields of the closure and extra opening forms, which share a page:
// their names are their IDs, and differ.
const (
	fcOffice = "chiusura-ufficio"
	fcFrom   = "chiusura-dal"
	fcTo     = "chiusura-al"
	fcReason = "chiusura-motivo"
	fpOffice = "apertura-ufficio"
	fpDate   = "apertura-giorno"
	fpHours  = "apertura-orari"
	fpReason = "apertura-motivo"
)

var closureSpec = formSpec{
	order: []string{fcOffice, fcFrom, fcTo, fcReason, fpOffice, fpDate, fpHours, fpReason},
	labels: map[string]string{
		fcOffice: "Ufficio", fcFrom: "Primo giorno", fcTo: "Ultimo giorno", fcReason: "Motivo",
		fpOffice: "Ufficio", fpDate: "Giorno", fpHours: "Orari", fpReason: "Motivo",
	},
}

var closureDomainFields = map[string]string{"office_id": fcOffice, "from": fcFrom, "to": fcTo, "reason": fcReason}
var openingDomainFields = map[string]string{"office_id": fpOffice, "date": fpDate, "intervals": fpHours, "reason": fpReason}

// closuresHorizon is how far ahead the page lists closures and openings.
const closuresHorizon = 3 * 366

// closureRow is a closure or an extra opening in the page's lists.
type closureRow struct {
	ID, Office, When, Hours, Reason string
}

// closuresView is the data of /gestione/chiusure.
type closuresView struct {
	adminBase
	Closures, Openings []closureRow
	// ClosureOffice offers every office and "all"; OpeningOffice every
	// office.
	ClosureOffice, OpeningOffice selectView
	Closure, Opening             []field
	Errors                       formErrors
}

// closuresForm holds what the two forms sent (only one is sent at a
// time).
type closuresForm map[string]string

// adminClosures answers GET /gestione/chiusure: the closures and extra
// openings to come, and the forms that add them.
func (h *Handler) adminClosures(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.renderClosures(w, r, a, http.StatusOK, closuresForm{}, formErrors{}, "")
}

// adminClosureAdd answers POST /gestione/chiusure.
func (h *Handler) adminClosureAdd(w http.ResponseWriter, r *http.Request, a adminReq) {
	f, fe, ok := h.readClosuresForm(w, r, a, fcOffice, fcFrom, fcTo, fcReason)
	if !ok {
		return
	}
	c := booking.Closure{OfficeID: f[fcOffice], Reason: f[fcReason]}
	c.From = fe.parseDay(fcFrom, f[fcFrom], true)
	c.To = c.From
	if f[fcTo] != "" {
		c.To = fe.parseDay(fcTo, f[fcTo], true)
	}
	today := civil.DateOf(h.now().In(a.t.Location()))
	if _, bad := fe[fcTo]; !bad && !c.To.IsZero() && c.To.Before(today) {
		fe[fcTo] = "La chiusura è già passata: indica giorni da oggi in poi."
	}
	if len(fe) > 0 {
		h.renderClosures(w, r, a, http.StatusUnprocessableEntity, f, fe, "")
		return
	}
	res, err := h.book.WriteClosure(r.Context(), a.t.ID, c)
	if err != nil {
		h.closuresFailed(w, r, a, f, err, closureDomainFields, fcOffice)
		return
	}
	h.log.Info("closure added", "tenant", a.t.ID, "closure", res.ID, "user", a.user.ID)
	afterSave(w, r, "/gestione/chiusure", "chiusura-aggiunta", res.Index)
}

// adminOpeningAdd answers POST /gestione/aperture.
func (h *Handler) adminOpeningAdd(w http.ResponseWriter, r *http.Request, a adminReq) {
	f, fe, ok := h.readClosuresForm(w, r, a, fpOffice, fpDate, fpHours, fpReason)
	if !ok {
		return
	}
	o := booking.Opening{OfficeID: f[fpOffice], Reason: f[fpReason]}
	o.Date = fe.parseDay(fpDate, f[fpDate], true)
	if _, bad := fe[fpDate]; !bad && o.Date.Before(civil.DateOf(h.now().In(a.t.Location()))) {
		fe[fpDate] = "Il giorno è già passato: indica un giorno da oggi in poi."
	}
	ivs, err := parseIntervals(f[fpHours])
	if err != nil {
		fe[fpHours] = err.Error()
	}
	o.Intervals = ivs
	if o.OfficeID == "" {
		fe[fpOffice] = "Scegli l'ufficio."
	}
	fe.checkLength(fpReason, o.Reason, 500)
	if len(fe) > 0 {
		h.renderClosures(w, r, a, http.StatusUnprocessableEntity, f, fe, "")
		return
	}
	res, err := h.book.WriteOpening(r.Context(), a.t.ID, o)
	if err != nil {
		h.closuresFailed(w, r, a, f, err, openingDomainFields, fpOffice)
		return
	}
	h.log.Info("opening added", "tenant", a.t.ID, "opening", res.ID, "user", a.user.ID)
	afterSave(w, r, "/gestione/chiusure", "apertura-aggiunta", res.Index)
}

// readClosuresForm parses the form and keeps the named fields; the office
// must be one of the Comune's ("" allowed: every office, for closures; the
// opening's check refuses it).
func (h *Handler) readClosuresForm(w http.ResponseWriter, r *http.Request, a adminReq, officeField string, names ...string) (closuresForm, formErrors, bool) {
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return nil, nil, false
	}
	f := closuresForm{officeField: strings.TrimSpace(r.PostForm.Get(officeField))}
	for _, n := range names {
		f[n] = strings.TrimSpace(r.PostForm.Get(n))
	}
	fe := formErrors{}
	if id := f[officeField]; id != "" {
		if _, err := h.book.Office(r.Context(), a.t.ID, id); errors.Is(err, booking.ErrNotFound) {
			fe[officeField] = "Scegli uno degli uffici del Comune."
		} else if err != nil {
			h.pageError(w, r, err)
			return nil, nil, false
		}
	}
	return f, fe, true
}

// closuresFailed shows a refused closure or opening: field errors next to
// the fields, an office gone meanwhile on the office field.
func (h *Handler) closuresFailed(w http.ResponseWriter, r *http.Request, a adminReq, f closuresForm, err error, names map[string]string, officeField string) {
	fe := formErrors{}
	if general, ok := fe.fromDomain(err, names); ok {
		h.renderClosures(w, r, a, http.StatusUnprocessableEntity, f, fe, general)
		return
	}
	if errors.Is(err, booking.ErrNotFound) {
		fe[officeField] = "Scegli uno degli uffici del Comune."
		h.renderClosures(w, r, a, http.StatusUnprocessableEntity, f, fe, "")
		return
	}
	h.pageError(w, r, err)
}

// parseDay reads a day typed as 2027-03-01 (the date input's value) or
// 01/03/2027, setting fe[id] when it is none.
func (fe formErrors) parseDay(id, s string, required bool) civil.Date {
	if s == "" {
		if required {
			fe[id] = "Indica il giorno."
		}
		return civil.Date{}
	}
	for _, layout := range []string{time.DateOnly, "2/1/2006", "2-1-2006", "2.1.2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return civil.DateOf(t)
		}
	}
	fe[id] = "Scrivi il giorno come gg/mm/aaaa, per esempio 24/12/2027."
	return civil.Date{}
}

// adminClosureRemove answers POST /gestione/chiusure/{id}/rimuovi.
func (h *Handler) adminClosureRemove(w http.ResponseWriter, r *http.Request, a adminReq) {
	res, err := h.book.RemoveClosure(r.Context(), a.t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.log.Info("closure removed", "tenant", a.t.ID, "closure", res.ID, "user", a.user.ID)
	afterSave(w, r, "/gestione/chiusure", "chiusura-rimossa", res.Index)
}

// adminOpeningRemove answers POST /gestione/aperture/{id}/rimuovi.
func (h *Handler) adminOpeningRemove(w http.ResponseWriter, r *http.Request, a adminReq) {
	res, err := h.book.RemoveOpening(r.Context(), a.t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.log.Info("opening removed", "tenant", a.t.ID, "opening", res.ID, "user", a.user.ID)
	afterSave(w, r, "/gestione/chiusure", "apertura-rimossa", res.Index)
}

// renderClosures shows the page with the forms' values f and errors fe.
func (h *Handler) renderClosures(w http.ResponseWriter, r *http.Request, a adminReq, status int, f closuresForm, fe formErrors, general string) {
	ctx := r.Context()
	base := h.newAdminBase(r, a)
	cfg, err := h.book.Configuration(ctx, a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	names := map[string]string{"": "Tutti gli uffici"}
	v := closuresView{adminBase: base, Errors: fe}
	v.ErrorList, v.General = closureSpec.errorList(fe), general
	v.ClosureOffice = selectView{ID: fcOffice, Label: "Ufficio", Error: fe[fcOffice],
		Choices: []choice{{Value: "", Label: "Tutti gli uffici", Checked: f[fcOffice] == ""}}}
	v.OpeningOffice = selectView{ID: fpOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio", Error: fe[fpOffice], Required: true}
	for _, o := range cfg.Offices {
		names[o.ID] = o.Name
		v.ClosureOffice.Choices = append(v.ClosureOffice.Choices, choice{Value: o.ID, Label: o.Name, Checked: f[fcOffice] == o.ID})
		v.OpeningOffice.Choices = append(v.OpeningOffice.Choices, choice{Value: o.ID, Label: o.Name, Checked: f[fpOffice] == o.ID})
	}
	today := civil.DateOf(h.now().In(a.t.Location()))
	last := today.AddDays(closuresHorizon)
	closures, err := h.book.Closures(ctx, a.t.ID, today, last)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	for _, c := range closures {
		when := tenant.FormatCivilDate(c.From)
		if c.To != c.From {
			when = "dal " + when + " al " + tenant.FormatCivilDate(c.To)
		}
		v.Closures = append(v.Closures, closureRow{ID: c.ID, Office: names[c.OfficeID], When: when, Reason: c.Reason})
	}
	openings, err := h.book.Openings(ctx, a.t.ID, today, last)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	for _, o := range openings {
		v.Openings = append(v.Openings, closureRow{ID: o.ID, Office: names[o.OfficeID], When: tenant.FormatCivilDate(o.Date),
			Hours: strings.ReplaceAll(intervalsText(o.Intervals), "-", "–"), Reason: o.Reason})
	}
	v.Closure = []field{
		{ID: fcFrom, Label: "Primo giorno", Type: "date", Value: f[fcFrom], Error: fe[fcFrom], Required: true, Help: "Per esempio 24/12/2027."},
		{ID: fcTo, Label: "Ultimo giorno", Type: "date", Value: f[fcTo], Error: fe[fcTo], Help: "Vuoto per un giorno solo."},
		{ID: fcReason, Label: "Motivo", Type: "text", Value: f[fcReason], Error: fe[fcReason], Required: true, MaxLen: 500,
			Help: "Lo vedono i cittadini: «Chiusura per inventario»."},
	}
	v.Opening = []field{
		{ID: fpDate, Label: "Giorno", Type: "date", Value: f[fpDate], Error: fe[fpDate], Required: true, Help: "Per esempio 12/12/2027."},
		{ID: fpHours, Label: "Orari", Type: "text", Value: f[fpHours], Error: fe[fpHours], Required: true, MaxLen: 200,
			Help: "Per esempio 09:00-12:00; più intervalli separati da virgole. Sostituiscono gli orari abituali di quel giorno."},
		{ID: fpReason, Label: "Motivo", Type: "text", Value: f[fpReason], Error: fe[fpReason], MaxLen: 500, Help: "Facoltativo."},
	}
	h.adminRender(w, r, status, "gestione_chiusure.html", "Chiusure e aperture straordinarie",
		adminCrumbs(site.Crumb{Label: "Chiusure e aperture straordinarie"}), v)
}
