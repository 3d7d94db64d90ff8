package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The operator's desk page, /gestione/coda: the line of an office and the
// ticket at the operator's desk, with the buttons that move it. It is a
// back-office page like booking/web's agenda, behind the same guard and
// for the same people (the office's operators and supervisors, and the
// Comune's administrators). Every form works without JavaScript (POST,
// then 303 back to the page); the page reloads itself every
// deskRefresh with a meta refresh, because the CSP forbids inline
// scripts. A reload would lose what the operator is typing, so the one
// form with text, the pause's reason, opens on the same page without
// the reload (?pausa=1) rather than sitting on the reloading page.
//
// The office and the desk come from the client (query, form, cookie), so
// every request checks them again: the office against the user's grant,
// the desk against the office's active desks, and on a ticket's step the
// ticket's office against both. Apply checks the rest (the ticket is in
// the right state and was called by this desk).

//go:embed templates/desk*.html
var deskTemplates embed.FS

// Guard admits a request to next only for a user allowed role, and only
// with the session's CSRF token on state-changing requests; the auth/web
// Handler implements it (the same interface as bookingweb.Guard: web
// packages do not import each other).
type Guard interface {
	RequireRole(role auth.Role, next http.Handler) http.Handler
}

// Form fields and query parameters of the desk page. deskCSRFField must
// equal authweb.CSRFField (a test holds them together).
const (
	deskCSRFField = "csrf"
	qDeskOffice   = "ufficio"
	qDesk         = "sportello"
	qDeskOutcome  = "esito"
	// qDeskAuto = "0" stops the page's automatic reload.
	qDeskAuto = "auto"
	// qDeskPause = "1" opens the pause form (and stops the reload).
	qDeskPause = "pausa"
)

// deskCookie remembers the office and desk the operator last chose, so
// that /gestione/coda opens on them; its value is checked like a query.
const deskCookie = "sportello_coda"

// deskRefresh is how often the page reloads itself.
const deskRefresh = 15 * time.Second

// deskFlashes confirm a step, by the esito parameter: the text is never
// taken from the URL.
var deskFlashes = map[string]string{
	"chiamato":   "Biglietto chiamato: il cittadino vede il tuo sportello.",
	"iniziato":   "Servizio iniziato.",
	"servito":    "Biglietto chiuso come servito.",
	"assente":    "Cittadino segnato come assente.",
	"richiamato": "Biglietto richiamato.",
	"attesa":     "Biglietto messo in attesa: lo trovi tra i biglietti messi in attesa, da riprendere quando il cittadino è pronto.",
	"ripreso":    "Biglietto ripreso: è di nuovo allo sportello.",
	"trasferito": "Biglietto trasferito: il cittadino è di nuovo in coda dove l'hai mandato.",
	"pausa":      "Sportello in pausa: non riceve chiamate finché non riprendi il servizio.",
	"riaperto":   "Sportello di nuovo aperto: puoi chiamare.",
	"rilasciato": "Biglietto rimesso in coda: ora può chiamarlo qualsiasi sportello, al suo posto tra i trasferiti.",
}

// deskPages serves /gestione/coda.
type deskPages struct {
	h           *Handler
	book        *booking.Book
	guard       Guard
	sessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	pages       *site.Templates
	// script is queue.js's URL (scriptPath with its hash), which follows
	// the line's stream on the page (desk_events.go).
	script string
}

// newDeskPages returns the desk page's handler, or nil when cfg has no
// guard (the page is then not mounted).
func newDeskPages(cfg Config, h *Handler) (*deskPages, error) {
	if cfg.Guard == nil || cfg.SessionFrom == nil {
		return nil, nil
	}
	if cfg.Book == nil {
		return nil, errors.New("queue/web: Config.Book is required with Config.Guard")
	}
	pages, err := cfg.Site.Templates(deskTemplates, "templates/desk*.html")
	if err != nil {
		return nil, fmt.Errorf("queue/web: parse desk templates: %w", err)
	}
	js, err := queueScript()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(js)
	return &deskPages{h: h, book: cfg.Book, guard: cfg.Guard, sessionFrom: cfg.SessionFrom, pages: pages,
		script: scriptPath + "?v=" + hex.EncodeToString(sum[:6])}, nil
}

// deskReq is who asks: the Comune of the Host, the session's user and
// its CSRF token.
type deskReq struct {
	t    tenant.Tenant
	user auth.User
	csrf string
}

