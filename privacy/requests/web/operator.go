package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Form fields.
const (
	fCF       = "codice_fiscale"
	fEmail    = "email"
	fFormat   = "formato"
	fNote     = "nota"
	fDecision = "decisione"
	fReason   = "motivo"
)

// searchView is the data of gestione_privacy.html.
type searchView struct {
	CSRF, FiscalCode, Email string
	Errors                  map[string]string
	Pending                 int
}

// search answers GET /gestione/privacy: the search form.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, q staffReq) {
	reqs, err := h.store.Requests(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := searchView{CSRF: q.csrf, Errors: map[string]string{}}
	for _, rq := range reqs {
		if rq.State == requests.StatePending {
			v.Pending++
		}
	}
	h.render(w, r, http.StatusOK, "gestione_privacy.html", "Richieste sui dati personali", crumbs(), v)
}

// exportView is the data of privacy_export.html, for both scopes.
type exportView struct {
	requests.Export
	Operator bool
	CSRF     string
	// Query re-posts the search (the JSON button of the operator).
	FiscalCode, Email string
	Flash             string
	Errors            map[string]string
}

// export answers POST /gestione/privacy/esporta: the export of the
// codice fiscale and/or email typed, as a page or as a JSON download.
// A POST keeps the citizen's identifiers out of URLs and server logs.
func (h *Handler) export(w http.ResponseWriter, r *http.Request, q staffReq) {
	who := requests.Subject{FiscalCode: r.PostForm.Get(fCF), Email: r.PostForm.Get(fEmail)}.Normalize()
	if err := who.Check(); err != nil {
		fe, ok := fieldErrs(err)
		if !ok {
			h.fail(w, r, err)
			return
		}
		v := searchView{CSRF: q.csrf, FiscalCode: who.FiscalCode, Email: who.Email, Errors: fe}
		h.render(w, r, http.StatusUnprocessableEntity, "gestione_privacy.html", "Richieste sui dati personali", crumbs(), v)
		return
	}
	ex, err := h.exporter.Export(r.Context(), q.t, who, requests.ScopeOperator)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "citizen data exported", "tenant", q.t.ID, "user", q.user.ID,
		"format", r.PostForm.Get(fFormat), "bookings", len(ex.Bookings), "tickets", len(ex.Tickets))
	if r.PostForm.Get(fFormat) == "json" {
		writeJSON(w, ex, "dati-personali-"+string(q.t.ID)+".json")
		return
	}
	v := exportView{Export: ex, Operator: true, CSRF: q.csrf, FiscalCode: who.FiscalCode, Email: who.Email, Errors: map[string]string{}}
	h.render(w, r, http.StatusOK, "privacy_export.html", "Dati personali", crumbs(site.Crumb{Label: "Dati personali"}), v)
}

// writeJSON sends ex as a download.
func writeJSON(w http.ResponseWriter, ex requests.Export, name string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(ex)
}

// document answers GET /gestione/privacy/documenti/{id}: a document of
// the Comune (one of another Comune is not found).
func (h *Handler) document(w http.ResponseWriter, r *http.Request, q staffReq) {
	if h.files == nil {
		h.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	d, err := h.files.Get(r.Context(), q.t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "citizen document downloaded", "tenant", q.t.ID, "user", q.user.ID, "document", d.ID)
	h.files.Download(w, r, q.t.ID, d.Room, d.ID)
}

// listView is the data of gestione_privacy_richieste.html.
type listView struct {
	Requests []requests.Request
	Flash    string
}

// flashes are the confirmations after a redirect; the text never comes
// from the URL.
var flashes = map[string]string{
	"registrata": "Richiesta di cancellazione registrata: l'amministratore del Comune la vedrà tra quelle da decidere.",
	"accolta":    "Richiesta accolta: i dati sono stati cancellati e il cittadino è stato avvisato.",
	"respinta":   "Richiesta respinta: il cittadino riceve la motivazione per email.",
}

// list answers GET /gestione/privacy/richieste.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, q staffReq) {
	reqs, err := h.store.Requests(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "gestione_privacy_richieste.html", "Richieste di cancellazione",
		crumbs(site.Crumb{Label: "Richieste di cancellazione"}), listView{Requests: reqs, Flash: h.guard.SavedFlash(r, nil, flashes)})
}

