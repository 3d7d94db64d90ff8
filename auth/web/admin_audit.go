package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// auditPageSize is how many rows one page of the audit log shows.
const auditPageSize = 50

// auditLabels name the commands of the audit log in Italian; a type
// without a label is shown as it is.
var auditLabels = map[string]string{
	auth.CommandProviderSave:   "Fornitore di identità salvato",
	auth.CommandProviderDelete: "Fornitore di identità eliminato",
	auth.CommandUserGrants:     "Ruoli assegnati",
	auth.CommandUserDisable:    "Utente disattivato o riattivato",
	auth.CommandUserEndAll:     "Sessioni dell'utente chiuse",
	auth.CommandSessionEnd:     "Uscita",
	auth.CommandLogin:          "Accesso",
	auth.CommandLocalLogin:     "Accesso di emergenza",
	auth.CommandLocalFailure:   "Accesso di emergenza non riuscito",

	tenant.CommandSettings: "Impostazioni del Comune salvate",

	booking.CmdOfficeSave:     "Ufficio salvato",
	booking.CmdOfficeArchive:  "Ufficio archiviato o ripristinato",
	booking.CmdServiceSave:    "Servizio salvato",
	booking.CmdServiceArchive: "Servizio archiviato o ripristinato",
	booking.CmdClosureAdd:     "Chiusura aggiunta",
	booking.CmdClosureRemove:  "Chiusura rimossa",
	booking.CmdOpeningAdd:     "Apertura straordinaria aggiunta",
	booking.CmdOpeningRemove:  "Apertura straordinaria rimossa",
	booking.CmdDeskSave:       "Sportello salvato",
	booking.CmdDeskArchive:    "Sportello archiviato o ripristinato",
	booking.CmdArrive:         "Cittadino arrivato",
	booking.CmdServe:          "Appuntamento svolto",
	booking.CmdNoShow:         "Cittadino assente",
	booking.CmdNoteAdd:        "Nota aggiunta",
	booking.CmdOfficeCancel:   "Appuntamento annullato dall'ufficio",
}

// auditRow is one row as the page shows it.
type auditRow struct {
	cluster.AuditEntry
	Label string
	// Subject is the display name of the user the command concerns
	// ("user=ID" in the summary), "" when none or unknown.
	Subject string
}

// auditData is the data of gestione_registro.html.
type auditData struct {
	adminPage
	Rows []auditRow
	// Users are the users of the Comune for the filter.
	Users []auth.User
	// User, From and To are the filter as typed.
	User, From, To string
	// Next is the URL of the next (older) page, "" on the last.
	Next string
	// Available is false without a Config.Audit.
	Available bool
}

// auditPage shows the Comune's audit log, newest first, fifty rows a
// page, filtered by user and by days (in the Comune's time zone).
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	q := r.URL.Query()
	d := auditData{adminPage: newAdminPage(r, nil), User: q.Get("utente"), From: q.Get("dal"), To: q.Get("al"),
		Available: h.audit != nil}
	users, err := h.store.Users(r.Context(), t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Users = users
	names := make(map[string]string, len(users))
	for _, u := range users {
		names[u.ID] = u.DisplayName
	}
	f := cluster.AuditFilter{ActorID: d.User, Limit: auditPageSize + 1}
	errs := map[string]string{}
	loc := t.Location()
	if d.From != "" {
		day, err := time.ParseInLocation(time.DateOnly, d.From, loc)
		if err != nil {
			errs["dal"] = "Indica la data nella forma AAAA-MM-GG, per esempio 2026-11-27."
		}
		f.From = day
	}
	if d.To != "" {
		day, err := time.ParseInLocation(time.DateOnly, d.To, loc)
		if err != nil {
			errs["al"] = "Indica la data nella forma AAAA-MM-GG, per esempio 2026-11-27."
		}
		f.To = day.AddDate(0, 0, 1) // the whole day
	}
	if len(errs) == 0 && !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		errs["al"] = "La data finale non può precedere quella iniziale."
	}
	if b := q.Get("prima"); b != "" {
		f.Before, _ = strconv.ParseInt(b, 10, 64)
	}
	if len(errs) > 0 {
		d.Errors, d.Problem = errs, "Il filtro non è valido: correggi i campi indicati."
		h.renderAudit(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	if h.audit != nil {
		es, err := h.audit.Audit(r.Context(), string(t.ID), f)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if len(es) > auditPageSize {
			es = es[:auditPageSize]
			next := url.Values{"prima": {strconv.FormatInt(es[len(es)-1].ID, 10)}}
			for k, v := range map[string]string{"utente": d.User, "dal": d.From, "al": d.To} {
				if v != "" {
					next.Set(k, v)
				}
			}
			d.Next = "/gestione/registro?" + next.Encode()
		}
		for _, e := range es {
			label := auditLabels[e.Type]
			if label == "" {
				label = e.Type
			}
			d.Rows = append(d.Rows, auditRow{AuditEntry: e, Label: label, Subject: names[subjectOf(e.Summary)]})
		}
	}
	h.renderAudit(w, r, http.StatusOK, d)
}

func (h *Handler) renderAudit(w http.ResponseWriter, r *http.Request, status int, d auditData) {
	h.renderAdmin(w, r, status, "gestione_registro.html", "Registro delle attività",
		[]site.Crumb{{Label: "Registro delle attività"}}, d)
}

// subjectOf returns the user ID named "user=ID" in an audit summary.
func subjectOf(summary string) string {
	for _, f := range strings.Fields(summary) {
		if id, ok := strings.CutPrefix(f, "user="); ok {
			return id
		}
	}
	return ""
}
