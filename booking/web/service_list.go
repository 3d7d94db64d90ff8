package web

import (
	"net/http"
	"sort"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// serviceGroup is the services of one category.
type serviceGroup struct {
	Category string
	Services []serviceEntry
}

// serviceEntry is a service on the list, with its office.
type serviceEntry struct {
	serviceView
	OfficeName string
}

// serviceList answers GET /servizi: the Comune's bookable services by
// category, each linking to its page.
func (h *Handler) serviceList(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	offices, err := h.book.Offices(r.Context(), t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	l := trOf(r)
	// otherCategory holds services without a category, last.
	otherCategory := l.T("services.other")
	byCat := map[string]*serviceGroup{}
	for _, o := range offices {
		for _, s := range o.Services {
			cat := s.Category
			if cat == "" {
				cat = otherCategory
			}
			g := byCat[cat]
			if g == nil {
				g = &serviceGroup{Category: cat}
				byCat[cat] = g
			}
			g.Services = append(g.Services, serviceEntry{serviceView: newServiceView(l, s), OfficeName: o.Name})
		}
	}
	groups := make([]serviceGroup, 0, len(byCat))
	for _, g := range byCat {
		sort.SliceStable(g.Services, func(i, j int) bool { return g.Services[i].Name < g.Services[j].Name })
		groups = append(groups, *g)
	}
	sort.Slice(groups, func(i, j int) bool {
		if (groups[i].Category == otherCategory) != (groups[j].Category == otherCategory) {
			return groups[j].Category == otherCategory
		}
		return groups[i].Category < groups[j].Category
	})
	h.pages.Render(w, r, http.StatusOK, "servizi.html", site.Page{
		Title:       l.T("services.title"),
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("services.title")}},
		Data:        groups,
	})
}
