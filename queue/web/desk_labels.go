package web

import (
	"context"

	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// A ticket names its desk by the desk's ID, which is what the queue and
// the operator's page need; a citizen must read the desk's label
// ("Sportello 3", "Stanza 12"). Every view a citizen sees — the ticket's
// page and API, its event stream, the waiting room and the hall's board
// — goes through labelled first, so an ID never reaches them.

// labelled returns k with its desk named by its label in labels; a desk
// without a label (deleted from the map, or a test's bare name) stays as
// it is.
func labelled(k queue.Ticket, labels map[string]string) queue.Ticket {
	if l := labels[k.Desk]; l != "" {
		k.Desk = l
	}
	return k
}

// labelTicket is labelled with the labels of k's office, read now. A
// failed read leaves the ticket as it is: a page is better with the
// desk's ID than not at all.
func (h *Handler) labelTicket(ctx context.Context, t tenant.ID, k queue.Ticket) queue.Ticket {
	if k.Desk == "" {
		return k
	}
	labels, err := h.q.DeskLabels(ctx, t, k.OfficeID)
	if err != nil {
		h.log.Warn("desk labels", "tenant", t, "office", k.OfficeID, "err", err)
		return k
	}
	return labelled(k, labels)
}
