package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// maxSlotRangeDays bounds the days one slot query covers: two months, the
// most a month-by-month client asks for, keeps the computation small.
const maxSlotRangeDays = 62

// defaultSlotRangeDays is the range when ?to is absent.
const defaultSlotRangeDays = 31

// apiSlotList answers GET /api/v1/services/{id}/slots?from=&to=: the
// service's slots, full ones included with remaining 0. from defaults to
// today in the Comune's zone and to to 30 days after from.
func (h *Handler) apiSlotList(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	loc := t.Location()
	from, to, err := slotRange(r, civil.DateOf(h.now().In(loc)))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if err := h.checkFresh(); err != nil {
		h.apiError(w, r, err)
		return
	}
	slots, err := h.book.Slots(r.Context(), t, r.PathValue("id"), from, to)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	out := apiSlotList{Slots: make([]apiSlot, 0, len(slots))}
	for _, s := range slots {
		out.Slots = append(out.Slots, apiSlot{Start: rfc3339(s.Start, loc), End: rfc3339(s.End, loc), Remaining: max(s.Remaining, 0)})
	}
	writeJSON(w, http.StatusOK, out)
}

// slotRange reads ?from and ?to, answering a *booking.ValidationError on
// the offending parameter.
func slotRange(r *http.Request, today civil.Date) (from, to civil.Date, err error) {
	q := r.URL.Query()
	from = today
	if s := q.Get("from"); s != "" {
		if from, err = civil.ParseDate(s); err != nil {
			return from, to, &booking.ValidationError{Fields: map[string]string{"from": "Data non valida: usa il formato AAAA-MM-GG."}}
		}
	}
	to = from.AddDays(defaultSlotRangeDays - 1)
	if s := q.Get("to"); s != "" {
		if to, err = civil.ParseDate(s); err != nil {
			return from, to, &booking.ValidationError{Fields: map[string]string{"to": "Data non valida: usa il formato AAAA-MM-GG."}}
		}
	}
	switch n := from.DaysUntil(to); {
	case n < 0:
		return from, to, &booking.ValidationError{Fields: map[string]string{"to": "La data finale precede quella iniziale."}}
	case n >= maxSlotRangeDays:
		return from, to, &booking.ValidationError{Fields: map[string]string{"to": "L'intervallo può coprire al massimo 62 giorni."}}
	}
	return from, to, nil
}
