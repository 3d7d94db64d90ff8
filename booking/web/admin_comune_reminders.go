package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The reminders before an appointment are set on /gestione/comune as one
// text field, "24 h, 2 h": a list reads well to a screen reader, needs no
// script, and says in one line what a grid of checkboxes would spread
// over several. Empty means no reminders; a Comune that never chose sees
// the defaults written out, so that saving the page unchanged keeps them.

// remindersText is the field's value for the Comune's present setting.
func (h *Handler) remindersText(ctx context.Context, t tenant.ID) (string, error) {
	s, err := h.book.ReminderSettings(ctx, t)
	if err != nil {
		return "", err
	}
	return booking.FormatReminderOffsets(s.Offsets), nil
}

// parseReminders reads the field; an error goes into fe.
func parseReminders(fe formErrors, text string) []time.Duration {
	offsets, err := booking.ParseReminderOffsets(text)
	if err != nil {
		reminderFormError(fe, err)
		return nil
	}
	return offsets
}

// reminderFormError copies a booking error about the reminders into fe
// and reports whether it was one the page can explain.
func reminderFormError(fe formErrors, err error) bool {
	var ve *booking.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, msg := range ve.Fields {
			fe[fcmReminders] = msg
		}
		return true
	case errors.Is(err, cluster.ErrNotSupportedByCluster):
		fe[fcmReminders] = "Il servizio è in aggiornamento: i promemoria si potranno cambiare quando l'aggiornamento sarà completo. Riprova più tardi."
		return true
	}
	return false
}

// saveReminders stores offsets unless they are the Comune's present
// setting: a Comune on the defaults stays on them (and follows them if
// they change) until it picks others.
func (h *Handler) saveReminders(ctx context.Context, t tenant.ID, offsets []time.Duration) error {
	cur, err := h.book.ReminderSettings(ctx, t)
	if err != nil {
		return err
	}
	if slices.Equal(cur.Offsets, offsets) {
		return nil
	}
	if _, err := h.book.SaveReminderSettings(ctx, t, offsets); err != nil {
		return fmt.Errorf("save reminders: %w", err)
	}
	return nil
}

// remindersField is the form's field with value and error.
func remindersField(value, errMsg string) field {
	return field{ID: fcmReminders, Label: "Promemoria prima dell'appuntamento", Type: "text", Value: value, Error: errMsg, MaxLen: 100,
		Help: fmt.Sprintf("Quanto tempo prima dell'appuntamento inviare un promemoria al cittadino, per email e, se l'ha chiesto, "+
			"con una notifica: per esempio «24 h, 2 h» oppure «1 g, 30 min» (h ore, min minuti, g giorni). "+
			"Al massimo %d promemoria, ciascuno tra 15 minuti e 7 giorni prima. Lascia vuoto per non inviarne.", booking.MaxReminders)}
}
