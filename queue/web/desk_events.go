package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/queue"
)

// The operators' pages follow their office's line live: the desk page
// (and the supervisor's overview on it) opens GET /gestione/coda/eventi,
// an event stream fed by the office's hub like the citizens' streams,
// whose every event says only that the line or the calls changed (a
// digest). queue.js reloads the page on a change, so the page stays one
// server-rendered view, checked against the grant on every load, and
// the stream carries no citizen's data. Without script the page's meta
// refresh still reloads it every deskRefresh.

// lineDigest sums up what an operator's page shows of the line: the
// waiting tickets in order, with the desk each is reserved for, and the
// generation of the calls (a call, recall, or closing of a called
// ticket). It is a hash, so that events are short and say nothing.
func lineDigest(s queue.Snapshot, callsGen uint64) string {
	var b strings.Builder
	for _, k := range s.Line {
		b.WriteString(k.ID + ":" + k.ForDesk + ":" + string(k.Priority) + ";")
	}
	b.WriteString("|" + strconv.FormatUint(callsGen, 10))
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

// lineEvent is the data of an event of the operators' stream.
type lineEvent struct {
	Line string `json:"line"`
}

// events answers GET /gestione/coda/eventi?ufficio=…: the office's line
// stream, for its operators and supervisors.
func (d *deskPages) events(w http.ResponseWriter, r *http.Request, a deskReq) {
	office := strings.TrimSpace(r.URL.Query().Get(qDeskOffice))
	if d.h.changes == nil || office == "" {
		d.h.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	if !mayServeQueue(a.user, office) {
		d.forbidden(w, r, a, office)
		return
	}
	if _, err := d.h.q.PublicOffice(r.Context(), a.t.ID, office); err != nil {
		d.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente.")
		return
	}
	d.h.follow(w, r, a.t, office, staffWatch, "line", func(u update) (any, bool, string) {
		return lineEvent{Line: u.line}, false, ""
	})
}
