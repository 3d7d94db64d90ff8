package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The documents of a booking's video call on the agenda (issue 6:
// "visible afterwards to the operator on the booking"). The call stores
// each document with the reference "booking:<code>" (cmd/sportello's
// calls.go); the agenda lists them under the booking and links each to
// /gestione/documenti/{id}, which serves it to whoever may see the
// booking's office on the agenda. The room token the call's own links
// carry expires with the room, long before the documents do, so the
// operator's links rest on the session instead.

// CallDocuments reads the documents of the video calls; *docs.Store
// implements it. nil (calls off) leaves the agenda without documents and
// the download route answering 404.
type CallDocuments interface {
	ListRef(ctx context.Context, t tenant.ID, ref string) ([]docs.Document, error)
	Get(ctx context.Context, t tenant.ID, id string) (docs.Document, error)
	// Download serves the document; room "" because the caller checked
	// the document's reference itself.
	Download(w http.ResponseWriter, r *http.Request, t tenant.ID, room, id string)
}

// docRefBooking prefixes a booking's code in a document's reference.
const docRefBooking = "booking:"

// docRow is a document as the agenda lists it.
type docRow struct {
	Name, Size, URL string
}

// bookingDocuments lists the documents of the booking code for the
// agenda; a read error is logged and shows no documents rather than no
// agenda.
func (h *Handler) bookingDocuments(ctx context.Context, t tenant.ID, code string) []docRow {
	if h.docs == nil {
		return nil
	}
	ds, err := h.docs.ListRef(ctx, t, docRefBooking+code)
	if err != nil {
		h.log.Warn("agenda: list the documents of a booking", "tenant", t, "booking", code, "err", err)
		return nil
	}
	out := make([]docRow, 0, len(ds))
	for _, d := range ds {
		out = append(out, docRow{Name: d.Name, Size: docSize(d.Size), URL: "/gestione/documenti/" + url.PathEscape(d.ID)})
	}
	return out
}

// docSize writes n bytes as the call page does: "12 KB", "1,5 MB".
func docSize(n int64) string {
	if n >= 1<<20 {
		return strings.Replace(fmt.Sprintf("%.1f MB", float64(n)/(1<<20)), ".", ",", 1)
	}
	return fmt.Sprintf("%d KB", max(1, (n+512)/1024))
}

// agendaDocument answers GET /gestione/documenti/{id}: a document of a
// booking of an office the user serves. A document of no booking (a
// ticket's call without appointment), of another office or of another
// Comune is not found: the ID alone proves nothing.
func (h *Handler) agendaDocument(w http.ResponseWriter, r *http.Request, a adminReq) {
	w.Header().Set("Cache-Control", "no-store")
	if h.docs == nil {
		h.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	d, err := h.docs.Get(ctx, a.t.ID, id)
	if errors.Is(err, docs.ErrNotFound) {
		h.site.Error(w, r, http.StatusNotFound, "Il documento non esiste o non è più disponibile.")
		return
	}
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	code, ok := strings.CutPrefix(d.Ref, docRefBooking)
	var bk booking.Booking
	if ok {
		bk, err = h.book.ByCode(ctx, a.t.ID, code)
	}
	if !ok || errors.Is(err, booking.ErrNotFound) || err == nil && !mayServe(a.user, bk.OfficeID) {
		if ok && err == nil {
			h.log.Warn("agenda: document of an office outside the user's grant", "tenant", a.t.ID, "user", a.user.ID,
				"office", bk.OfficeID, "document", id)
		}
		h.site.Error(w, r, http.StatusNotFound, "Il documento non esiste o non è più disponibile.")
		return
	}
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.log.Info("agenda: document downloaded", "tenant", a.t.ID, "user", a.user.ID, "document", id, "booking", code)
	h.docs.Download(w, r, a.t.ID, "", id)
}
