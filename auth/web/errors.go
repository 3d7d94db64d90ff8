package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/auth"
)

// Errors of the login routes. Every refusal of a provider's answer is one
// of them, wrapped with the precise reason, which is logged; the browser
// sees only the Italian message of its class.
var (
	errNoTenant       = errors.New("request without a Comune")
	errNoProvider     = errors.New("no provider chosen")
	errMissingState   = errors.New("callback without state")
	errMixUp          = errors.New("answer from another issuer than the flow's")
	errProviderDenied = errors.New("provider returned an error")
	errBadResponse    = errors.New("provider's answer refused")
	errUnreachable    = errors.New("provider unreachable")
	errLoginRequired  = errors.New("login required")
	errTooManyLogins  = errors.New("too many logins begun")
	errForbidden      = errors.New("role missing")
	errCrossSite      = errors.New("cross-site request refused")
	errCSRF           = errors.New("CSRF token missing or wrong")
)

// problem is how an error is shown: status and Italian message.
type problem struct {
	status  int
	code    string
	message string
}

const msgRetry = "Torna alla pagina di accesso e riprova."

// problemOf maps an error to what the browser sees: the single place
// where statuses are chosen.
func problemOf(err error) problem {
	switch {
	case errors.Is(err, errNoTenant):
		return problem{http.StatusNotFound, "not_found", ""}
	case errors.Is(err, auth.ErrUserNotFound):
		return problem{http.StatusNotFound, "user_not_found", "L'utente richiesto non esiste in questo Comune."}
	case errors.Is(err, errNoProvider), errors.Is(err, auth.ErrProviderNotFound):
		return problem{http.StatusNotFound, "provider_not_found", "Il sistema di accesso richiesto non è configurato per questo Comune."}
	case errors.Is(err, errMissingState), errors.Is(err, auth.ErrFlowInvalid):
		return problem{http.StatusBadRequest, "login_invalid", "La richiesta di accesso non è valida, è già stata usata o è scaduta. " + msgRetry}
	case errors.Is(err, errProviderDenied):
		return problem{http.StatusForbidden, "login_denied", "Il sistema di accesso non ha autorizzato l'ingresso. " + msgRetry}
	case errors.Is(err, errMixUp), errors.Is(err, errBadResponse), errors.Is(err, auth.ErrIssuerMismatch):
		return problem{http.StatusForbidden, "login_refused", "La risposta del sistema di accesso non è valida e l'accesso è stato rifiutato. " + msgRetry}
	case errors.Is(err, errUnreachable):
		return problem{http.StatusBadGateway, "provider_unreachable", "Il sistema di accesso non risponde. Riprova tra qualche minuto."}
	case errors.Is(err, auth.ErrUserDisabled):
		return problem{http.StatusForbidden, "user_disabled", "Il tuo account è stato disattivato. Rivolgiti all'amministratore del Comune."}
	case errors.Is(err, errTooManyLogins):
		return problem{http.StatusTooManyRequests, "rate_limited", "Troppi tentativi di accesso. Riprova tra un minuto."}
	case errors.Is(err, errLoginRequired):
		return problem{http.StatusUnauthorized, "login_required", "Per continuare devi accedere."}
	case errors.Is(err, errForbidden):
		return problem{http.StatusForbidden, "forbidden", "Non hai i permessi per questa pagina."}
	case errors.Is(err, errCrossSite), errors.Is(err, errCSRF):
		return problem{http.StatusForbidden, "csrf", "La richiesta non proviene da un modulo di questo sito. Ricarica la pagina e riprova."}
	}
	return problem{http.StatusInternalServerError, "internal", "Si è verificato un errore. Riprova più tardi."}
}

// fail logs err and answers with its problem: JSON under /api/, an error
// page in the Comune's layout otherwise.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	level := h.log.WarnContext
	if p.status >= 500 {
		level = h.log.ErrorContext
	}
	level(r.Context(), "auth request refused", "path", r.URL.Path, "status", p.status, "err", err)
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(p.status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": p.code, "message": p.message}})
		return
	}
	if h.site != nil {
		h.site.Error(w, r, p.status, p.message)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(p.status)
	w.Write([]byte(p.message + "\n"))
}
