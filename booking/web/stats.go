package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Query parameters of the statistics.
const (
	qFrom   = "dal"
	qTo     = "al"
	qFormat = "formato"
)

// maxStatsDays bounds a report's period: a year and a day covers any
// calendar year and keeps one report's scan of the bookings bounded.
const maxStatsDays = 367

// statsView is the data of /gestione/statistiche.
type statsView struct {
	adminBase
	Office   selectView
	From, To field
	Period   string
	Rows     []statsRowView
	Total    statsRowView
	// CSV is the link of the same report as a CSV download.
	CSV        string
	HasOffices bool
}

// statsRowView is one line of the statistics table.
type statsRowView struct {
	Office, Service                           string
	Made, ByCitizen, ByOffice, Served, NoShow int
	LeadTime                                  string
	// The shares of the bookings served, no-show and cancelled: labels
	// ("40%") and bar widths (CSS percentages) of the row's chart.
	ServedPct, NoShowPct, CancelledPct string
	ServedW, NoShowW, CancW            string
}

func newStatsRowView(r booking.StatsRow) statsRowView {
	v := statsRowView{Office: r.OfficeName, Service: r.ServiceName, Made: r.Made, ByCitizen: r.CancelledByCitizen,
		ByOffice: r.CancelledByOffice, Served: r.Served, NoShow: r.NoShow, LeadTime: leadTimeLabel(r.LeadTime)}
	pct := func(n int) (label, width string) {
		if r.Made == 0 {
			return "0%", "0"
		}
		p := float64(n) * 100 / float64(r.Made)
		return strconv.FormatFloat(p, 'f', 0, 64) + "%", strconv.FormatFloat(p, 'f', 1, 64)
	}
	v.ServedPct, v.ServedW = pct(r.Served)
	v.NoShowPct, v.NoShowW = pct(r.NoShow)
	v.CancelledPct, v.CancW = pct(r.CancelledByCitizen + r.CancelledByOffice)
	return v
}

// leadTimeLabel writes an average lead time: "2 giorni e 4 ore", "3 ore".
func leadTimeLabel(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	unit := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	switch {
	case days == 0 && hours == 0:
		return "meno di un'ora"
	case days == 0:
		return unit(hours, "ora", "ore")
	case hours == 0:
		return unit(days, "giorno", "giorni")
	}
	return unit(days, "giorno", "giorni") + " e " + unit(hours, "ora", "ore")
}