// file answers POST /gestione/privacy/richieste: the operator records a
// citizen's erasure request (made at the counter, by post, by PEC).
func (h *Handler) file(w http.ResponseWriter, r *http.Request, q staffReq) {
	who := requests.Subject{FiscalCode: r.PostForm.Get(fCF), Email: r.PostForm.Get(fEmail)}
	req, err := h.store.File(r.Context(), q.t, requests.Filing{Subject: who, Origin: requests.OriginOperator,
		Note: r.PostForm.Get(fNote), By: requests.Person{ID: q.user.ID, Name: q.user.DisplayName}})
	if err != nil {
		fe, ok := fieldErrs(err)
		if !ok {
			h.fail(w, r, err)
			return
		}
		v := searchView{CSRF: q.csrf, FiscalCode: who.FiscalCode, Email: who.Email, Errors: fe}
		h.render(w, r, http.StatusUnprocessableEntity, "gestione_privacy.html", "Richieste sui dati personali", crumbs(), v)
		return
	}
	h.log.InfoContext(r.Context(), "erasure request filed", "tenant", q.t.ID, "user", q.user.ID, "request", req.ID)
	h.guard.AfterSave(w, r, "/gestione/privacy/richieste/"+url.PathEscape(req.ID), "registrata", 0)
}

// detailView is the data of gestione_privacy_richiesta.html.
type detailView struct {
	requests.Request
	CSRF      string
	CanDecide bool
	Flash     string
	Errors    map[string]string
	Reason    string
	General   string
}

// detail answers GET /gestione/privacy/richieste/{id}; a request of
// another Comune is not found.
func (h *Handler) detail(w http.ResponseWriter, r *http.Request, q staffReq) {
	req, err := h.store.RequestFresh(r.Context(), q.t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.renderDetail(w, r, q, http.StatusOK, detailView{Request: req, Flash: h.guard.SavedFlash(r, nil, flashes)})
}

func (h *Handler) renderDetail(w http.ResponseWriter, r *http.Request, q staffReq, status int, v detailView) {
	v.CSRF = q.csrf
	v.CanDecide = v.State == requests.StatePending && q.user.Allowed(auth.RoleComuneAdmin, "")
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	title := "Richiesta " + v.ID
	h.render(w, r, status, "gestione_privacy_richiesta.html", title,
		crumbs(site.Crumb{Label: "Richieste di cancellazione", URL: "/gestione/privacy/richieste"}, site.Crumb{Label: title}), v)
}

// decide answers POST /gestione/privacy/richieste/{id}/decisione (the
// Comune administrator only): approve, which erases, or refuse with a
// reason.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, q staffReq) {
	id := r.PathValue("id")
	req, err := h.store.RequestFresh(r.Context(), q.t.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	dec := r.PostForm.Get(fDecision)
	reason := r.PostForm.Get(fReason)
	v := detailView{Request: req, Reason: reason, Errors: map[string]string{}}
	if dec != "approva" && dec != "rifiuta" {
		v.Errors[fDecision] = "Scegli se accogliere o respingere la richiesta."
		h.renderDetail(w, r, q, http.StatusUnprocessableEntity, v)
		return
	}
	by := requests.Person{ID: q.user.ID, Name: q.user.DisplayName}
	_, err = h.store.Decide(r.Context(), q.t, id, requests.Decision{Approve: dec == "approva", Reason: reason, By: by}, h.eraser)
	switch {
	case err == nil:
	case errors.Is(err, requests.ErrDecided):
		v.General = "La richiesta è già stata decisa."
		if cur, rerr := h.store.Request(r.Context(), q.t.ID, id); rerr == nil {
			v.Request = cur
		}
		h.renderDetail(w, r, q, http.StatusConflict, v)
		return
	default:
		if fe, ok := fieldErrs(err); ok {
			for k, m := range fe {
				v.Errors[k] = m
			}
			h.renderDetail(w, r, q, http.StatusUnprocessableEntity, v)
			return
		}
		h.log.ErrorContext(r.Context(), "erasure decision failed", "tenant", q.t.ID, "request", id, "err", err)
		v.General = "La cancellazione non è riuscita: la richiesta resta da decidere. Riprova tra qualche istante."
		h.renderDetail(w, r, q, http.StatusInternalServerError, v)
		return
	}
	h.log.InfoContext(r.Context(), "erasure request decided", "tenant", q.t.ID, "user", q.user.ID, "request", id, "decision", dec)
	outcome := "respinta"
	if dec == "approva" {
		outcome = "accolta"
	}
	h.guard.AfterSave(w, r, "/gestione/privacy/richieste/"+url.PathEscape(id), outcome, 0)
}