// deskRoute is one route of the desk page.
type deskRoute struct {
	method, path string
	fn           func(w http.ResponseWriter, r *http.Request, a deskReq)
}

// routeTable lists the desk page's routes. cmd/sportello's access matrix
// reads the method and path literals from the source.
func (d *deskPages) routeTable() []deskRoute {
	return []deskRoute{
		{"GET", "/gestione/coda", d.show},
		{"POST", "/gestione/coda/chiama", d.callNext},
		{"POST", "/gestione/coda/{id}/inizia", d.step("iniziato", (*queue.Queue).StartServing)},
		{"POST", "/gestione/coda/{id}/servito", d.step("servito", (*queue.Queue).Served)},
		{"POST", "/gestione/coda/{id}/assente", d.step("assente", (*queue.Queue).NoShow)},
		{"POST", "/gestione/coda/{id}/richiama", d.step("richiamato", (*queue.Queue).Recall)},
		{"POST", "/gestione/coda/{id}/chiama", d.callTicket},
		{"POST", "/gestione/coda/{id}/attesa", d.step("attesa", (*queue.Queue).Park)},
		{"POST", "/gestione/coda/{id}/riprendi", d.resume},
		{"GET", "/gestione/coda/{id}/trasferisci", d.transferForm},
		{"POST", "/gestione/coda/{id}/trasferisci", d.transfer},
		{"POST", "/gestione/coda/pausa", d.pause},
		{"POST", "/gestione/coda/riapri", d.reopen},
		{"POST", "/gestione/coda/aggiungi", d.add},
		{"POST", "/gestione/coda/{id}/rilascia", d.release},
		{"GET", "/gestione/coda/eventi", d.events},
		{"GET", "/gestione/coda/cartello", d.poster},
		{"GET", "/gestione/coda/cartello.svg", d.posterSVG},
	}
}

// staffRequest reads who asks for a back-office page behind the guard:
// the Comune of the Host and the session's user and CSRF token. It
// answers the request itself (404, 401) and returns false when either is
// missing, which the guard normally rules out first.
func (h *Handler) staffRequest(w http.ResponseWriter, r *http.Request, sessionFrom func(context.Context) (auth.Session, auth.User, bool)) (deskReq, bool) {
	t, ok := site.TenantFrom(r.Context())
	if !ok {
		h.site.Error(w, r, http.StatusNotFound, "")
		return deskReq{}, false
	}
	s, u, ok := sessionFrom(r.Context())
	if !ok {
		h.site.Error(w, r, http.StatusUnauthorized, "Accedi per continuare.")
		return deskReq{}, false
	}
	return deskReq{t: t, user: u, csrf: s.CSRF}, true
}

// deskRoutes mounts the desk page when the handler has a guard.
func (h *Handler) deskRoutes(mux *http.ServeMux) {
	if h.desk == nil {
		return
	}
	for _, rt := range h.desk.routeTable() {
		mux.Handle(rt.method+" "+rt.path, h.desk.wrap(rt))
	}
}

// wrap caps the body, lets the guard check the login, the role and the
// CSRF token, then calls the route. The guard checks one role: a user
// who is a supervisor but no operator passes it as supervisor. Either
// way the route checks the office against the grant.
func (d *deskPages) wrap(rt deskRoute) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := d.h.staffRequest(w, r, d.sessionFrom); ok {
			rt.fn(w, r, a)
		}
	})
	asOperator := d.guard.RequireRole(auth.RoleOperator, inner)
	asSupervisor := d.guard.RequireRole(auth.RoleSupervisor, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, d.h.maxBody)
		}
		if _, u, ok := d.sessionFrom(r.Context()); ok && !u.Allowed(auth.RoleOperator, "") && u.Allowed(auth.RoleSupervisor, "") {
			asSupervisor.ServeHTTP(w, r)
			return
		}
		asOperator.ServeHTTP(w, r)
	})
}

// mayServeQueue reports whether u may call the line of office: as its
// operator, its supervisor, or an administrator.
func mayServeQueue(u auth.User, office string) bool {
	return office != "" && (u.Allowed(auth.RoleOperator, office) || u.Allowed(auth.RoleSupervisor, office))
}