// statsShow answers GET /gestione/statistiche: the report of the offices
// of the supervisor's grant (one, or all of them) over a period, as a
// page or, with formato=csv, as a CSV download.
func (h *Handler) statsShow(w http.ResponseWriter, r *http.Request, a adminReq) {
	ctx := r.Context()
	q := r.URL.Query()
	allow := func(id string) bool { return a.user.Allowed(auth.RoleSupervisor, id) }
	offices, err := h.allowedOffices(ctx, a, allow)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	officeID := strings.TrimSpace(q.Get(qOffice))
	if officeID != "" && !allow(officeID) {
		h.forbidden(w, r, a, officeID)
		return
	}
	ids := []string{}
	v := statsView{adminBase: h.newAdminBase(r, a), HasOffices: len(offices) > 0}
	v.Office = selectView{ID: qOffice, Label: "Ufficio", Prompt: "Tutti i tuoi uffici"}
	found := officeID == ""
	for _, o := range offices {
		sel := o.ID == officeID
		found = found || sel
		if officeID == "" || sel {
			ids = append(ids, o.ID)
		}
		v.Office.Choices = append(v.Office.Choices, choice{Value: o.ID, Label: o.Name, Checked: sel})
	}
	if !found {
		h.pageError(w, r, booking.ErrNotFound)
		return
	}

	// The period defaults to the current month, in the Comune's zone.
	today := civil.DateOf(h.now().In(a.t.Location()))
	first := time.Date(today.Year, today.Month, 1, 12, 0, 0, 0, time.UTC)
	from, to := civil.DateOf(first), civil.DateOf(first.AddDate(0, 1, -1))
	fe := formErrors{}
	typedFrom, typedTo := strings.TrimSpace(q.Get(qFrom)), strings.TrimSpace(q.Get(qTo))
	if typedFrom != "" {
		if d := fe.parseDay(qFrom, typedFrom, true); fe[qFrom] == "" {
			from = d
		}
	}
	if typedTo != "" {
		if d := fe.parseDay(qTo, typedTo, true); fe[qTo] == "" {
			to = d
		}
	}
	if len(fe) == 0 {
		switch {
		case to.Before(from):
			fe[qTo] = "L'ultimo giorno precede il primo."
		case from.AddDays(maxStatsDays).Before(to):
			fe[qTo] = fmt.Sprintf("Il periodo può durare al massimo %d giorni.", maxStatsDays)
		}
	}
	if typedFrom == "" {
		typedFrom = from.String()
	}
	if typedTo == "" {
		typedTo = to.String()
	}
	v.From = field{ID: qFrom, Label: "Dal giorno", Type: "date", Value: typedFrom, Error: fe[qFrom], Required: true}
	v.To = field{ID: qTo, Label: "Al giorno", Type: "date", Value: typedTo, Error: fe[qTo], Required: true}
	crumbs := adminCrumbs(site.Crumb{Label: "Statistiche"})
	if len(fe) > 0 {
		v.ErrorList = formSpec{order: []string{qFrom, qTo}, labels: map[string]string{qFrom: "Dal giorno", qTo: "Al giorno"}}.errorList(fe)
		if q.Get(qFormat) == "csv" {
			h.site.Error(w, r, http.StatusUnprocessableEntity, "Il periodo indicato non è valido.")
			return
		}
		h.adminRender(w, r, http.StatusUnprocessableEntity, "statistiche.html", "Statistiche", crumbs, v)
		return
	}
	st, err := h.book.Stats(ctx, a.t, ids, from, to)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if q.Get(qFormat) == "csv" {
		h.statsCSV(w, st)
		return
	}
	fromNoon, _ := from.In(a.t.Location(), 12, 0)
	toNoon, _ := to.In(a.t.Location(), 12, 0)
	v.Period = "dal " + dateLabel(fromNoon) + " al " + dateLabel(toNoon)
	for _, row := range st.Rows {
		v.Rows = append(v.Rows, newStatsRowView(row))
	}
	v.Total = newStatsRowView(st.Total)
	csvQuery := url.Values{qFrom: {from.String()}, qTo: {to.String()}, qFormat: {"csv"}}
	if officeID != "" {
		csvQuery.Set(qOffice, officeID)
	}
	v.CSV = "/gestione/statistiche?" + csvQuery.Encode()
	h.adminRender(w, r, http.StatusOK, "statistiche.html", "Statistiche", crumbs, v)
}

// statsHeader is the CSV's first line. The columns hold counts and the
// names of offices and services, never a citizen's data; the lead time is
// in hours with two decimals after a point, so spreadsheets in any locale read it
// as a number once told the separator.
var statsHeader = []string{"ufficio", "servizio", "prenotazioni", "annullate_dal_cittadino",
	"annullate_dall_ufficio", "servite", "assenze", "anticipo_medio_ore"}

// statsCSV writes the report as a CSV attachment.
func (h *Handler) statsCSV(w http.ResponseWriter, st booking.Stats) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statistiche-%s-%s.csv"`, st.From, st.To))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	line := func(r booking.StatsRow, office, service string) []string {
		return []string{csvSafe(office), csvSafe(service), strconv.Itoa(r.Made), strconv.Itoa(r.CancelledByCitizen),
			strconv.Itoa(r.CancelledByOffice), strconv.Itoa(r.Served), strconv.Itoa(r.NoShow),
			strconv.FormatFloat(r.LeadTime.Hours(), 'f', 2, 64)}
	}
	cw.Write(statsHeader)
	for _, r := range st.Rows {
		cw.Write(line(r, r.OfficeName, r.ServiceName))
	}
	cw.Write(line(st.Total, "Totale", ""))
	cw.Flush()
	if err := cw.Error(); err != nil {
		h.log.Warn("statistics CSV not written", "err", err)
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
