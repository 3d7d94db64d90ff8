package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// flowView is the data of the five step pages.
type flowView struct {
	Step       int
	Steps      []stepView
	Count      int
	Next, Prev int
	Form       flowForm
	Errors     formErrors
	ErrorList  []fieldError
	General    string
	Hidden     []hiddenField

	// Step 1.
	Offices    []officeView
	OnlyOffice bool

	// Steps 2–5.
	Service serviceView
	Office  officeView

	// Step 2.
	Months      []monthView
	MonthLabel  string
	MonthHidden []hiddenField
	Days        []dayView

	// Step 3.
	Channels   []choice
	MaxDetails int

	// Step 5.
	When         string
	ChannelLabel string
	// Proof is the summary's proof-of-work challenge, nil when the
	// service asks none (fair_web.go).
	Proof *proofView
}

// monthView is one button of the month selector.
type monthView struct {
	Value, Label string
	Current      bool
}

// flowStart answers GET /prenota: step 1. With ?servizio=ID, coming from a
// service page, it shows only that service's office with the service
// chosen; an ID unknown to this Comune answers 404 with every office.
func (h *Handler) flowStart(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	f := flowForm{Service: r.URL.Query().Get(fService)}
	status := http.StatusOK
	var general string
	svc, err := h.lookupService(r.Context(), t, f.Service)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if f.Service != "" && svc == nil {
		f.Service = ""
		status = http.StatusNotFound
		general = "Il servizio indicato non è disponibile: scegline uno dall'elenco."
	}
	f.Only = svc != nil
	h.renderStep(w, r, t, status, stepPlace, f, svc, formErrors{}, general)
}

// flowStep answers POST /prenota, the navigation between steps. The form
// says which step it was sent from ("passo") and where the pressed button
// leads ("vai"; without it, as when Enter submits, the next step). Going
// forward validates every step before the target and shows the earliest
// one with errors; going back keeps what was entered without validating.
// On step 2, a "mese" button without "vai" shows another month.
func (h *Handler) flowStep(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	f := readFlowForm(r.PostForm)
	cur := clampStep(r.PostForm.Get(fStep), stepPlace)
	svc, err := h.lookupService(r.Context(), t, f.Service)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if f.Month != "" && r.PostForm.Get(fGo) == "" {
		if svc == nil {
			h.renderStep(w, r, t, http.StatusUnprocessableEntity, stepPlace, f, nil, checkFlow(f, nil, stepPlace), "")
			return
		}
		h.renderStep(w, r, t, http.StatusOK, stepTime, f, svc, formErrors{}, "")
		return
	}
	target := clampStep(r.PostForm.Get(fGo), min(cur+1, stepCount))
	if target > cur {
		if fe := checkFlow(f, svc, target-1); len(fe) > 0 {
			s := fe.firstStep()
			h.renderStep(w, r, t, http.StatusUnprocessableEntity, s, f, svc, fe.onStep(s), "")
			return
		}
	}
	h.renderStep(w, r, t, http.StatusOK, target, f, svc, formErrors{}, "")
}

// clampStep parses a step number, answering def when s is not 1..5.
func clampStep(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < stepPlace || n > stepCount {
		return def
	}
	return n
}

// lookupService returns the Comune's service id, nil when id is empty or
// unknown to this Comune.
func (h *Handler) lookupService(ctx context.Context, t tenant.Tenant, id string) (*booking.Service, error) {
	if id == "" {
		return nil, nil
	}
	svc, err := h.book.Service(ctx, t.ID, id)
	if errors.Is(err, booking.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// An archived service is no longer offered: the flow starts over.
	if archived, err := h.book.Archived(ctx, t.ID, svc); err != nil || archived {
		return nil, err
	}
	return &svc, nil
}

// renderStep renders step of the flow with the state f, the chosen
// service svc (nil only on step 1), the errors of that step and a general
// error message.
func (h *Handler) renderStep(w http.ResponseWriter, r *http.Request, t tenant.Tenant, status, step int, f flowForm, svc *booking.Service, fe formErrors, general string) {
	if svc == nil {
		step = stepPlace
	}
	ctx := r.Context()
	l := trOf(r)
	fe = fe.in(l)
	v := flowView{
		Step: step, Steps: stepsHeader(l, step), Count: stepCount, Next: step + 1, Prev: step - 1,
		Form: f, Errors: fe, ErrorList: fe.list(l), General: l.msg(general),
	}
	if svc != nil {
		v.Service = newServiceView(l, *svc)
		v.Service.Checked = true
		o, err := h.book.Office(ctx, t.ID, svc.OfficeID)
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		v.Office = newOfficeView(l, o)
	}
	loc := t.Location()
	switch step {
	case stepPlace:
		offices, err := h.book.Offices(ctx, t.ID)
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		for _, o := range offices {
			if f.Only && svc != nil && o.ID != svc.OfficeID {
				continue
			}
			ov := newOfficeView(l, o)
			for i := range ov.Services {
				ov.Services[i].Checked = ov.Services[i].ID == f.Service
			}
			v.Offices = append(v.Offices, ov)
		}
		v.OnlyOffice = f.Only && svc != nil
		v.Hidden = f.values(fService)
	case stepTime:
		first, last := horizon(*svc, civil.DateOf(h.now().In(loc)))
		all := months(first, last)
		start, _ := f.startTime()
		m, slots, err := h.pickMonth(ctx, t, *svc, all, f.Month, start)
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		for _, mm := range all {
			v.Months = append(v.Months, monthView{Value: mm.String(), Label: mm.label(l), Current: mm == m})
		}
		v.MonthLabel = m.label(l)
		v.Days = groupSlots(l, slots, loc, f.Start)
		v.Hidden = f.values(fStart)
		v.MonthHidden = f.values()
	case stepDetails:
		for _, c := range svc.Channels {
			v.Channels = append(v.Channels, choice{
				Value: string(c), Label: l.channel(c),
				Checked: f.Channel == string(c) || (f.Channel == "" && len(svc.Channels) == 1),
			})
		}
		v.MaxDetails = booking.MaxDetails
		v.Hidden = f.values(fChannel, fDetails)
	case stepApplicant:
		v.Hidden = f.values(fGiven, fFamily, fFiscal, fEmail, fPhone)
	case stepSummary:
		if start, ok := f.startTime(); ok {
			st := start.In(loc)
			v.When = l.span(st, st.Add(svc.Duration))
		}
		v.ChannelLabel = l.channel(booking.Channel(f.Channel))
		v.Hidden = f.values(fPrivacy)
		v.Proof = h.proofFor(r, t, *svc)
	}
	title := l.T("flow.page.title", l.stepTitle(step))
	if len(v.ErrorList) > 0 || v.General != "" {
		title = l.T("title.error", title)
	}
	h.pages.Render(w, r, status, "prenota.html", site.Page{
		Title:       title,
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("flow.title")}},
		Data:        v,
	})
}
