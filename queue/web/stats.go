package web

import (
	"cmp"
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The supervisors' statistics of the queue (/gestione/coda/statistiche,
// with its CSV) and the administrator's settings of each office's queue
// (/gestione/coda/impostazioni, config.go). Both are back-office pages
// behind the same guard as the desk page, each for its own role; both
// work without JavaScript: the statistics are a GET form and tables, the
// settings a POST form answered with 303.

//go:embed templates/stats*.html templates/config*.html templates/_stats*.html templates/kiosks*.html
var officeTemplates embed.FS

// Query parameters of the statistics, as booking/web's statistics name
// them, so that a supervisor finds the same words in both.
const (
	qStatsFrom   = "dal"
	qStatsTo     = "al"
	qStatsOffice = "ufficio"
)

// maxStatsDays bounds a report's period (both ends included): a year,
// leap or not, and a bound on the tickets one report reads.
const maxStatsDays = 366

// officeBodyBytes caps the settings form: one group letter per service
// of the office, far above the API's DefaultMaxBodyBytes.
const officeBodyBytes = 64 << 10

// officePages serves the statistics and the settings.
type officePages struct {
	h           *Handler
	book        *booking.Book
	guard       Guard
	sessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	pages       *site.Templates
}

// officeRoute is one route of the statistics and settings pages, with
// the role the guard requires.
type officeRoute struct {
	method, path string
	role         auth.Role
	fn           func(w http.ResponseWriter, r *http.Request, a deskReq)
}

// routeTable lists the routes. cmd/sportello's access matrix reads the
// method and path literals from the source.
func (p *officePages) routeTable() []officeRoute {
	return []officeRoute{
		{"GET", "/gestione/coda/statistiche", auth.RoleSupervisor, p.stats},
		{"GET", "/gestione/coda/statistiche.csv", auth.RoleSupervisor, p.statsCSV},
		{"GET", "/gestione/coda/impostazioni", auth.RoleComuneAdmin, p.configShow},
		{"POST", "/gestione/coda/impostazioni", auth.RoleComuneAdmin, p.configSave},
		{"GET", "/gestione/coda/chioschi", auth.RoleSupervisor, p.kiosks},
		{"POST", "/gestione/coda/chioschi", auth.RoleSupervisor, p.kioskCreate},
		{"POST", "/gestione/coda/chioschi/{id}/revoca", auth.RoleSupervisor, p.kioskRevoke},
	}
}

// officeRoutes mounts the statistics and the settings when the handler
// has a guard (like the desk page). The templates are embedded, so a
// failure to parse them is a bug the package's tests catch; like a
// conflicting mux pattern, it panics.
func (h *Handler) officeRoutes(mux *http.ServeMux) {
	if h.desk == nil {
		return
	}
	sub, err := fs.Sub(officeTemplates, "templates")
	if err != nil {
		panic(err)
	}
	pages, err := h.site.Templates(sub, "stats*.html", "config*.html", "_stats*.html", "kiosks*.html")
	if err != nil {
		panic(fmt.Sprintf("queue/web: statistics and settings templates: %v", err))
	}
	p := &officePages{h: h, book: h.desk.book, guard: h.desk.guard, sessionFrom: h.desk.sessionFrom, pages: pages}
	for _, rt := range p.routeTable() {
		mux.Handle(rt.method+" "+rt.path, p.wrap(rt))
	}
}

// wrap caps the body, lets the guard check the login, the route's role
// and (on a POST) the CSRF token, then calls the route, which checks the
// office against the grant.
func (p *officePages) wrap(rt officeRoute) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := p.h.staffRequest(w, r, p.sessionFrom); ok {
			rt.fn(w, r, a)
		}
	})
	guarded := p.guard.RequireRole(rt.role, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, officeBodyBytes)
		}
		guarded.ServeHTTP(w, r)
	})
}

// fail answers an error that is not the user's (pageFail).
func (p *officePages) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.h.pageFail(w, r, "queue back-office page failed", err)
}

// formField is a labelled input or select of the pages, with its hint
// and error, which aria-describedby ties to it.
type formField struct {
	ID, Label, Type, Value, Hint, Error string
	// Numeric asks for the numeric keyboard. The input stays a text
	// input, so that a value that is not a number is shown back with
	// its error rather than emptied by the browser.
	Numeric bool
	Checked bool
	Choices []deskChoice
	Prompt  string
}

// DescribedBy lists the IDs of the field's hint and error.
func (f formField) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-aiuto")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-errore")
	}
	return strings.Join(ids, " ")
}

