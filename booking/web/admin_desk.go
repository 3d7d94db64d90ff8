package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The desks of the offices (/gestione/sportelli): where citizens are
// received, and which services each desk handles. A desk serves every
// service of its office unless the administrator picks some.

// Form fields of the desk form.
const (
	fdOffice   = "ufficio"
	fdLabel    = "nome"
	fdKind     = "tipo"
	fdScope    = "ambito"
	fdServices = "servizi"
	// fdAppointments is the checkbox reserving the desk for
	// appointments; its value is "1" when ticked.
	fdAppointments = "appuntamenti"
)

// Values of the scope radio: every service of the office, or those
// ticked.
const (
	scopeAll    = "tutti"
	scopeChosen = "scelti"
)

// deskSpec orders and names the desk form's fields.
var deskSpec = formSpec{
	order:  []string{fdOffice, fdLabel, fdKind, fdServices},
	labels: map[string]string{fdOffice: "Ufficio", fdLabel: "Nome", fdKind: "Tipo", fdServices: "Servizi"},
}

// deskDomainFields maps package booking's field keys to the form's.
var deskDomainFields = map[string]string{"office_id": fdOffice, "label": fdLabel, "kind": fdKind, "service_ids": fdServices}

// deskKinds are the kinds of desk in the form's order.
var deskKinds = []booking.DeskKind{booking.DeskCounter, booking.DeskRemote}

// deskKindLabel names a kind of desk.
func deskKindLabel(k booking.DeskKind) string {
	switch k {
	case booking.DeskCounter:
		return "Di persona (sportello o stanza dell'ufficio)"
	case booking.DeskRemote:
		return "Video e telefono (postazione per gli appuntamenti a distanza)"
	}
	return string(k)
}

// adminDeskRow is a desk in the list.
type adminDeskRow struct {
	ID, Label, Kind string
	// Services names the services handled; nil means all of the
	// office's.
	Services []string
	// Appointments marks a desk reserved for appointments.
	Appointments bool
	Archived     bool
}

// adminDeskOffice is an office in the list, with its desks.
type adminDeskOffice struct {
	ID, Name string
	Archived bool
	Desks    []adminDeskRow
}

// deskListView is the data of /gestione/sportelli.
type deskListView struct {
	adminBase
	Offices []adminDeskOffice
}

// adminDeskList answers GET /gestione/sportelli: the desks of every
// office, archived ones too.
func (h *Handler) adminDeskList(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.renderDeskList(w, r, a, http.StatusOK, "")
}