// deskPlace is the office and desk a request names, checked: office is
// one of the user's, desk (zero when none was chosen) an active desk of
// it.
type deskPlace struct {
	offices []booking.Office
	office  booking.Office
	desks   []booking.Desk
	desk    booking.Desk
	hasDesk bool
	// services names the Comune's services by ID.
	services map[string]string
	// labels names every desk of the office by ID, archived ones too:
	// a ticket parked at a desk archived since keeps its name.
	labels map[string]string
	// officeNames names every office of the Comune by ID.
	officeNames map[string]string
	// archived holds the IDs of the Comune's archived services.
	archived map[string]bool
}

// errDeskForbidden is an office outside the user's grant; errDeskUnknown
// an office that does not exist (or is archived); errDeskNotHere a desk
// that is not an active desk of the office.
var (
	errDeskForbidden = errors.New("office outside the user's grant")
	errDeskUnknown   = errors.New("unknown office")
	errDeskNotHere   = errors.New("not an active desk of the office")
)

// place resolves officeID and deskID (either may be empty: the first
// office of the grant, no desk) for the user.
func (d *deskPages) place(ctx context.Context, a deskReq, officeID, deskID string) (deskPlace, error) {
	var p deskPlace
	cfg, err := d.book.Configuration(ctx, a.t.ID)
	if err != nil {
		return p, err
	}
	p.services, p.labels, p.officeNames = map[string]string{}, map[string]string{}, map[string]string{}
	p.archived = cfg.ArchivedServices
	for _, o := range cfg.Offices {
		p.officeNames[o.ID] = o.Name
		for _, s := range o.Services {
			p.services[s.ID] = s.Name
		}
		if !cfg.ArchivedOffices[o.ID] && mayServeQueue(a.user, o.ID) {
			p.offices = append(p.offices, o)
		}
	}
	if officeID == "" {
		if len(p.offices) == 0 {
			return p, nil
		}
		officeID = p.offices[0].ID
	}
	if !mayServeQueue(a.user, officeID) {
		return p, errDeskForbidden
	}
	found := false
	for _, o := range p.offices {
		if o.ID == officeID {
			p.office, found = o, true
		}
	}
	if !found {
		return p, errDeskUnknown
	}
	desks, err := d.book.Desks(ctx, a.t.ID, officeID)
	if err != nil {
		return p, err
	}
	for _, k := range desks {
		p.labels[k.ID] = k.Label
		if k.Archived {
			continue
		}
		p.desks = append(p.desks, k)
		if k.ID == deskID {
			p.desk, p.hasDesk = k, true
		}
	}
	if deskID != "" && !p.hasDesk {
		return p, errDeskNotHere
	}
	return p, nil
}

// deskView is the data of desk.html.
type deskView struct {
	CSRF, Flash, Error string
	// Calls links a remote ticket to its video call (Config.Calls).
	Calls                bool
	HasOffices           bool
	Office, Desk         deskSelect
	OfficeID, OfficeName string
	DeskID, DeskLabel    string
	HasDesk, NoDesks     bool
	// Reserved is true for a desk reserved for appointments.
	Reserved bool
	// Paused is true while the desk is paused, since PausedSince, for
	// PauseReason.
	Paused                   bool
	PauseReason, PausedSince string
	// Pause is the pause form: the reasons and the typed detail, with
	// their errors. PauseOpen shows it (the page then does not reload);
	// otherwise PauseURL opens it.
	Pause                    deskPauseForm
	PauseOpen                bool
	PauseURL, PauseCancelURL string
	// CanCall is true when the desk is free and open: the line's rows
	// the desk may call then have a "Chiama" button.
	CanCall bool
	// Current is the ticket at the desk, if any.
	Current *deskTicket
	Line    []deskTicket
	// Parked are the office's parked tickets; those of this desk have
	// its buttons.
	Parked []deskTicket
	// Supervisor shows Desks, every active desk of the office with its
	// state, to the office's supervisors.
	Supervisor bool
	Desks      []deskRow
	// Refresh is the URL the page reloads itself to ("" for no reload);
	// AutoURL toggles the reload.
	Refresh, AutoURL string
	// Events is the line's stream and Script queue.js, which reloads the
	// page (Refresh) when the line changes; empty when the page does not
	// reload itself.
	Events, Script string
	AutoOn         bool
	// Every is the reload's period in seconds.
	Every int
	// Add is the form that adds a citizen to the line; AddOpen shows it
	// (the page then does not reload), otherwise AddURL opens it.
	Add          deskAddForm
	AddOpen      bool
	AddURL       string
	AddCancelURL string
}

