package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
)

// apiBookingCancel answers DELETE /api/v1/bookings/{code}: it cancels the
// booking and returns it with status "cancelled"; 409 past the
// cancellation deadline or when already cancelled. With an
// Idempotency-Key header a repeat answers as the first cancellation did.
func (h *Handler) apiBookingCancel(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	token, err := bearerToken(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	ctx, err := idempotent(r.Context(), r, t.ID, token, nil)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	loc := t.Location()
	base := h.baseURL(r)
	b, err := h.book.Cancel(ctx, t, r.PathValue("code"), token, base)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.log.Info("booking cancelled", "tenant", t.ID, "booking", b.Code, "via", "api")
	writeJSON(w, http.StatusOK, toAPIBooking(b, token, base, loc))
}
