package web

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The Comune administrator's pages of the package: users and their grants
// (/gestione/utenti), the OpenID providers (/gestione/accesso) and the
// audit log (/gestione/registro). Every route sits behind
// RequireRole(auth.RoleComuneAdmin), which also checks the CSRF token of
// every POST; the Comune is always the request's (its Host), never a
// form field, so an administrator of one Comune cannot reach another's
// users or providers.

// OfficeRef is an office as the grant forms show it. auth/web cannot
// import booking (the import direction of ARCHITECTURE.md), so
// cmd/sportello adapts booking.Book.Offices into Config.Offices.
type OfficeRef struct {
	ID   string
	Name string
}

// AuditReader reads a Comune's audit log, newest first; *cluster.Node is
// one.
type AuditReader interface {
	Audit(ctx context.Context, tenant string, f cluster.AuditFilter) ([]cluster.AuditEntry, error)
}

// adminRoutes mounts the back-office pages of the package.
func (h *Handler) adminRoutes(mux *http.ServeMux) {
	admin := func(fn tenantHandler) http.Handler {
		return h.RequireRole(auth.RoleComuneAdmin, h.withTenant(fn))
	}
	mux.Handle("GET /gestione/utenti", admin(h.usersPage))
	mux.Handle("GET /gestione/utenti/{id}", admin(h.userPage))
	mux.Handle("POST /gestione/utenti/{id}/ruoli", admin(h.userGrantAdd))
	mux.Handle("POST /gestione/utenti/{id}/ruoli/rimuovi", admin(h.userGrantRemove))
	mux.Handle("POST /gestione/utenti/{id}/sessioni", admin(h.userEndSessions))
	mux.Handle("POST /gestione/utenti/{id}/stato", admin(h.userSetDisabled))
	mux.Handle("GET /gestione/accesso", admin(h.providersPage))
	mux.Handle("GET /gestione/accesso/nuovo", admin(h.providerNew))
	mux.Handle("POST /gestione/accesso/nuovo", admin(h.providerCreate))
	mux.Handle("GET /gestione/accesso/{id}", admin(h.providerEdit))
	mux.Handle("POST /gestione/accesso/{id}", admin(h.providerUpdate))
	mux.Handle("POST /gestione/accesso/{id}/elimina", admin(h.providerDelete))
	mux.Handle("GET /gestione/registro", admin(h.auditPage))
}

// adminPage is what every back-office page of the package gets besides
// its own data.
type adminPage struct {
	// CSRF is the session's token for the page's forms.
	CSRF string
	// Done is the confirmation of the action that led here ("" for
	// none), announced in an aria-live region.
	Done string
	// Errors are the field errors of a refused form, keyed by field
	// name, in Italian; Problem is the message above the form.
	Errors  map[string]string
	Problem string
}

// newAdminPage fills the common part of a page for r.
func newAdminPage(r *http.Request, done map[string]string) adminPage {
	return adminPage{CSRF: CSRFToken(r), Done: done[r.URL.Query().Get("fatto")]}
}

// renderAdmin renders a back-office page in the Comune's layout, under
// the breadcrumbs Home › Gestione › section, as booking/web's back-office
// pages have them.
func (h *Handler) renderAdmin(w http.ResponseWriter, r *http.Request, status int, page, title string, crumbs []site.Crumb, data any) {
	if h.pages == nil {
		h.fail(w, r, errors.New("auth/web: back-office pages need Config.Site"))
		return
	}
	all := append([]site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}}, crumbs...)
	h.pages.Render(w, r, status, page, site.Page{Title: title, Breadcrumbs: all, Data: data})
}

// actor returns the user of the request (RequireRole let it through).
func actor(r *http.Request) auth.User {
	_, u, _ := SessionFrom(r.Context())
	return u
}

// isApplianceAdmin reports whether u holds an appliance administrator
// grant, claimed or assigned.
func isApplianceAdmin(u auth.User) bool {
	return slices.ContainsFunc(u.Grants(), func(g auth.Grant) bool { return g.Role == auth.RoleApplianceAdmin })
}

// roleLabels are the Italian names of the roles.
var roleLabels = map[auth.Role]string{
	auth.RoleApplianceAdmin: "Amministratore dell'installazione",
	auth.RoleComuneAdmin:    "Amministratore del Comune",
	auth.RoleSupervisor:     "Supervisore",
	auth.RoleOperator:       "Operatore",
}

// grantView is a grant as the pages show it.
type grantView struct {
	Role    auth.Role
	Label   string
	Offices []string // office names (IDs when the office is unknown)
	// AllOffices is true for a supervisor grant without offices.
	AllOffices bool
}

func viewGrants(gs []auth.Grant, names map[string]string) []grantView {
	out := make([]grantView, 0, len(gs))
	for _, g := range gs {
		v := grantView{Role: g.Role, Label: roleLabels[g.Role], AllOffices: g.Role == auth.RoleSupervisor && len(g.Offices) == 0}
		if v.Label == "" {
			v.Label = string(g.Role)
		}
		for _, o := range g.Offices {
			if n := names[o]; n != "" {
				o = n
			}
			v.Offices = append(v.Offices, o)
		}
		out = append(out, v)
	}
	return out
}

// officesOf returns the offices of Comune t, none without Config.Offices.
func (h *Handler) officesOf(ctx context.Context, t tenant.ID) ([]OfficeRef, map[string]string, error) {
	if h.offices == nil {
		return nil, map[string]string{}, nil
	}
	os, err := h.offices(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(os))
	for _, o := range os {
		names[o.ID] = o.Name
	}
	return os, names, nil
}

// clientAddr returns the address the request came from: the peer's, or
// behind a trusted proxy the last address it appended to
// X-Forwarded-For (the one it saw; earlier ones are the client's claim).
func (h *Handler) clientAddr(r *http.Request) string { return site.ClientIP(r, h.trustProxy) }
