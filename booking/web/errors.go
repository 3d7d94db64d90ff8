package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
)

// Errors of the web layer itself; domain errors come from package booking.
var (
	errCrossSite        = errors.New("cross-site request rejected")
	errUnsupportedMedia = errors.New("content type must be application/json")
	errMalformed        = errors.New("malformed request body")
	errTokenRequired    = errors.New("manage token required")
	// errStale says the node may lag the cluster (cut off from the
	// leader), so its availability is not shown as current.
	errStale = errors.New("node state may be stale")
)

// checkFresh returns errStale when the node's state may lag the cluster's.
func (h *Handler) checkFresh() error {
	if h.freshness == nil {
		return nil
	}
	if stale, last := h.freshness.Stale(); stale {
		return fmt.Errorf("%w (last contact with the leader %s ago)", errStale, last.Round(time.Millisecond))
	}
	return nil
}

// rateLimitError says a client created too many bookings; RetryAfter is
// when it may try again.
type rateLimitError struct {
	RetryAfter time.Duration
}

func (e *rateLimitError) Error() string {
	return "rate limited, retry after " + e.RetryAfter.String()
}

// problem is how an error is shown: status code, stable API code, Italian
// message and per-field messages keyed by API field name
// ("citizen.fiscal_code"). Every Italian message is also a text of the
// catalog under an "err." key, so pages (and API clients that send
// "lang") get it in their language (tr.localize).
type problem struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
}

// Messages shown to citizens for errors about the chosen time.
const (
	msgSlotFull       = "L'orario scelto non è più disponibile: scegline un altro."
	msgNotASlot       = "L'orario scelto non è tra quelli disponibili per il servizio: scegline un altro."
	msgTooSoon        = "L'orario scelto è troppo vicino: scegline uno più avanti."
	msgTooFar         = "L'orario scelto non è ancora prenotabile: scegline uno più vicino."
	msgClosed         = "L'ufficio è chiuso nel giorno scelto: scegli un altro giorno."
	msgChannel        = "Il servizio non offre la modalità scelta: scegline un'altra."
	msgIdempotencyKey = "L'intestazione Idempotency-Key deve contenere da 1 a 255 caratteri ASCII stampabili."
	msgAlreadyBooked  = "Hai già una prenotazione attiva per questo servizio: puoi spostarla o annullarla dal link ricevuto via email."
	msgNotFound       = "Non abbiamo trovato quello che cerchi. Se hai seguito il link di una prenotazione, controlla di averlo copiato per intero."
)

