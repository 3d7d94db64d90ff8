package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Query parameters of the agenda.
const (
	qOffice = "ufficio"
	qDay    = "giorno"
)

// Form fields of a booking's forms on the agenda. A page holds the forms
// of every booking, so each field's name (and ID) ends with the booking's
// ID: "nota-<id>".
const (
	faNote      = "nota-"
	faServeNote = "esito-"
	faReason    = "motivo-"
)

// agendaFlashes confirm an operator's step on the agenda, by the esito
// parameter.
var agendaFlashes = map[string]string{
	"arrivo":    "Arrivo registrato.",
	"servito":   "Appuntamento segnato come servito.",
	"assente":   "Cittadino segnato come assente.",
	"nota":      "Nota aggiunta.",
	"annullato": "Appuntamento annullato: il cittadino riceverà un'email con il motivo.",
}

// stateLabels name a booking's states on the agenda.
var stateLabels = map[string]string{
	"booked":               "Prenotato",
	"arrived":              "Arrivato",
	"served":               "Servito",
	"no_show":              "Assente",
	"cancelled_by_citizen": "Annullato dal cittadino",
	"cancelled_by_office":  "Annullato dall'ufficio",
}

// stateBadges are the Bootstrap Italia badge colours of the states.
var stateBadges = map[string]string{
	"booked": "bg-primary", "arrived": "bg-warning text-dark", "served": "bg-success", "no_show": "bg-danger",
	"cancelled_by_citizen": "bg-secondary", "cancelled_by_office": "bg-secondary",
}

// agendaView is the data of /gestione/agenda.
type agendaView struct {
	adminBase
	// Office picks the office among those of the user's grant; Day is the
	// day shown, as the date input wants it.
	Office             selectView
	Day, DayLabel      string
	DayError           string
	Today, Prev, Next  string
	OfficeName         string
	Items              []agendaRow
	HasOffices         bool
	Count, ActiveCount int
	// Search is the search box (agenda_search.go).
	Search field
}

// agendaRow is one booking of the agenda.
type agendaRow struct {
	ID, Code, Time, Service, Citizen, FiscalCode, Channel string
	State, StateLabel, Badge                              string
	// Details is what the citizen wrote about the request, in the
	// clear (booking.ErasedText once the Comune's key is destroyed).
	Details string
	// History says who did what and when, one line per step.
	History                                   []string
	Notes                                     []noteRow
	CanArrive, CanServe, CanNoShow, CanCancel bool
	ServeNote, Note, Reason                   field
	// Documents are those exchanged in the booking's video call.
	Documents []docRow
}

// noteRow is an internal note as the agenda shows it.
type noteRow struct {
	When, By, Text string
}

// agendaForm is what a failed POST sent back to the page: the typed
// texts and errors keyed by field ID, and a general message.
type agendaForm struct {
	typed   map[string]string
	errors  formErrors
	general string
}

// agendaShow answers GET /gestione/agenda?ufficio=…&giorno=….
func (h *Handler) agendaShow(w http.ResponseWriter, r *http.Request, a adminReq) {
	q := r.URL.Query()
	day, dayErr := h.agendaDay(a.t, q.Get(qDay))
	h.renderAgenda(w, r, a, http.StatusOK, q.Get(qOffice), day, dayErr, agendaForm{})
}

// agendaDay parses the day parameter; empty or invalid is today in the
// Comune's zone (with a message for invalid).
func (h *Handler) agendaDay(t tenant.Tenant, s string) (civil.Date, string) {
	today := civil.DateOf(h.now().In(t.Location()))
	s = strings.TrimSpace(s)
	if s == "" {
		return today, ""
	}
	fe := formErrors{}
	d := fe.parseDay(qDay, s, true)
	if msg := fe[qDay]; msg != "" {
		return today, msg + " È mostrata la giornata di oggi."
	}
	return d, ""
}

