package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
)

// apiOfficeList answers GET /api/v1/offices: the Comune's offices with the
// services bookable at each.
func (h *Handler) apiOfficeList(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	offices, err := h.book.Offices(r.Context(), t.ID)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	out := apiOfficeList{Offices: make([]apiOffice, 0, len(offices))}
	for _, o := range offices {
		ao := apiOffice{ID: o.ID, Name: o.Name, Address: o.Address, Services: make([]apiService, 0, len(o.Services))}
		for _, s := range o.Services {
			ao.Services = append(ao.Services, toAPIService(s))
		}
		out.Offices = append(out.Offices, ao)
	}
	writeJSON(w, http.StatusOK, out)
}
