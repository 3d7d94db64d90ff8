package web

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Form fields of the service form.
const (
	fsOffice      = "ufficio"
	fsName        = "nome"
	fsDescription = "descrizione"
	fsCategory    = "categoria"
	fsBring       = "documenti"
	fsDuration    = "durata"
	fsChannels    = "canali"
	fsCapacity    = "sportelli"
	fsNotice      = "preavviso"
	fsHorizon     = "orizzonte"
	fsDeadline    = "disdetta"
	fsMax         = "massimo"
	fsOwnHours    = "orari"
	// Fair access (issue 11; booking/fair.go).
	fsMaxEmail     = "massimo_email"
	fsMaxPhone     = "massimo_telefono"
	fsProof        = "verifica"
	fsConfirmFrom  = "conferma_da"
	fsConfirmBy    = "conferma_entro"
	fsReleaseDays  = "pubblica_giorni"
	fsReleaseAtMin = "pubblica_ora"
)

// serviceSpec orders and names the service form's fields.
var serviceSpec = func() formSpec {
	s := formSpec{
		order: append([]string{fsOffice, fsName, fsDescription, fsCategory, fsBring, fsDuration, fsChannels, fsCapacity,
			fsNotice, fsHorizon, fsDeadline, fsMax, fsMaxEmail, fsMaxPhone, fsProof, fsConfirmFrom, fsConfirmBy,
			fsReleaseDays, fsReleaseAtMin, fsOwnHours}, hoursOrder()...),
		labels: map[string]string{
			fsOffice: "Ufficio", fsName: "Nome", fsDescription: "Descrizione", fsCategory: "Categoria",
			fsBring: "Cosa portare", fsDuration: "Durata", fsChannels: "Modalità", fsCapacity: "Sportelli",
			fsNotice: "Preavviso minimo", fsHorizon: "Prenotabile fino a", fsDeadline: "Termine per disdire",
			fsMax: "Prenotazioni attive per cittadino", fsOwnHours: "Orari",
			fsMaxEmail: "Prenotazioni attive per indirizzo email", fsMaxPhone: "Prenotazioni attive per numero di telefono",
			fsProof: "Verifica anti-abuso", fsConfirmFrom: "Apertura della conferma", fsConfirmBy: "Scadenza della conferma",
			fsReleaseDays: "Pubblicazione scaglionata", fsReleaseAtMin: "Ora di pubblicazione",
		},
	}
	hoursLabels(s.labels)
	return s
}()

// serviceDomainFields maps package booking's field keys to the form's.
var serviceDomainFields = map[string]string{
	"office_id": fsOffice, "name": fsName, "duration": fsDuration, "channels": fsChannels, "capacity": fsCapacity,
	"min_notice": fsNotice, "horizon_days": fsHorizon, "cancel_deadline": fsDeadline, "max_active_per_citizen": fsMax,
	"max_active_per_email": fsMaxEmail, "max_active_per_phone": fsMaxPhone, "proof_of_work": fsProof,
	"confirm_from": fsConfirmFrom, "confirm_by": fsConfirmBy, "release_days_ahead": fsReleaseDays, "release_at": fsReleaseAtMin,
}

// allChannels are the channels a service may offer, in the form's order.
var allChannels = []booking.Channel{booking.InPerson, booking.Video, booking.Phone}

// adminServiceRow is a service in the back office's lists.
type adminServiceRow struct {
	ID, Name, OfficeID, OfficeName, Duration string
	Channels                                 []string
	Capacity                                 int
	OwnHours                                 bool
	Archived, OfficeArchived                 bool
}

func newAdminServiceRow(s booking.Service, o booking.Office, cfg booking.Configuration) adminServiceRow {
	row := adminServiceRow{ID: s.ID, Name: s.Name, OfficeID: o.ID, OfficeName: o.Name, Duration: durationLabel(s.Duration),
		Capacity: s.Capacity, OwnHours: !s.Hours.IsZero(), Archived: cfg.ArchivedServices[s.ID],
		OfficeArchived: cfg.ArchivedOffices[o.ID]}
	for _, c := range s.Channels {
		row.Channels = append(row.Channels, channelLabel(c))
	}
	return row
}

// serviceListView is the data of /gestione/servizi.
type serviceListView struct {
	adminBase
	Services []adminServiceRow
	// HasOffices is false when no office exists yet: a service needs one.
	HasOffices bool
}

