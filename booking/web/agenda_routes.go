package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/auth"
)

// The operators' agenda and the supervisors' statistics (agenda.go,
// stats.go). They are back-office pages like admin_*.go, behind the same
// guard, with one difference: the agenda serves operators and
// supervisors alike, and the guard checks one role. Its routes name
// auth.RoleOperator and agendaWrap lets a supervisor through under the
// supervisor role instead; either way the handlers check the office of
// every booking shown or acted on against the user's grant (mayServe),
// because an ID in a form or URL is the client's to choose.

// agendaRouteTable lists the routes of the agenda and statistics with the
// role each needs.
func (h *Handler) agendaRouteTable() []adminRoute {
	op := auth.RoleOperator
	return []adminRoute{
		{"GET", "/gestione/agenda", op, h.agendaShow},
		{"GET", "/gestione/agenda/cerca", op, h.agendaSearch},
		{"POST", "/gestione/agenda/{id}/arrivo", op, h.agendaArrive},
		{"POST", "/gestione/agenda/{id}/servito", op, h.agendaServe},
		{"POST", "/gestione/agenda/{id}/assente", op, h.agendaNoShow},
		{"POST", "/gestione/agenda/{id}/nota", op, h.agendaNote},
		{"POST", "/gestione/agenda/{id}/annulla", op, h.agendaCancel},
		{"GET", "/gestione/documenti/{id}", op, h.agendaDocument},
		{"GET", "/gestione/statistiche", auth.RoleSupervisor, h.statsShow},
	}
}

// agendaRoutes mounts the agenda and statistics on mux when the handler
// has a guard.
func (h *Handler) agendaRoutes(mux *http.ServeMux) {
	if h.guard == nil {
		return
	}
	for _, rt := range h.agendaRouteTable() {
		if rt.role == auth.RoleOperator {
			mux.Handle(rt.method+" "+rt.path, h.agendaWrap(rt))
			continue
		}
		mux.Handle(rt.method+" "+rt.path, h.adminWrap(rt))
	}
}

// agendaWrap guards an agenda route for operators and supervisors: a user
// who is a supervisor but no operator passes the guard as supervisor. The
// guard still checks the login, the cross-origin headers and the CSRF
// token of every POST.
func (h *Handler) agendaWrap(rt adminRoute) http.Handler {
	asOperator := h.adminWrap(rt)
	sup := rt
	sup.role = auth.RoleSupervisor
	asSupervisor := h.adminWrap(sup)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, u, ok := h.sessionFrom(r.Context()); ok && !u.Allowed(auth.RoleOperator, "") && u.Allowed(auth.RoleSupervisor, "") {
			asSupervisor.ServeHTTP(w, r)
			return
		}
		asOperator.ServeHTTP(w, r)
	})
}

// mayServe reports whether u may see and act on the agenda of office: as
// its operator, its supervisor, or an administrator.
func mayServe(u auth.User, office string) bool {
	return office != "" && (u.Allowed(auth.RoleOperator, office) || u.Allowed(auth.RoleSupervisor, office))
}
