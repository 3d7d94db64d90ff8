package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/queue"
)

// Errors of the web layer itself; domain errors come from package queue.
var (
	errNoTenant         = errors.New("no Comune for the request's host")
	errCrossSite        = errors.New("cross-site request rejected")
	errUnsupportedMedia = errors.New("content type must be application/json")
	errMalformed        = errors.New("malformed request body")
	errSecretRequired   = errors.New("ticket secret required")
)

// rateLimitError says a client took too many tickets.
type rateLimitError struct{ RetryAfter time.Duration }

func (e *rateLimitError) Error() string { return "rate limited, retry after " + e.RetryAfter.String() }

// problem is how an error is shown: status, stable code, Italian message
// and per-field messages keyed by API field name.
type problem struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
}

const msgNotFound = "Non abbiamo trovato il biglietto o l'ufficio. Se hai seguito un link, controlla di averlo copiato per intero."

// classify is the one place where errors become status codes, codes and
// Italian messages. A wrong secret answers as an unknown ticket (404), so
// ticket IDs cannot be probed.
func classify(err error) problem {
	var (
		ve  *queue.ValidationError
		mbe *http.MaxBytesError
		rle *rateLimitError
	)
	switch {
	case errors.As(err, &ve):
		return problem{http.StatusUnprocessableEntity, "validation_failed", "Alcuni dati non sono validi: correggili e riprova.", ve.Fields}
	case errors.As(err, &mbe):
		return problem{http.StatusRequestEntityTooLarge, "payload_too_large", "La richiesta è troppo grande.", nil}
	case errors.As(err, &rle):
		return problem{http.StatusTooManyRequests, "rate_limited", "Troppi biglietti da questo indirizzo: riprova tra qualche minuto.", nil}
	case errors.Is(err, errNoTenant):
		return problem{http.StatusNotFound, "not_found", msgNotFound, nil}
	case errors.Is(err, errCrossSite):
		return problem{http.StatusForbidden, "cross_site", "La richiesta proviene da un altro sito ed è stata rifiutata.", nil}
	case errors.Is(err, errUnsupportedMedia):
		return problem{http.StatusUnsupportedMediaType, "unsupported_media_type", "Il corpo della richiesta deve essere JSON (Content-Type: application/json).", nil}
	case errors.Is(err, errMalformed):
		return problem{http.StatusBadRequest, "bad_request", "Il corpo della richiesta non è un oggetto JSON valido.", nil}
	case errors.Is(err, errSecretRequired):
		return problem{http.StatusUnauthorized, "secret_required", "Serve il codice segreto del biglietto (?secret= o Authorization: Bearer).", nil}
	case errors.Is(err, queue.ErrNotFound), errors.Is(err, queue.ErrBadSecret):
		return problem{http.StatusNotFound, "not_found", msgNotFound, nil}
	case errors.Is(err, queue.ErrTransition):
		return problem{http.StatusConflict, "not_waiting", "Il biglietto non è più in attesa: non si può lasciare la coda.", nil}
	case errors.Is(err, queue.ErrAlreadyCheckedIn):
		m := "L'arrivo per questa prenotazione è già stato registrato."
		return problem{http.StatusConflict, "already_checked_in", m, map[string]string{"booking_code": m}}
	case errors.Is(err, queue.ErrTooEarly):
		m := "È presto per registrare l'arrivo: riprova più vicino all'orario dell'appuntamento."
		return problem{http.StatusConflict, "too_early", m, map[string]string{"booking_code": m}}
	case errors.Is(err, queue.ErrDeskPaused):
		return problem{http.StatusConflict, "desk_paused", "Lo sportello è in pausa: riprendi il servizio prima di chiamare.", nil}
	case errors.Is(err, queue.ErrNotToday):
		m := "Non troviamo una prenotazione attiva con questo codice per oggi in questo ufficio."
		return problem{http.StatusUnprocessableEntity, "booking_not_found", m, map[string]string{"booking_code": m}}
	case errors.Is(err, errProofMissing):
		m := "Questo ufficio chiede al tuo browser una breve verifica automatica prima di dare un numero a distanza: serve JavaScript attivo. Se non puoi attivarlo, prendi il numero al chiosco in ufficio."
		return problem{http.StatusUnprocessableEntity, "proof_required", m, map[string]string{"proof": m}}
	case errors.Is(err, errProofExpired):
		m := "La verifica automatica è scaduta: riprova, ne faremo una nuova."
		return problem{http.StatusUnprocessableEntity, "proof_expired", m, map[string]string{"proof": m}}
	case errors.Is(err, errProofReused), errors.Is(err, queue.ErrProofReused):
		m := "Questa verifica automatica è già stata usata per un altro numero: riprova, ne faremo una nuova."
		return problem{http.StatusUnprocessableEntity, "proof_reused", m, map[string]string{"proof": m}}
	case errors.Is(err, errProofInvalid):
		m := "La verifica automatica non è valida: riprova, ne faremo una nuova."
		return problem{http.StatusUnprocessableEntity, "proof_invalid", m, map[string]string{"proof": m}}
	case errors.Is(err, errProofBusy):
		return problem{http.StatusServiceUnavailable, "unavailable", "Il servizio è momentaneamente sovraccarico: riprova tra qualche minuto.", nil}
	case errors.Is(err, queue.ErrKioskNotEnrolled):
		return problem{http.StatusForbidden, "kiosk_not_enrolled", "Questo chiosco non è registrato per l'ufficio: chiedi al personale.", nil}
	case errors.Is(err, queue.ErrConfirmExpired):
		return problem{http.StatusGone, "confirm_expired", "Il collegamento di conferma è scaduto: prendi un nuovo numero.", nil}
	case errors.Is(err, queue.ErrAlreadyConfirmed):
		return problem{http.StatusConflict, "already_confirmed", "Il numero è già confermato: sei in coda.", nil}
	case errors.Is(err, queue.ErrDeskNotPaused):
		return problem{http.StatusConflict, "desk_not_paused", "Lo sportello non è in pausa: chiamerà lui il biglietto.", nil}
	case errors.Is(err, queue.ErrClosed):
		return problem{http.StatusConflict, "queue_closed", "In questo momento l'ufficio non dà numeri: la coda è chiusa. Controlla gli orari dell'ufficio e riprova quando è aperto.", nil}
	case errors.Is(err, queue.ErrDailyCap):
		return problem{http.StatusConflict, "daily_cap", "I numeri di oggi per questo ufficio sono finiti. Puoi tornare domani o prenotare un appuntamento.", nil}
	case errors.Is(err, queue.ErrClientCap):
		return problem{http.StatusConflict, "client_cap", "Hai già il numero massimo di biglietti attivi per questo ufficio: usa quelli che hai, o lascia la coda con uno di essi prima di prenderne un altro.", nil}
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		return problem{http.StatusServiceUnavailable, "outcome_unknown", "Non sappiamo se il biglietto è stato emesso: riprova tra qualche secondo.", nil}
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader),
		errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrNotStarted),
		errors.Is(err, context.DeadlineExceeded):
		return problem{http.StatusServiceUnavailable, "unavailable", "Il servizio è momentaneamente non disponibile: riprova tra qualche secondo.", nil}
	}
	return problem{http.StatusInternalServerError, "internal", "Si è verificato un errore imprevisto: riprova tra qualche minuto.", nil}
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

// apiError answers err as {"error":{"code","message","fields"}}, logging
// it once when it is the server's fault.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	var rle *rateLimitError
	if errors.As(err, &rle) {
		w.Header().Set("Retry-After", strconv.Itoa(max(int(rle.RetryAfter.Seconds()+0.999), 1)))
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sportello"`)
	}
	if p.Status >= 500 {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, p.Status, errorBody{Error: errorDetail{Code: p.Code, Message: p.Message, Fields: p.Fields}})
}
