package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// officeList answers GET /uffici: the Comune's offices with address,
// contacts, opening hours and services.
func (h *Handler) officeList(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	offices, err := h.book.Offices(r.Context(), t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	l := trOf(r)
	views := make([]officeView, 0, len(offices))
	for _, o := range offices {
		views = append(views, newOfficeView(l, o))
	}
	h.pages.Render(w, r, http.StatusOK, "uffici.html", site.Page{
		Title:       l.T("offices.title"),
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("offices.title")}},
		Data:        views,
	})
}