// allowedOffices returns the Comune's offices (archived ones too: their
// bookings are still served) on which the user may act, with allow.
func (h *Handler) allowedOffices(ctx context.Context, a adminReq, allow func(office string) bool) ([]booking.Office, error) {
	cfg, err := h.book.Configuration(ctx, a.t.ID)
	if err != nil {
		return nil, err
	}
	var out []booking.Office
	for _, o := range cfg.Offices {
		if allow(o.ID) {
			out = append(out, o)
		}
	}
	return out, nil
}

// renderAgenda renders the agenda of officeID (the first allowed office
// when empty) on day. An office outside the user's grant is refused with
// 403, an unknown one with 404.
func (h *Handler) renderAgenda(w http.ResponseWriter, r *http.Request, a adminReq, status int, officeID string, day civil.Date, dayErr string, f agendaForm) {
	ctx := r.Context()
	offices, err := h.allowedOffices(ctx, a, func(id string) bool { return mayServe(a.user, id) })
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := agendaView{adminBase: h.newAdminBase(r, a), DayError: dayErr, HasOffices: len(offices) > 0, Search: searchField("")}
	if msg, ok := agendaFlashes[r.URL.Query().Get(qOutcome)]; ok {
		v.Flash = msg
	}
	v.General = f.general
	if officeID == "" && len(offices) > 0 {
		officeID = offices[0].ID
	}
	if officeID != "" && !mayServe(a.user, officeID) {
		h.forbidden(w, r, a, officeID)
		return
	}
	v.Office = selectView{ID: qOffice, Label: "Ufficio", Required: true}
	found := false
	for _, o := range offices {
		sel := o.ID == officeID
		found = found || sel
		if sel {
			v.OfficeName = o.Name
		}
		v.Office.Choices = append(v.Office.Choices, choice{Value: o.ID, Label: o.Name, Checked: sel})
	}
	if officeID != "" && !found {
		h.pageError(w, r, booking.ErrNotFound)
		return
	}
	loc := a.t.Location()
	now := h.now().In(loc)
	today := civil.DateOf(now)
	v.Day = day.String()
	noon, _ := day.In(loc, 12, 0)
	v.DayLabel = dateLabel(noon)
	v.Today = agendaURL(officeID, today)
	v.Prev = agendaURL(officeID, day.AddDays(-1))
	v.Next = agendaURL(officeID, day.AddDays(1))
	if officeID != "" {
		items, err := h.book.Agenda(ctx, a.t, officeID, day)
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		for _, it := range items {
			row := newAgendaRow(it, now, f)
			row.Documents = h.bookingDocuments(ctx, a.t.ID, it.Booking.Code)
			v.Items = append(v.Items, row)
			if it.Booking.Status == booking.Active {
				v.ActiveCount++
			}
		}
		v.Count = len(items)
	}
	for id, msg := range f.errors {
		v.ErrorList = append(v.ErrorList, fieldError{Field: id, Label: agendaFieldLabel(id), Message: msg})
	}
	crumbs := adminCrumbs(site.Crumb{Label: "Agenda"})
	h.adminRender(w, r, status, "agenda.html", "Agenda degli appuntamenti", crumbs, v)
}

// agendaFieldLabel names a booking form's field in the error summary.
func agendaFieldLabel(id string) string {
	switch {
	case strings.HasPrefix(id, faReason):
		return "Motivo dell'annullamento"
	case strings.HasPrefix(id, faServeNote):
		return "Nota sull'esito"
	}
	return "Nota interna"
}

