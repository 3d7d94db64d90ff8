package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The five steps of the Designers Italia booking flow.
const (
	stepPlace     = 1 // Luogo: office and service
	stepTime      = 2 // Data e orario
	stepDetails   = 3 // Dettagli appuntamento: channel and details
	stepApplicant = 4 // Richiedente
	stepSummary   = 5 // Riepilogo
	stepCount     = 5
)

// stepTitle is the name of step n (1..5) in l: "Luogo", "Data e orario"…
func (l tr) stepTitle(n int) string { return l.T("flow.step" + strconv.Itoa(n)) }

// Names of the flow's form fields. Every step's form carries all of them,
// those it does not edit as hidden inputs: the browser holds the state.
const (
	fService = "servizio"
	fStart   = "inizio" // RFC 3339
	fMonth   = "mese"   // YYYY-MM, the month shown on step 2
	fChannel = "canale"
	fDetails = "dettagli"
	fGiven   = "nome"
	fFamily  = "cognome"
	fFiscal  = "codice_fiscale"
	fEmail   = "email"
	fPhone   = "telefono"
	fPrivacy = "privacy"
	fOnly    = "solo"  // "1" when the flow started from a service page
	fStep    = "passo" // the step a form was sent from
	fGo      = "vai"   // the step a button leads to
)

// Parameters of the booking's own pages: the manage token, and the flags
// that make the booking page tell what just happened.
const (
	fToken    = "token"
	fConfirm  = "confermato"
	fMoved    = "spostato"
	fCanceled = "annullato"
)

// fieldOrder is the order of the fields in the flow, for the error summary.
var fieldOrder = []string{fService, fStart, fChannel, fDetails, fGiven, fFamily, fFiscal, fEmail, fPhone, fPrivacy}

// fieldStep is the step on which each field is edited.
var fieldStep = map[string]int{
	fService: stepPlace, fStart: stepTime, fChannel: stepDetails, fDetails: stepDetails,
	fGiven: stepApplicant, fFamily: stepApplicant, fFiscal: stepApplicant, fEmail: stepApplicant, fPhone: stepApplicant,
	fPrivacy: stepSummary,
}

// formField maps the API's field names (booking.ValidationError keys) to
// the form's.
var formField = map[string]string{
	"service_id": fService, "start": fStart, "channel": fChannel, "details": fDetails,
	"citizen.given_name": fGiven, "citizen.family_name": fFamily, "citizen.fiscal_code": fFiscal,
	"citizen.email": fEmail, "citizen.phone": fPhone, "privacy_accepted": fPrivacy,
}

// fieldLabel names a form field in the error summary, in l: the catalog's
// "field.<name>".
func (l tr) fieldLabel(name string) string { return l.T("field." + name) }

// flowForm is the state of a booking in progress, as the forms carry it.
type flowForm struct {
	Service, Start, Month, Channel, Details         string
	GivenName, FamilyName, FiscalCode, Email, Phone string
	Privacy, Only                                   bool
}

// readFlowForm reads the flow's state from parsed form values.
func readFlowForm(v url.Values) flowForm {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return flowForm{
		Service: get(fService), Start: get(fStart), Month: get(fMonth), Channel: get(fChannel),
		// Details keep their inner new lines; CheckRequest trims them.
		Details:   strings.ReplaceAll(v.Get(fDetails), "\r\n", "\n"),
		GivenName: get(fGiven), FamilyName: get(fFamily), FiscalCode: get(fFiscal), Email: get(fEmail), Phone: get(fPhone),
		Privacy: v.Get(fPrivacy) != "", Only: v.Get(fOnly) == "1",
	}
}

// values returns the state as form fields, leaving out empty ones and
// those named in except. The month shown on step 2 is not state: only the
// month buttons send it.
func (f flowForm) values(except ...string) []hiddenField {
	all := []hiddenField{
		{fService, f.Service}, {fStart, f.Start}, {fChannel, f.Channel}, {fDetails, f.Details},
		{fGiven, f.GivenName}, {fFamily, f.FamilyName}, {fFiscal, f.FiscalCode}, {fEmail, f.Email}, {fPhone, f.Phone},
	}
	if f.Privacy {
		all = append(all, hiddenField{fPrivacy, "1"})
	}
	if f.Only {
		all = append(all, hiddenField{fOnly, "1"})
	}
	out := all[:0]
	for _, hf := range all {
		if hf.Value != "" && !slices.Contains(except, hf.Name) {
			out = append(out, hf)
		}
	}
	return out
}

