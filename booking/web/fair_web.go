package web

import (
	"context"
	_ "embed"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/powjs"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Fair access on the citizen side (issue 11; booking/fair*.go).
//
// The proof of work: the summary step of the booking form carries a
// challenge (hidden input verifica_sfida) when the service asks for one,
// and fair_pow.js solves it while the citizen reads the summary, into
// verifica_numero. Without JavaScript the same challenge opens the
// booking once noJSWait has passed since it was issued: the citizen pays
// in seconds what a script pays in work, with no puzzle to read, and the
// challenge is spent in the replicated set like a solved one. A bot could
// take that path too, in parallel; it still meets the per-address rate
// limit, the caps and the report, and the API (where bots live) has no
// such path: it must solve.

// Form fields of the proof.
const (
	fProofChallenge = "verifica_sfida"
	fProofCounter   = "verifica_numero"
)

// noJSWait is how long a page without JavaScript waits instead of
// solving: about what a slow phone takes at the usual difficulty.
const noJSWait = 15 * time.Second

// fairScriptPath serves fair_pow.js under /prenota, same origin as the
// form.
const fairScriptPath = "/prenota/verifica.js"

//go:embed static/fair_pow.js
var fairPowJS string

// Italian messages of fair access; each is an "err." text of the catalogs.
const (
	msgEmailCap       = "Questo indirizzo email ha già il numero massimo di prenotazioni attive per il servizio: puoi spostarne o annullarne una dal link ricevuto via email."
	msgPhoneCap       = "Questo numero di telefono ha già il numero massimo di prenotazioni attive per il servizio."
	msgNotReleased    = "L'orario scelto non è ancora prenotabile: i nuovi orari si pubblicano un giorno alla volta. Scegline uno tra quelli disponibili."
	msgProof          = "La verifica anti-abuso non è riuscita o è scaduta: premi di nuovo Invia."
	msgProofWait      = "Per proteggere il servizio dalle prenotazioni automatiche, attendi ancora qualche secondo e premi di nuovo Invia."
	msgConfirmNotOpen = "La conferma dell'appuntamento non è ancora aperta: potrai confermare nei giorni indicati nell'email."
	msgConfirmClosed  = "Il termine per confermare l'appuntamento è scaduto."
)

// classifyFair is classify for the errors of fair access.
func classifyFair(err error) (problem, bool) {
	switch {
	case errors.Is(err, booking.ErrEmailCap):
		return problem{http.StatusConflict, "email_cap", msgEmailCap, map[string]string{"citizen.email": msgEmailCap}}, true
	case errors.Is(err, booking.ErrPhoneCap):
		return problem{http.StatusConflict, "phone_cap", msgPhoneCap, map[string]string{"citizen.phone": msgPhoneCap}}, true
	case errors.Is(err, booking.ErrNotReleased):
		return problem{http.StatusUnprocessableEntity, "not_released", msgNotReleased, map[string]string{"start": msgNotReleased}}, true
	case errors.Is(err, booking.ErrProofTooEarly):
		return problem{http.StatusUnprocessableEntity, "proof_wait", msgProofWait, nil}, true
	case errors.Is(err, booking.ErrProofRequired), errors.Is(err, booking.ErrProofReused),
		errors.Is(err, booking.ErrProofInvalid), errors.Is(err, booking.ErrProofExpired),
		errors.Is(err, booking.ErrProofMissing):
		return problem{http.StatusUnprocessableEntity, "proof_of_work", msgProof, map[string]string{"proof": msgProof}}, true
	case errors.Is(err, booking.ErrConfirmNotOpen):
		return problem{http.StatusConflict, "confirm_not_open", msgConfirmNotOpen, nil}, true
	case errors.Is(err, booking.ErrConfirmClosed):
		return problem{http.StatusConflict, "confirm_closed", msgConfirmClosed, nil}, true
	}
	return problem{}, false
}

// proofView is the summary step's challenge.
type proofView struct {
	Challenge string
	Bits      int
	Script    string
	// Wait is noJSWait in seconds, for the text shown without JavaScript.
	Wait int
}

// keptChallenge is the context key of a challenge the summary must show
// again (the citizen without JavaScript pressed Invia too early: a new
// challenge would restart the wait).
type keptChallenge struct{}

// proofFor returns the challenge of the summary step of svc, or nil when
// the service asks none.
func (h *Handler) proofFor(r *http.Request, t tenant.Tenant, svc booking.Service) *proofView {
	s, err := h.book.FairSettings(r.Context(), t.ID, svc.ID)
	if err != nil || s.ProofOfWork <= 0 {
		return nil
	}
	v := &proofView{Bits: s.ProofOfWork, Script: fairScriptPath, Wait: int(noJSWait / time.Second)}
	if c, ok := r.Context().Value(keptChallenge{}).(string); ok && c != "" {
		v.Challenge = c
		return v
	}
	v.Challenge = h.fair.Issue(t.ID, svc.ID, s.ProofOfWork, h.now()).Challenge
	return v
}

// formAdmission checks the booking form's proof (solved, or waited for
// without JavaScript) and returns the admission, with the network's hash.
func (h *Handler) formAdmission(r *http.Request, t tenant.Tenant, serviceID string) (booking.Admission, error) {
	ctx := r.Context()
	s, err := h.book.FairSettings(ctx, t.ID, serviceID)
	if err != nil {
		return booking.Admission{}, err
	}
	var a booking.Admission
	if s.ProofOfWork > 0 {
		ch := strings.TrimSpace(r.PostForm.Get(fProofChallenge))
		if n := strings.TrimSpace(r.PostForm.Get(fProofCounter)); n != "" {
			counter, perr := strconv.ParseUint(n, 10, 64)
			if perr != nil {
				return a, booking.ErrProofInvalid
			}
			a, err = h.fair.Check(t.ID, serviceID, ch, counter, s.ProofOfWork, h.now())
		} else {
			a, _, err = h.fair.CheckWait(t.ID, serviceID, ch, s.ProofOfWork, noJSWait, h.now())
		}
		if err != nil {
			return a, err
		}
	}
	a.Net = h.nets.get(t.ID, h.clientIP(r), h.fair.NetHash)
	return a, nil
}

// apiProof is the "proof" of POST /api/v1/bookings.
type apiProof struct {
	Challenge string `json:"challenge"`
	Counter   uint64 `json:"counter"`
}

// apiAdmission checks the API's proof: API clients always solve.
func (h *Handler) apiAdmission(r *http.Request, t tenant.Tenant, serviceID string, p *apiProof) (booking.Admission, error) {
	// An unknown service asks no proof: the booking itself will say it is
	// unknown.
	bits, err := h.book.ProofBits(r.Context(), t.ID, serviceID)
	if err != nil {
		return booking.Admission{}, err
	}
	var a booking.Admission
	if bits > 0 {
		if p == nil {
			return a, booking.ErrProofMissing
		}
		if a, err = h.fair.Check(t.ID, serviceID, p.Challenge, p.Counter, bits, h.now()); err != nil {
			return a, err
		}
	}
	a.Net = h.nets.get(t.ID, h.clientIP(r), h.fair.NetHash)
	return a, nil
}

// apiChallenge answers GET /api/v1/services/{id}/challenge: a challenge
// for a booking of that service, with the bits it asks (0: none needed)
// and its expiry.
func (h *Handler) apiChallenge(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	id := r.PathValue("id")
	s, err := h.book.FairSettings(r.Context(), t.ID, id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	ch := h.fair.Issue(t.ID, id, s.ProofOfWork, h.now())
	ch.Expires = ch.Expires.In(t.Location())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ch)
}

// serveFairScript serves static/fair_pow.js.
func (h *Handler) serveFairScript(w http.ResponseWriter, r *http.Request, _ tenant.Tenant) {
	hd := w.Header()
	hd.Set("Content-Type", "text/javascript; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "verifica.js", time.Time{}, strings.NewReader(powjs.With(fairPowJS)))
}

// confirmView is the data of the confirm-to-keep page.
type confirmView struct {
	Code, Token, When string
	Opens, Deadline   string
	// State: "open" (the button), "done", "early", "late", "none".
	State   string
	Message string
}

// confirmPage answers GET /prenotazioni/{code}/conferma?token=: the
// link of the confirmation email and reminder. It only shows; the button
// posts, so that a mail scanner opening the link confirms nothing.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	h.renderConfirm(w, r, t, r.PathValue("code"), r.URL.Query().Get("token"), http.StatusOK, "")
}

// bookingConfirm answers POST /prenotazioni/{code}/conferma.
func (h *Handler) bookingConfirm(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	code, token := r.PathValue("code"), r.PostFormValue("token")
	idx, err := h.book.Confirm(r.Context(), t.ID, code, token)
	if err != nil {
		p := classify(err)
		if p.Status >= 500 || p.Status == http.StatusNotFound {
			h.pageError(w, r, err)
			return
		}
		h.report(w, r, err, p)
		h.renderConfirm(w, r, t, code, token, p.Status, p.Message)
		return
	}
	h.log.Info("booking confirmed", "tenant", t.ID, "booking", booking.NormalizeCode(code))
	_ = h.waitIndex(r.Context(), idx)
	h.renderConfirm(w, r, t, code, token, http.StatusOK, "")
}

// waitIndex waits briefly for this node to apply idx, so that the page
// shows the confirmation it just made.
func (h *Handler) waitIndex(ctx context.Context, idx uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return h.book.WaitApplied(ctx, idx)
}

func (h *Handler) renderConfirm(w http.ResponseWriter, r *http.Request, t tenant.Tenant, code, token string, status int, message string) {
	ctx := r.Context()
	l := trOf(r)
	b, err := h.book.Get(ctx, t.ID, code, token)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	c, err := h.book.Confirmation(ctx, t.ID, b)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	loc := t.Location()
	now := h.now()
	v := confirmView{Code: b.Code, Token: token, Message: l.msg(message), When: l.dateTime(b.Start.In(loc)),
		Opens: l.dateTime(c.Opens.In(loc)), Deadline: l.dateTime(c.Deadline.In(loc))}
	switch {
	case b.Status == booking.Cancelled:
		h.pageError(w, r, booking.ErrCancelled)
		return
	case !c.Required:
		v.State = "none"
	case c.Confirmed:
		v.State = "done"
	case now.Before(c.Opens):
		v.State = "early"
	case !now.Before(c.Deadline):
		v.State = "late"
	default:
		v.State = "open"
	}
	h.pages.Render(w, r, status, "conferma.html", site.Page{
		Title:       l.T("fair.confirm.title"),
		Breadcrumbs: []site.Crumb{{Label: l.T("home"), URL: "/"}, {Label: l.T("fair.confirm.title")}},
		Data:        v,
	})
}