// newAgendaRow builds a booking's row. The buttons offered follow the
// state and the time, as apply's rules do; apply checks again.
func newAgendaRow(it booking.AgendaItem, now time.Time, f agendaForm) agendaRow {
	b, hd := it.Booking, it.Handling
	st := it.State()
	row := agendaRow{
		ID: b.ID, Code: b.Code, Time: clockOf(b.Start) + "–" + clockOf(b.End), Service: it.ServiceName,
		Citizen:    strings.TrimSpace(b.Citizen.GivenName + " " + b.Citizen.FamilyName),
		FiscalCode: b.Citizen.FiscalCode, Channel: channelLabel(b.Channel), Details: b.Details,
		State: st, StateLabel: stateLabels[st], Badge: stateBadges[st],
	}
	step := func(what string, at time.Time, by booking.Operator) string {
		return what + " alle " + clockOf(at) + " del " + dateLabel(at) + " da " + by.Name
	}
	if !hd.ArrivedAt.IsZero() {
		row.History = append(row.History, step("Arrivo registrato", hd.ArrivedAt, hd.ArrivedBy))
	}
	switch hd.Outcome {
	case booking.Served:
		s := step("Servito", hd.OutcomeAt, hd.OutcomeBy)
		if hd.OutcomeNote != "" {
			s += ": " + hd.OutcomeNote
		}
		row.History = append(row.History, s)
	case booking.NoShow:
		row.History = append(row.History, step("Segnato assente", hd.OutcomeAt, hd.OutcomeBy))
	}
	if !hd.CancelledAt.IsZero() {
		row.History = append(row.History, step("Annullato", hd.CancelledAt, hd.CancelledBy)+". Motivo: "+hd.CancelReason)
	}
	for _, n := range it.Notes {
		row.Notes = append(row.Notes, noteRow{When: clockOf(n.At) + " del " + dateLabel(n.At), By: n.By.Name, Text: n.Text})
	}
	dayStart, _ := civil.DateOf(b.Start).In(b.Start.Location(), 0, 0)
	started := !now.Before(dayStart)
	row.CanArrive = started && (st == "booked" || st == "no_show")
	row.CanServe = started && (st == "booked" || st == "arrived" || st == "no_show")
	row.CanNoShow = st == "booked" && !now.Before(b.Start)
	row.CanCancel = st == "booked" && now.Before(b.End)
	mk := func(prefix, label, help string, max, rows int, required bool) field {
		id := prefix + b.ID
		return field{ID: id, Label: label, Type: "text", Value: f.typed[id], Error: f.errors[id], Help: help,
			MaxLen: max, Rows: rows, Required: required}
	}
	row.ServeNote = mk(faServeNote, "Nota sull'esito (facoltativa)", "", booking.MaxNote, 2, false)
	row.Note = mk(faNote, "Nota interna", "Non è visibile al cittadino.", booking.MaxNote, 2, true)
	row.Reason = mk(faReason, "Motivo dell'annullamento", "Il cittadino lo riceverà per email.", booking.MaxCancelReason, 2, true)
	return row
}

// agendaURL is the agenda of an office on a day.
func agendaURL(officeID string, day civil.Date) string {
	v := url.Values{qDay: {day.String()}}
	if officeID != "" {
		v.Set(qOffice, officeID)
	}
	return "/gestione/agenda?" + v.Encode()
}

// forbidden answers 403 to a user acting outside their offices, and logs
// it: the page never offers such an office, so the request was made by
// hand.
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, a adminReq, officeID string) {
	h.log.Warn("agenda: office outside the user's grant", "tenant", a.t.ID, "user", a.user.ID, "office", officeID)
	h.site.Error(w, r, http.StatusForbidden, "Non puoi gestire le prenotazioni di questo ufficio.")
}

// agendaStep is one of the office's steps on a booking; text is the
// form's text for it (note, reason), if any.
type agendaStep func(ctx context.Context, t tenant.Tenant, it booking.AgendaItem, by booking.Operator, text string) (booking.Written, error)

