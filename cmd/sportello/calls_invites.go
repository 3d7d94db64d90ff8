package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Revoking one guest's invite (issue 6: a colleague or an interpreter
// the operator invited): the invite is recorded in the replicated state
// when it is made (operatorInvite), revoking it there makes every node
// refuse its link (media.Rooms.Admit), and the node that holds the room
// closes the guest's connection at once (sfu.SFU.Kick). The call goes on
// for everybody else.

// inviteRow is one invite as the invite page lists it.
type inviteRow struct {
	Name, Subject, Until string
	Revoked              bool
}

// reasonRevoked is the "ended" reason a kicked guest's page receives.
const reasonRevoked = "revoked"

// invitePage is the invite page of the ticket's room, without a link.
func (c *calls) invitePage(ctx context.Context, t tenant.Tenant, k queue.Ticket, room media.Room, s auth.Session) invitePage {
	base := "/gestione/chiamate/" + url.PathEscape(k.ID) + "/invito"
	return invitePage{Action: base, RevokeAction: base + "/revoca", CSRF: s.CSRF, CSRFField: authweb.CSRFField,
		Invites: c.inviteRows(ctx, t, room)}
}

// inviteRows lists the room's invites; a read error lists none (the
// form still works).
func (c *calls) inviteRows(ctx context.Context, t tenant.Tenant, room media.Room) []inviteRow {
	invites, err := c.rooms.Invites(ctx, t.ID, room.ID)
	if err != nil {
		c.log.Warn("list the call's invites", "room", room.ID, "err", err)
		return nil
	}
	now := time.Now()
	out := make([]inviteRow, 0, len(invites))
	for _, i := range invites {
		if !i.Revoked.IsZero() || i.Active(now) {
			out = append(out, inviteRow{Name: i.Name, Subject: i.Subject, Revoked: !i.Revoked.IsZero(),
				Until: i.Expires.In(t.Location()).Format("15:04")})
		}
	}
	return out
}

// openRoom is the open room of the ticket of the route, for the invite
// routes; it answers the request itself when there is none.
func (c *calls) openRoom(w http.ResponseWriter, r *http.Request, t tenant.Tenant, u auth.User) (queue.Ticket, media.Room, bool) {
	k, ref, ok := c.ticketRoom(w, r, t, u, false)
	if !ok {
		return queue.Ticket{}, media.Room{}, false
	}
	room, err := c.roomOf(r.Context(), t.ID, ref)
	if err == nil && room.State != media.StateOpen {
		err = errGone
	}
	if err != nil {
		c.refuse(w, r, false, err, "La videochiamata non è aperta: aprila prima di invitare qualcuno.")
		return queue.Ticket{}, media.Room{}, false
	}
	return k, room, true
}

// operatorInvites answers GET /gestione/chiamate/{ticket}/invito: the
// invite form and the room's invites, each with its revoke button.
func (c *calls) operatorInvites(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
	w.Header().Set("Cache-Control", "no-store")
	k, room, ok := c.openRoom(w, r, t, u)
	if !ok {
		return
	}
	c.pages.Render(w, r, http.StatusOK, "chiamata_invito.html", site.Page{Title: "Invita", Data: c.invitePage(r.Context(), t, k, room, s)})
}

// operatorRevoke answers POST /gestione/chiamate/{ticket}/invito/revoca
// (ospite: the guest's ID): the invite is revoked in the replicated
// state and the guest is taken out of the call. It runs on the node that
// holds the room, where the guest's connection is: a request that
// reached another node is forwarded there, as a socket would be.
func (c *calls) operatorRevoke(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
	w.Header().Set("Cache-Control", "no-store")
	k, room, ok := c.openRoom(w, r, t, u)
	if !ok {
		return
	}
	if room.Node != c.nodeID {
		// The login layer read the form to check its CSRF token; the
		// node the request is forwarded to reads it again.
		if err := r.ParseForm(); err == nil {
			body := r.PostForm.Encode()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if room, ok = c.place(w, r, t, room, false); !ok {
		return
	}
	d := c.invitePage(r.Context(), t, k, room, s)
	subject := r.PostFormValue("ospite")
	inv, err := c.rooms.RevokeInvite(r.Context(), t.ID, room.ID, subject)
	switch {
	case errors.Is(err, media.ErrNotFound):
		d.Error = "Questo invito non esiste: forse la pagina non è aggiornata."
		c.pages.Render(w, r, http.StatusUnprocessableEntity, "chiamata_invito.html", site.Page{Title: "Invita", Data: d})
		return
	case err != nil:
		c.refuse(w, r, false, err, "")
		return
	}
	kicked := c.sfu.Kick(room.ID, inv.Subject, reasonRevoked)
	c.log.Info("call guest invite revoked", "tenant", t.ID, "room", room.ID, "ticket", k.ID, "user", u.ID,
		"guest", inv.Subject, "was_connected", kicked)
	d.Done = "Invito di " + inv.Name + " revocato: il link non vale più."
	if kicked {
		d.Done = inv.Name + " è stato fatto uscire dalla chiamata e il suo invito è revocato: il link non vale più."
	}
	d.Invites = c.inviteRows(r.Context(), t, room)
	c.pages.Render(w, r, http.StatusOK, "chiamata_invito.html", site.Page{Title: "Invita", Data: d})
}
