package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// bookingCalendar answers GET /prenotazioni/{code}/calendario.ics?token=…,
// the "Aggiungi al calendario" download: the same iCalendar event as the
// email's attachment (same UID and SEQUENCE), so importing both gives one
// event.
func (h *Handler) bookingCalendar(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	noReferrer(w)
	code, token := r.PathValue("code"), r.URL.Query().Get(fToken)
	if token == "" {
		h.pageError(w, r, booking.ErrNotFound)
		return
	}
	ics, err := h.book.CalendarFile(r.Context(), t, code, token, h.baseURL(r))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="appuntamento-`+safeFileName(code)+`.ics"`)
	_, _ = w.Write(ics)
}

// safeFileName keeps the letters, digits and dashes of s.
func safeFileName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			out = append(out, c)
		}
	}
	return string(out)
}
