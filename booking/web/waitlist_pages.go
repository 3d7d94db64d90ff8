package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The waiting list's citizen pages (issue 11). A citizen who finds no
// free slot, or prefers to wait for one, leaves their contacts on
// /lista-attesa/{service}; the email then links to their entry,
// /lista-attesa/voce/{id}?token=…, which shows their place and, when a
// seat is held for them, the form that books it. The token is the only
// credential, as for a booking's manage page: it travels in the query of
// GET links and in a hidden field of every POST, and the pages send no
// Referer. Everything works without JavaScript.

// Form fields of the waiting-list pages besides the booking flow's.
const (
	fDays = "giorni"
	// qWaitOutcome is the query parameter naming what led to the entry
	// page ("iscritto", "uscito"); the text is looked up, never taken
	// from the URL.
	qWaitOutcome = "esito"
)

// waitOutcomes maps qWaitOutcome values to catalog keys.
var waitOutcomes = map[string]string{"iscritto": "wait.flash.joined", "uscito": "wait.flash.left"}

// waitWeekdays are the days offered on the join form, Monday first.
var waitWeekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

// waitlistRouteTable lists the citizen routes of the waiting list.
func (h *Handler) waitlistRouteTable() []route {
	return []route{
		{"GET", "/lista-attesa/voce/{id}", false, h.waitEntryShow},
		{"POST", "/lista-attesa/voce/{id}/accetta", false, h.waitAccept},
		{"POST", "/lista-attesa/voce/{id}/esci", false, h.waitLeave},
		{"GET", "/lista-attesa/{service}", false, h.waitJoinForm},
		{"POST", "/lista-attesa/{service}", false, h.waitJoin},
	}
}

// waitlistRoutes mounts the waiting list's pages and, with a guard, its
// back-office pages (waitlist_admin.go).
func (h *Handler) waitlistRoutes(mux *http.ServeMux) {
	for _, rt := range h.waitlistRouteTable() {
		mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
	}
	if h.guard == nil {
		return
	}
	for _, rt := range h.waitlistAdminRouteTable() {
		mux.Handle(rt.method+" "+rt.path, h.adminWrap(rt))
	}
}

// waitForm is the join form as typed.
type waitForm struct {
	GivenName, FamilyName, Email, Phone, FiscalCode string
	Days                                            []time.Weekday
	Privacy                                         bool
}

// dayChoice is one weekday checkbox.
type dayChoice struct {
	ID, Value, Label string
	Checked          bool
}

// waitJoinView is the data of lista_attesa.html.
type waitJoinView struct {
	Service   booking.Service
	Office    booking.Office
	Form      waitForm
	DayChoice []dayChoice
	Errors    formErrors
	ErrorList []fieldError
	General   string
	Action    string
	Waiting   int
}

// loadWaitService returns the Comune's service with its office, or an
// error the page answers as "not found".
func (h *Handler) loadWaitService(r *http.Request, t tenant.Tenant, id string) (booking.Service, booking.Office, error) {
	o, err := h.book.Offices(r.Context(), t.ID)
	if err != nil {
		return booking.Service{}, booking.Office{}, err
	}
	for _, office := range o {
		for _, s := range office.Services {
			if s.ID == id {
				return s, office, nil
			}
		}
	}
	return booking.Service{}, booking.Office{}, booking.ErrNotFound
}