// agendaAct runs a step posted for the booking of the URL: the booking
// must be of the Comune (404) and of an office of the user's grant (403,
// nothing proposed). textField is the prefix of the form's text field
// ("" for none); outcome names the confirmation.
func (h *Handler) agendaAct(w http.ResponseWriter, r *http.Request, a adminReq, textField, outcome string, step agendaStep) {
	ctx := r.Context()
	it, err := h.book.AgendaItem(ctx, a.t, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	office := it.Booking.OfficeID
	if !mayServe(a.user, office) {
		h.forbidden(w, r, a, office)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	var text, fieldID string
	if textField != "" {
		fieldID = textField + it.Booking.ID
		text = strings.TrimSpace(r.PostForm.Get(fieldID))
	}
	by := booking.Operator{ID: a.user.ID, Name: displayName(a.user)}
	res, err := step(ctx, a.t, it, by, text)
	day := civil.DateOf(it.Booking.Start)
	if err != nil {
		f := agendaForm{typed: map[string]string{}, errors: formErrors{}}
		if fieldID != "" {
			f.typed[fieldID] = text
		}
		var ve *booking.ValidationError
		switch {
		case errors.As(err, &ve):
			for _, msg := range ve.Fields {
				if fieldID != "" {
					f.errors[fieldID] = msg
				} else {
					f.general = msg
				}
			}
			h.renderAgenda(w, r, a, http.StatusUnprocessableEntity, office, day, "", f)
		default:
			msg, ok := booking.TransitionMessage(err)
			if !ok {
				h.pageError(w, r, err)
				return
			}
			f.general = it.Booking.Code + ": " + msg
			h.renderAgenda(w, r, a, http.StatusConflict, office, day, "", f)
		}
		return
	}
	h.log.Info("agenda step", "tenant", a.t.ID, "booking", it.Booking.ID, "step", outcome, "user", a.user.ID)
	v := url.Values{qOffice: {office}, qDay: {day.String()}, qOutcome: {outcome}, qIndex: {strconv.FormatUint(res.Index, 10)}}
	http.Redirect(w, r, "/gestione/agenda?"+v.Encode()+"#p-"+it.Booking.Code, http.StatusSeeOther)
}

// agendaArrive answers POST /gestione/agenda/{id}/arrivo.
func (h *Handler) agendaArrive(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.agendaAct(w, r, a, "", "arrivo", func(ctx context.Context, t tenant.Tenant, it booking.AgendaItem, by booking.Operator, _ string) (booking.Written, error) {
		return h.book.Arrive(ctx, t, it.Booking.OfficeID, it.Booking.ID, by)
	})
}

// agendaServe answers POST /gestione/agenda/{id}/servito.
func (h *Handler) agendaServe(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.agendaAct(w, r, a, faServeNote, "servito", func(ctx context.Context, t tenant.Tenant, it booking.AgendaItem, by booking.Operator, text string) (booking.Written, error) {
		return h.book.Serve(ctx, t, it.Booking.OfficeID, it.Booking.ID, by, text)
	})
}

// agendaNoShow answers POST /gestione/agenda/{id}/assente.
func (h *Handler) agendaNoShow(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.agendaAct(w, r, a, "", "assente", func(ctx context.Context, t tenant.Tenant, it booking.AgendaItem, by booking.Operator, _ string) (booking.Written, error) {
		return h.book.NoShow(ctx, t, it.Booking.OfficeID, it.Booking.ID, by)
	})
}

// agendaNote answers POST /gestione/agenda/{id}/nota.
func (h *Handler) agendaNote(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.agendaAct(w, r, a, faNote, "nota", func(ctx context.Context, t tenant.Tenant, it booking.AgendaItem, by booking.Operator, text string) (booking.Written, error) {
		return h.book.AddNote(ctx, t, it.Booking.OfficeID, it.Booking.ID, by, text)
	})
}

// agendaCancel answers POST /gestione/agenda/{id}/annulla.
func (h *Handler) agendaCancel(w http.ResponseWriter, r *http.Request, a adminReq) {
	h.agendaAct(w, r, a, faReason, "annullato", func(ctx context.Context, t tenant.Tenant, it booking.AgendaItem, by booking.Operator, text string) (booking.Written, error) {
		return h.book.CancelByOffice(ctx, t, it.Booking.OfficeID, it.Booking.ID, by, text, h.baseURL(r))
	})
}
