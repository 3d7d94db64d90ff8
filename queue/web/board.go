package web

import (
	"context"
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// boardCalls is how many calls the board shows: the latest large, the
// others below it.
const boardCalls = 8

// apiCall is one call on the board, as the office's event stream sends
// it.
type apiCall struct {
	Number string `json:"number"`
	Desk   string `json:"desk"`
	State  string `json:"state"`
	// Called is when the ticket was last called (RFC 3339): a recall
	// changes it, so the board chimes and speaks again.
	Called string `json:"called"`
}

// boardCall is a call as the board's page shows it: the number and the
// desk named in the page's language (place).
type boardCall struct{ Number, Place string }

// boardData is the board's page.
type boardData struct {
	Office booking.Office
	Calls  []boardCall
	Events string
	Script string
	// Chime and Voice say whether a new call rings a chime and is spoken
	// by the browser's speech synthesis: on unless the screen's address
	// says suono=no or voce=no.
	Chime, Voice bool
	// VoiceLang is the language tag of the speech synthesis's voice,
	// the page's language (voiceLang).
	VoiceLang string
	// Strings are the texts the script shows and speaks.
	Strings map[string]string
}

// board answers GET /coda/{office}/tabellone: the last calls with their
// desk, for a screen in the waiting hall.
func (c *citizen) board(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	o, ok := c.office(w, r, t, r.PathValue("office"))
	if !ok {
		return
	}
	calls, err := c.h.calls(r.Context(), t, o.ID)
	if err != nil {
		c.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	lang := site.LangFrom(r.Context())
	d := boardData{Office: o, Script: c.scriptURL(), Chime: q.Get("suono") != "no", Voice: q.Get("voce") != "no",
		VoiceLang: voiceLang(lang), Strings: scriptStrings(lang)}
	for _, k := range calls {
		d.Calls = append(d.Calls, boardCall{Number: k.Number, Place: place(lang, k.Desk)})
	}
	if c.h.changes != nil {
		d.Events = "/api/v1/offices/" + o.ID + "/queue/events"
	}
	c.pages.Render(w, r, http.StatusOK, "coda_tabellone.html", site.Page{Title: tr(lang, "board.title", o.Name), Data: d})
}

// calls is the board's list for an office.
func (h *Handler) calls(ctx context.Context, t tenant.Tenant, officeID string) ([]apiCall, error) {
	ks, err := h.q.LastCalls(ctx, t, officeID, boardCalls)
	if err != nil {
		return nil, err
	}
	labels, err := h.q.DeskLabels(ctx, t.ID, officeID)
	if err != nil {
		return nil, err
	}
	return callsOf(ks, labels), nil
}

// apiOfficeEvents answers GET /api/v1/offices/{id}/queue/events with
// Server-Sent Events: one "calls" event with the board's list at once,
// then one whenever it changes. The office's hub reads the list once per
// applied command for every board and ticket page following the office
// on this node, and sends the whole list each time, so a reconnecting
// board loses nothing.
func (h *Handler) apiOfficeEvents(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	id := r.PathValue("id")
	if _, err := h.q.PublicOffice(r.Context(), t.ID, id); err != nil {
		h.apiError(w, r, err)
		return
	}
	h.follow(w, r, t, id, "", "calls", func(u update) (any, bool, string) {
		return u.calls, false, ""
	})
}
