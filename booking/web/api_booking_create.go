package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// apiBookingCreate answers POST /api/v1/bookings: 201 with the booking's
// code, times and links; 409 when the slot is full or the citizen already
// holds a booking; 422 with per-field messages; 429 past the rate limit.
// With an Idempotency-Key header a repeat gets the first answer (the same
// booking and manage token) and books nothing more.
func (h *Handler) apiBookingCreate(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := h.allowCreate(r); err != nil {
		h.apiError(w, r, err)
		return
	}
	var in apiBookingRequest
	if err := decodeJSON(r, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	if in.Lang != "" {
		// The client asked for a language: the booking's emails, and this
		// answer's messages, are written in it.
		r = r.WithContext(withAPILang(r.Context(), in.Lang))
	}
	ctx, err := idempotent(r.Context(), r, t.ID, "", in)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	start, startErr := parseStart(in.Start)
	req := booking.Request{
		ServiceID: in.ServiceID,
		Start:     start,
		Channel:   booking.Channel(in.Channel),
		Citizen: booking.Citizen{
			GivenName:  in.Citizen.GivenName,
			FamilyName: in.Citizen.FamilyName,
			FiscalCode: in.Citizen.FiscalCode,
			Email:      in.Citizen.Email,
			Phone:      in.Citizen.Phone,
		},
		Details:         in.Details,
		PrivacyAccepted: in.PrivacyAccepted,
		Lang:            booking.NormalizeLang(in.Lang),
	}
	if startErr != nil {
		// Report every invalid field at once, not only the start time.
		h.apiError(w, r, mergeFieldErrors(startErr, checkRequestErr(req)))
		return
	}
	if req.Admission, err = h.apiAdmission(r, t, req.ServiceID, in.Proof); err != nil {
		h.apiError(w, r, err)
		return
	}
	loc := t.Location()
	base := h.baseURL(r)
	c, err := h.book.Create(ctx, t, req, base)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	b := c.Booking
	// Info boxes its arguments before it asks the handler whether the
	// level is on: asked first, a node logging at warn allocates nothing.
	if h.log.Enabled(context.Background(), slog.LevelInfo) {
		h.log.Info("booking created", "tenant", t.ID, "booking", b.Code, "via", "api")
	}
	w.Header().Set("Location", base+"/api/v1/bookings/"+b.Code)
	writeBookingCreated(w, apiBookingCreated{
		ID: b.ID, Code: b.Code,
		Start: rfc3339(b.Start, loc), End: rfc3339(b.End, loc),
		ManageURL:   base + booking.ManagePath(b.Code, c.ManageToken),
		ManageToken: c.ManageToken,
		JoinURL:     joinURL(base, b),
	})
}

// allowCreate takes a token from the client's booking-creation bucket.
func (h *Handler) allowCreate(r *http.Request) error {
	if ok, wait := h.limiter.Allow(h.clientIP(r), h.now()); !ok {
		return &rateLimitError{RetryAfter: wait}
	}
	return nil
}

// parseStart parses an RFC 3339 start time, reporting a
// *booking.ValidationError on the "start" field.
func parseStart(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, &booking.ValidationError{Fields: map[string]string{"start": "Scegli data e orario dell'appuntamento."}}
	}
	start, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, &booking.ValidationError{Fields: map[string]string{
			"start": "Orario non valido: usa il formato RFC 3339, ad esempio 2027-03-11T10:00:00+01:00.",
		}}
	}
	return start, nil
}

// checkRequestErr returns the field errors of req, or nil.
func checkRequestErr(req booking.Request) error {
	_, err := booking.CheckRequest(req)
	return err
}

// mergeFieldErrors joins the fields of the *booking.ValidationError values
// among errs into one; first wins on the same field, so put the most
// precise message first.
func mergeFieldErrors(errs ...error) error {
	fields := map[string]string{}
	for _, err := range errs {
		var ve *booking.ValidationError
		if !errors.As(err, &ve) {
			continue
		}
		for k, v := range ve.Fields {
			if _, ok := fields[k]; !ok {
				fields[k] = v
			}
		}
	}
	return &booking.ValidationError{Fields: fields}
}