func (h *Handler) waitJoinForm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	svc, office, err := h.loadWaitService(r, t, r.PathValue("service"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.renderWaitJoin(w, r, http.StatusOK, svc, office, waitForm{}, formErrors{}, "")
}

func (h *Handler) waitJoin(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	svc, office, err := h.loadWaitService(r, t, r.PathValue("service"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	f := waitForm{
		GivenName: r.PostForm.Get(fGiven), FamilyName: r.PostForm.Get(fFamily), Email: r.PostForm.Get(fEmail),
		Phone: r.PostForm.Get(fPhone), FiscalCode: r.PostForm.Get(fFiscal), Privacy: r.PostForm.Get(fPrivacy) == "1",
	}
	for _, v := range r.PostForm[fDays] {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 6 && !slices.Contains(f.Days, time.Weekday(n)) {
			f.Days = append(f.Days, time.Weekday(n))
		}
	}
	// Joining is rate limited with bookings: a list is as scarce a thing
	// to flood as the slots themselves.
	if err := h.allowCreate(r); err != nil {
		h.renderWaitJoin(w, r, http.StatusTooManyRequests, svc, office, f, formErrors{}, classify(err).Message)
		return
	}
	j, err := h.book.JoinWaitlist(r.Context(), t, booking.WaitRequest{
		ServiceID: svc.ID, Days: f.Days, Lang: site.LangFrom(r.Context()), PrivacyAccepted: f.Privacy,
		Citizen: booking.Citizen{GivenName: f.GivenName, FamilyName: f.FamilyName, Email: f.Email, Phone: f.Phone, FiscalCode: f.FiscalCode},
	}, h.baseURL(r))
	var ve *booking.ValidationError
	switch {
	case errors.As(err, &ve):
		fe := formErrors{}
		for k, msg := range ve.Fields {
			if name, ok := formField[k]; ok {
				fe[name] = msg
			}
		}
		h.renderWaitJoin(w, r, http.StatusUnprocessableEntity, svc, office, f, fe, "")
		return
	case errors.Is(err, booking.ErrWaitCap):
		h.renderWaitJoin(w, r, http.StatusConflict, svc, office, f, formErrors{}, trOf(r).T("wait.err.cap", booking.MaxWaitPerEmail))
		return
	case errors.Is(err, cluster.ErrNotSupportedByCluster):
		h.renderWaitJoin(w, r, http.StatusServiceUnavailable, svc, office, f, formErrors{}, trOf(r).T("wait.err.upgrade"))
		return
	case err != nil:
		h.pageError(w, r, err)
		return
	}
	h.log.Info("waiting list joined", "tenant", t.ID, "service", svc.ID, "entry", j.Entry.ID)
	http.Redirect(w, r, booking.WaitPath(j.Entry.ID, j.Token)+"&"+qWaitOutcome+"=iscritto&indice="+strconv.FormatUint(j.Index, 10), http.StatusSeeOther)
}

func (h *Handler) renderWaitJoin(w http.ResponseWriter, r *http.Request, status int, svc booking.Service, office booking.Office, f waitForm, fe formErrors, general string) {
	l := trOf(r)
	v := waitJoinView{Service: svc, Office: office, Form: f, Errors: fe.in(l), ErrorList: fe.list(l), General: general,
		Action: "/lista-attesa/" + url.PathEscape(svc.ID)}
	v.Waiting, _ = h.book.WaitingCount(r.Context(), svc.Tenant, svc.ID)
	for _, d := range waitWeekdays {
		v.DayChoice = append(v.DayChoice, dayChoice{ID: "giorno-" + strconv.Itoa(int(d)), Value: strconv.Itoa(int(d)),
			Label: site.WeekdayName(string(l), d), Checked: slices.Contains(f.Days, d)})
	}
	title := l.T("wait.title")
	if len(fe) > 0 || general != "" {
		title = l.T("title.error", title)
	}
	h.pages.Render(w, r, status, "lista_attesa.html", site.Page{
		Title:       title,
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("services.title"), URL: "/servizi"}, {Label: svc.Name, URL: "/servizi/" + url.PathEscape(svc.ID)}, {Label: l.T("wait.title")}},
		Data:        v,
	})
}

// waitEntryView is the data of lista_attesa_voce.html.
type waitEntryView struct {
	Entry     booking.WaitEntry
	Service   booking.Service
	Office    booking.Office
	Token     string
	Flash     string
	When      string
	Until     string
	Days      string
	Channels  []choice
	Phone     bool
	Errors    formErrors
	ErrorList []fieldError
	General   string
	Form      struct{ FiscalCode, Phone string }
	Privacy   bool
	// Proof is the fair-access challenge of the accept form when the
	// service asks a proof of work (fair_web.go); nil otherwise.
	Proof *proofView
}

// loadWaitEntry reads the entry of the URL with the token of the query
// or the form, after waiting for the index a redirect named.
func (h *Handler) loadWaitEntry(r *http.Request, t tenant.Tenant, token string) (booking.WaitEntry, booking.Service, booking.Office, error) {
	if idx, err := strconv.ParseUint(r.URL.Query().Get("indice"), 10, 64); err == nil && idx > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		_ = h.book.WaitApplied(ctx, idx)
		cancel()
	}
	e, err := h.book.WaitEntry(r.Context(), t.ID, r.PathValue("id"), token)
	if err != nil {
		return booking.WaitEntry{}, booking.Service{}, booking.Office{}, err
	}
	svc, err := h.book.Service(r.Context(), t.ID, e.ServiceID)
	if err != nil {
		return booking.WaitEntry{}, booking.Service{}, booking.Office{}, err
	}
	office, err := h.book.Office(r.Context(), t.ID, svc.OfficeID)
	if err != nil {
		return booking.WaitEntry{}, booking.Service{}, booking.Office{}, err
	}
	return e, svc, office, nil
}

func (h *Handler) waitEntryShow(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	token := r.URL.Query().Get(fToken)
	e, svc, office, err := h.loadWaitEntry(r, t, token)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := h.newWaitEntryView(r, t, e, svc, office, token)
	if k, ok := waitOutcomes[r.URL.Query().Get(qWaitOutcome)]; ok {
		v.Flash = trOf(r).T(k)
	}
	h.renderWaitEntry(w, r, http.StatusOK, v)
}