// deskSelect is a labelled select.
type deskSelect struct {
	ID, Label, Prompt string
	Choices           []deskChoice
	// Error is the field's message; Required marks it for assistive
	// technology.
	Error    string
	Required bool
}

type deskChoice struct {
	Value, Label string
	Selected     bool
}

// deskPauseForm is the pause form's state.
type deskPauseForm struct {
	Reason      deskSelect
	Detail      string
	DetailError string
	DetailMax   int
}

// deskRow is a desk in the supervisor's overview.
type deskRow struct {
	Label, State, Ticket string
	Paused, Here         bool
}

// deskTicket is a ticket as the page shows it.
type deskTicket struct {
	ID, Number, Service, Channel string
	Since, Waited                string
	// Position is the place in the line, from 1.
	Position int
	Marks    []string
	State    string
	Serving  bool
	Recalls  int
	// Here is false when this desk cannot call the ticket (another
	// service or channel, or reserved for another desk).
	Here bool
	// DeskLabel names the desk a parked ticket waits for; Mine is true
	// when that is the operator's desk.
	DeskLabel string
	Mine      bool
	// Releasable is a waiting ticket reserved for a desk that is paused:
	// a supervisor may release it to the office's line.
	Releasable bool
}

// deskForm is what a failed POST sends back to the page.
type deskForm struct {
	officeID, deskID string
	err              string
	// fields are field messages of the pause form; reason and detail
	// what was typed in it.
	fields         map[string]string
	reason, detail string
	// add is set when the add form was sent, with what was chosen.
	add *deskAdd
}

// show answers GET /gestione/coda?ufficio=…&sportello=….
func (d *deskPages) show(w http.ResponseWriter, r *http.Request, a deskReq) {
	q := r.URL.Query()
	officeID, deskID := strings.TrimSpace(q.Get(qDeskOffice)), strings.TrimSpace(q.Get(qDesk))
	if officeID == "" {
		if c, err := r.Cookie(deskCookie); err == nil {
			officeID, deskID, _ = strings.Cut(c.Value, "/")
			// A remembered choice that is no longer valid (desk archived,
			// grant changed) is forgotten, not refused.
			if _, err := d.place(r.Context(), a, officeID, deskID); err != nil {
				officeID, deskID = "", ""
			}
		}
	}
	d.render(w, r, a, http.StatusOK, deskForm{officeID: officeID, deskID: deskID})
}

