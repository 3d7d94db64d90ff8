package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Fields of the synonym form.
const (
	fgPhrases = "frasi"
	fgService = "servizio"
)

var groupSpec = formSpec{
	order:  []string{fgPhrases, fgService},
	labels: map[string]string{fgPhrases: "Frasi", fgService: "Servizio"},
	domain: map[string]string{"phrases": fgPhrases, "service_id": fgService, "office_id": fgService},
}

// groupFormView is the data of gestione_assistente_sinonimi.html.
type groupFormView struct {
	CSRF string
	// ID is "" for a new group.
	ID, Action, Heading string
	// Phrases is the textarea's text, one phrase per line.
	Phrases       string
	ServiceSelect serviceSelect
	Errors        formErrors
	ErrorList     []fieldError
	General       string
	MaxPhrases    int
	MaxPhrase     int
}

// groupEdit answers GET /gestione/assistente/sinonimi/nuovo and
// /gestione/assistente/sinonimi/{id}.
func (h *Handler) groupEdit(w http.ResponseWriter, r *http.Request, q request) {
	g, ok := existing(h, w, r, q, h.store.SynonymGroup)
	if !ok {
		return
	}
	h.renderGroup(w, r, q, http.StatusOK, g.ID, strings.Join(g.Phrases, "\n"), g.ServiceID, formErrors{}, "")
}

// groupSave answers the POST of the form, as faqSave.
func (h *Handler) groupSave(w http.ResponseWriter, r *http.Request, q request) {
	if _, ok := existing(h, w, r, q, h.store.SynonymGroup); !ok {
		return
	}
	id := r.PathValue("id")
	text := r.PostForm.Get(fgPhrases)
	g := knowledge.SynonymGroup{ID: id, Phrases: strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n"),
		ServiceID: r.PostForm.Get(fgService)}
	saved, err := h.store.SaveSynonyms(r.Context(), q.t.ID, g)
	if err == nil {
		h.log.InfoContext(r.Context(), "synonyms saved", "tenant", q.t.ID, "group", saved.ID, "user", q.user.ID)
	}
	h.answerSave(w, r, err, groupSpec, outcome(id, "sinonimi-creati", "sinonimi-salvati"),
		fmt.Sprintf("Il Comune ha già %d gruppi di sinonimi, il massimo: eliminane uno che non serve più per aggiungerne un altro.", knowledge.MaxGroups),
		func(fe formErrors, general string) {
			h.renderGroup(w, r, q, http.StatusUnprocessableEntity, id, text, g.ServiceID, fe, general)
		})
}

// renderGroup shows the synonym form.
func (h *Handler) renderGroup(w http.ResponseWriter, r *http.Request, q request, status int, id, phrases, serviceID string, fe formErrors, general string) {
	cfg, err := h.book.Configuration(r.Context(), q.t.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := groupFormView{CSRF: q.csrf, ID: id, Phrases: phrases,
		ServiceSelect: serviceSelect{Groups: serviceChoices(cfg, serviceID), Error: fe[fgService],
			Prompt: "Nessuno: le frasi sono equivalenti tra loro",
			Help:   "Senza servizio servono almeno due frasi, che l'assistente considera equivalenti. Con un servizio, le frasi sono altri nomi di quel servizio e ne basta una."},
		Errors: fe, ErrorList: groupSpec.list(fe), General: general,
		MaxPhrases: knowledge.MaxPhrases, MaxPhrase: knowledge.MaxPhrase}
	v.Heading, v.Action = "Nuovo gruppo di sinonimi", "/gestione/assistente/sinonimi/nuovo"
	if id != "" {
		v.Heading, v.Action = "Modifica gruppo di sinonimi", "/gestione/assistente/sinonimi/"+id
	}
	h.render(w, r, status, "gestione_assistente_sinonimi.html", v.Heading, crumbs(site.Crumb{Label: v.Heading}), v)
}

// groupConfirmDelete answers GET /gestione/assistente/sinonimi/{id}/elimina.
func (h *Handler) groupConfirmDelete(w http.ResponseWriter, r *http.Request, q request) {
	g, ok := existing(h, w, r, q, h.store.SynonymGroup)
	if !ok {
		return
	}
	h.renderConfirm(w, r, q, confirmView{Heading: "Elimina il gruppo di sinonimi",
		Question: "Vuoi eliminare questo gruppo di sinonimi? L'assistente non lo userà più.",
		Lines:    g.Phrases, Action: "/gestione/assistente/sinonimi/" + g.ID + "/elimina",
		Back: "/gestione/assistente/sinonimi/" + g.ID, Button: "Sì, elimina il gruppo"})
}

// groupDelete answers POST /gestione/assistente/sinonimi/{id}/elimina.
func (h *Handler) groupDelete(w http.ResponseWriter, r *http.Request, q request) {
	id := r.PathValue("id")
	h.answerDelete(w, r, q, h.store.DeleteSynonyms(r.Context(), q.t.ID, id), "synonyms deleted", slog.String("group", id), "sinonimi-eliminati")
}