func (h *Handler) newWaitEntryView(r *http.Request, t tenant.Tenant, e booking.WaitEntry, svc booking.Service, office booking.Office, token string) waitEntryView {
	l := trOf(r)
	loc := t.Location()
	v := waitEntryView{Entry: e, Service: svc, Office: office, Token: token, Errors: formErrors{}}
	v.Form.FiscalCode, v.Form.Phone = e.Citizen.FiscalCode, e.Citizen.Phone
	if e.Offer != nil {
		// Accepting is booking: a service that asks a proof of work asks
		// it here too.
		v.Proof = h.proofFor(r, t, svc)
		start := e.Offer.Start.In(loc)
		v.When = l.span(start, start.Add(svc.Duration))
		v.Until = l.dateTime(e.Offer.Expires.In(loc))
	}
	var days []string
	for _, d := range e.Days {
		days = append(days, site.WeekdayName(string(l), d))
	}
	if len(days) == 0 {
		v.Days = l.T("wait.days.any")
	} else {
		v.Days = strings.Join(days, ", ")
	}
	for i, c := range svc.Channels {
		v.Channels = append(v.Channels, choice{Value: string(c), Label: l.channel(c), Checked: i == 0})
		if c == booking.Phone {
			v.Phone = true
		}
	}
	return v
}

func (h *Handler) renderWaitEntry(w http.ResponseWriter, r *http.Request, status int, v waitEntryView) {
	l := trOf(r)
	title := l.T("wait.entry.title")
	if v.General != "" || len(v.ErrorList) > 0 {
		title = l.T("title.error", title)
	}
	h.pages.Render(w, r, status, "lista_attesa_voce.html", site.Page{
		Title:       title,
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("wait.entry.title")}},
		Data:        v,
	})
}

func (h *Handler) waitAccept(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	token := r.PostForm.Get(fToken)
	e, svc, office, err := h.loadWaitEntry(r, t, token)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	acc := booking.Acceptance{FiscalCode: r.PostForm.Get(fFiscal), Phone: r.PostForm.Get(fPhone),
		Channel: booking.Channel(r.PostForm.Get(fChannel)), PrivacyAccepted: r.PostForm.Get(fPrivacy) == "1"}
	var created booking.Created
	acc.Admission, err = h.formAdmission(r, t, svc.ID)
	if err == nil {
		created, err = h.book.AcceptOffer(r.Context(), t, e.ID, token, acc, h.baseURL(r))
	}
	if err == nil {
		h.log.Info("waiting-list offer accepted", "tenant", t.ID, "entry", e.ID, "booking", created.Booking.Code)
		http.Redirect(w, r, manageURL(created.Booking.Code, created.ManageToken, fConfirm), http.StatusSeeOther)
		return
	}
	l := trOf(r)
	v := h.newWaitEntryView(r, t, e, svc, office, token)
	v.Form.FiscalCode, v.Form.Phone, v.Privacy = acc.FiscalCode, acc.Phone, acc.PrivacyAccepted
	for i := range v.Channels {
		v.Channels[i].Checked = v.Channels[i].Value == string(acc.Channel)
	}
	status := http.StatusConflict
	var ve *booking.ValidationError
	switch {
	case errors.As(err, &ve):
		fe := formErrors{}
		for k, msg := range ve.Fields {
			if name, ok := formField[k]; ok {
				fe[name] = msg
			}
		}
		v.Errors, v.ErrorList, status = fe.in(l), fe.list(l), http.StatusUnprocessableEntity
	case errors.Is(err, booking.ErrNoOffer) && e.Status == booking.WaitBooked:
		// A second press of the button: the first one booked.
		v.General = l.T("wait.err.booked")
	case errors.Is(err, booking.ErrOfferExpired), errors.Is(err, booking.ErrNoOffer):
		v.General = l.T("wait.err.expired")
	case errors.Is(err, booking.ErrAlreadyBooked), errors.Is(err, booking.ErrSlotFull), errors.Is(err, booking.ErrTooSoon),
		errors.Is(err, booking.ErrClosed), errors.Is(err, booking.ErrChannelOffered):
		v.General = l.msg(classify(err).Message)
	case isFair(err):
		p, _ := classifyFair(err)
		v.General, status = l.msg(p.Message), p.Status
	default:
		h.pageError(w, r, err)
		return
	}
	h.renderWaitEntry(w, r, status, v)
}

func (h *Handler) waitLeave(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	id, token := r.PathValue("id"), r.PostForm.Get(fToken)
	idx, err := h.book.LeaveWaitlist(r.Context(), t, id, token)
	if err != nil && !errors.Is(err, booking.ErrWaitClosed) {
		h.pageError(w, r, err)
		return
	}
	h.log.Info("waiting list left", "tenant", t.ID, "entry", id)
	http.Redirect(w, r, booking.WaitPath(id, token)+"&"+qWaitOutcome+"=uscito&indice="+strconv.FormatUint(idx, 10), http.StatusSeeOther)
}

// isFair reports whether err is one of fair access's refusals.
func isFair(err error) bool {
	_, ok := classifyFair(err)
	return ok
}
