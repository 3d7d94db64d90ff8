package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// serviceShowView is the data of a service's page.
type serviceShowView struct {
	Service serviceView
	Office  officeView
}

// serviceShow answers GET /servizi/{id}: what the service is, what to
// bring, how and where it is provided, and the booking button
// (data-element="service-booking-access") that opens the flow with the
// service chosen.
func (h *Handler) serviceShow(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	svc, err := h.book.Service(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	// An archived service has no page for citizens any more.
	if archived, err := h.book.Archived(r.Context(), t.ID, svc); err != nil || archived {
		if err == nil {
			err = booking.ErrNotFound
		}
		h.pageError(w, r, err)
		return
	}
	o, err := h.book.Office(r.Context(), t.ID, svc.OfficeID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	l := trOf(r)
	h.pages.Render(w, r, http.StatusOK, "servizio.html", site.Page{
		Title: svc.Name,
		Breadcrumbs: []site.Crumb{
			{Label: l.T("home"), URL: "/"}, {Label: l.T("services.title"), URL: "/servizi"}, {Label: svc.Name},
		},
		Data: serviceShowView{Service: newServiceView(l, svc), Office: newOfficeView(l, o)},
	})
}
