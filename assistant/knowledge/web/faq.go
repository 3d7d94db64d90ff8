package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Fields of the FAQ form.
const (
	ffQuestion = "domanda"
	ffAnswer   = "risposta"
	ffService  = "servizio"
	ffOffice   = "ufficio"
)

var faqSpec = formSpec{
	order:  []string{ffQuestion, ffAnswer, ffService, ffOffice},
	labels: map[string]string{ffQuestion: "Domanda", ffAnswer: "Risposta", ffService: "Servizio", ffOffice: "Ufficio"},
	domain: map[string]string{"question": ffQuestion, "answer": ffAnswer, "service_id": ffService, "office_id": ffOffice},
}

// faqFormView is the data of gestione_assistente_faq.html.
type faqFormView struct {
	CSRF string
	// ID is "" for a new entry.
	ID, Action, Heading string
	Question, Answer    string
	ServiceSelect       serviceSelect
	Offices             []choice
	Errors              formErrors
	ErrorList           []fieldError
	General             string
	MaxQuestion         int
	MaxAnswer           int
}

// faqEdit answers GET /gestione/assistente/faq/nuova and
// /gestione/assistente/faq/{id}. An ID of another Comune is not found.
func (h *Handler) faqEdit(w http.ResponseWriter, r *http.Request, q request) {
	var f knowledge.FAQ
	if id := r.PathValue("id"); id != "" {
		var err error
		if f, err = h.store.FAQ(r.Context(), q.t.ID, id); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.renderFAQ(w, r, q, http.StatusOK, f, formErrors{}, "")
}

// faqSave answers the POST of the form: it saves the entry and redirects
// to the overview, or shows the form again with the values typed and the
// errors, changing nothing.
func (h *Handler) faqSave(w http.ResponseWriter, r *http.Request, q request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if id != "" {
		// The form of an entry of another Comune (or none) is refused
		// before anything else is said about it.
		if _, err := h.store.FAQ(r.Context(), q.t.ID, id); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	f := knowledge.FAQ{ID: id, Question: r.PostForm.Get(ffQuestion), Answer: r.PostForm.Get(ffAnswer),
		ServiceID: r.PostForm.Get(ffService), OfficeID: r.PostForm.Get(ffOffice)}
	saved, err := h.store.SaveFAQ(r.Context(), q.t.ID, f)
	if err == nil {
		outcome := "faq-salvata"
		if id == "" {
			outcome = "faq-creata"
		}
		h.log.InfoContext(r.Context(), "faq saved", "tenant", q.t.ID, "faq", saved.ID, "user", q.user.ID)
		h.afterSave(w, r, outcome)
		return
	}
	fe := formErrors{}
	general, ok := faqSpec.fromDomain(err, fe)
	if !ok {
		h.fail(w, r, err)
		return
	}
	if errors.Is(err, knowledge.ErrFull) {
		general = fmt.Sprintf("Il Comune ha già %d domande frequenti, il massimo: eliminane una che non serve più per aggiungerne un'altra.", knowledge.MaxFAQ)
	}
	h.renderFAQ(w, r, q, http.StatusUnprocessableEntity, f, fe, general)
}

// renderFAQ shows the FAQ form with values f and errors fe.
func (h *Handler) renderFAQ(w http.ResponseWriter, r *http.Request, q request, status int, f knowledge.FAQ, fe formErrors, general string) {
	cfg, err := h.book.Configuration(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := faqFormView{CSRF: q.csrf, ID: f.ID, Question: f.Question, Answer: f.Answer,
		ServiceSelect: serviceSelect{Groups: serviceChoices(cfg, f.ServiceID), Error: fe[ffService],
			Prompt: "Nessun servizio in particolare",
			Help:   "Facoltativo. Con un servizio, la domanda aiuta l'assistente a trovarlo e la risposta rimanda alla sua pagina."},
		Offices: officeChoices(cfg, f.OfficeID),
		Errors:  fe, ErrorList: faqSpec.list(fe), General: general,
		MaxQuestion: knowledge.MaxQuestion, MaxAnswer: knowledge.MaxAnswer}
	v.Heading, v.Action = "Nuova domanda frequente", "/gestione/assistente/faq/nuova"
	if f.ID != "" {
		v.Heading, v.Action = "Modifica domanda frequente", "/gestione/assistente/faq/"+f.ID
	}
	h.render(w, r, status, "gestione_assistente_faq.html", v.Heading, crumbs(site.Crumb{Label: v.Heading}), v)
}

// confirmView is the data of gestione_assistente_elimina.html.
type confirmView struct {
	CSRF, Heading, Question, Action, Back, Button string
	Lines                                         []string
}

// faqConfirmDelete answers GET /gestione/assistente/faq/{id}/elimina:
// the question before the deletion, so that a form without JavaScript
// never deletes on one click.
func (h *Handler) faqConfirmDelete(w http.ResponseWriter, r *http.Request, q request) {
	f, err := h.store.FAQ(r.Context(), q.t.ID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := confirmView{CSRF: q.csrf, Heading: "Elimina la domanda frequente",
		Question: "Vuoi eliminare questa domanda frequente? L'assistente non la userà più.",
		Lines:    []string{f.Question}, Action: "/gestione/assistente/faq/" + f.ID + "/elimina",
		Back: "/gestione/assistente/faq/" + f.ID, Button: "Sì, elimina la domanda"}
	h.render(w, r, http.StatusOK, "gestione_assistente_elimina.html", v.Heading, crumbs(site.Crumb{Label: v.Heading}), v)
}

// faqDelete answers POST /gestione/assistente/faq/{id}/elimina.
func (h *Handler) faqDelete(w http.ResponseWriter, r *http.Request, q request) {
	id := r.PathValue("id")
	if err := h.store.DeleteFAQ(r.Context(), q.t.ID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "faq deleted", "tenant", q.t.ID, "faq", id, "user", q.user.ID)
	h.afterSave(w, r, "faq-eliminata")
}