// render renders the page for the form's office and desk, with its error.
func (d *deskPages) render(w http.ResponseWriter, r *http.Request, a deskReq, status int, f deskForm) {
	ctx := r.Context()
	p, err := d.place(ctx, a, f.officeID, f.deskID)
	if errors.Is(err, errDeskNotHere) {
		// Changing the office in the form keeps the desk of the previous
		// one: show the new office and ask for its desk.
		if f.err == "" {
			f.err = "Lo sportello scelto non è di questo ufficio o è stato archiviato: scegli uno sportello dell'ufficio."
		}
		f.deskID = ""
		p, err = d.place(ctx, a, f.officeID, "")
	}
	switch {
	case errors.Is(err, errDeskForbidden):
		d.forbidden(w, r, a, f.officeID)
		return
	case errors.Is(err, errDeskUnknown):
		d.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente.")
		return
	case err != nil:
		d.fail(w, r, err)
		return
	}
	v := deskView{CSRF: a.csrf, Error: f.err, Calls: d.h.videoCalls, HasOffices: len(p.offices) > 0, Every: int(deskRefresh / time.Second)}
	if status == http.StatusOK {
		v.Flash = deskFlashes[r.URL.Query().Get(qDeskOutcome)]
	}
	v.Office = deskSelect{ID: qDeskOffice, Label: "Ufficio"}
	for _, o := range p.offices {
		v.Office.Choices = append(v.Office.Choices, deskChoice{Value: o.ID, Label: o.Name, Selected: o.ID == p.office.ID})
	}
	if !v.HasOffices {
		d.pages.Render(w, r, status, "desk.html", d.page(v))
		return
	}
	v.OfficeID, v.OfficeName = p.office.ID, p.office.Name
	v.NoDesks = len(p.desks) == 0
	if status == http.StatusOK && r.URL.Query().Get(qDeskOutcome) == outcomeAdded {
		v.Flash = d.addedFlash(ctx, a, p, r.URL.Query().Get(qDeskAdded))
	}
	v.Desk = deskSelect{ID: qDesk, Label: "Sportello", Prompt: "Scegli lo sportello"}
	for _, k := range p.desks {
		v.Desk.Choices = append(v.Desk.Choices, deskChoice{Value: k.ID, Label: k.Label, Selected: p.hasDesk && k.ID == p.desk.ID})
	}
	loc := a.t.Location()
	now := d.h.now()
	states, err := d.h.q.DeskStates(ctx, a.t, p.office.ID)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if p.hasDesk {
		v.HasDesk, v.DeskID, v.DeskLabel, v.Reserved = true, p.desk.ID, p.desk.Label, p.desk.Appointments
		k, ok, err := d.h.q.AtDesk(ctx, a.t, p.office.ID, p.desk.ID)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		if ok {
			cur := newDeskTicket(k, p, loc, now)
			v.Current = &cur
		}
		if st := states[p.desk.ID]; st.Paused {
			v.Paused, v.PauseReason, v.PausedSince = true, st.Reason, st.Since.In(loc).Format("15:04")
		}
		v.CanCall = !ok && !v.Paused
		v.Pause = newPauseForm(f)
		v.PauseOpen = !v.Paused && (r.URL.Query().Get(qDeskPause) == "1" || f.fields != nil || f.reason != "")
		v.PauseCancelURL = deskURL(p.office.ID, p.desk.ID)
		v.PauseURL = v.PauseCancelURL + "&" + qDeskPause + "=1"
		d.remember(w, r, p.office.ID, p.desk.ID)
	}
	line, err := d.h.q.Line(ctx, a.t, p.office.ID)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	supervisor := a.user.Allowed(auth.RoleSupervisor, p.office.ID)
	for i, k := range line {
		row := newDeskTicket(k, p, loc, now)
		row.Position = i + 1
		row.Releasable = supervisor && releasable(k, states)
		v.Line = append(v.Line, row)
	}
	parked, err := d.h.q.ParkedAt(ctx, a.t, p.office.ID)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	for _, k := range parked {
		v.Parked = append(v.Parked, newDeskTicket(k, p, loc, now))
	}
	if a.user.Allowed(auth.RoleSupervisor, p.office.ID) {
		v.Supervisor = true
		if v.Desks, err = d.overview(ctx, a, p, states); err != nil {
			d.fail(w, r, err)
			return
		}
	}
	// The page reloads itself only when it shows what is: not after a
	// refused step or with an error, which the operator must be able to
	// read.
	base := deskURL(p.office.ID, v.DeskID)
	v.Add = newAddForm(p, f.add)
	v.AddOpen = f.add != nil || r.URL.Query().Get(qDeskAdd) == "1"
	v.AddURL, v.AddCancelURL = base+"&"+qDeskAdd+"=1", base
	v.AutoOn = r.URL.Query().Get(qDeskAuto) != "0"
	if v.AutoOn {
		v.AutoURL = base + "&" + qDeskAuto + "=0"
		if status == http.StatusOK && v.Error == "" && !v.PauseOpen && !v.AddOpen {
			v.Refresh = base
			if d.h.changes != nil {
				v.Events, v.Script = "/gestione/coda/eventi?"+url.Values{qDeskOffice: {p.office.ID}}.Encode(), d.script
			}
		}
	} else {
		v.AutoURL = base
	}
	d.pages.Render(w, r, status, "desk.html", d.page(v))
}