// startTime parses the chosen start; ok is false when none or malformed.
func (f flowForm) startTime() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, f.Start)
	return t, err == nil
}

// request is the booking request the state amounts to.
func (f flowForm) request() booking.Request {
	start, _ := f.startTime()
	return booking.Request{
		ServiceID: f.Service, Start: start, Channel: booking.Channel(f.Channel),
		Citizen: booking.Citizen{
			GivenName: f.GivenName, FamilyName: f.FamilyName, FiscalCode: f.FiscalCode, Email: f.Email, Phone: f.Phone,
		},
		Details: f.Details, PrivacyAccepted: f.Privacy,
	}
}

type hiddenField struct{ Name, Value string }

// formErrors are messages keyed by form field name.
type formErrors map[string]string

// fromValidation adds the messages of a *booking.ValidationError for the
// fields of steps up to upTo, and reports whether err was one.
func (fe formErrors) fromValidation(err error, upTo int) bool {
	var ve *booking.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for k, msg := range ve.Fields {
		if name, ok := formField[k]; ok && fieldStep[name] <= upTo {
			fe[name] = msg
		}
	}
	return true
}

// firstStep is the earliest step with an error, or 0.
func (fe formErrors) firstStep() int {
	first := 0
	for name := range fe {
		if s := fieldStep[name]; first == 0 || s < first {
			first = s
		}
	}
	return first
}

// onStep keeps only the errors of step.
func (fe formErrors) onStep(step int) formErrors {
	out := formErrors{}
	for name, msg := range fe {
		if fieldStep[name] == step {
			out[name] = msg
		}
	}
	return out
}

// fieldError is one line of the error summary, linking to its field.
type fieldError struct{ Field, Label, Message string }

// list returns the errors in the order of the fields, labelled in l.
func (fe formErrors) list(l tr) []fieldError {
	var out []fieldError
	for _, name := range fieldOrder {
		if msg, ok := fe[name]; ok {
			out = append(out, fieldError{Field: name, Label: l.fieldLabel(name), Message: msg})
		}
	}
	return out
}

// in returns the errors with their messages, written in Italian by the
// booking package and this one, translated into l.
func (fe formErrors) in(l tr) formErrors {
	out := make(formErrors, len(fe))
	for name, msg := range fe {
		out[name] = l.msg(msg)
	}
	return out
}

// checkFlow validates the state for the steps up to upTo: the citizen
// rules of booking.CheckRequest plus what only the web layer knows (the
// service exists for this Comune, the start is well-formed, the service
// offers the channel). svc is the chosen service or nil.
func checkFlow(f flowForm, svc *booking.Service, upTo int) formErrors {
	fe := formErrors{}
	_, err := booking.CheckRequest(f.request())
	fe.fromValidation(err, upTo)
	if f.Service != "" && svc == nil {
		fe[fService] = "Il servizio scelto non è disponibile: scegline un altro."
	}
	if _, ok := f.startTime(); upTo >= stepTime && f.Start != "" && !ok {
		fe[fStart] = "L'orario scelto non è valido: scegline uno dall'elenco."
	}
	if upTo >= stepDetails && svc != nil && f.Channel != "" && !slices.Contains(svc.Channels, booking.Channel(f.Channel)) {
		fe[fChannel] = msgChannel
	}
	return fe
}

// flowErrors routes a domain error of Create to the step and field it is
// about; ok is false for errors that are not about the citizen's choices.
func flowErrors(err error) (fe formErrors, general string, ok bool) {
	fe = formErrors{}
	if fe.fromValidation(err, stepSummary) {
		return fe, "", true
	}
	p := classify(err)
	switch {
	case errors.Is(err, booking.ErrNotFound):
		fe[fService] = "Il servizio scelto non è disponibile: scegline un altro."
	case p.Fields["start"] != "":
		fe[fStart] = p.Fields["start"]
	case p.Fields["channel"] != "":
		fe[fChannel] = p.Fields["channel"]
	case errors.Is(err, booking.ErrAlreadyBooked):
		return fe, p.Message, true
	// Fair access (fair_web.go): a capped contact is fixed on the
	// applicant step; the proof is the summary's.
	case p.Fields["citizen.email"] != "":
		fe[fEmail] = p.Fields["citizen.email"]
	case p.Fields["citizen.phone"] != "":
		fe[fPhone] = p.Fields["citizen.phone"]
	case p.Code == "proof_of_work" || p.Code == "proof_wait":
		return fe, p.Message, true
	default:
		return nil, "", false
	}
	return fe, "", true
}

// month is a calendar month offered on step 2.
type month struct {
	Year  int
	Month time.Month
}

