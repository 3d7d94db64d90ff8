package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// bookingCreate answers POST /prenotazioni, the "Invia" of the summary:
// it books and redirects (303) to the booking's page, which confirms it.
// Anyone may book without logging in, so the only guard besides the
// cross-site check is the per-address rate limit. An error about the
// citizen's choices shows the step where it can be fixed, with the data
// kept; the slot being taken meanwhile shows step 2.
func (h *Handler) bookingCreate(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, err)
		return
	}
	f := readFlowForm(r.PostForm)
	svc, err := h.lookupService(r.Context(), t, f.Service)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if err := h.allowCreate(r); err != nil {
		p := classify(err)
		h.report(w, r, err, p)
		h.renderStep(w, r, t, p.Status, stepSummary, f, svc, formErrors{}, p.Message)
		return
	}
	if fe := checkFlow(f, svc, stepSummary); len(fe) > 0 {
		s := fe.firstStep()
		h.renderStep(w, r, t, http.StatusUnprocessableEntity, s, f, svc, fe.onStep(s), "")
		return
	}
	req := f.request()
	req.Lang = site.LangFrom(r.Context())
	// Fair access (fair_web.go): the proof of work, and the network.
	adm, err := h.formAdmission(r, t, svc.ID)
	if errors.Is(err, booking.ErrProofTooEarly) {
		// Without JavaScript, too early: the same challenge comes back,
		// so the wait is not restarted.
		r = r.WithContext(context.WithValue(r.Context(), keptChallenge{}, r.PostForm.Get(fProofChallenge)))
	}
	req.Admission = adm
	var c booking.Created
	if err == nil {
		c, err = h.book.Create(r.Context(), t, req, h.baseURL(r))
	}
	if err != nil {
		fe, general, ok := flowErrors(err)
		if !ok {
			h.pageError(w, r, err)
			return
		}
		s := fe.firstStep()
		if s == 0 {
			s = stepSummary
		}
		h.renderStep(w, r, t, classify(err).Status, s, f, svc, fe.onStep(s), general)
		return
	}
	h.log.Info("booking created", "tenant", t.ID, "booking", c.Booking.Code, "via", "page")
	http.Redirect(w, r, manageURL(c.Booking.Code, c.ManageToken, fConfirm), http.StatusSeeOther)
}