// classify is the one place where errors become status codes, API error
// codes and Italian messages, for pages and API alike. A wrong manage token
// answers as an unknown code (404), so codes cannot be probed.
func classify(err error) problem {
	if p, ok := classifyFair(err); ok {
		return p
	}
	var (
		ve  *booking.ValidationError
		mbe *http.MaxBytesError
		rle *rateLimitError
	)
	switch {
	case errors.As(err, &ve):
		return problem{http.StatusUnprocessableEntity, "validation_failed",
			"Alcuni dati non sono validi: correggili e riprova.", ve.Fields}
	case errors.As(err, &mbe):
		return problem{http.StatusRequestEntityTooLarge, "payload_too_large",
			"La richiesta è troppo grande.", nil}
	case errors.As(err, &rle):
		return problem{http.StatusTooManyRequests, "rate_limited",
			"Troppe prenotazioni da questo indirizzo: riprova tra qualche minuto.", nil}
	case errors.Is(err, errCrossSite):
		return problem{http.StatusForbidden, "cross_site",
			"La richiesta proviene da un altro sito ed è stata rifiutata.", nil}
	case errors.Is(err, errUnsupportedMedia):
		return problem{http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Il corpo della richiesta deve essere JSON (Content-Type: application/json).", nil}
	case errors.Is(err, errMalformed):
		return problem{http.StatusBadRequest, "bad_request",
			"Il corpo della richiesta non è un oggetto JSON valido.", nil}
	case errors.Is(err, errBadIdempotencyKey):
		return problem{http.StatusBadRequest, "invalid_idempotency_key", msgIdempotencyKey,
			map[string]string{idempotencyHeader: msgIdempotencyKey}}
	case errors.Is(err, cluster.ErrRequestReused):
		return problem{http.StatusUnprocessableEntity, "idempotency_key_reused",
			"Questa chiave Idempotency-Key è già stata usata per una richiesta diversa: usa una chiave nuova per ogni nuova richiesta.", nil}
	case errors.Is(err, errTokenRequired):
		return problem{http.StatusUnauthorized, "token_required",
			"Serve il codice segreto della prenotazione (Authorization: Bearer o ?token=).", nil}
	case errors.Is(err, booking.ErrNotFound), errors.Is(err, booking.ErrBadToken):
		return problem{http.StatusNotFound, "not_found", msgNotFound, nil}
	case errors.Is(err, booking.ErrSlotFull):
		return problem{http.StatusConflict, "slot_full", msgSlotFull, map[string]string{"start": msgSlotFull}}
	case errors.Is(err, booking.ErrAlreadyBooked):
		// The cap is per codice fiscale: the field names it, so that an
		// API client can point the citizen at the field the cap is about,
		// as the email and phone caps do.
		return problem{http.StatusConflict, "already_booked", msgAlreadyBooked,
			map[string]string{"citizen.fiscal_code": msgAlreadyBooked}}
	case errors.Is(err, booking.ErrPastDeadline):
		return problem{http.StatusConflict, "past_deadline",
			"Non è più possibile annullare o spostare l'appuntamento online: il termine è scaduto. Contatta l'ufficio.", nil}
	case errors.Is(err, booking.ErrCancelled):
		return problem{http.StatusConflict, "cancelled", "L'appuntamento è stato annullato.", nil}
	case errors.Is(err, booking.ErrNotASlot):
		return problem{http.StatusUnprocessableEntity, "not_a_slot", msgNotASlot, map[string]string{"start": msgNotASlot}}
	case errors.Is(err, booking.ErrTooSoon):
		return problem{http.StatusUnprocessableEntity, "too_soon", msgTooSoon, map[string]string{"start": msgTooSoon}}
	case errors.Is(err, booking.ErrTooFar):
		return problem{http.StatusUnprocessableEntity, "too_far", msgTooFar, map[string]string{"start": msgTooFar}}
	case errors.Is(err, booking.ErrClosed):
		return problem{http.StatusUnprocessableEntity, "closed", msgClosed, map[string]string{"start": msgClosed}}
	case errors.Is(err, booking.ErrChannelOffered):
		return problem{http.StatusUnprocessableEntity, "channel_not_offered", msgChannel, map[string]string{"channel": msgChannel}}
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		// The leader got the write but its answer was lost: it may have
		// been recorded, so the citizen must not simply book again.
		return problem{http.StatusServiceUnavailable, "outcome_unknown",
			"Non sappiamo se la richiesta è stata registrata: controlla la tua email prima di riprovare.", nil}
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader),
		errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrNotStarted),
		errors.Is(err, cluster.ErrNotSupportedByCluster):
		// The write could not be committed now (no leader, node shutting
		// down, a rolling upgrade not finished for an idempotency key);
		// nothing was applied, so the client may simply retry.
		return problem{http.StatusServiceUnavailable, "unavailable",
			"Il servizio è momentaneamente non disponibile: riprova tra qualche secondo.", nil}
	case errors.Is(err, errStale):
		return problem{http.StatusServiceUnavailable, "stale",
			"Non riusciamo a mostrare le disponibilità aggiornate in questo momento: riprova tra qualche secondo.", nil}
	case errors.Is(err, context.DeadlineExceeded):
		return problem{http.StatusServiceUnavailable, "unavailable",
			"Il servizio è momentaneamente non disponibile: riprova tra qualche minuto.", nil}
	}
	return problem{http.StatusInternalServerError, "internal",
		"Si è verificato un errore imprevisto: riprova tra qualche minuto.", nil}
}

// retryUnavailable is the Retry-After of a 503: a leader election on a
// healthy cluster takes a second or two.
const retryUnavailable = "2"

// report logs err when it is the server's fault and sets Retry-After on
// rate-limited answers.
func (h *Handler) report(w http.ResponseWriter, r *http.Request, err error, p problem) {
	var rle *rateLimitError
	if errors.As(err, &rle) {
		secs := int(rle.RetryAfter.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryUnavailable)
	}
	if p.Status >= 500 {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "err", err}
		if t, ok := tenantOf(r); ok {
			attrs = append(attrs, "tenant", t)
		}
		h.log.Error("request failed", attrs...)
	}
}

// apiError answers err as {"error":{"code","message","fields"}}.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	h.report(w, r, err, p)
	p = apiLang(r.Context()).localize(p)
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sportello"`)
	}
	writeJSON(w, p.Status, errorBody{Error: errorDetail{Code: p.Code, Message: p.Message, Fields: p.Fields}})
}

// pageError answers err with the site's error page.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	h.report(w, r, err, p)
	h.site.Error(w, r, p.Status, trOf(r).msg(p.Message))
}

// errorBody is the JSON error of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}
