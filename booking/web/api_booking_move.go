package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
)

// apiBookingMove answers POST /api/v1/bookings/{code}/move {"start"}: it
// moves the booking to another slot of the same service and returns it.
// With an Idempotency-Key header a repeat does not move it again.
func (h *Handler) apiBookingMove(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	token, err := bearerToken(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	var in apiMoveRequest
	if err := decodeJSON(r, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	start, err := parseStart(in.Start)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	ctx, err := idempotent(r.Context(), r, t.ID, token, in)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	loc := t.Location()
	base := h.baseURL(r)
	b, err := h.book.Move(ctx, t, r.PathValue("code"), token, start, base)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.log.Info("booking moved", "tenant", t.ID, "booking", b.Code, "via", "api")
	writeJSON(w, http.StatusOK, toAPIBooking(b, token, base, loc))
}
