package web

import (
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Form fields of the office form.
const (
	foName    = "nome"
	foAddress = "indirizzo"
	foEmail   = "email"
	foPhone   = "telefono"
)

// officeSpec orders and names the office form's fields.
var officeSpec = func() formSpec {
	s := formSpec{
		order:  append([]string{foName, foAddress, foEmail, foPhone}, hoursOrder()...),
		labels: map[string]string{foName: "Nome", foAddress: "Indirizzo", foEmail: "Email", foPhone: "Telefono"},
	}
	hoursLabels(s.labels)
	return s
}()

// officeDomainFields maps package booking's field keys to the form's.
var officeDomainFields = map[string]string{"name": foName, "address": foAddress, "email": foEmail, "phone": foPhone}

// adminOfficeRow is an office in the back office's list.
type adminOfficeRow struct {
	ID, Name, Address, Phone, Email string
	Hours                           []hoursLine
	Services                        []adminServiceRow
	Archived                        bool
}

// officeListView is the data of /gestione/uffici.
type officeListView struct {
	adminBase
	Offices []adminOfficeRow
}

// adminOfficeList answers GET /gestione/uffici: every office, archived
// ones too, with its hours and services.
func (h *Handler) adminOfficeList(w http.ResponseWriter, r *http.Request, a adminReq) {
	base := h.newAdminBase(r, a)
	cfg, err := h.book.Configuration(r.Context(), a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := officeListView{adminBase: base}
	for _, o := range cfg.Offices {
		row := adminOfficeRow{ID: o.ID, Name: o.Name, Address: o.Address, Phone: o.Phone, Email: o.Email,
			Hours: hoursLines(o.Hours), Archived: cfg.ArchivedOffices[o.ID]}
		for _, s := range o.Services {
			row.Services = append(row.Services, newAdminServiceRow(s, o, cfg))
		}
		v.Offices = append(v.Offices, row)
	}
	h.adminRender(w, r, http.StatusOK, "gestione_uffici.html", "Uffici", adminCrumbs(site.Crumb{Label: "Uffici"}), v)
}

// officeFormView is the data of the office form, new or edit.
type officeFormView struct {
	adminBase
	// ID is "" for a new office.
	ID       string
	Action   string
	Heading  string
	Fields   []field
	Hours    []field
	Archived bool
}

// officeForm is the office form's values as typed.
type officeForm struct {
	Name, Address, Email, Phone string
	Hours                       [7]string
}

// adminOfficeNew answers GET /gestione/uffici/nuovo.
func (h *Handler) adminOfficeNew(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.renderOfficeForm(w, r, a, http.StatusOK, "", false, officeForm{}, formErrors{}, "")
}

// adminOfficeEdit answers GET /gestione/uffici/{id}.
func (h *Handler) adminOfficeEdit(w http.ResponseWriter, r *http.Request, a adminReq) {
	o, err := h.book.Office(r.Context(), a.t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	archived, err := h.book.OfficeArchived(r.Context(), a.t.ID, o.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	f := officeForm{Name: o.Name, Address: o.Address, Email: o.Email, Phone: o.Phone, Hours: weekText(o.Hours)}
	h.renderOfficeForm(w, r, a, http.StatusOK, o.ID, archived, f, formErrors{}, "")
}

// adminOfficeSave answers POST /gestione/uffici/nuovo and
// /gestione/uffici/{id}: it saves the office and redirects to the list,
// or shows the form again with the values typed and the errors. An ID of
// another Comune is not found (404), and never creates an office.
func (h *Handler) adminOfficeSave(w http.ResponseWriter, r *http.Request, a adminReq) {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	get := func(k string) string { return strings.TrimSpace(r.PostForm.Get(k)) }
	fe := formErrors{}
	f := officeForm{Name: get(foName), Address: get(foAddress), Email: get(foEmail), Phone: get(foPhone)}
	var week booking.Week
	week, f.Hours = readWeek(get, fe)
	o := booking.Office{ID: id, Name: f.Name, Address: f.Address, Email: f.Email, Phone: f.Phone, Hours: week}
	if id != "" {
		// The form of an office of another Comune (or none) is refused
		// before anything else is said about it.
		if _, err := h.book.Office(r.Context(), a.t.ID, id); err != nil {
			h.pageError(w, r, err)
			return
		}
	}
	general := ""
	if err := booking.CheckOffice(o); err != nil {
		g, ok := fe.fromDomain(err, officeDomainFields)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		general = g
	}
	if len(fe) == 0 && general == "" {
		res, err := h.book.WriteOffice(r.Context(), a.t.ID, o, id != "")
		if err == nil {
			outcome := "ufficio-salvato"
			if id == "" {
				outcome = "ufficio-creato"
			}
			h.log.Info("office saved", "tenant", a.t.ID, "office", res.ID, "user", a.user.ID)
			afterSave(w, r, "/gestione/uffici", outcome, res.Index)
			return
		}
		g, ok := fe.fromDomain(err, officeDomainFields)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		general = g
	}
	archived := false
	if id != "" {
		archived, _ = h.book.OfficeArchived(r.Context(), a.t.ID, id)
	}
	h.renderOfficeForm(w, r, a, http.StatusUnprocessableEntity, id, archived, f, fe, general)
}

// renderOfficeForm shows the office form with values f and errors fe.
func (h *Handler) renderOfficeForm(w http.ResponseWriter, r *http.Request, a adminReq, status int, id string, archived bool, f officeForm, fe formErrors, general string) {
	v := officeFormView{adminBase: h.newAdminBase(r, a), ID: id, Archived: archived}
	v.ErrorList, v.General = officeSpec.errorList(fe), general
	v.Fields = []field{
		{ID: foName, Label: "Nome", Type: "text", Value: f.Name, Error: fe[foName], Required: true, MaxLen: 500,
			Help: "Come lo vedono i cittadini: «Anagrafe», «Ufficio relazioni con il pubblico»."},
		{ID: foAddress, Label: "Indirizzo", Type: "text", Value: f.Address, Error: fe[foAddress], Required: true, MaxLen: 500},
		{ID: foEmail, Label: "Email", Type: "email", Value: f.Email, Error: fe[foEmail], MaxLen: 254, Help: "Facoltativa."},
		{ID: foPhone, Label: "Telefono", Type: "tel", Value: f.Phone, Error: fe[foPhone], MaxLen: 30, Help: "Facoltativo."},
	}
	v.Hours = hoursFields(f.Hours, fe)
	title := "Nuovo ufficio"
	v.Action = "/gestione/uffici/nuovo"
	if id != "" {
		title = "Modifica ufficio"
		v.Action = "/gestione/uffici/" + id
	}
	v.Heading = title
	h.adminRender(w, r, status, "gestione_ufficio.html", title,
		adminCrumbs(site.Crumb{Label: "Uffici", URL: "/gestione/uffici"}, site.Crumb{Label: title}), v)
}

// adminOfficeArchive answers POST /gestione/uffici/{id}/archivio:
// archivia=1 archives the office, archivia=0 restores it.
func (h *Handler) adminOfficeArchive(w http.ResponseWriter, r *http.Request, a adminReq) {
	archive := r.PostFormValue("archivia") == "1"
	res, err := h.book.ArchiveOffice(r.Context(), a.t.ID, r.PathValue("id"), archive)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	outcome := "ufficio-ripristinato"
	if archive {
		outcome = "ufficio-archiviato"
	}
	h.log.Info("office archived", "tenant", a.t.ID, "office", res.ID, "archived", archive, "user", a.user.ID)
	afterSave(w, r, "/gestione/uffici", outcome, res.Index)
}