func (m month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, m.Month) }

// label writes the month in l: "marzo 2027".
func (m month) label(l tr) string { return l.month(m.Year, m.Month) }

func parseMonth(s string) (month, bool) {
	y, mm, ok := strings.Cut(s, "-")
	if !ok {
		return month{}, false
	}
	yi, err1 := strconv.Atoi(y)
	mi, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || mi < 1 || mi > 12 {
		return month{}, false
	}
	return month{yi, time.Month(mi)}, true
}

// horizon returns the days a service is bookable on as seen today: from
// today to today + HorizonDays, in the Comune's zone.
func horizon(svc booking.Service, today civil.Date) (first, last civil.Date) {
	days := svc.HorizonDays
	if days <= 0 {
		days = 60
	}
	return today, today.AddDays(days)
}

// months lists the months from first to last.
func months(first, last civil.Date) []month {
	var out []month
	for m := (month{first.Year, first.Month}); ; {
		out = append(out, m)
		if m.Year == last.Year && m.Month == last.Month || len(out) > 36 {
			return out
		}
		m.Month++
		if m.Month > 12 {
			m.Month, m.Year = 1, m.Year+1
		}
	}
}

// freeSlots returns the bookable slots of svc in m: with room left, not
// past and inside the horizon.
func (h *Handler) freeSlots(ctx context.Context, t tenant.Tenant, svc booking.Service, m month) ([]booking.Slot, error) {
	loc := t.Location()
	now := h.now().In(loc)
	first, last := horizon(svc, civil.DateOf(now))
	from := civil.Date{Year: m.Year, Month: m.Month, Day: 1}
	to := from.AddDays(31)
	to = civil.Date{Year: to.Year, Month: to.Month, Day: 1}.AddDays(-1)
	if from.Before(first) {
		from = first
	}
	if to.After(last) {
		to = last
	}
	if to.Before(from) {
		return nil, nil
	}
	if err := h.checkFresh(); err != nil {
		return nil, err
	}
	slots, err := h.book.Slots(ctx, t, svc.ID, from, to)
	if err != nil {
		return nil, err
	}
	free := slots[:0]
	for _, s := range slots {
		if s.Remaining > 0 && s.Start.After(now) {
			free = append(free, s)
		}
	}
	return free, nil
}

// dayView is one day of free slots on a slot list.
type dayView struct {
	Label string // "giovedì 11 marzo 2027"
	Slots []slotView
}

// slotView is one radio button of a slot list.
type slotView struct {
	Value   string // RFC 3339 start
	ID      string // HTML id
	Date    string // "giovedì 11 marzo 2027", visually hidden in the label
	Time    string // "10:00"
	End     string // "10:30"
	Checked bool
}

// groupSlots groups slots by day in loc, marking the one starting at
// chosen, with the days written in l.
func groupSlots(l tr, slots []booking.Slot, loc *time.Location, chosen string) []dayView {
	var days []dayView
	var cur civil.Date
	for _, s := range slots {
		st := s.Start.In(loc)
		d := civil.DateOf(st)
		if len(days) == 0 || d != cur {
			days = append(days, dayView{Label: l.date(st)})
			cur = d
		}
		v := st.Format(time.RFC3339)
		ch, err := time.Parse(time.RFC3339, chosen)
		last := &days[len(days)-1]
		last.Slots = append(last.Slots, slotView{
			Value: v, ID: "inizio-" + st.Format("20060102-1504"), Date: l.date(st), Time: clockOf(st),
			End: clockOf(s.End.In(loc)), Checked: err == nil && ch.Equal(s.Start),
		})
	}
	return days
}

// pickMonth chooses the month step 2 shows: the one asked for, else the
// chosen slot's, else the first with free slots. It returns that month's
// free slots too.
func (h *Handler) pickMonth(ctx context.Context, t tenant.Tenant, svc booking.Service, all []month, asked string, chosen time.Time) (month, []booking.Slot, error) {
	if m, ok := parseMonth(asked); ok && slices.Contains(all, m) {
		slots, err := h.freeSlots(ctx, t, svc, m)
		return m, slots, err
	}
	if !chosen.IsZero() {
		c := chosen.In(t.Location())
		if m := (month{c.Year(), c.Month()}); slices.Contains(all, m) {
			slots, err := h.freeSlots(ctx, t, svc, m)
			return m, slots, err
		}
	}
	for _, m := range all {
		slots, err := h.freeSlots(ctx, t, svc, m)
		if err != nil || len(slots) > 0 {
			return m, slots, err
		}
	}
	return all[0], nil, nil
}