// overview lists the office's active desks for a supervisor: open or
// paused (since when, why), and the ticket each holds.
func (d *deskPages) overview(ctx context.Context, a deskReq, p deskPlace, states map[string]queue.DeskState) ([]deskRow, error) {
	loc := a.t.Location()
	var rows []deskRow
	for _, k := range p.desks {
		row := deskRow{Label: k.Label, State: "Aperto", Ticket: "Nessuno", Here: p.hasDesk && k.ID == p.desk.ID}
		if st := states[k.ID]; st.Paused {
			row.Paused = true
			row.State = "In pausa dalle " + st.Since.In(loc).Format("15:04")
			if st.Reason != "" {
				row.State += ": " + st.Reason
			}
		}
		t, ok, err := d.h.q.AtDesk(ctx, a.t, p.office.ID, k.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			row.Ticket = t.Number + " (" + deskStateName(t.State) + ")"
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// deskStateName names a ticket's state for the operator.
func deskStateName(s queue.State) string {
	switch s {
	case queue.Waiting:
		return "in coda"
	case queue.Called:
		return "chiamato"
	case queue.Serving:
		return "in servizio"
	case queue.Parked:
		return "messo in attesa"
	case queue.Served:
		return "servito"
	case queue.NoShow:
		return "assente"
	case queue.Cancelled:
		return "annullato"
	}
	return string(s)
}

// page wraps the view in the back office's frame.
func (d *deskPages) page(v deskView) site.Page {
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}, {Label: "Coda"}}
	return site.Page{Title: "Coda dell'ufficio", Breadcrumbs: crumbs, Data: v}
}

// newDeskTicket builds a ticket's row: the marks say why it is where it
// is in the line (priority, appointment, transfer) and Here whether this
// desk can call it.
func newDeskTicket(k queue.Ticket, p deskPlace, loc *time.Location, now time.Time) deskTicket {
	row := deskTicket{ID: k.ID, Number: k.Number, Service: p.services[k.ServiceID], Channel: deskChannel(k.Channel),
		Since: k.Taken.In(loc).Format("15:04"), Recalls: k.Recalls, Serving: k.State == queue.Serving, Here: true}
	if row.Service == "" {
		row.Service = "Nessun servizio indicato"
	}
	if m := int(now.Sub(k.Taken) / time.Minute); m > 0 {
		row.Waited = fmt.Sprintf("%d min", m)
	} else {
		row.Waited = "meno di 1 min"
	}
	switch k.Priority {
	case queue.Disability:
		row.Marks = append(row.Marks, "Precedenza: disabilità")
	case queue.Pregnancy:
		row.Marks = append(row.Marks, "Precedenza: gravidanza")
	}
	switch {
	case k.Booked:
		row.Marks = append(row.Marks, "Appuntamento delle "+k.Appointment.In(loc).Format("15:04"))
	case k.BookingCode != "":
		row.Marks = append(row.Marks, "Appuntamento delle "+k.Appointment.In(loc).Format("15:04")+", arrivato in ritardo")
	}
	if !k.Transferred.IsZero() {
		from := "trasferito alle " + k.Transferred.In(loc).Format("15:04")
		if name := p.officeNames[k.TransferredFrom]; k.TransferredFrom != "" && name != "" {
			from = "trasferito da " + name + " alle " + k.Transferred.In(loc).Format("15:04")
		}
		row.Marks = append(row.Marks, strings.ToUpper(from[:1])+from[1:])
	}
	if k.ForDesk != "" && k.State == queue.Waiting {
		row.Marks = append(row.Marks, "Solo per "+deskLabelOf(p, k.ForDesk))
	}
	switch k.State {
	case queue.Called:
		row.State = "Chiamato alle " + k.Called.In(loc).Format("15:04")
	case queue.Serving:
		row.State = "In servizio dalle " + k.Started.In(loc).Format("15:04")
	case queue.Parked:
		row.State = "Messo in attesa"
		row.DeskLabel = deskLabelOf(p, k.Desk)
		row.Mine = p.hasDesk && k.Desk == p.desk.ID
	}
	if p.hasDesk {
		row.Here = deskMayCall(p.desk, k)
	}
	return row
}

// deskMayCall reports whether desk may call the waiting ticket k, by the
// queue's rule: a ticket transferred to one desk only by that desk, the
// others by a desk that serves their service and takes their channel.
// Whether a desk reserved for appointments calls a walk-in is the
// ordering rule's choice on "Chiama il prossimo"; calling one by name is
// the operator's.
func deskMayCall(desk booking.Desk, k queue.Ticket) bool {
	if k.ForDesk != "" {
		return k.ForDesk == desk.ID
	}
	return desk.Serves(k.ServiceID) && desk.Takes(booking.Channel(k.Channel))
}

// deskLabelOf names a desk of the place's office, or says it is unknown.
func deskLabelOf(p deskPlace, id string) string {
	if l := p.labels[id]; l != "" {
		return l
	}
	return "uno sportello non più in uso"
}

// deskCallOptions are what a desk calls: the services it serves, the
// channels it takes (a counter in person, a remote station video and
// phone: booking.Desk.Takes) and whether it is reserved for
// appointments.
func deskCallOptions(desk booking.Desk) queue.CallOptions {
	o := queue.CallOptions{Services: desk.ServiceIDs, Appointments: desk.Appointments}
	for _, c := range []queue.Channel{queue.InPerson, queue.Video, queue.Phone} {
		if desk.Takes(booking.Channel(c)) {
			o.Channels = append(o.Channels, c)
		}
	}
	return o
}

// deskChannel names a ticket's channel for the operator.
func deskChannel(c queue.Channel) string {
	switch c {
	case queue.InPerson:
		return "Allo sportello"
	case queue.Video:
		return "In videochiamata"
	case queue.Phone:
		return "Al telefono"
	}
	return string(c)
}

// deskURL is the page of an office and desk.
func deskURL(officeID, deskID string) string {
	v := url.Values{qDeskOffice: {officeID}}
	if deskID != "" {
		v.Set(qDesk, deskID)
	}
	return "/gestione/coda?" + v.Encode()
}

// remember keeps the office and desk in a cookie scoped to the page.
func (d *deskPages) remember(w http.ResponseWriter, r *http.Request, officeID, deskID string) {
	http.SetCookie(w, &http.Cookie{Name: deskCookie, Value: officeID + "/" + deskID, Path: "/gestione/coda",
		MaxAge: 30 * 24 * 3600, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// forbidden answers 403 to a user acting outside their offices, and logs
// it: the page never offers such an office, so the request was made by
// hand.
func (d *deskPages) forbidden(w http.ResponseWriter, r *http.Request, a deskReq, officeID string) {
	d.h.log.Warn("desk: office outside the user's grant", "tenant", a.t.ID, "user", a.user.ID, "office", officeID)
	d.h.site.Error(w, r, http.StatusForbidden, "Non puoi gestire la coda di questo ufficio.")
}

// fail answers an error that is not the operator's (pageFail).
func (d *deskPages) fail(w http.ResponseWriter, r *http.Request, err error) {
	d.h.pageFail(w, r, "desk page failed", err)
}

// pageFail answers a back-office page's error that is not the user's: a
// body over the limit (413), an unavailable cluster (503, with the
// outcome-unknown case told apart) or a fault (500, logged as what).
func (h *Handler) pageFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		h.site.Error(w, r, http.StatusRequestEntityTooLarge, "")
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		h.site.Error(w, r, http.StatusServiceUnavailable, "Non sappiamo se l'operazione è riuscita: ricarica la pagina e controlla prima di riprovare.")
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader),
		errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrNotStarted),
		errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "2")
		h.site.Error(w, r, http.StatusServiceUnavailable, "Il servizio è momentaneamente non disponibile: riprova tra qualche secondo.")
	default:
		h.log.Error(what, "method", r.Method, "path", r.URL.Path, "err", err)
		h.site.Error(w, r, http.StatusInternalServerError, "")
	}
}

