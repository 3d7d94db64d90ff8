package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// fieldError is one entry of the error summary, linked to its field.
type fieldError struct{ Field, Label, Message string }

// formErrors are a refused form's messages by form field.
type formErrors map[string]string

// formSpec orders and names a form's fields, for the error summary.
type formSpec struct {
	order  []string
	labels map[string]string
	// domain maps package knowledge's field keys to the form's.
	domain map[string]string
}

// list returns the summary of fe in the form's order.
func (s formSpec) list(fe formErrors) []fieldError {
	var out []fieldError
	for _, k := range s.order {
		if m, ok := fe[k]; ok {
			out = append(out, fieldError{Field: k, Label: s.labels[k], Message: m})
		}
	}
	return out
}

// fromDomain turns a save's error into form errors (true) or a message
// for the whole form; it returns ok false for an error no form can show.
func (s formSpec) fromDomain(err error, fe formErrors) (general string, ok bool) {
	var ve *knowledge.ValidationError
	switch {
	case errors.As(err, &ve):
		for k, m := range ve.Fields {
			if f, known := s.domain[k]; known {
				fe[f] = m
			} else {
				general = m
			}
		}
		return general, true
	case errors.Is(err, knowledge.ErrFull):
		return "", true
	}
	return "", false
}

// answerSave finishes the POST of a form whose save returned err: nil
// redirects to the overview with the confirmation outcome; an error of
// the input calls show with the field errors and the message for the
// whole form (full when the Comune already has the most it may have),
// having changed nothing; any other error fails the request.
func (h *Handler) answerSave(w http.ResponseWriter, r *http.Request, err error, spec formSpec, outcome, full string,
	show func(fe formErrors, general string)) {
	if err == nil {
		h.afterSave(w, r, outcome)
		return
	}
	fe := formErrors{}
	general, ok := spec.fromDomain(err, fe)
	if !ok {
		h.fail(w, r, err)
		return
	}
	if errors.Is(err, knowledge.ErrFull) {
		general = full
	}
	show(fe, general)
}

// existing returns the item of the Comune that the route's {id} names,
// read with get, or the zero item on a route for a new one (no {id}).
// ok false means the answer is written: 404 for an item of another
// Comune, which is never told apart from one that does not exist.
func existing[T any](h *Handler, w http.ResponseWriter, r *http.Request, q request,
	get func(ctx context.Context, t tenant.ID, id string) (T, error)) (item T, ok bool) {
	id := r.PathValue("id")
	if id == "" {
		return item, true
	}
	item, err := get(r.Context(), q.t.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return item, false
	}
	return item, true
}

// confirmView is the data of gestione_assistente_elimina.html.
type confirmView struct {
	CSRF, Heading, Question, Action, Back, Button string
	Lines                                         []string
}

// renderConfirm shows the question before a deletion, so that a form
// without JavaScript never deletes on one click.
func (h *Handler) renderConfirm(w http.ResponseWriter, r *http.Request, q request, v confirmView) {
	v.CSRF = q.csrf
	h.render(w, r, http.StatusOK, "gestione_assistente_elimina.html", v.Heading, crumbs(site.Crumb{Label: v.Heading}), v)
}

// answerDelete finishes the POST of a deletion whose store call
// returned err: logged (msg, with the item) and redirected to the
// overview with the confirmation outcome, or failed.
func (h *Handler) answerDelete(w http.ResponseWriter, r *http.Request, q request, err error, msg string, item slog.Attr, outcome string) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), msg, "tenant", q.t.ID, item, "user", q.user.ID)
	h.afterSave(w, r, outcome)
}

// outcome is the confirmation of a save: created for a new item (no
// id), edited for an existing one.
func outcome(id, created, edited string) string {
	if id == "" {
		return created
	}
	return edited
}

// choice is an option of a select.
type choice struct {
	Value, Label string
	Selected     bool
}

// optGroup is a group of options (the services of one office).
type optGroup struct {
	Label   string
	Choices []choice
}

// serviceChoices lists the Comune's bookable services by office, with
// selected marked; a selected service that is archived is listed too, so
// that the form shows what is stored (and its save says why it fails).
func serviceChoices(cfg booking.Configuration, selected string) []optGroup {
	var out []optGroup
	for _, o := range cfg.Offices {
		g := optGroup{Label: o.Name}
		for _, s := range o.Services {
			archived := cfg.ArchivedOffices[o.ID] || cfg.ArchivedServices[s.ID]
			if archived && s.ID != selected {
				continue
			}
			label := s.Name
			if archived {
				label += " (archiviato)"
			}
			g.Choices = append(g.Choices, choice{Value: s.ID, Label: label, Selected: s.ID == selected})
		}
		if len(g.Choices) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// officeChoices lists the Comune's offices, as serviceChoices.
func officeChoices(cfg booking.Configuration, selected string) []choice {
	var out []choice
	for _, o := range cfg.Offices {
		archived := cfg.ArchivedOffices[o.ID]
		if archived && o.ID != selected {
			continue
		}
		label := o.Name
		if archived {
			label += " (archiviato)"
		}
		out = append(out, choice{Value: o.ID, Label: label, Selected: o.ID == selected})
	}
	return out
}

// serviceSelect is the data of the partial "ka-services".
type serviceSelect struct {
	Groups              []optGroup
	Error, Prompt, Help string
}
