package main

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/queue"
)

var revokeForm = regexp.MustCompile(`name="ospite" value="([^"]+)"`)

// TestCallInviteRevoke: the operator revokes one guest's invite during
// the call. The guest, admitted, is taken out at once ("ended" with
// reason "revoked", and the socket closes); their link and their socket
// are refused from then on (410); the other guest's link still works,
// the operator's call goes on and the room stays open. The invite page
// lists both invites, the revoked one as such.
func TestCallInviteRevoke(t *testing.T) {
	t.Parallel()
	e := newCallEnv(t)
	k := e.videoTicket()
	op := e.dial("/gestione/chiamate/"+k.ID, true)
	op.next(e.ctx, "welcome")
	_, body := e.invite(k.ID, "Ivo Interprete")
	ivo := inviteOf(t, body)
	_, body = e.invite(k.ID, "Carla Collega")
	carla := inviteOf(t, body)

	guest := e.dial(ivo, false)
	id, _ := guest.next(e.ctx, "welcome")["id"].(string)
	op.next(e.ctx, "participant")
	if err := op.c.Write(e.ctx, websocket.MessageText, []byte(`{"type":"admit","id":"`+id+`"}`)); err != nil {
		t.Fatal(err)
	}
	guest.next(e.ctx, "admitted")

	status, page := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID+"/invito", true, nil, nil)
	subjects := revokeForm.FindAllStringSubmatch(page, -1)
	if status != http.StatusOK || len(subjects) != 2 || subjects[0][1] != id ||
		!strings.Contains(page, "Ivo Interprete (link valido fino alle") || !strings.Contains(page, "Carla Collega") {
		t.Fatalf("invite page: %d, revoke forms %v, want Ivo's and Carla's\n%s", status, subjects, page)
	}
	revoke := func(subject string, csrf bool) (int, string) {
		form := url.Values{"ospite": {subject}}
		if csrf {
			form.Set(authweb.CSRFField, e.csrf)
		}
		return e.do("POST", e.bariHost, "/gestione/chiamate/"+k.ID+"/invito/revoca", true, strings.NewReader(form.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	}
	if status, _ := revoke(id, false); status != http.StatusForbidden {
		t.Errorf("revoke without the CSRF token: %d, want 403", status)
	}
	start := time.Now()
	status, page = revoke(id, true)
	if status != http.StatusOK || !strings.Contains(page, "Ivo Interprete è stato fatto uscire dalla chiamata") ||
		!strings.Contains(page, "Ivo Interprete: invito revocato") {
		t.Fatalf("revoke: %d\n%s", status, page)
	}
	if ended := guest.next(e.ctx, "ended"); ended["reason"] != "revoked" {
		t.Errorf("the guest's last message: %v, want ended for revoked", ended)
	}
	if _, _, err := guest.c.Read(e.ctx); err == nil {
		t.Error("the revoked guest's socket is still open")
	}
	t.Logf("guest out of the call %v after the revocation", time.Since(start).Round(time.Millisecond))
	left := op.next(e.ctx, "participant")
	for left["event"] != "left" { // the admission's "joined" comes first
		left = op.next(e.ctx, "participant")
	}
	if p, _ := left["participant"].(map[string]any); p["id"] != id {
		t.Errorf("the operator sees %v, want the guest leaving", left)
	}
	if status, body := e.do("GET", e.bariHost, ivo, false, nil, nil); status != http.StatusGone || !strings.Contains(body, "revocato") {
		t.Errorf("the revoked link: %d, want 410 saying it was revoked", status)
	}
	// The socket too: it could reconnect otherwise.
	req, _ := http.NewRequest("GET", e.srv.URL+ivo, nil)
	req.Host = e.bariHost
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusGone {
		t.Errorf("the revoked guest's socket: %v, %v; want 410", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if status, _ := e.do("GET", e.bariHost, carla, false, nil, nil); status != http.StatusOK {
		t.Errorf("the other guest's link: %d, want 200", status)
	}
	room, err := e.calls.rooms.ByRef(e.ctx, e.bari.ID, media.RoomRef{Kind: media.RefTicket, ID: k.ID})
	if err != nil || room.State != media.StateOpen {
		t.Errorf("the room after the revocation: %+v, %v; want open", room, err)
	}
	if err := op.c.Write(e.ctx, websocket.MessageText, []byte(`{"type":"chat","text":"ancora qui"}`)); err != nil {
		t.Fatal(err)
	}
	if m := op.next(e.ctx, "chat"); m["text"] != "ancora qui" {
		t.Errorf("the operator's call after the revocation: %v", m)
	}
	if status, _ := revoke("guest-nessuno", true); status != http.StatusUnprocessableEntity {
		t.Errorf("revoke an unknown invite: %d, want 422", status)
	}
}

// TestCallTicketDocuments: the documents of a walk-in video ticket's
// call (no booking) stay visible to the operator after the ticket is
// closed: the call's page sends them to the ticket's documents, which
// lists the upload and serves it intact on the session; a document of
// another ticket is not found through this one, and the operator of
// another office is refused.
func TestCallTicketDocuments(t *testing.T) {
	t.Parallel()
	e := newCallEnv(t)
	taken, err := e.lines.Take(e.ctx, e.bari, queue.TakeRequest{OfficeID: "urp", Channel: queue.Video, Source: queue.SourceDesk})
	if err != nil {
		t.Fatal(err)
	}
	k, other := taken.Ticket, e.videoTicket()
	upload := func(ticket, name string, body []byte) {
		t.Helper()
		if status, _ := e.do("GET", e.bariHost, "/gestione/chiamate/"+ticket, true, nil, nil); status != http.StatusOK {
			t.Fatalf("open the call of %s: %d", ticket, status)
		}
		status, resp := e.do("POST", e.bariHost, "/gestione/chiamate/"+ticket+"/documenti?name="+name, true,
			strings.NewReader(string(body)), map[string]string{authweb.CSRFHeader: e.csrf, "Content-Type": "application/pdf"})
		if status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, resp)
		}
	}
	pdf := append(callPDF(), []byte("% un documento del cittadino\n")...)
	upload(k.ID, "modulo.pdf", pdf)
	upload(other.ID, "altro.pdf", callPDF())

	// The ticket is closed: the call is over.
	if _, err := e.lines.Cancel(e.ctx, e.bari.ID, k.ID, taken.Secret); err != nil {
		t.Fatal(err)
	}
	status, body := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID, true, nil, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("the closed ticket's call: %d, want 303 to its documents\n%s", status, body)
	}
	status, page := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID+"/documenti", true, nil, nil)
	link := regexp.MustCompile(`href="(/gestione/chiamate/[^"]+/documenti/[^"]+)" download>modulo\.pdf<`).FindStringSubmatch(page)
	if status != http.StatusOK || link == nil || strings.Contains(page, "altro.pdf") {
		t.Fatalf("the ticket's documents: %d, want modulo.pdf and not the other ticket's\n%s", status, page)
	}
	status, got := e.do("GET", e.bariHost, link[1], true, nil, nil)
	if status != http.StatusOK || sha256.Sum256([]byte(got)) != sha256.Sum256(pdf) {
		t.Errorf("download the document: %d, %d bytes, want the %d bytes uploaded", status, len(got), len(pdf))
	}
	ds, err := e.calls.store.ListRef(e.ctx, e.bari.ID, "ticket:"+other.ID)
	if err != nil || len(ds) != 1 {
		t.Fatal(ds, err)
	}
	if status, _ := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID+"/documenti/"+ds[0].ID, true, nil, nil); status != http.StatusNotFound {
		t.Errorf("another ticket's document through this ticket: %d, want 404", status)
	}
	if status, _ := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID+"/documenti", false, nil, nil); status == http.StatusOK {
		t.Errorf("the documents without a session: %d", status)
	}
}