// renderDeskList shows the list; general is an error to show above it.
func (h *Handler) renderDeskList(w http.ResponseWriter, r *http.Request, a adminReq, status int, general string) {
	base := h.newAdminBase(r, a)
	base.General = general
	cfg, err := h.book.Configuration(r.Context(), a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	desks, err := h.book.Desks(r.Context(), a.t.ID, "")
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := deskListView{adminBase: base}
	for _, o := range cfg.Offices {
		names := map[string]string{}
		for _, s := range o.Services {
			names[s.ID] = s.Name
			if cfg.ArchivedServices[s.ID] {
				names[s.ID] += " (archiviato)"
			}
		}
		row := adminDeskOffice{ID: o.ID, Name: o.Name, Archived: cfg.ArchivedOffices[o.ID]}
		for _, d := range desks {
			if d.OfficeID != o.ID {
				continue
			}
			dr := adminDeskRow{ID: d.ID, Label: d.Label, Kind: deskKindLabel(d.Kind), Appointments: d.Appointments, Archived: d.Archived}
			for _, id := range d.ServiceIDs {
				dr.Services = append(dr.Services, names[id])
			}
			row.Desks = append(row.Desks, dr)
		}
		v.Offices = append(v.Offices, row)
	}
	h.adminRender(w, r, status, "gestione_sportelli.html", "Sportelli", adminCrumbs(site.Crumb{Label: "Sportelli"}), v)
}

// deskForm is the desk form's values as typed.
type deskForm struct {
	Office, Label, Kind, Scope string
	Services                   []string
	Appointments               bool
}

// deskServiceGroup is the checkboxes of one office's services.
type deskServiceGroup struct {
	OfficeName string
	Choices    []choice
}

// deskFormView is the data of the desk form.
type deskFormView struct {
	adminBase
	ID, Action, Heading string
	// OfficeSelect chooses the office of a new desk; OfficeName names the
	// office of an existing one (or of a new one opened from an office),
	// which never changes.
	OfficeSelect selectView
	OfficeID     string
	OfficeName   string
	LabelField   field
	Kinds        []choice
	AllServices  bool
	Groups       []deskServiceGroup
	// Appointments ticks the "reserved for appointments" checkbox.
	Appointments bool
	Errors       formErrors
	Archived     bool
}

// adminDeskNew answers GET /gestione/sportelli/nuovo (?ufficio= picks
// the office, whose services alone are then offered).
func (h *Handler) adminDeskNew(w http.ResponseWriter, r *http.Request, a adminReq) {
	f := deskForm{Office: r.URL.Query().Get(fdOffice), Kind: string(booking.DeskCounter), Scope: scopeAll}
	h.renderDeskForm(w, r, a, http.StatusOK, booking.Desk{}, f, formErrors{}, "")
}

// adminDeskEdit answers GET /gestione/sportelli/{id}; a desk of another
// Comune is not found.
func (h *Handler) adminDeskEdit(w http.ResponseWriter, r *http.Request, a adminReq) {
	d, err := h.book.Desk(r.Context(), a.t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	f := deskForm{Office: d.OfficeID, Label: d.Label, Kind: string(d.Kind), Scope: scopeAll, Services: d.ServiceIDs,
		Appointments: d.Appointments}
	if len(d.ServiceIDs) > 0 {
		f.Scope = scopeChosen
	}
	h.renderDeskForm(w, r, a, http.StatusOK, d, f, formErrors{}, "")
}

// adminDeskSave answers POST /gestione/sportelli/nuovo and
// /gestione/sportelli/{id}. The office of an existing desk is the stored
// one, whatever the form says; the services must be the office's
// (package booking checks it, in the proposer and again in apply).
func (h *Handler) adminDeskSave(w http.ResponseWriter, r *http.Request, a adminReq) {
	ctx := r.Context()
	id := r.PathValue("id")
	var old booking.Desk
	if id != "" {
		var err error
		if old, err = h.book.Desk(ctx, a.t.ID, id); err != nil {
			h.pageError(w, r, err)
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	pf := r.PostForm
	get := func(k string) string { return strings.TrimSpace(pf.Get(k)) }
	// An unticked checkbox is not sent: a form without the field clears
	// the reservation, as the browser's form does.
	f := deskForm{Office: get(fdOffice), Label: get(fdLabel), Kind: get(fdKind), Scope: get(fdScope), Services: pf[fdServices],
		Appointments: get(fdAppointments) == "1"}
	if id != "" {
		f.Office = old.OfficeID
	}
	fe := formErrors{}
	d := booking.Desk{ID: id, OfficeID: f.Office, Label: f.Label, Kind: booking.DeskKind(f.Kind), Appointments: f.Appointments}
	if f.Scope == scopeChosen {
		if len(f.Services) == 0 {
			fe[fdServices] = "Scegli almeno un servizio, oppure tutti i servizi dell'ufficio."
		}
		d.ServiceIDs = f.Services
	}
	// The services are checked against the office here too, so that the
	// form shows this error with the others at once; WriteDesk and apply
	// check it again.
	cfg, err := h.book.Configuration(ctx, a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if i := slices.IndexFunc(cfg.Offices, func(o booking.Office) bool { return o.ID == d.OfficeID }); i >= 0 {
		for _, sid := range d.ServiceIDs {
			if !slices.ContainsFunc(cfg.Offices[i].Services, func(s booking.Service) bool { return s.ID == sid }) {
				fe[fdServices] = "Scegli solo servizi dell'ufficio dello sportello."
			}
		}
	}
	general := ""
	if err := booking.CheckDesk(d); err != nil {
		g, ok := fe.fromDomain(err, deskDomainFields)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		general = g
	}
	if len(fe) == 0 && general == "" {
		res, err := h.book.WriteDesk(ctx, a.t.ID, d, id != "")
		if err == nil {
			outcome := "sportello-salvato"
			if id == "" {
				outcome = "sportello-creato"
			}
			h.log.Info("desk saved", "tenant", a.t.ID, "desk", res.ID, "office", d.OfficeID, "user", a.user.ID)
			afterSave(w, r, "/gestione/sportelli", outcome, res.Index)
			return
		}
		g, ok := fe.fromDomain(err, deskDomainFields)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		general = g
	}
	h.renderDeskForm(w, r, a, http.StatusUnprocessableEntity, old, f, fe, general)
}

// renderDeskForm shows the desk form; old is the stored desk (zero for a
// new one).
func (h *Handler) renderDeskForm(w http.ResponseWriter, r *http.Request, a adminReq, status int, old booking.Desk, f deskForm, fe formErrors, general string) {
	cfg, err := h.book.Configuration(r.Context(), a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := deskFormView{adminBase: h.newAdminBase(r, a), ID: old.ID, Errors: fe, Archived: old.Archived,
		AllServices: f.Scope != scopeChosen, Appointments: f.Appointments}
	v.ErrorList, v.General = deskSpec.errorList(fe), general
	// A desk whose office is known (stored, opened from an office's
	// "Nuovo sportello", or chosen in a form sent back with errors)
	// shows that office's services only, and the office as text; a new
	// desk without one offers the office select and every office's
	// services, grouped. Without JavaScript the page cannot narrow the
	// services when the select changes, hence the two steps.
	fixed := old.OfficeID
	if fixed == "" && slices.ContainsFunc(cfg.Offices, func(o booking.Office) bool { return o.ID == f.Office }) {
		fixed = f.Office
	}
	v.OfficeSelect = selectView{ID: fdOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio", Error: fe[fdOffice], Required: true}
	for _, o := range cfg.Offices {
		label := o.Name
		if cfg.ArchivedOffices[o.ID] {
			label += " (archiviato)"
		}
		v.OfficeSelect.Choices = append(v.OfficeSelect.Choices, choice{Value: o.ID, Label: label, Checked: o.ID == f.Office})
		if fixed != "" && o.ID != fixed {
			continue
		}
		if o.ID == fixed {
			v.OfficeID, v.OfficeName = o.ID, o.Name
		}
		g := deskServiceGroup{OfficeName: o.Name}
		for _, s := range o.Services {
			name := s.Name
			if cfg.ArchivedServices[s.ID] {
				name += " (archiviato)"
			}
			g.Choices = append(g.Choices, choice{Value: s.ID, Label: name, Checked: slices.Contains(f.Services, s.ID)})
		}
		if len(g.Choices) > 0 {
			v.Groups = append(v.Groups, g)
		}
	}
	v.LabelField = field{ID: fdLabel, Label: "Nome", Type: "text", Value: f.Label, Error: fe[fdLabel], Required: true, MaxLen: 40,
		Help: "Come lo leggono i cittadini quando sono chiamati: «Sportello 3», «Stanza 12». Al massimo 40 caratteri."}
	for _, k := range deskKinds {
		v.Kinds = append(v.Kinds, choice{Value: string(k), Label: deskKindLabel(k), Checked: f.Kind == string(k)})
	}
	title := "Nuovo sportello"
	v.Action = "/gestione/sportelli/nuovo"
	if old.ID != "" {
		title = "Modifica sportello"
		v.Action = "/gestione/sportelli/" + old.ID
	}
	v.Heading = title
	h.adminRender(w, r, status, "gestione_sportello.html", title,
		adminCrumbs(site.Crumb{Label: "Sportelli", URL: "/gestione/sportelli"}, site.Crumb{Label: title}), v)
}

// adminDeskArchive answers POST /gestione/sportelli/{id}/archivio:
// archivia=1 archives the desk, archivia=0 restores it. A restore that
// would give the office two desks in use with one name is refused on
// the list, with the reason.
func (h *Handler) adminDeskArchive(w http.ResponseWriter, r *http.Request, a adminReq) {
	archive := r.PostFormValue("archivia") == "1"
	res, err := h.book.ArchiveDesk(r.Context(), a.t.ID, r.PathValue("id"), archive)
	var ve *booking.ValidationError
	if errors.As(err, &ve) {
		msg := "Non è stato possibile ripristinare lo sportello."
		if m := ve.Fields["label"]; m != "" {
			msg = m + " Cambia il nome di uno dei due prima di ripristinarlo."
		}
		h.renderDeskList(w, r, a, http.StatusConflict, msg)
		return
	}
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	outcome := "sportello-ripristinato"
	if archive {
		outcome = "sportello-archiviato"
	}
	h.log.Info("desk archived", "tenant", a.t.ID, "desk", res.ID, "archived", archive, "user", a.user.ID)
	afterSave(w, r, "/gestione/sportelli", outcome, res.Index)
}