// fieldError is one line of a form's error summary, linking its field.
type fieldError struct{ Field, Label, Message string }

// statsView is the data of stats.html.
type statsView struct {
	HasOffices bool
	Office     formField
	From, To   formField
	Errors     []fieldError
	// Period is set when the report was computed.
	Period string
	// Scope names the offices of the report.
	Scope                  string
	Hours, Services, Desks []statsRowView
	Total                  statsRowView
	HasTickets             bool
	CSV                    string
}

// statsRowView is one line of a table.
type statsRowView struct {
	Office, Label                                  string
	Taken, Called, Served, NoShow, Abandoned, Open int
	WaitAvg, WaitP90, ServiceAvg, ServiceP90, Line string
	waitAvg, waitP90, serviceAvg, serviceP90       time.Duration
	waitN, serviceN, maxLine                       int
}

// newStatsRow builds a table's row: labels for the page, the raw times
// for the CSV.
func newStatsRow(r queue.StatsRow, office, label string) statsRowView {
	v := statsRowView{Office: office, Label: label, Taken: r.Taken, Called: r.Called, Served: r.Served,
		NoShow: r.NoShow, Abandoned: r.Abandoned, Open: r.Open,
		waitAvg: r.Wait.Avg, waitP90: r.Wait.P90, serviceAvg: r.Service.Avg, serviceP90: r.Service.P90,
		waitN: r.Wait.N, serviceN: r.Service.N, maxLine: r.MaxLine}
	v.WaitAvg, v.WaitP90 = durationLabel(r.Wait.Avg, r.Wait.N), durationLabel(r.Wait.P90, r.Wait.N)
	v.ServiceAvg, v.ServiceP90 = durationLabel(r.Service.Avg, r.Service.N), durationLabel(r.Service.P90, r.Service.N)
	v.Line = strconv.Itoa(r.MaxLine)
	return v
}

// durationLabel writes a time for the tables: "12 min 30 s", "1 h 5 min",
// "40 s", and "—" when nothing was measured.
func durationLabel(d time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0 && s > 0:
		return fmt.Sprintf("%d min %d s", m, s)
	case m > 0:
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d s", s)
}

// statsReport is a checked request of the statistics and its figures.
type statsReport struct {
	v        statsView
	from     civil.Date
	to       civil.Date
	officeID string
	ok       bool
}

// statsOffices returns the offices the user supervises, archived ones
// included (their history is still theirs), and the names of the
// Comune's services.
func (p *officePages) statsOffices(ctx context.Context, a deskReq) ([]booking.Office, map[string]string, error) {
	cfg, err := p.book.Configuration(ctx, a.t.ID)
	if err != nil {
		return nil, nil, err
	}
	var out []booking.Office
	services := map[string]string{}
	for _, o := range cfg.Offices {
		for _, s := range o.Services {
			services[s.ID] = s.Name
		}
		if a.user.Allowed(auth.RoleSupervisor, o.ID) {
			out = append(out, o)
		}
	}
	return out, services, nil
}

