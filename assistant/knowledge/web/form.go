package web

import (
	"errors"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
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
