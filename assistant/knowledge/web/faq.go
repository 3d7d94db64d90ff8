package web

import (
	"fmt"
	"log/slog"
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
	f, ok := existing(h, w, r, q, h.store.FAQ)
	if !ok {
		return
	}
	h.renderFAQ(w, r, q, http.StatusOK, f, formErrors{}, "")
}

// faqSave answers the POST of the form: it saves the entry and redirects
// to the overview, or shows the form again with the values typed and the
// errors, changing nothing.
func (h *Handler) faqSave(w http.ResponseWriter, r *http.Request, q request) {
	// The form of an entry of another Comune (or none) is refused
	// before anything else is said about it.
	if _, ok := existing(h, w, r, q, h.store.FAQ); !ok {
		return
	}
	id := r.PathValue("id")
	f := knowledge.FAQ{ID: id, Question: r.PostForm.Get(ffQuestion), Answer: r.PostForm.Get(ffAnswer),
		ServiceID: r.PostForm.Get(ffService), OfficeID: r.PostForm.Get(ffOffice)}
	saved, err := h.store.SaveFAQ(r.Context(), q.t.ID, f)
	if err == nil {
		h.log.InfoContext(r.Context(), "faq saved", "tenant", q.t.ID, "faq", saved.ID, "user", q.user.ID)
	}
	h.answerSave(w, r, err, faqSpec, outcome(id, "faq-creata", "faq-salvata"),
		fmt.Sprintf("Il Comune ha già %d domande frequenti, il massimo: eliminane una che non serve più per aggiungerne un'altra.", knowledge.MaxFAQ),
		func(fe formErrors, general string) {
			h.renderFAQ(w, r, q, http.StatusUnprocessableEntity, f, fe, general)
		})
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

// faqConfirmDelete answers GET /gestione/assistente/faq/{id}/elimina:
// the question before the deletion, so that a form without JavaScript
// never deletes on one click.
func (h *Handler) faqConfirmDelete(w http.ResponseWriter, r *http.Request, q request) {
	f, ok := existing(h, w, r, q, h.store.FAQ)
	if !ok {
		return
	}
	h.renderConfirm(w, r, q, confirmView{Heading: "Elimina la domanda frequente",
		Question: "Vuoi eliminare questa domanda frequente? L'assistente non la userà più.",
		Lines:    []string{f.Question}, Action: "/gestione/assistente/faq/" + f.ID + "/elimina",
		Back: "/gestione/assistente/faq/" + f.ID, Button: "Sì, elimina la domanda"})
}

// faqDelete answers POST /gestione/assistente/faq/{id}/elimina.
func (h *Handler) faqDelete(w http.ResponseWriter, r *http.Request, q request) {
	id := r.PathValue("id")
	h.answerDelete(w, r, q, h.store.DeleteFAQ(r.Context(), q.t.ID, id), "faq deleted", slog.String("faq", id), "faq-eliminata")
}
