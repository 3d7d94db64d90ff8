package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The documents of a ticket's call, afterwards (issue 6: "visible
// afterwards to the operator"). A booking's documents are on the agenda
// (booking/web's agenda_docs.go), but a walk-in video ticket has no
// booking: its call stores the documents with the reference
// "ticket:<id>", and these routes list and serve them to whoever may
// serve the ticket's office, on the session as the agenda does (the room
// tokens of the call's own links expire with the room, long before the
// documents). A ticket that checked in for a booking shows the booking's
// documents too: it is the same appointment.

// docsPage is the data of chiamata_documenti.html.
type docsPage struct {
	Number, Back string
	Active       bool
	CallURL      string
	Documents    []ticketDocRow
}

type ticketDocRow struct {
	Name, Size, URL, Uploaded string
}

// ticketDocRefs are the document references of ticket k's calls.
func ticketDocRefs(k queue.Ticket) []string {
	refs := []string{"ticket:" + k.ID}
	if k.BookingCode != "" {
		refs = append(refs, "booking:"+k.BookingCode)
	}
	return refs
}

// staffTicket finds the ticket of the route, open or closed, and checks
// that u serves its office; it answers the request itself when not.
func (c *calls) staffTicket(w http.ResponseWriter, r *http.Request, t tenant.Tenant, u auth.User) (queue.Ticket, bool) {
	k, err := c.q.Ticket(r.Context(), t.ID, r.PathValue("ticket"))
	if err == nil && k.Channel == queue.InPerson {
		err = queue.ErrNotFound
	}
	if err != nil {
		c.refuse(w, r, false, err, msgNoTicket)
		return queue.Ticket{}, false
	}
	if !u.Allowed(auth.RoleOperator, k.OfficeID) && !u.Allowed(auth.RoleSupervisor, k.OfficeID) {
		c.site.Error(w, r, http.StatusForbidden, "Non puoi servire i biglietti di questo ufficio.")
		return queue.Ticket{}, false
	}
	return k, true
}

// ticketDocs lists the documents of ticket k's calls, oldest first.
func (c *calls) ticketDocs(ctx context.Context, t tenant.ID, k queue.Ticket) ([]docs.Document, error) {
	var out []docs.Document
	for _, ref := range ticketDocRefs(k) {
		ds, err := c.store.ListRef(ctx, t, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// ticketDocuments answers GET /gestione/chiamate/{ticket}/documenti: the
// documents exchanged in the ticket's calls, during the call or after.
func (c *calls) ticketDocuments(w http.ResponseWriter, r *http.Request, t tenant.Tenant, _ auth.Session, u auth.User) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	k, ok := c.staffTicket(w, r, t, u)
	if !ok {
		return
	}
	ds, err := c.ticketDocs(r.Context(), t.ID, k)
	if err != nil {
		c.refuse(w, r, false, err, "")
		return
	}
	base := "/gestione/chiamate/" + url.PathEscape(k.ID)
	d := docsPage{Number: k.Number, Active: k.Active(), CallURL: base,
		Back: "/gestione/coda?" + url.Values{"ufficio": {k.OfficeID}}.Encode()}
	for _, doc := range ds {
		d.Documents = append(d.Documents, ticketDocRow{Name: doc.Name, Size: callDocSize(doc.Size),
			URL: base + "/documenti/" + url.PathEscape(doc.ID), Uploaded: site.FormatDateTime("it", doc.Uploaded.In(t.Location()))})
	}
	c.pages.Render(w, r, http.StatusOK, "chiamata_documenti.html", site.Page{Title: "Documenti della videochiamata", Data: d})
}

// ticketDocument answers GET /gestione/chiamate/{ticket}/documenti/{id}:
// one document of the ticket's calls. A document of another ticket, of a
// booking that is not the ticket's, or of another Comune is not found:
// the ID alone proves nothing.
func (c *calls) ticketDocument(w http.ResponseWriter, r *http.Request, t tenant.Tenant, _ auth.Session, u auth.User) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	k, ok := c.staffTicket(w, r, t, u)
	if !ok {
		return
	}
	id := r.PathValue("id")
	d, err := c.store.Get(r.Context(), t.ID, id)
	if err == nil && !containsRef(ticketDocRefs(k), d.Ref) {
		err = docs.ErrNotFound
	}
	if errors.Is(err, docs.ErrNotFound) {
		c.site.Error(w, r, http.StatusNotFound, "Il documento non esiste o non è più disponibile.")
		return
	}
	if err != nil {
		c.refuse(w, r, false, err, "")
		return
	}
	c.log.Info("call document downloaded", "tenant", t.ID, "user", u.ID, "document", id, "ticket", k.ID)
	c.store.Download(w, r, t.ID, "", id)
}

func containsRef(refs []string, ref string) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}

// callDocSize writes n bytes as the call page does: "12 KB", "1,5 MB".
func callDocSize(n int64) string {
	if n >= 1<<20 {
		return strings.Replace(fmt.Sprintf("%.1f MB", float64(n)/(1<<20)), ".", ",", 1)
	}
	return fmt.Sprintf("%d KB", max(1, (n+512)/1024))
}