// stepMessage is the Italian message of a refused step, and false for an
// error that is not the operator's.
func stepMessage(err error) (string, bool) {
	switch {
	case errors.Is(err, queue.ErrEmpty):
		return "Nessuno in attesa per questo sportello.", true
	case errors.Is(err, queue.ErrDeskBusy):
		return "Lo sportello ha già un biglietto chiamato o in servizio: chiudilo (servito o assente) prima di chiamare il prossimo.", true
	case errors.Is(err, queue.ErrWrongDesk):
		return "Il biglietto è stato chiamato da un altro sportello: solo quello sportello può gestirlo.", true
	case errors.Is(err, queue.ErrTransition):
		return "Il biglietto è già passato a un altro stato: la pagina è stata aggiornata.", true
	case errors.Is(err, queue.ErrDeskPaused):
		return "Lo sportello è in pausa: riprendi il servizio prima di chiamare.", true
	case errors.Is(err, queue.ErrNotFound):
		return "Il biglietto non è nella coda di oggi di questo ufficio.", true
	}
	var ve *queue.ValidationError
	if errors.As(err, &ve) {
		return strings.Join(sortedValues(ve.Fields), " "), true
	}
	return "", false
}

// postedPlace reads and checks the office and desk of a POST (of the
// query, for a GET): both must be given (422 with the page otherwise),
// the office the user's (403), the desk an active desk of it (422).
func (d *deskPages) postedPlace(w http.ResponseWriter, r *http.Request, a deskReq) (deskPlace, bool) {
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, err)
		return deskPlace{}, false
	}
	form := r.PostForm
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	}
	officeID, deskID := strings.TrimSpace(form.Get(qDeskOffice)), strings.TrimSpace(form.Get(qDesk))
	if officeID == "" || deskID == "" {
		d.render(w, r, a, http.StatusUnprocessableEntity, deskForm{officeID: officeID,
			err: "Scegli l'ufficio e lo sportello da cui chiami, poi riprova."})
		return deskPlace{}, false
	}
	p, err := d.place(r.Context(), a, officeID, deskID)
	switch {
	case errors.Is(err, errDeskForbidden):
		d.forbidden(w, r, a, officeID)
		return p, false
	case errors.Is(err, errDeskUnknown):
		d.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente.")
		return p, false
	case errors.Is(err, errDeskNotHere):
		d.render(w, r, a, http.StatusUnprocessableEntity, deskForm{officeID: officeID,
			err: "Lo sportello scelto non esiste o è stato archiviato: scegline un altro."})
		return p, false
	case err != nil:
		d.fail(w, r, err)
		return p, false
	}
	return p, true
}

