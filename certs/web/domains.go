package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// fieldDomain is the form field (and input id) of the domain to add.
const fieldDomain = "dominio"

// Query parameters of the page a save redirects to.
const (
	qOutcome = "esito"  // which confirmation to show (flashes)
	qIndex   = "indice" // the save's log index, to wait for
)

// flashes are the confirmations after a save, chosen by the esito
// parameter: the text never comes from the URL.
var flashes = map[string]string{
	"dominio-aggiunto": "Dominio aggiunto. Crea il record DNS indicato qui sotto: il certificato si richiede da solo alla prima visita in HTTPS.",
	"dominio-rimosso":  "Dominio rimosso: il servizio non risponde più a quel nome.",
}

// hostView is one host name of the Comune as the page shows it.
type hostView struct {
	// Name is the name as browsers send it (punycode for an IDN);
	// Unicode is its readable form when it differs.
	Name, Unicode string
	// Primary marks the <id>.<base-domain> host, which cannot be removed.
	Primary bool
	// Current marks the host this page was opened on.
	Current bool
	// Cert is the certificate's state; HasCert is false when it could
	// not be read (StatusError says why, in Italian).
	Cert        certState
	HasCert     bool
	StatusError string
}

// certState is a certificate's state for the template.
type certState struct {
	State, Issuer, LastError string
	NotAfter, LastAttempt    time.Time
}

// fieldError is one entry of the error summary.
type fieldError struct{ Field, Label, Message string }

// pageView is the data of gestione_domini.html.
type pageView struct {
	CSRF  string
	Flash string
	// ErrorList and General feed the error summary.
	ErrorList []fieldError
	General   string
	Hosts     []hostView
	// Primary is the <id>.<base-domain> host, the CNAME target.
	Primary string
	// Addresses are the nodes' addresses for A/AAAA records.
	Addresses []string
	// Value and Error are the add form's field.
	Value, Error string
	// Full is true when the Comune has the most own domains allowed.
	Full bool
	Max  int
	// Managed is false when this node does not manage certificates.
	Managed bool
}

// confirmView is the data of gestione_dominio_rimuovi.html.
type confirmView struct {
	CSRF, Name, Unicode, Primary string
	// Current is true when the page was opened on the name to remove: the
	// session stays on this name, so the administrator will log in again
	// on Primary.
	Current bool
}

// list answers GET /gestione/domini. It reads the Comune again after
// waiting for the save that redirected here: the Comune the middleware
// resolved may predate it on this node.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, q request) {
	flash := h.waitSave(r)
	t, err := h.tenants.Get(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, q, t, http.StatusOK, pageView{Flash: flash})
}

// add answers POST /gestione/domini: it adds the typed name to the
// Comune's own domains and redirects to the page, or shows the page again
// with the name as typed and its error, changing nothing.
func (h *Handler) add(w http.ResponseWriter, r *http.Request, q request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, err)
		return
	}
	typed := r.PostForm.Get(fieldDomain)
	t, err := h.tenants.Get(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name, msg := checkDomain(typed, t, tenant.NormalizeHost(h.tenants.BaseDomain()))
	if msg == "" {
		// The registry has no command for one domain: the page saves the
		// whole Comune it has just read. A change made between this Get
		// and the Update (another page, the command line) would be
		// overwritten; domains and settings change rarely and by few.
		t.Domains = append(slices.Clone(t.Domains), name)
		_, err := h.tenants.Update(r.Context(), t)
		if err == nil {
			h.log.InfoContext(r.Context(), "own domain added", "tenant", t.ID, "domain", name, "user", q.user.ID)
			h.afterSave(w, r, "", "dominio-aggiunto")
			return
		}
		if msg = registryMessage(err); msg == "" {
			h.fail(w, r, err)
			return
		}
	}
	h.render(w, r, q, t, http.StatusUnprocessableEntity, pageView{Value: strings.TrimSpace(typed), Error: msg})
}

// registryMessage returns the Italian message of a refusal of the
// registry about a domain, "" for any other error.
func registryMessage(err error) string {
	if errors.Is(err, tenant.ErrDomainTaken) {
		// The other Comune is not named: its administrator's choices are
		// not this one's business.
		return "Questo dominio è già usato da un altro Comune. Se appartiene al tuo Comune, chiedi all'amministratore dell'installazione di liberarlo."
	}
	var ve *tenant.ValidationError
	if errors.As(err, &ve) {
		for k, m := range ve.Fields {
			if k == "domains" || strings.HasPrefix(k, "domains.") {
				return m
			}
		}
		for _, m := range ve.Fields {
			// Another field of the Comune is invalid (set on the command
			// line); the domain cannot be saved until it is fixed.
			return "Il dominio non può essere salvato: " + m
		}
	}
	return ""
}

// confirmRemove answers GET /gestione/domini/{dominio}/rimuovi: the
// confirmation, a form that posts to the same address.
func (h *Handler) confirmRemove(w http.ResponseWriter, r *http.Request, q request) {
	t, name, ok := h.ownDomain(w, r, q)
	if !ok {
		return
	}
	v := confirmView{CSRF: q.csrf, Name: name, Unicode: displayName(name), Primary: h.tenants.PrimaryHost(t),
		Current: tenant.NormalizeHost(r.Host) == name}
	h.pages.Render(w, r, http.StatusOK, "gestione_dominio_rimuovi.html", site.Page{
		Title: "Rimuovi il dominio", Breadcrumbs: crumbs(site.Crumb{Label: "Domini", URL: "/gestione/domini"}, site.Crumb{Label: "Rimuovi il dominio"}),
		Data: v,
	})
}

