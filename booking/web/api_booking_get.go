package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/tenant"
)

// apiBookingGet answers GET /api/v1/bookings/{code} for the holder of the
// manage token. An unknown code and a wrong token both answer 404.
func (h *Handler) apiBookingGet(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	token, err := bearerToken(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	loc := t.Location()
	b, err := h.book.Get(r.Context(), t.ID, r.PathValue("code"), token)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIBooking(b, token, h.baseURL(r), loc))
}