// callNext answers POST /gestione/coda/chiama: the desk calls the next
// ticket it may serve, by the office's rule.
func (d *deskPages) callNext(w http.ResponseWriter, r *http.Request, a deskReq) {
	p, ok := d.postedPlace(w, r, a)
	if !ok {
		return
	}
	k, err := d.h.q.CallNextWith(r.Context(), a.t, p.office.ID, p.desk.ID, deskCallOptions(p.desk))
	d.after(w, r, a, p, "chiamato", k, err)
}

// step returns the handler of an operator's step on the ticket of the
// URL (see ticketPlace); apply checks the state and the desk.
func (d *deskPages) step(outcome string, fn func(*queue.Queue, context.Context, tenant.ID, string, string) (queue.Ticket, error)) func(http.ResponseWriter, *http.Request, deskReq) {
	return func(w http.ResponseWriter, r *http.Request, a deskReq) {
		k, p, ok := d.ticketPlace(w, r, a)
		if !ok {
			return
		}
		k, err := fn(d.h.q, r.Context(), a.t.ID, k.ID, p.desk.ID)
		d.after(w, r, a, p, outcome, k, err)
	}
}

// ticketPlace reads the ticket of the URL and the posted office and
// desk, and checks them together: the ticket must be of the Comune
// (404) and of an office of the user (403), the posted office the
// user's too and the ticket's (409 with the page), the desk an active
// desk of it (422). It answers the request itself when they are not.
func (d *deskPages) ticketPlace(w http.ResponseWriter, r *http.Request, a deskReq) (queue.Ticket, deskPlace, bool) {
	k, err := d.h.q.Ticket(r.Context(), a.t.ID, r.PathValue("id"))
	if errors.Is(err, queue.ErrNotFound) {
		d.h.site.Error(w, r, http.StatusNotFound, "Biglietto inesistente.")
		return k, deskPlace{}, false
	}
	if err != nil {
		d.fail(w, r, err)
		return k, deskPlace{}, false
	}
	if !mayServeQueue(a.user, k.OfficeID) {
		d.forbidden(w, r, a, k.OfficeID)
		return k, deskPlace{}, false
	}
	p, ok := d.postedPlace(w, r, a)
	if !ok {
		return k, p, false
	}
	if p.office.ID != k.OfficeID {
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID,
			err: "Il biglietto " + k.Number + " è di un altro ufficio."})
		return k, p, false
	}
	return k, p, true
}

// after ends a step: 303 back to the page, or the page with the reason
// of a refusal.
func (d *deskPages) after(w http.ResponseWriter, r *http.Request, a deskReq, p deskPlace, outcome string, k queue.Ticket, err error) {
	if err != nil {
		msg, ok := stepMessage(err)
		if !ok {
			d.fail(w, r, err)
			return
		}
		d.render(w, r, a, http.StatusConflict, deskForm{officeID: p.office.ID, deskID: p.desk.ID, err: msg})
		return
	}
	d.h.log.Info("desk step", "tenant", a.t.ID, "office", p.office.ID, "desk", p.desk.ID, "ticket", k.ID, "step", outcome, "user", a.user.ID)
	http.Redirect(w, r, deskURL(p.office.ID, p.desk.ID)+"&"+qDeskOutcome+"="+outcome, http.StatusSeeOther)
}