// remove answers POST /gestione/domini/{dominio}/rimuovi.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request, q request) {
	t, name, ok := h.ownDomain(w, r, q)
	if !ok {
		return
	}
	t.Domains = slices.DeleteFunc(slices.Clone(t.Domains), func(d string) bool { return d == name })
	if _, err := h.tenants.Update(r.Context(), t); err != nil {
		if msg := registryMessage(err); msg != "" {
			h.render(w, r, q, t, http.StatusUnprocessableEntity, pageView{General: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "own domain removed", "tenant", t.ID, "domain", name, "user", q.user.ID)
	origin := ""
	if tenant.NormalizeHost(r.Host) == name {
		// This host no longer answers: continue on the Comune's
		// subdomain, where the administrator logs in again (the session
		// cookie belongs to the removed name).
		origin = "http://"
		if r.TLS != nil {
			origin = "https://"
		}
		origin += h.tenants.PrimaryHost(t)
		if _, port, err := net.SplitHostPort(r.Host); err == nil {
			origin += ":" + port
		}
	}
	h.afterSave(w, r, origin, "dominio-rimosso")
}

// ownDomain returns the Comune, read fresh, and the {dominio} of the path
// when it is one of the Comune's own domains; otherwise it answers 404.
func (h *Handler) ownDomain(w http.ResponseWriter, r *http.Request, q request) (tenant.Tenant, string, bool) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, err)
		return tenant.Tenant{}, "", false
	}
	t, err := h.tenants.Get(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return tenant.Tenant{}, "", false
	}
	name := tenant.NormalizeHost(r.PathValue("dominio"))
	if name == "" || !slices.Contains(t.Domains, name) {
		h.site.Error(w, r, http.StatusNotFound, "Questo dominio non è tra quelli del Comune.")
		return tenant.Tenant{}, "", false
	}
	return t, name, true
}

// afterSave redirects (303) to the page, on origin ("" for this host),
// with the confirmation and the log index to wait for. The index is this
// node's applied index after the save, never below the save's own.
func (h *Handler) afterSave(w http.ResponseWriter, r *http.Request, origin, outcome string) {
	v := url.Values{qOutcome: {outcome}, qIndex: {strconv.FormatUint(h.applied.AppliedIndex(), 10)}}
	http.Redirect(w, r, origin+"/gestione/domini?"+v.Encode(), http.StatusSeeOther)
}

// waitSave waits (at most saveWait) until this node has applied the save
// named by the query, and returns its confirmation.
func (h *Handler) waitSave(r *http.Request) string {
	qv := r.URL.Query()
	if idx, err := strconv.ParseUint(qv.Get(qIndex), 10, 64); err == nil && idx > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), saveWait)
		err := h.applied.WaitApplied(ctx, idx)
		cancel()
		if err != nil {
			h.log.WarnContext(r.Context(), "domains: save not applied here yet", "index", idx, "err", err)
		}
	}
	return flashes[qv.Get(qOutcome)]
}

// render shows the page for Comune t with v's form state.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, q request, t tenant.Tenant, status int, v pageView) {
	v.CSRF = q.csrf
	v.Primary = h.tenants.PrimaryHost(t)
	v.Addresses = h.addresses
	v.Max = maxOwnDomains
	v.Full = len(t.Domains) >= maxOwnDomains
	v.Managed = h.status != nil
	if v.Error != "" {
		v.ErrorList = []fieldError{{Field: fieldDomain, Label: "Nuovo dominio", Message: v.Error}}
	}
	current := tenant.NormalizeHost(r.Host)
	ctx, cancel := context.WithTimeout(r.Context(), statusWait)
	defer cancel()
	for i, name := range append([]string{v.Primary}, t.Domains...) {
		hv := hostView{Name: name, Unicode: displayName(name), Primary: i == 0, Current: name == current}
		if h.status != nil {
			st, err := h.status(ctx, name)
			if err != nil {
				h.log.WarnContext(r.Context(), "read certificate state", "tenant", t.ID, "name", name, "err", err)
				hv.StatusError = "Lo stato del certificato non è disponibile in questo momento."
			} else {
				hv.HasCert = true
				hv.Cert = certState{State: st.State, Issuer: st.Issuer, LastError: st.LastError,
					NotAfter: st.NotAfter, LastAttempt: st.LastAttempt}
			}
		}
		v.Hosts = append(v.Hosts, hv)
	}
	// The layout paints the page from the context's Comune: give it the
	// one just read.
	r = r.WithContext(site.WithTenant(r.Context(), t))
	h.pages.Render(w, r, status, "gestione_domini.html", site.Page{
		Title: "Domini e certificati", Breadcrumbs: crumbs(site.Crumb{Label: "Domini e certificati"}), Data: v,
	})
}

// crumbs are the breadcrumbs of a back-office page: Home, Gestione, then
// the given ones.
func crumbs(more ...site.Crumb) []site.Crumb {
	return append([]site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}}, more...)
}
