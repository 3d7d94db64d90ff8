package web

import (
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// apiTicketRequest is the body of POST /api/v1/offices/{id}/tickets.
type apiTicketRequest struct {
	ServiceID   string `json:"service_id"`
	Channel     string `json:"channel"`
	BookingCode string `json:"booking_code"`
	// Email, when given, receives "manca poco" and "è il tuo turno";
	// Lang is their language ("it" when empty).
	Email string `json:"email"`
	Lang  string `json:"lang"`
	// DeviceID identifies the app's installation for the office's
	// per-device limit; the Device-Id header gives it too.
	DeviceID string `json:"device_id"`
	// Proof is the solved challenge of an office that asks for one.
	Proof *proof `json:"proof"`
}

// deviceHeader carries an app's device ID when the body does not.
const deviceHeader = "Device-Id"

// apiDevice returns the device of an API take: the body's device_id or
// the Device-Id header, "api:"-prefixed so that an app cannot pass for a
// browser's cookie. An ID that is not 1–64 printable ASCII characters is
// a field error.
func apiDevice(r *http.Request, in apiTicketRequest) (string, error) {
	id := in.DeviceID
	if id == "" {
		id = strings.TrimSpace(r.Header.Get(deviceHeader))
	}
	if id == "" {
		return "", nil
	}
	ok := len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] > ' ' && id[i] < 0x7f
	}
	if !ok {
		return "", &queue.ValidationError{Fields: map[string]string{"device_id": "L'identificativo del dispositivo deve avere da 1 a 64 caratteri ASCII stampabili."}}
	}
	return "api:" + id, nil
}

// lang returns a supported language of the queue's emails, "it" for
// anything else.
func lang(s string) string {
	switch s {
	case "en", "de":
		return s
	}
	return "it"
}

// apiTicket is a ticket as the API shows it. State and Desk are only in
// GET answers.
type apiTicket struct {
	ID                   string `json:"id"`
	Number               string `json:"number"`
	Position             int    `json:"position"`
	EstimatedWaitMinutes int    `json:"estimated_wait_minutes"`
	StatusURL            string `json:"status_url"`
	State                string `json:"state,omitempty"`
	Desk                 string `json:"desk,omitempty"`
	// ConfirmBy is when the confirmation link of a pending ticket
	// expires (RFC 3339), only in state "pending_confirmation".
	ConfirmBy string `json:"confirm_by,omitempty"`
}

// confirmBy is apiTicket.ConfirmBy of k.
func confirmBy(k queue.Ticket) string {
	if k.State != queue.PendingConfirmation || k.ConfirmBy.IsZero() {
		return ""
	}
	return k.ConfirmBy.UTC().Format(time.RFC3339)
}

// statusURL is the ticket's own link, with its secret.
func statusURL(base, id, secret string) string {
	return base + "/api/v1/tickets/" + url.PathEscape(id) + "?secret=" + url.QueryEscape(secret)
}

// minutes rounds a wait up to whole minutes: "about 0 minutes" for a
// wait of 20 seconds would send the citizen away.
func minutes(d time.Duration) int { return int(math.Ceil(d.Minutes())) }

// apiTicketCreate answers POST /api/v1/offices/{id}/tickets: 201 with the
// ticket's number, position, estimate and status link (202 with state
// "pending_confirmation" and no number at an office that confirms remote
// tickets by email); 404 for an
// unknown office; 409/422 for a refused check-in; 429 past the rate
// limit.
func (h *Handler) apiTicketCreate(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if ok, wait := h.limiter.Allow(h.clientIP(r), h.now()); !ok {
		h.apiError(w, r, &rateLimitError{RetryAfter: wait})
		return
	}
	var in apiTicketRequest
	if err := decodeJSON(r, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	dev, err := apiDevice(r, in)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	office := r.PathValue("id")
	var pr proof
	if in.Proof != nil {
		pr = *in.Proof
	}
	solved, err := h.checkProof(r, t.ID, office, queue.SourceAPI, in.BookingCode, pr)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	k, err := h.q.Take(r.Context(), t, queue.TakeRequest{
		OfficeID: office, ServiceID: in.ServiceID, Channel: queue.Channel(in.Channel), BookingCode: in.BookingCode,
		Email: strings.TrimSpace(in.Email), Lang: lang(in.Lang), ClientIP: h.clientIP(r), Device: dev, Source: queue.SourceAPI,
		Proof: solved, ConfirmLink: h.confirmLink(r),
	})
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	u := statusURL(h.baseURL(r), k.Ticket.ID, k.Secret)
	w.Header().Set("Location", u)
	if k.Ticket.State == queue.PendingConfirmation {
		// An office that confirms remote tickets by email: accepted, not
		// yet in the line (no number) until the citizen opens the link.
		h.log.Info("ticket pending confirmation", "tenant", t.ID, "office", k.Ticket.OfficeID, "ticket", k.Ticket.ID)
		writeJSON(w, http.StatusAccepted, apiTicket{
			ID: k.Ticket.ID, StatusURL: u, State: string(k.Ticket.State), ConfirmBy: confirmBy(k.Ticket),
		})
		return
	}
	h.log.Info("ticket taken", "tenant", t.ID, "office", k.Ticket.OfficeID, "ticket", k.Ticket.Number)
	writeJSON(w, http.StatusCreated, apiTicket{
		ID: k.Ticket.ID, Number: k.Ticket.Number, Position: k.Status.Position,
		EstimatedWaitMinutes: minutes(k.Status.EstimatedWait), StatusURL: u,
	})
}

// apiTicketGet answers GET /api/v1/tickets/{id}?secret=…: the ticket's
// state, position, estimate and desk once called.
func (h *Handler) apiTicketGet(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	secret, err := ticketSecret(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	k, err := h.q.TicketWithSecret(r.Context(), t.ID, r.PathValue("id"), secret)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	st, err := h.q.Status(r.Context(), t.ID, k.ID)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.view(r, h.labelTicket(r.Context(), t.ID, k), st, secret))
}

// apiTicketCancel answers DELETE /api/v1/tickets/{id}?secret=…: the
// citizen leaves the line (409 once served or closed).
func (h *Handler) apiTicketCancel(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	secret, err := ticketSecret(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	k, err := h.q.Cancel(r.Context(), t.ID, r.PathValue("id"), secret)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.view(r, k, queue.Status{}, secret))
}

func (h *Handler) view(r *http.Request, k queue.Ticket, st queue.Status, secret string) apiTicket {
	return apiTicket{
		ID: k.ID, Number: k.Number, Position: st.Position, EstimatedWaitMinutes: minutes(st.EstimatedWait),
		StatusURL: statusURL(h.baseURL(r), k.ID, secret), State: string(k.State), Desk: k.Desk, ConfirmBy: confirmBy(k),
	}
}
