package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// usersDone are the confirmations of the user actions (?fatto=...).
var usersDone = map[string]string{
	"ruolo":      "Il ruolo è stato assegnato.",
	"rimosso":    "Il ruolo è stato rimosso.",
	"sessioni":   "Tutte le sessioni dell'utente sono state chiuse.",
	"disattivo":  "L'utente è stato disattivato e le sue sessioni chiuse.",
	"riattivato": "L'utente è stato riattivato.",
}

// userRow is one user in the list and the detail page.
type userRow struct {
	auth.User
	Claimed  []grantView
	Assigned []grantView
	// Self is true for the administrator looking at the page.
	Self bool
	// Protected is true for a user the administrator may not disable or
	// change the appliance grant of (an appliance administrator, seen by
	// a Comune administrator).
	Protected bool
}

func newUserRow(u auth.User, me auth.User, names map[string]string) userRow {
	return userRow{
		User: u, Claimed: viewGrants(u.ClaimGrants, names), Assigned: viewGrants(u.Assigned, names),
		Self: u.ID == me.ID, Protected: isApplianceAdmin(u) && !isApplianceAdmin(me),
	}
}

// usersData is the data of gestione_utenti.html.
type usersData struct {
	adminPage
	Users []userRow
}

// usersPage lists the users of the Comune.
func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	users, err := h.store.Users(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_, names, err := h.officesOf(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	me := actor(r)
	d := usersData{adminPage: newAdminPage(r, usersDone)}
	for _, u := range users {
		d.Users = append(d.Users, newUserRow(u, me, names))
	}
	h.renderAdmin(w, r, http.StatusOK, "gestione_utenti.html", "Utenti", []site.Crumb{{Label: "Utenti"}}, d)
}

// roleChoice is a role the grant form offers.
type roleChoice struct {
	Role  auth.Role
	Label string
}

// officeChoice is an office of the grant form, checked when the refused
// form had it.
type officeChoice struct {
	OfficeRef
	Checked bool
}

// userData is the data of gestione_utente.html.
type userData struct {
	adminPage
	User    userRow
	Roles   []roleChoice
	Offices []officeChoice
	// Role is the role of the refused form.
	Role auth.Role
	// LastLogin is the user's last login, zero when never.
	LastLogin time.Time
}

// userPage shows one user with the forms that change it.
func (h *Handler) userPage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	h.showUser(w, r, t, http.StatusOK, "", nil, "", nil)
}

