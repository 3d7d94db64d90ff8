package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The agenda's search: an operator looks a booking up by code, the
// citizen's name or fiscal code, among the offices of their grant, and
// goes to that booking on its day's agenda. The text names a person: it
// travels in the query string of a GET (a search changes nothing, and the
// page can be reloaded), it is never logged by this file, and the answer
// is bounded (searchLimit).

// qSearch is the search's query parameter.
const qSearch = "cerca"

// Window of a search: bookings from searchPastDays before today (recent
// ones an operator still handles: a complaint, a missing document) to the
// farthest day any service of the searched offices can be booked.
const (
	searchPastDays = 30
	searchLimit    = 50
)

// agendaSearchView is the data of /gestione/agenda/cerca.
type agendaSearchView struct {
	adminBase
	Search     field
	HasOffices bool
	// Searched is set when a valid text was searched; Window says which
	// days were searched.
	Searched bool
	Window   string
	Results  []searchRow
	More     bool
}

// searchRow is one booking found: what tells it apart, and the link to it
// on its day's agenda.
type searchRow struct {
	Link, Day, Time, Code, Citizen, FiscalCode, Office, Service string
	StateLabel, Badge                                           string
}

// searchField is the search box, holding text.
func searchField(text string) field {
	return field{ID: qSearch, Label: "Cerca per codice, nome e cognome o codice fiscale", Type: "search", Value: text,
		MaxLen: booking.MaxSearchText, Required: true,
		Help: "Almeno 3 caratteri. Sono cercate le prenotazioni dei tuoi uffici dagli ultimi 30 giorni in avanti."}
}

// agendaSearch answers GET /gestione/agenda/cerca?cerca=….
func (h *Handler) agendaSearch(w http.ResponseWriter, r *http.Request, a adminReq) {
	ctx := r.Context()
	offices, err := h.allowedOffices(ctx, a, func(id string) bool { return mayServe(a.user, id) })
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	text := strings.TrimSpace(r.URL.Query().Get(qSearch))
	v := agendaSearchView{
		adminBase:  h.newAdminBase(r, a),
		HasOffices: len(offices) > 0,
		Search:     searchField(text),
	}
	status := http.StatusOK
	if text != "" && v.HasOffices {
		// The store's errors never hold the text, and pageError logs
		// the path without the query.
		if status, err = h.runSearch(r, a, offices, text, &v); err != nil {
			h.pageError(w, r, err)
			return
		}
	}
	crumbs := adminCrumbs(site.Crumb{Label: "Agenda", URL: "/gestione/agenda"}, site.Crumb{Label: "Cerca"})
	h.adminRender(w, r, status, "agenda_search.html", "Cerca una prenotazione", crumbs, v)
}

// runSearch searches text among offices and fills v; it returns the
// page's status (422 for a text too short or too long), or the store's
// error.
func (h *Handler) runSearch(r *http.Request, a adminReq, offices []booking.Office, text string, v *agendaSearchView) (int, error) {
	loc := a.t.Location()
	today := civil.DateOf(h.now().In(loc))
	horizon := 1
	ids := make([]string, 0, len(offices))
	names := map[string]string{}
	for _, o := range offices {
		ids = append(ids, o.ID)
		names[o.ID] = o.Name
		for _, s := range o.Services {
			horizon = max(horizon, s.HorizonDays)
		}
	}
	first, last := today.AddDays(-searchPastDays), today.AddDays(horizon)
	from, _ := first.In(loc, 0, 0)
	to, _ := last.AddDays(1).In(loc, 0, 0)
	items, more, err := h.book.SearchAgenda(r.Context(), a.t, booking.AgendaSearch{
		Text: text, Offices: ids, From: from, To: to, Limit: searchLimit,
	})
	var ve *booking.ValidationError
	switch {
	case errors.As(err, &ve):
		v.Search.Error = ve.Fields["text"]
		v.ErrorList = []fieldError{{Field: qSearch, Label: "Ricerca", Message: v.Search.Error}}
		return http.StatusUnprocessableEntity, nil
	case err != nil:
		return 0, err
	}
	fromNoon, _ := first.In(loc, 12, 0)
	toNoon, _ := last.In(loc, 12, 0)
	v.Searched, v.More = true, more
	v.Window = "dal " + dateLabel(fromNoon) + " al " + dateLabel(toNoon)
	for _, it := range items {
		b := it.Booking
		st := it.State()
		v.Results = append(v.Results, searchRow{
			Link: agendaURL(b.OfficeID, civil.DateOf(b.Start)) + "#p-" + b.Code,
			Day:  dateLabel(b.Start), Time: clockOf(b.Start), Code: b.Code,
			Citizen:    strings.TrimSpace(b.Citizen.GivenName + " " + b.Citizen.FamilyName),
			FiscalCode: b.Citizen.FiscalCode, Office: names[b.OfficeID], Service: it.ServiceName,
			StateLabel: stateLabels[st], Badge: stateBadges[st],
		})
	}
	return http.StatusOK, nil
}