// report checks the request's filters and computes the report. It
// answers the request itself (and returns ok false) for an office outside
// the grant (403), an unknown office (404) or a failure; with invalid
// dates it returns the view with its errors and ok false, without
// figures.
func (p *officePages) report(w http.ResponseWriter, r *http.Request, a deskReq) (statsReport, bool) {
	ctx := r.Context()
	q := r.URL.Query()
	offices, services, err := p.statsOffices(ctx, a)
	if err != nil {
		p.fail(w, r, err)
		return statsReport{}, false
	}
	officeID := strings.TrimSpace(q.Get(qStatsOffice))
	if officeID != "" && !a.user.Allowed(auth.RoleSupervisor, officeID) {
		p.h.log.Warn("queue statistics: office outside the user's grant", "tenant", a.t.ID, "user", a.user.ID, "office", officeID)
		p.h.site.Error(w, r, http.StatusForbidden, "Non puoi vedere le statistiche di questo ufficio.")
		return statsReport{}, false
	}
	rep := statsReport{officeID: officeID}
	v := &rep.v
	v.HasOffices = len(offices) > 0
	v.Office = formField{ID: qStatsOffice, Label: "Ufficio", Prompt: "Tutti i tuoi uffici"}
	var ids []string
	names := map[string]string{}
	found := officeID == ""
	for _, o := range offices {
		names[o.ID] = o.Name
		sel := o.ID == officeID
		found = found || sel
		if officeID == "" || sel {
			ids = append(ids, o.ID)
		}
		v.Office.Choices = append(v.Office.Choices, deskChoice{Value: o.ID, Label: o.Name, Selected: sel})
	}
	if !found {
		p.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente.")
		return statsReport{}, false
	}

	// The period defaults to the current month, in the Comune's zone.
	today := civil.DateOf(p.h.now().In(a.t.Location()))
	first := civil.Date{Year: today.Year, Month: today.Month, Day: 1}
	from, to := first, civil.DateOf(time.Date(today.Year, today.Month+1, 0, 12, 0, 0, 0, time.UTC))
	fe := map[string]string{}
	typedFrom, typedTo := strings.TrimSpace(q.Get(qStatsFrom)), strings.TrimSpace(q.Get(qStatsTo))
	if typedFrom != "" {
		if d, ok := parseDay(typedFrom); ok {
			from = d
		} else {
			fe[qStatsFrom] = "Scrivi il giorno come gg/mm/aaaa, per esempio 24/12/2027."
		}
	}
	if typedTo != "" {
		if d, ok := parseDay(typedTo); ok {
			to = d
		} else {
			fe[qStatsTo] = "Scrivi il giorno come gg/mm/aaaa, per esempio 24/12/2027."
		}
	}
	if len(fe) == 0 {
		switch {
		case to.Before(from):
			fe[qStatsTo] = "L'ultimo giorno precede il primo."
		case from.DaysUntil(to)+1 > maxStatsDays:
			fe[qStatsTo] = fmt.Sprintf("Il periodo può durare al massimo %d giorni.", maxStatsDays)
		}
	}
	if typedFrom == "" {
		typedFrom = from.String()
	}
	if typedTo == "" {
		typedTo = to.String()
	}
	v.From = formField{ID: qStatsFrom, Label: "Dal giorno", Type: "date", Value: typedFrom, Error: fe[qStatsFrom]}
	v.To = formField{ID: qStatsTo, Label: "Al giorno", Type: "date", Value: typedTo, Error: fe[qStatsTo],
		Hint: fmt.Sprintf("Compreso; al massimo %d giorni dal primo.", maxStatsDays)}
	for _, f := range []formField{v.From, v.To} {
		if f.Error != "" {
			v.Errors = append(v.Errors, fieldError{Field: f.ID, Label: f.Label, Message: f.Error})
		}
	}
	if len(fe) > 0 || !v.HasOffices {
		return rep, true
	}
	rep.from, rep.to = from, to
	st, err := p.h.q.Stats(ctx, a.t, ids, from, to)
	if err != nil {
		p.fail(w, r, err)
		return statsReport{}, false
	}
	desks := map[string]string{}
	for _, id := range ids {
		ds, err := p.book.Desks(ctx, a.t.ID, id)
		if err != nil {
			p.fail(w, r, err)
			return statsReport{}, false
		}
		for _, d := range ds {
			desks[id+"/"+d.ID] = d.Label
		}
	}
	loc := a.t.Location()
	fromNoon, _ := from.In(loc, 12, 0)
	toNoon, _ := to.In(loc, 12, 0)
	v.Period = "dal " + italianDate(fromNoon) + " al " + italianDate(toNoon)
	if officeID != "" {
		v.Scope = "Ufficio " + names[officeID]
	} else if len(ids) == 1 {
		v.Scope = "Ufficio " + names[ids[0]]
	} else {
		v.Scope = fmt.Sprintf("Tutti i tuoi uffici (%d)", len(ids))
	}
	v.HasTickets = st.Total.Taken > 0
	for _, row := range st.Hours {
		v.Hours = append(v.Hours, newStatsRow(row, "", fmt.Sprintf("%02d:00–%02d:00", row.Hour, row.Hour+1)))
	}
	for _, row := range st.Services {
		label := services[row.ServiceID]
		if row.ServiceID == "" {
			label = "Nessun servizio indicato"
		} else if label == "" {
			label = row.ServiceID
		}
		v.Services = append(v.Services, newStatsRow(row, names[row.OfficeID], label))
	}
	for _, row := range st.Desks {
		label := desks[row.OfficeID+"/"+row.Desk]
		if label == "" {
			label = row.Desk
		}
		d := newStatsRow(row, names[row.OfficeID], label)
		// A desk serves whoever it calls: the line is not its own.
		d.Line = "—"
		v.Desks = append(v.Desks, d)
	}
	byName := func(a, b statsRowView) int {
		return cmp.Or(strings.Compare(a.Office, b.Office), strings.Compare(a.Label, b.Label))
	}
	slices.SortStableFunc(v.Services, byName)
	slices.SortStableFunc(v.Desks, byName)
	v.Total = newStatsRow(st.Total, "", "Totale")
	csvQuery := url.Values{qStatsFrom: {from.String()}, qStatsTo: {to.String()}}
	if officeID != "" {
		csvQuery.Set(qStatsOffice, officeID)
	}
	v.CSV = "/gestione/coda/statistiche.csv?" + csvQuery.Encode()
	rep.ok = true
	return rep, true
}