// showUser renders the user page, with the errors of a refused form.
func (h *Handler) showUser(w http.ResponseWriter, r *http.Request, t tenant.Tenant, status int, problem string,
	errs map[string]string, role auth.Role, checked []string) {
	u, err := h.store.User(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	offices, names, err := h.officesOf(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	me := actor(r)
	d := userData{adminPage: newAdminPage(r, usersDone), User: newUserRow(u, me, names), Role: role, LastLogin: u.LastLogin}
	d.Problem, d.Errors = problem, errs
	for _, role := range grantableRoles(me) {
		d.Roles = append(d.Roles, roleChoice{Role: role, Label: roleLabels[role]})
	}
	for _, o := range offices {
		d.Offices = append(d.Offices, officeChoice{OfficeRef: o, Checked: slices.Contains(checked, o.ID)})
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	h.renderAdmin(w, r, status, "gestione_utente.html", name,
		[]site.Crumb{{Label: "Utenti", URL: "/gestione/utenti"}, {Label: name}}, d)
}

// grantableRoles are the roles me may give: a Comune administrator never
// gives appliance administrator.
func grantableRoles(me auth.User) []auth.Role {
	roles := []auth.Role{auth.RoleOperator, auth.RoleSupervisor, auth.RoleComuneAdmin}
	if isApplianceAdmin(me) {
		roles = append(roles, auth.RoleApplianceAdmin)
	}
	return roles
}

// userGrantAdd gives the user a role: a new grant, or for a role it
// already has, the union of the offices (a supervisor grant without
// offices covers them all and stays so).
func (h *Handler) userGrantAdd(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	u, err := h.store.User(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_, names, err := h.officesOf(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	role := auth.Role(r.PostFormValue("role"))
	chosen := r.PostForm["offices"]
	errs := map[string]string{}
	if !slices.Contains(grantableRoles(actor(r)), role) {
		errs["role"] = "Scegli uno dei ruoli proposti."
	}
	for _, o := range chosen {
		if _, ok := names[o]; !ok {
			errs["offices"] = "Scegli gli uffici tra quelli del Comune."
		}
	}
	if role == auth.RoleOperator && len(chosen) == 0 {
		errs["offices"] = "Un operatore deve essere assegnato ad almeno un ufficio."
	}
	if len(errs) > 0 {
		h.showUser(w, r, t, http.StatusUnprocessableEntity, "Il ruolo non è stato assegnato: correggi i campi indicati.", errs, role, chosen)
		return
	}
	grants := slices.Clone(u.Assigned)
	i := slices.IndexFunc(grants, func(g auth.Grant) bool { return g.Role == role })
	switch {
	case i < 0:
		g := auth.Grant{Role: role}
		if role == auth.RoleOperator || role == auth.RoleSupervisor {
			g.Offices = chosen
		}
		grants = append(grants, g)
	case role == auth.RoleSupervisor && (len(grants[i].Offices) == 0 || len(chosen) == 0):
		grants[i].Offices = nil
	case role == auth.RoleOperator || role == auth.RoleSupervisor:
		merged := slices.Clone(grants[i].Offices)
		for _, o := range chosen {
			if !slices.Contains(merged, o) {
				merged = append(merged, o)
			}
		}
		grants[i].Offices = merged
	}
	if err := h.store.SetGrants(r.Context(), t.ID, u.ID, grants); err != nil {
		var ve *auth.ValidationError
		if errors.As(err, &ve) {
			h.showUser(w, r, t, http.StatusUnprocessableEntity, "Il ruolo non è stato assegnato: correggi i campi indicati.",
				map[string]string{"offices": "Un operatore deve essere assegnato ad almeno un ufficio."}, role, chosen)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.backToUser(w, r, u.ID, "ruolo")
}

// userGrantRemove takes the grant of one role away from the user. Only
// assigned grants can be removed: claimed ones come back at each login
// and are changed at the provider or in its role rules.
func (h *Handler) userGrantRemove(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	u, err := h.store.User(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	role := auth.Role(r.PostFormValue("role"))
	if role == auth.RoleApplianceAdmin && !isApplianceAdmin(actor(r)) {
		h.showUser(w, r, t, http.StatusForbidden, "Solo un amministratore dell'installazione può togliere questo ruolo.", nil, "", nil)
		return
	}
	grants := slices.DeleteFunc(slices.Clone(u.Assigned), func(g auth.Grant) bool { return g.Role == role })
	if len(grants) == len(u.Assigned) {
		h.showUser(w, r, t, http.StatusUnprocessableEntity, "L'utente non ha questo ruolo assegnato.", nil, "", nil)
		return
	}
	if err := h.store.SetGrants(r.Context(), t.ID, u.ID, grants); err != nil {
		h.fail(w, r, err)
		return
	}
	h.backToUser(w, r, u.ID, "rimosso")
}

// userEndSessions ends every session of the user, on every node.
func (h *Handler) userEndSessions(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if _, err := h.store.EndUserSessions(r.Context(), t.ID, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	h.backToUser(w, r, r.PathValue("id"), "sessioni")
}

// userSetDisabled disables the user (ending its sessions in the same
// command) or enables it again. An administrator cannot disable itself
// (nobody might be left to enable it), nor a Comune administrator an
// appliance administrator.
func (h *Handler) userSetDisabled(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	u, err := h.store.User(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	disable := r.PostFormValue("disabled") == "1"
	me := actor(r)
	switch {
	case disable && u.ID == me.ID:
		h.showUser(w, r, t, http.StatusUnprocessableEntity, "Non puoi disattivare il tuo stesso account.", nil, "", nil)
		return
	case isApplianceAdmin(u) && !isApplianceAdmin(me):
		h.showUser(w, r, t, http.StatusForbidden, "Solo un amministratore dell'installazione può disattivare o riattivare questo utente.", nil, "", nil)
		return
	}
	if err := h.store.SetDisabled(r.Context(), t.ID, u.ID, disable); err != nil {
		h.fail(w, r, err)
		return
	}
	done := "riattivato"
	if disable {
		done = "disattivo"
	}
	h.backToUser(w, r, u.ID, done)
}

// backToUser redirects to the user page after an action (POST, then GET).
func (h *Handler) backToUser(w http.ResponseWriter, r *http.Request, id, done string) {
	http.Redirect(w, r, "/gestione/utenti/"+url.PathEscape(id)+"?fatto="+done, http.StatusSeeOther)
}