// adminServiceList answers GET /gestione/servizi: every service, by
// office.
func (h *Handler) adminServiceList(w http.ResponseWriter, r *http.Request, a adminReq) {
	base := h.newAdminBase(r, a)
	cfg, err := h.book.Configuration(r.Context(), a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := serviceListView{adminBase: base, HasOffices: len(cfg.Offices) > 0}
	for _, o := range cfg.Offices {
		for _, s := range o.Services {
			v.Services = append(v.Services, newAdminServiceRow(s, o, cfg))
		}
	}
	h.adminRender(w, r, http.StatusOK, "gestione_servizi.html", "Servizi", adminCrumbs(site.Crumb{Label: "Servizi"}), v)
}

// serviceForm is the service form's values as typed.
type serviceForm struct {
	Office, Name, Description, Category, Bring    string
	Duration, Capacity, Notice, Horizon, Deadline string
	Max                                           string
	Channels                                      []string
	OwnHours                                      bool
	Hours                                         [7]string
	// Fair access, as typed (admin_service_fair.go).
	Fair fairForm
}

// newServiceForm is the form of a new service: the values most services
// have.
func newServiceForm() serviceForm {
	return serviceForm{Duration: "30", Capacity: "1", Notice: "2", Horizon: "30", Deadline: "24", Max: "1",
		Channels: []string{string(booking.InPerson)}, Fair: fairFormOf(booking.FairSettings{})}
}

func serviceFormOf(s booking.Service) serviceForm {
	f := serviceForm{
		Office: s.OfficeID, Name: s.Name, Description: s.Description, Category: s.Category,
		Bring: strings.Join(s.WhatToBring, "\n"), Duration: strconv.Itoa(int(s.Duration / time.Minute)),
		Capacity: strconv.Itoa(s.Capacity), Notice: hoursText(s.MinNotice), Horizon: strconv.Itoa(s.HorizonDays),
		Deadline: hoursText(s.CancelDeadline), Max: strconv.Itoa(s.MaxActivePerCitizen),
		OwnHours: !s.Hours.IsZero(), Hours: weekText(s.Hours), Fair: fairFormOf(booking.FairSettings{}),
	}
	for _, c := range s.Channels {
		f.Channels = append(f.Channels, string(c))
	}
	return f
}

// hoursText writes a duration in hours as the form shows it: "24",
// "1,5".
func hoursText(d time.Duration) string {
	return strings.ReplaceAll(strconv.FormatFloat(d.Hours(), 'f', -1, 64), ".", ",")
}

// parseHours reads a number of hours ("24", "1,5", "0.25") as a duration
// rounded to the minute, setting fe[id] when it is not one.
func (fe formErrors) parseHours(id, s string) time.Duration {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", "."))
	if s == "" {
		return 0
	}
	h, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(h) || h < 0 || h > 24*366 {
		fe[id] = "Scrivi un numero di ore, per esempio 24 o 1,5."
		return 0
	}
	return time.Duration(math.Round(h*60)) * time.Minute
}

// serviceFormView is the data of the service form.
type serviceFormView struct {
	adminBase
	ID, Action, Heading string
	// OfficeSelect chooses the office of a new service; OfficeName names
	// the office of an existing one, which never changes.
	OfficeSelect selectView
	OfficeName   string
	Fields       []field
	Rules        []field
	Channels     []choice
	OwnHours     bool
	Hours        []field
	Errors       formErrors
	Archived     bool
	// Fair holds the fair-access fields (admin_service_fair.go).
	Fair []field
}

// adminServiceNew answers GET /gestione/servizi/nuovo (?ufficio= picks
// the office).
func (h *Handler) adminServiceNew(w http.ResponseWriter, r *http.Request, a adminReq) {
	f := newServiceForm()
	f.Office = r.URL.Query().Get(fsOffice)
	h.renderServiceForm(w, r, a, http.StatusOK, booking.Service{}, f, formErrors{}, "")
}

// adminServiceEdit answers GET /gestione/servizi/{id}.
func (h *Handler) adminServiceEdit(w http.ResponseWriter, r *http.Request, a adminReq) {
	s, err := h.book.Service(r.Context(), a.t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	f := serviceFormOf(s)
	fair, err := h.book.FairSettings(r.Context(), a.t.ID, s.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	f.Fair = fairFormOf(fair)
	h.renderServiceForm(w, r, a, http.StatusOK, s, f, formErrors{}, "")
}

// adminServiceSave answers POST /gestione/servizi/nuovo and
// /gestione/servizi/{id}. The office of an existing service is the
// stored one, whatever the form says; the office of a new one must be an
// office of the Comune (apply checks it again).
func (h *Handler) adminServiceSave(w http.ResponseWriter, r *http.Request, a adminReq) {
	ctx := r.Context()
	id := r.PathValue("id")
	var old booking.Service
	if id != "" {
		var err error
		if old, err = h.book.Service(ctx, a.t.ID, id); err != nil {
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
	f := serviceForm{
		Office: get(fsOffice), Name: get(fsName), Description: strings.TrimSpace(strings.ReplaceAll(pf.Get(fsDescription), "\r\n", "\n")),
		Category: get(fsCategory), Bring: strings.ReplaceAll(pf.Get(fsBring), "\r\n", "\n"),
		Duration: get(fsDuration), Capacity: get(fsCapacity), Notice: get(fsNotice), Horizon: get(fsHorizon),
		Deadline: get(fsDeadline), Max: get(fsMax), Channels: pf[fsChannels], OwnHours: get(fsOwnHours) == "propri",
		Fair: readFairForm(get),
	}
	if id != "" {
		f.Office = old.OfficeID
	}
	fe := formErrors{}
	for id, v := range map[string]string{fsDuration: f.Duration, fsCapacity: f.Capacity, fsNotice: f.Notice,
		fsHorizon: f.Horizon, fsDeadline: f.Deadline, fsMax: f.Max} {
		if v == "" {
			fe[id] = "Inserisci un numero."
		}
	}
	s := booking.Service{
		ID: id, OfficeID: f.Office, Name: f.Name, Description: f.Description, Category: f.Category,
		Duration:            time.Duration(fe.parseCount(fsDuration, f.Duration, 0)) * time.Minute,
		Capacity:            fe.parseCount(fsCapacity, f.Capacity, 0),
		MinNotice:           fe.parseHours(fsNotice, f.Notice),
		HorizonDays:         fe.parseCount(fsHorizon, f.Horizon, 0),
		CancelDeadline:      fe.parseHours(fsDeadline, f.Deadline),
		MaxActivePerCitizen: fe.parseCount(fsMax, f.Max, 0),
	}
	for _, c := range f.Channels {
		s.Channels = append(s.Channels, booking.Channel(c))
	}
	for _, line := range strings.Split(f.Bring, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			s.WhatToBring = append(s.WhatToBring, line)
			fe.checkLength(fsBring, line, maxBringLine)
		}
	}
	if len(s.WhatToBring) > maxBringLines {
		fe[fsBring] = "Elenca al massimo " + strconv.Itoa(maxBringLines) + " documenti, uno per riga."
	}
	fe.checkLength(fsDescription, f.Description, maxDescription)
	fe.checkLength(fsCategory, f.Category, maxCategory)
	if f.OwnHours {
		var week booking.Week
		week, f.Hours = readWeek(get, fe)
		if week.IsZero() && !hasHoursError(fe) {
			fe[hoursField(time.Monday)] = "Indica almeno un orario, oppure scegli gli orari dell'ufficio."
		}
		s.Hours = week
	} else {
		// The office's hours: what was typed is kept for the form only.
		for _, d := range weekOrder {
			f.Hours[d] = get(hoursField(d))
		}
	}
	cfg, err := h.book.Configuration(ctx, a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if id == "" && f.Office != "" && !slices.ContainsFunc(cfg.Offices, func(o booking.Office) bool { return o.ID == f.Office }) {
		fe[fsOffice] = "Scegli uno degli uffici del Comune."
	}
	fair := f.Fair.parse(fe)
	general := ""
	if err := booking.CheckFair(fair); err != nil {
		if _, ok := fe.fromDomain(err, serviceDomainFields); !ok {
			h.pageError(w, r, err)
			return
		}
	}
	if err := booking.CheckService(s); err != nil {
		g, ok := fe.fromDomain(err, serviceDomainFields)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		general = g
	}
	if len(fe) == 0 && general == "" {
		res, err := h.book.WriteService(ctx, a.t.ID, s, id != "")
		if err == nil {
			// The fair-access settings are their own command: the
			// service must exist first (a new one gets its ID here).
			// Unchanged settings are not proposed, so that a service
			// form saves during a rolling upgrade too.
			var idx uint64
			if stored, ferr := h.book.FairSettings(ctx, a.t.ID, res.ID); ferr != nil || stored != fair {
				if idx, err = h.book.SaveFairSettings(ctx, a.t.ID, res.ID, fair); err != nil {
					h.pageError(w, r, err)
					return
				}
			}
			res.Index = max(res.Index, idx)
		}
		if err == nil {
			outcome := "servizio-salvato"
			if id == "" {
				outcome = "servizio-creato"
			}
			h.log.Info("service saved", "tenant", a.t.ID, "service", res.ID, "user", a.user.ID)
			afterSave(w, r, "/gestione/servizi", outcome, res.Index)
			return
		}
		g, ok := fe.fromDomain(err, serviceDomainFields)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		general = g
	}
	h.renderServiceForm(w, r, a, http.StatusUnprocessableEntity, old, f, fe, general)
}

// hasHoursError reports whether one of the weekday fields has an error.
func hasHoursError(fe formErrors) bool {
	for _, d := range weekOrder {
		if _, ok := fe[hoursField(d)]; ok {
			return true
		}
	}
	return false
}

// renderServiceForm shows the service form; old is the stored service
// (zero for a new one).
func (h *Handler) renderServiceForm(w http.ResponseWriter, r *http.Request, a adminReq, status int, old booking.Service, f serviceForm, fe formErrors, general string) {
	ctx := r.Context()
	cfg, err := h.book.Configuration(ctx, a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := serviceFormView{adminBase: h.newAdminBase(r, a), ID: old.ID, OwnHours: f.OwnHours, Errors: fe}
	v.ErrorList, v.General = serviceSpec.errorList(fe), general
	v.OfficeSelect = selectView{ID: fsOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio", Error: fe[fsOffice], Required: true}
	for _, o := range cfg.Offices {
		if old.ID != "" && o.ID == old.OfficeID {
			v.OfficeName = o.Name
		}
		label := o.Name
		if cfg.ArchivedOffices[o.ID] {
			label += " (archiviato)"
		}
		v.OfficeSelect.Choices = append(v.OfficeSelect.Choices, choice{Value: o.ID, Label: label, Checked: o.ID == f.Office})
	}
	v.Archived = old.ID != "" && (cfg.ArchivedServices[old.ID] || cfg.ArchivedOffices[old.OfficeID])
	v.Fields = []field{
		{ID: fsName, Label: "Nome", Type: "text", Value: f.Name, Error: fe[fsName], Required: true, MaxLen: 500,
			Help: "Come lo vedono i cittadini: «Rilascio carta d'identità elettronica»."},
		{ID: fsDescription, Label: "Descrizione", Value: f.Description, Error: fe[fsDescription], Rows: 4, MaxLen: maxDescription,
			Help: "Facoltativa: a chi serve e come si svolge."},
		{ID: fsCategory, Label: "Categoria", Type: "text", Value: f.Category, Error: fe[fsCategory], MaxLen: maxCategory,
			Help: "Facoltativa: per esempio «Anagrafe e stato civile»."},
		{ID: fsBring, Label: "Cosa portare", Value: f.Bring, Error: fe[fsBring], Rows: 4,
			Help: "Facoltativo: un documento per riga."},
	}
	v.Rules = []field{
		{ID: fsDuration, Label: "Durata dell'appuntamento (minuti)", Type: "number", Min: "1", Value: f.Duration, Error: fe[fsDuration], Required: true},
		{ID: fsCapacity, Label: "Sportelli", Type: "number", Min: "1", Value: f.Capacity, Error: fe[fsCapacity], Required: true,
			Help: "Quanti appuntamenti si svolgono in parallelo nello stesso orario."},
		{ID: fsNotice, Label: "Preavviso minimo (ore)", Type: "text", Value: f.Notice, Error: fe[fsNotice], Required: true,
			Help: "Quanto prima dell'appuntamento si può ancora prenotare; 0 per nessun preavviso."},
		{ID: fsHorizon, Label: "Prenotabile fino a (giorni)", Type: "number", Min: "1", Value: f.Horizon, Error: fe[fsHorizon], Required: true,
			Help: "Quanti giorni in anticipo si vedono gli orari liberi."},
		{ID: fsDeadline, Label: "Termine per disdire o spostare (ore prima)", Type: "text", Value: f.Deadline, Error: fe[fsDeadline], Required: true},
		{ID: fsMax, Label: "Prenotazioni attive per cittadino", Type: "number", Min: "0", Value: f.Max, Error: fe[fsMax], Required: true,
			Help: "Quante prenotazioni future dello stesso servizio può avere un cittadino; 0 per nessun limite."},
	}
	for _, c := range allChannels {
		v.Channels = append(v.Channels, choice{Value: string(c), Label: channelLabel(c), Checked: slices.Contains(f.Channels, string(c))})
	}
	v.Hours = hoursFields(f.Hours, fe)
	v.Fair = f.Fair.fields(fe)
	title := "Nuovo servizio"
	v.Action = "/gestione/servizi/nuovo"
	if old.ID != "" {
		title = "Modifica servizio"
		v.Action = "/gestione/servizi/" + old.ID
	}
	v.Heading = title
	h.adminRender(w, r, status, "gestione_servizio.html", title,
		adminCrumbs(site.Crumb{Label: "Servizi", URL: "/gestione/servizi"}, site.Crumb{Label: title}), v)
}

// adminServiceArchive answers POST /gestione/servizi/{id}/archivio:
// archivia=1 archives the service, archivia=0 restores it.
func (h *Handler) adminServiceArchive(w http.ResponseWriter, r *http.Request, a adminReq) {
	archive := r.PostFormValue("archivia") == "1"
	res, err := h.book.ArchiveService(r.Context(), a.t.ID, r.PathValue("id"), archive)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	outcome := "servizio-ripristinato"
	if archive {
		outcome = "servizio-archiviato"
	}
	h.log.Info("service archived", "tenant", a.t.ID, "service", res.ID, "archived", archive, "user", a.user.ID)
	afterSave(w, r, "/gestione/servizi", outcome, res.Index)
}
