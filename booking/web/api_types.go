package web

import (
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// The JSON shapes of /api/v1. Their names are a public contract described
// in openapi.json: add fields, never rename or remove them.

type apiOfficeList struct {
	Offices []apiOffice `json:"offices"`
}

type apiOffice struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Address  string       `json:"address"`
	Services []apiService `json:"services"`
}

type apiService struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	DurationMinutes int               `json:"duration_minutes"`
	Channels        []booking.Channel `json:"channels"`
}

type apiSlotList struct {
	Slots []apiSlot `json:"slots"`
}

type apiSlot struct {
	Start     string `json:"start"`
	End       string `json:"end"`
	Remaining int    `json:"remaining"`
}

// apiBookingRequest is the body of POST /api/v1/bookings. Start is a
// string so that a malformed time is reported on its field.
type apiBookingRequest struct {
	ServiceID       string     `json:"service_id"`
	Start           string     `json:"start"`
	Channel         string     `json:"channel"`
	Citizen         apiCitizen `json:"citizen"`
	Details         string     `json:"details"`
	PrivacyAccepted bool       `json:"privacy_accepted"`
	// Lang is the citizen's language ("it", "en", "de"; others mean
	// Italian): the booking's emails and calendar file are written in it,
	// and so are this request's error messages. Absent means Italian.
	Lang string `json:"lang,omitempty"`
	// Proof is the solved proof-of-work challenge, required when the
	// service asks one (GET /api/v1/services/{id}/challenge).
	Proof *apiProof `json:"proof,omitempty"`
}

type apiCitizen struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	FiscalCode string `json:"fiscal_code"`
	Email      string `json:"email"`
	Phone      string `json:"phone,omitempty"`
}

// apiBookingCreated is the 201 answer of POST /api/v1/bookings. JoinURL is
// null for in-person bookings. ManageToken, the secret that GET, DELETE and
// move need, is shown only here and inside ManageURL.
type apiBookingCreated struct {
	ID          string  `json:"id"`
	Code        string  `json:"code"`
	Start       string  `json:"start"`
	End         string  `json:"end"`
	ManageURL   string  `json:"manage_url"`
	ManageToken string  `json:"manage_token"`
	JoinURL     *string `json:"join_url"`
}

// apiBooking is a booking as its holder sees it.
type apiBooking struct {
	ID        string          `json:"id"`
	Code      string          `json:"code"`
	Status    booking.Status  `json:"status"`
	ServiceID string          `json:"service_id"`
	OfficeID  string          `json:"office_id"`
	Start     string          `json:"start"`
	End       string          `json:"end"`
	Channel   booking.Channel `json:"channel"`
	Citizen   apiCitizen      `json:"citizen"`
	Details   string          `json:"details"`
	ManageURL string          `json:"manage_url"`
	JoinURL   *string         `json:"join_url"`
}

type apiMoveRequest struct {
	Start string `json:"start"`
}

// rfc3339 formats t in the Comune's zone, so the offset is the Comune's.
func rfc3339(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.RFC3339)
}

func toAPIService(s booking.Service) apiService {
	ch := s.Channels
	if ch == nil {
		ch = []booking.Channel{}
	}
	return apiService{ID: s.ID, Name: s.Name, DurationMinutes: int(s.Duration / time.Minute), Channels: ch}
}

func toAPICitizen(c booking.Citizen) apiCitizen {
	return apiCitizen{GivenName: c.GivenName, FamilyName: c.FamilyName, FiscalCode: c.FiscalCode, Email: c.Email, Phone: c.Phone}
}

// joinURL is the absolute call link of a video or phone booking, nil for
// an in-person one.
func joinURL(base string, b booking.Booking) *string {
	if b.Channel == booking.InPerson || b.JoinToken == "" {
		return nil
	}
	u := base + booking.JoinPath(b.Code, b.JoinToken)
	return &u
}

func toAPIBooking(b booking.Booking, token, base string, loc *time.Location) apiBooking {
	return apiBooking{
		ID: b.ID, Code: b.Code, Status: b.Status, ServiceID: b.ServiceID, OfficeID: b.OfficeID,
		Start: rfc3339(b.Start, loc), End: rfc3339(b.End, loc), Channel: b.Channel,
		Citizen: toAPICitizen(b.Citizen), Details: b.Details,
		ManageURL: base + booking.ManagePath(b.Code, token), JoinURL: joinURL(base, b),
	}
}