// stats answers GET /gestione/coda/statistiche: the report of the
// offices the user supervises (one, or all of them) over a period.
func (p *officePages) stats(w http.ResponseWriter, r *http.Request, a deskReq) {
	rep, ok := p.report(w, r, a)
	if !ok {
		return
	}
	status := http.StatusOK
	if len(rep.v.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}, {Label: "Statistiche della coda"}}
	w.Header().Set("X-Frame-Options", "DENY")
	p.pages.Render(w, r, status, "stats.html", site.Page{Title: "Statistiche della coda", Breadcrumbs: crumbs, Data: rep.v})
}

// statsHeader is the CSV's first line. The columns hold counts, times
// and the names of offices, services and desks, never a citizen's data.
// Times are in minutes with two decimals after a point, so spreadsheets
// in any locale read them as numbers once told the separator; the file
// is written like booking/web's statistics (commas, no byte-order mark).
var statsHeader = []string{"sezione", "ufficio", "voce", "biglietti", "chiamati", "serviti", "assenti",
	"abbandonati", "non_conclusi", "attesa_media_min", "attesa_p90_min", "servizio_medio_min", "servizio_p90_min", "coda_massima"}

// statsCSV answers GET /gestione/coda/statistiche.csv: the same report
// as the page, as a CSV attachment.
func (p *officePages) statsCSV(w http.ResponseWriter, r *http.Request, a deskReq) {
	rep, ok := p.report(w, r, a)
	if !ok {
		return
	}
	if len(rep.v.Errors) > 0 {
		p.h.site.Error(w, r, http.StatusUnprocessableEntity, "Il periodo indicato non è valido: "+rep.v.Errors[0].Message)
		return
	}
	if !rep.ok {
		p.h.site.Error(w, r, http.StatusNotFound, "Il tuo profilo non è assegnato a nessun ufficio.")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="coda-statistiche-%s-%s.csv"`, rep.from, rep.to))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	minutes := func(d time.Duration, n int) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatFloat(d.Minutes(), 'f', 2, 64)
	}
	line := func(section string, v statsRowView) []string {
		line := ""
		if section != "sportello" {
			line = strconv.Itoa(v.maxLine)
		}
		return []string{section, csvSafe(v.Office), csvSafe(v.Label), strconv.Itoa(v.Taken), strconv.Itoa(v.Called),
			strconv.Itoa(v.Served), strconv.Itoa(v.NoShow), strconv.Itoa(v.Abandoned), strconv.Itoa(v.Open),
			minutes(v.waitAvg, v.waitN), minutes(v.waitP90, v.waitN), minutes(v.serviceAvg, v.serviceN),
			minutes(v.serviceP90, v.serviceN), line}
	}
	cw.Write(statsHeader)
	for _, v := range rep.v.Hours {
		cw.Write(line("ora", v))
	}
	for _, v := range rep.v.Services {
		cw.Write(line("servizio", v))
	}
	for _, v := range rep.v.Desks {
		cw.Write(line("sportello", v))
	}
	cw.Write(line("totale", rep.v.Total))
	cw.Flush()
	if err := cw.Error(); err != nil {
		p.h.log.Warn("queue statistics CSV not written", "err", err)
	}
}

// csvSafe keeps a name from being read as a formula by a spreadsheet
// (CSV injection): a leading =, +, - or @ gets an apostrophe.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// parseDay reads a day as the date input sends it (2027-12-24) or as a
// person types it without one (24/12/2027).
func parseDay(s string) (civil.Date, bool) {
	for _, layout := range []string{time.DateOnly, "2/1/2006", "2-1-2006", "2.1.2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return civil.DateOf(t), true
		}
	}
	return civil.Date{}, false
}

// italianMonths are the months' names.
var italianMonths = [...]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
	"agosto", "settembre", "ottobre", "novembre", "dicembre"}

// italianDate writes "9 marzo 2026".
func italianDate(t time.Time) string {
	return fmt.Sprintf("%d %s %d", t.Day(), italianMonths[t.Month()-1], t.Year())
}
