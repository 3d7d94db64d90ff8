package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The desk page's buttons beyond call-next and the ticket's life, on the
// real three-node cluster of newDeskEnv.

// takeReq enters a ticket described by req (office and channel default
// to the Anagrafe in person).
func (e *deskEnv) takeReq(req queue.TakeRequest) queue.Ticket {
	e.t.Helper()
	if req.OfficeID == "" {
		req.OfficeID = e.anagrafe.ID
	}
	if req.Channel == "" {
		req.Channel = queue.InPerson
	}
	k, err := e.q.Take(context.Background(), e.ten, req)
	if err != nil {
		e.t.Fatalf("Take %+v: %v", req, err)
	}
	return k.Ticket
}

// postWith is post with more fields.
func (u *deskUser) postWith(target, office, desk string, more url.Values) deskPage {
	if id, ok := u.e.desks[desk]; ok {
		desk = id
	}
	v := url.Values{deskCSRFField: {u.csrf}, qDeskOffice: {office}, qDesk: {desk}}
	for k, vs := range more {
		v[k] = vs
	}
	return u.e.send("POST", target, v, u.cookie)
}

// atDesk returns the ticket the desk holds, or the zero ticket.
func (e *deskEnv) atDesk(office, desk string) queue.Ticket {
	e.t.Helper()
	k, _, err := e.q.AtDesk(context.Background(), e.ten, office, e.desks[desk])
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// ticket reads a ticket.
func (e *deskEnv) ticket(id string) queue.Ticket {
	e.t.Helper()
	k, err := e.q.Ticket(context.Background(), e.ten.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// fullState is state with the office's parked tickets and paused desks,
// to prove that a refused request changed nothing.
func (e *deskEnv) fullState(office string) string {
	e.t.Helper()
	ctx := context.Background()
	s := e.state(office)
	parked, err := e.q.ParkedAt(ctx, e.ten, office)
	if err != nil {
		e.t.Fatal(err)
	}
	s += " parked=" + strings.Join(deskNumbers(parked), ",")
	states, err := e.q.DeskStates(ctx, e.ten, office)
	if err != nil {
		e.t.Fatal(err)
	}
	var paused []string
	for d, st := range states {
		if st.Paused {
			paused = append(paused, d+":"+st.Reason)
		}
	}
	slices.Sort(paused)
	return s + " paused=" + strings.Join(paused, ",")
}

var deskTagRE = regexp.MustCompile(`(?s)<[^>]*>`)

// deskPlain is a page's text without its tags, for failure messages.
func deskPlain(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	return strings.Join(strings.Fields(deskTagRE.ReplaceAllString(body, " ")), " ")
}

// expect checks a page's status and that its body holds want.
func expect(t *testing.T, what string, r deskPage, status int, want ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %d, want %d\n%s", what, r.Status, status, deskPlain(r.Body))
		return
	}
	for _, w := range want {
		if !strings.Contains(r.Body, w) {
			t.Errorf("%s: the page lacks %q\n%s", what, w, deskPlain(r.Body))
		}
	}
}

// TestDeskCallNextUsesDeskChannels calls from a counter and from a remote
// station: each gets the first ticket of its channels, and the page
// marks the others as not for the desk, without a "Chiama" button.
func TestDeskCallNextUsesDeskChannels(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a := e.anagrafe.ID
	walkIn := e.takeReq(queue.TakeRequest{})
	video := e.takeReq(queue.TakeRequest{Channel: queue.Video})
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})

	r := op.get(deskURL(a, e.desks["a-v"]))
	expect(t, "remote station's page", r, http.StatusOK, "Chiama il prossimo", "non per questo sportello",
		`action="/gestione/coda/`+video.ID+`/chiama"`)
	if strings.Contains(r.Body, `action="/gestione/coda/`+walkIn.ID+`/chiama"`) {
		t.Errorf("remote station's page offers to call the citizen in person")
	}
	checkDeskAccessible(t, "remote station", r.Body)

	expect(t, "remote station calls", op.post("/gestione/coda/chiama", a, "a-v"), http.StatusSeeOther)
	if k := e.atDesk(a, "a-v"); k.ID != video.ID {
		t.Errorf("remote station called %s, want the video ticket %s", k.Number, video.Number)
	}
	expect(t, "counter calls", op.post("/gestione/coda/chiama", a, "a-1"), http.StatusSeeOther)
	if k := e.atDesk(a, "a-1"); k.ID != walkIn.ID {
		t.Errorf("counter called %s, want the walk-in %s", k.Number, walkIn.Number)
	}
	// Nobody left for the second counter.
	expect(t, "second counter calls", op.post("/gestione/coda/chiama", a, "a-2"), http.StatusConflict, "Nessuno in attesa")
}

// TestDeskCallTicket calls a ticket of the line by name, out of the
// rule's order; a ticket the desk cannot serve is refused with the
// reason and nothing changes.
func TestDeskCallTicket(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a := e.anagrafe.ID
	e.takeReq(queue.TakeRequest{})
	second := e.takeReq(queue.TakeRequest{})
	video := e.takeReq(queue.TakeRequest{Channel: queue.Video})
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})

	before := e.fullState(a)
	expect(t, "counter calls the video ticket", op.post("/gestione/coda/"+video.ID+"/chiama", a, "a-1"),
		http.StatusUnprocessableEntity, "non tratta")
	if after := e.fullState(a); after != before {
		t.Errorf("refused call changed %s into %s", before, after)
	}
	r := op.post("/gestione/coda/"+second.ID+"/chiama", a, "a-1")
	expect(t, "call the second ticket", r, http.StatusSeeOther)
	if k := e.atDesk(a, "a-1"); k.ID != second.ID || k.State != queue.Called {
		t.Fatalf("desk holds %+v, want %s called", k, second.Number)
	}
	page := op.get(r.Header.Get("Location"))
	expect(t, "page after the call", page, http.StatusOK, "Biglietto <strong>"+second.Number+"</strong>", "Biglietto chiamato")
	// A busy desk calls no one, and the rows lose their buttons.
	if strings.Contains(page.Body, `/chiama"`) {
		t.Errorf("a busy desk's page still offers to call")
	}
	// The remote station calls the video ticket by name; a ticket
	// already called cannot be called again from another desk.
	expect(t, "remote station calls the video ticket", op.post("/gestione/coda/"+video.ID+"/chiama", a, "a-v"), http.StatusSeeOther)
	expect(t, "second desk calls a called ticket", op.post("/gestione/coda/"+second.ID+"/chiama", a, "a-2"), http.StatusConflict)
	if k := e.ticket(second.ID); k.Desk != e.desks["a-1"] || k.State != queue.Called {
		t.Errorf("a second desk took %s: %+v", second.Number, k)
	}
	expect(t, "unknown ticket", op.post("/gestione/coda/nessuno/chiama", a, "a-2"), http.StatusNotFound)
}

// TestDeskParkAndResume parks the ticket at the desk: the desk is free
// to call others, the ticket is listed among the parked ones with
// "Riprendi" for that desk only, and resuming calls it back.
func TestDeskParkAndResume(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a := e.anagrafe.ID
	first := e.takeReq(queue.TakeRequest{})
	next := e.takeReq(queue.TakeRequest{})
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	op2 := e.login("op-a2", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})

	expect(t, "call", op.post("/gestione/coda/chiama", a, "a-1"), http.StatusSeeOther)
	page := op.get(deskURL(a, e.desks["a-1"]))
	expect(t, "called ticket's page", page, http.StatusOK, ">Metti in attesa<", ">Trasferisci<")
	r := op.post("/gestione/coda/"+first.ID+"/attesa", a, "a-1")
	expect(t, "park", r, http.StatusSeeOther)
	if k := e.ticket(first.ID); k.State != queue.Parked || k.Desk != e.desks["a-1"] {
		t.Fatalf("after parking: %s at %s", k.State, k.Desk)
	}
	page = op.get(r.Header.Get("Location"))
	expect(t, "page after parking", page, http.StatusOK, "Biglietto messo in attesa", "Lo sportello è libero", "Messi in attesa: 1",
		`class="sv-parked-number">`+first.Number+`<`, `action="/gestione/coda/`+first.ID+`/riprendi"`)
	checkDeskAccessible(t, "parked ticket", page.Body)
	if slices.Contains(deskShownLine(page.Body), first.Number) {
		t.Errorf("the parked ticket is still shown in the line")
	}
	// Another desk sees it, but cannot resume it.
	page = op2.get(deskURL(a, e.desks["a-2"]))
	if !strings.Contains(page.Body, first.Number) || strings.Contains(page.Body, `/gestione/coda/`+first.ID+`/riprendi"`) {
		t.Errorf("another desk's page: want the parked ticket without its Riprendi button")
	}
	before := e.fullState(a)
	expect(t, "another desk resumes", op2.post("/gestione/coda/"+first.ID+"/riprendi", a, "a-2"), http.StatusConflict,
		"solo quello sportello può riprenderlo")
	if after := e.fullState(a); after != before {
		t.Errorf("refused resume changed %s into %s", before, after)
	}
	// The free desk calls the next citizen; while it holds one it
	// cannot resume the parked ticket.
	expect(t, "call while one is parked", op.post("/gestione/coda/chiama", a, "a-1"), http.StatusSeeOther)
	if k := e.atDesk(a, "a-1"); k.ID != next.ID {
		t.Fatalf("desk called %s, want %s", k.Number, next.Number)
	}
	expect(t, "resume at a busy desk", op.post("/gestione/coda/"+first.ID+"/riprendi", a, "a-1"), http.StatusConflict, "ha già un biglietto")
	for _, step := range []string{"inizia", "servito"} {
		expect(t, step, op.post("/gestione/coda/"+next.ID+"/"+step, a, "a-1"), http.StatusSeeOther)
	}
	r = op.post("/gestione/coda/"+first.ID+"/riprendi", a, "a-1")
	expect(t, "resume", r, http.StatusSeeOther)
	if k := e.atDesk(a, "a-1"); k.ID != first.ID || k.State != queue.Called {
		t.Errorf("after resuming the desk holds %s %s, want %s called", k.Number, k.State, first.Number)
	}
	expect(t, "page after resuming", op.get(r.Header.Get("Location")), http.StatusOK, "Biglietto ripreso", "Messi in attesa: 0")
	// A citizen who never comes back is closed from the parked list.
	expect(t, "park again", op.post("/gestione/coda/"+first.ID+"/attesa", a, "a-1"), http.StatusSeeOther)
	expect(t, "parked list", op.get(deskURL(a, e.desks["a-1"])), http.StatusOK, `action="/gestione/coda/`+first.ID+`/assente"`, "Non è tornato")
	expect(t, "no-show of a parked ticket", op.post("/gestione/coda/"+first.ID+"/assente", a, "a-1"), http.StatusSeeOther)
	if k := e.ticket(first.ID); k.State != queue.NoShow {
		t.Errorf("parked ticket closed as no-show: %s", k.State)
	}
}

// TestDeskTransfer transfers the ticket at a desk of the Anagrafe to a
// desk of Tributi, an office the operator does not serve: the choice,
// its refusals (which change nothing), the summary and the confirmation;
// Tributi's operator then sees and calls it.
func TestDeskTransfer(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	a, o := e.anagrafe.ID, e.tributi.ID
	k := e.takeReq(queue.TakeRequest{})
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	opT := e.login("op-t", auth.Grant{Role: auth.RoleOperator, Offices: []string{o}})
	expect(t, "call", op.post("/gestione/coda/chiama", a, "a-1"), http.StatusSeeOther)

	// Another Comune's office, and an archived office of Bari.
	lecce, err := e.reg.Create(ctx, tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035"})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := e.book.SaveOffice(ctx, lecce.ID, booking.Office{Name: "Anagrafe di Lecce", Address: "Via Roma 1"})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := e.book.SaveOffice(ctx, e.ten.ID, booking.Office{Name: "Ufficio chiuso", Address: "Via Roma 2"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.book.ArchiveOffice(ctx, e.ten.ID, closed.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.node.WaitApplied(ctx, w.Index); err != nil {
		t.Fatal(err)
	}

	target := "/gestione/coda/" + k.ID + "/trasferisci"
	form := op.get(target + "?ufficio=" + a + "&sportello=" + e.desks["a-1"])
	expect(t, "transfer form", form, http.StatusOK, "Trasferisci il biglietto "+k.Number, `value="`+o+`"`, "Dove mandare il cittadino",
		`<optgroup label="Tributi">`, `value="`+e.desks["t-1"]+`"`)
	if strings.Contains(form.Body, closed.ID) || strings.Contains(form.Body, foreign.ID) {
		t.Errorf("transfer form offers an archived or foreign office")
	}
	checkDeskAccessible(t, "transfer form", form.Body)

	before := e.fullState(a) + " | " + e.fullState(o)
	for _, c := range []struct {
		name string
		to   url.Values
		want string
	}{
		{"no office", url.Values{fToOffice: {""}}, "Scegli l&#39;ufficio a cui"},
		{"another Comune's office", url.Values{fToOffice: {foreign.ID}}, "non esiste o è stato archiviato"},
		{"archived office", url.Values{fToOffice: {closed.ID}}, "non esiste o è stato archiviato"},
		{"desk of another office", url.Values{fToOffice: {o}, fToDesk: {e.desks["a-2"]}}, "non è dell&#39;ufficio Tributi"},
		{"service of another office", url.Values{fToOffice: {o}, fToService: {e.service.ID}}, "non è dell&#39;ufficio Tributi"},
		{"bad choice confirmed", url.Values{fToOffice: {o}, fToDesk: {e.desks["a-2"]}, fConfirm: {"1"}}, "non è dell&#39;ufficio Tributi"},
	} {
		r := op.postWith(target, a, "a-1", c.to)
		expect(t, c.name, r, http.StatusUnprocessableEntity, c.want)
		if c.name == "desk of another office" {
			checkDeskAccessible(t, "transfer form with an error", r.Body)
		}
	}
	to := url.Values{fToOffice: {o}, fToDesk: {e.desks["t-1"]}}
	review := op.postWith(target, a, "a-1", to)
	expect(t, "summary", review, http.StatusOK, "Conferma il trasferimento", "<strong>Tributi</strong>", "<strong>Sportello Tributi</strong>")
	checkDeskAccessible(t, "summary", review.Body)
	// Another desk of the office cannot transfer it; the operator of
	// Tributi cannot touch a ticket of the Anagrafe.
	expect(t, "transfer from another desk", op.postWith(target, a, "a-2", to), http.StatusConflict, "solo quello sportello può trasferirlo")
	expect(t, "transfer by Tributi's operator", opT.postWith(target, o, "t-1", to), http.StatusForbidden)
	if after := e.fullState(a) + " | " + e.fullState(o); after != before {
		t.Fatalf("refused transfers changed %s into %s", before, after)
	}

	to.Set(fConfirm, "1")
	r := op.postWith(target, a, "a-1", to)
	expect(t, "confirm", r, http.StatusSeeOther)
	if !strings.Contains(r.Header.Get("Location"), "esito=trasferito") {
		t.Errorf("confirm: Location %q", r.Header.Get("Location"))
	}
	got := e.ticket(k.ID)
	if got.State != queue.Waiting || got.OfficeID != o || got.ForDesk != e.desks["t-1"] || got.TransferredFrom != a {
		t.Fatalf("transferred ticket: %+v", got)
	}
	if at := e.atDesk(a, "a-1"); at.ID != "" {
		t.Errorf("the desk still holds %s after the transfer", at.Number)
	}
	page := opT.get(deskURL(o, e.desks["t-1"]))
	expect(t, "Tributi's page", page, http.StatusOK, "Trasferito da Anagrafe", "Solo per Sportello Tributi", got.Number)
	expect(t, "Tributi calls", opT.post("/gestione/coda/chiama", o, "t-1"), http.StatusSeeOther)
	if at := e.atDesk(o, "t-1"); at.ID != k.ID {
		t.Errorf("Tributi's desk called %s, want the transferred %s", at.Number, got.Number)
	}
}

// TestDeskPause pauses a desk: the reason is required, a paused desk
// calls nobody, the supervisor sees the state and the reason of every
// desk, and reopening lets the desk call again.
func TestDeskPause(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a := e.anagrafe.ID
	k := e.takeReq(queue.TakeRequest{})
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	sup := e.login("sup-a", auth.Grant{Role: auth.RoleSupervisor, Offices: []string{a}})

	page := op.get(deskURL(a, e.desks["a-1"]))
	expect(t, "open desk", page, http.StatusOK, "Sportello aperto", "pausa=1", "Metti in pausa lo sportello…", `http-equiv="refresh"`)
	if strings.Contains(page.Body, "Sportelli dell'ufficio") {
		t.Errorf("an operator sees the supervisors' overview")
	}
	// The pause form opens on a page that does not reload itself, so
	// that what the operator types is not lost.
	page = op.get(deskURL(a, e.desks["a-1"]) + "&pausa=1")
	expect(t, "pause form", page, http.StatusOK, "<legend", "Metti in pausa lo sportello", `<option value="Guasto">`, `name="dettaglio"`)
	if strings.Contains(page.Body, `http-equiv="refresh"`) {
		t.Errorf("the page with the pause form reloads itself")
	}
	checkDeskAccessible(t, "pause form", page.Body)
	before := e.fullState(a)
	for _, c := range []struct {
		name           string
		reason, detail string
		want           string
	}{
		{"no reason", "", "", "Scegli il motivo della pausa."},
		{"reason not in the list", "Sciopero generale", "", "Scegli uno dei motivi"},
		{"Altro without text", "Altro", "", "Scrivi il motivo della pausa."},
		{"detail too long", "Guasto", strings.Repeat("x", 61), "al massimo 60 caratteri"},
	} {
		r := op.postWith("/gestione/coda/pausa", a, "a-1", url.Values{fPauseReason: {c.reason}, fPauseDetail: {c.detail}})
		expect(t, c.name, r, http.StatusUnprocessableEntity, c.want, `aria-invalid="true"`)
		checkDeskAccessible(t, c.name, r.Body)
		if strings.Contains(r.Body, `http-equiv="refresh"`) {
			t.Errorf("%s: the page with the error reloads itself", c.name)
		}
	}
	if after := e.fullState(a); after != before {
		t.Fatalf("refused pauses changed %s into %s", before, after)
	}

	r := op.postWith("/gestione/coda/pausa", a, "a-1", url.Values{fPauseReason: {"Guasto"}, fPauseDetail: {"stampante"}})
	expect(t, "pause", r, http.StatusSeeOther)
	states, err := e.q.DeskStates(context.Background(), e.ten, a)
	if err != nil || !states[e.desks["a-1"]].Paused || states[e.desks["a-1"]].Reason != "Guasto: stampante" {
		t.Fatalf("desk states after the pause: %+v, %v", states, err)
	}
	page = op.get(r.Header.Get("Location"))
	expect(t, "paused desk", page, http.StatusOK, "Sportello in pausa", "Guasto: stampante", "Riprendi il servizio")
	if strings.Contains(page.Body, "Chiama il prossimo") || strings.Contains(page.Body, `/chiama"`) {
		t.Errorf("a paused desk's page offers to call")
	}
	checkDeskAccessible(t, "paused desk", page.Body)
	before = e.fullState(a)
	expect(t, "call while paused", op.post("/gestione/coda/chiama", a, "a-1"), http.StatusConflict, "in pausa")
	expect(t, "call a ticket while paused", op.post("/gestione/coda/"+k.ID+"/chiama", a, "a-1"), http.StatusConflict, "in pausa")
	if after := e.fullState(a); after != before {
		t.Errorf("calls of a paused desk changed %s into %s", before, after)
	}

	// The supervisor sees every desk: the paused one with its reason.
	expect(t, "supervisor calls at a-2", sup.post("/gestione/coda/chiama", a, "a-2"), http.StatusSeeOther)
	page = sup.get(deskURL(a, ""))
	expect(t, "supervisor's overview", page, http.StatusOK, "Sportelli dell'ufficio", "In pausa dalle", "Guasto: stampante",
		k.Number+" (chiamato)", "Postazione video")
	checkDeskAccessible(t, "supervisor's overview", page.Body)

	r = op.post("/gestione/coda/riapri", a, "a-1")
	expect(t, "reopen", r, http.StatusSeeOther)
	expect(t, "reopened desk", op.get(r.Header.Get("Location")), http.StatusOK, "Sportello di nuovo aperto", "Sportello aperto")
	if states, _ := e.q.DeskStates(context.Background(), e.ten, a); states[e.desks["a-1"]].Paused {
		t.Errorf("desk still paused after reopening")
	}
}

// TestDeskNewStepsRefusals tries every new button as an operator of the
// Anagrafe on Tributi, with forged forms, an archived desk and another
// office's desk: each is refused and nothing changes.
func TestDeskNewStepsRefusals(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	a, o := e.anagrafe.ID, e.tributi.ID
	kt := e.takeReq(queue.TakeRequest{OfficeID: o})
	e.takeReq(queue.TakeRequest{OfficeID: o})
	e.takeReq(queue.TakeRequest{})
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	opT := e.login("op-t", auth.Grant{Role: auth.RoleOperator, Offices: []string{o}})
	expect(t, "Tributi calls", opT.post("/gestione/coda/chiama", o, "t-1"), http.StatusSeeOther)
	w, err := e.book.ArchiveDesk(ctx, e.ten.ID, e.desks["a-2"], true)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.node.WaitApplied(ctx, w.Index); err != nil {
		t.Fatal(err)
	}
	before := e.fullState(a) + " | " + e.fullState(o)
	pause := url.Values{fPauseReason: {"Pausa"}}
	for _, c := range []struct {
		name, target, office, desk string
		form                       url.Values
		status                     int
		want                       string
	}{
		{"pause of Tributi", "/gestione/coda/pausa", o, "t-1", pause, http.StatusForbidden, ""},
		{"reopen of Tributi", "/gestione/coda/riapri", o, "t-1", nil, http.StatusForbidden, ""},
		{"park Tributi's ticket", "/gestione/coda/" + kt.ID + "/attesa", a, "a-1", nil, http.StatusForbidden, ""},
		{"park Tributi's ticket as Tributi", "/gestione/coda/" + kt.ID + "/attesa", o, "t-1", nil, http.StatusForbidden, ""},
		{"resume Tributi's ticket", "/gestione/coda/" + kt.ID + "/riprendi", a, "a-1", nil, http.StatusForbidden, ""},
		{"call Tributi's ticket", "/gestione/coda/" + kt.ID + "/chiama", a, "a-1", nil, http.StatusForbidden, ""},
		{"transfer Tributi's ticket", "/gestione/coda/" + kt.ID + "/trasferisci", a, "a-1", url.Values{fToOffice: {a}, fConfirm: {"1"}}, http.StatusForbidden, ""},
		{"pause an archived desk", "/gestione/coda/pausa", a, "a-2", pause, http.StatusUnprocessableEntity, "archiviato"},
		{"pause another office's desk", "/gestione/coda/pausa", a, "t-1", pause, http.StatusUnprocessableEntity, "archiviato"},
		{"reopen another office's desk", "/gestione/coda/riapri", a, "t-1", nil, http.StatusUnprocessableEntity, "archiviato"},
		{"pause without a desk", "/gestione/coda/pausa", a, "", pause, http.StatusUnprocessableEntity, "Scegli l&#39;ufficio e lo sportello"},
		{"pause of an unknown office", "/gestione/coda/pausa", "nessuno", "a-1", pause, http.StatusForbidden, ""},
	} {
		r := op.postWith(c.target, c.office, c.desk, c.form)
		if c.want != "" {
			expect(t, c.name, r, c.status, c.want)
		} else {
			expect(t, c.name, r, c.status)
		}
	}
	if r := op.get("/gestione/coda/" + kt.ID + "/trasferisci?ufficio=" + o + "&sportello=" + e.desks["t-1"]); r.Status != http.StatusForbidden ||
		strings.Contains(r.Body, "Dove mandare") {
		t.Errorf("transfer form of Tributi's ticket for the Anagrafe's operator: got %d", r.Status)
	}
	// Without the CSRF token nothing passes the guard.
	for _, target := range []string{"/gestione/coda/pausa", "/gestione/coda/riapri", "/gestione/coda/" + kt.ID + "/attesa"} {
		if r := e.send("POST", target, url.Values{qDeskOffice: {a}, qDesk: {e.desks["a-1"]}, fPauseReason: {"Pausa"}}, op.cookie); r.Status != http.StatusForbidden {
			t.Errorf("%s without the CSRF token: got %d, want 403", target, r.Status)
		}
	}
	if after := e.fullState(a) + " | " + e.fullState(o); after != before {
		t.Fatalf("refused requests changed %s into %s", before, after)
	}
}

// TestDeskTwoOperatorsNeverShareATicket has two operators, at two desks,
// call and serve through the page as fast as they can until the line is
// empty: each ticket is served once, by one of them.
func TestDeskTwoOperatorsNeverShareATicket(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a := e.anagrafe.ID
	const n = 16
	var want []string
	for range n {
		want = append(want, e.takeReq(queue.TakeRequest{}).Number)
	}
	var mu sync.Mutex
	served := map[string]string{}
	var wg sync.WaitGroup
	for i, desk := range []string{"a-1", "a-2"} {
		op := e.login("op-"+desk, auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
		wg.Go(func() {
			for range n + 1 {
				r := op.post("/gestione/coda/chiama", a, desk)
				if r.Status == http.StatusConflict && strings.Contains(r.Body, "Nessuno in attesa") {
					return
				}
				if r.Status != http.StatusSeeOther {
					t.Errorf("operator %d: call got %d\n%s", i, r.Status, deskPlain(r.Body))
					return
				}
				k := e.atDesk(a, desk)
				mu.Lock()
				if other, dup := served[k.Number]; dup {
					t.Errorf("%s called by %s and %s", k.Number, other, desk)
				}
				served[k.Number] = desk
				mu.Unlock()
				for _, step := range []string{"inizia", "servito"} {
					if r := op.post("/gestione/coda/"+k.ID+"/"+step, a, desk); r.Status != http.StatusSeeOther {
						t.Errorf("%s %s at %s: got %d", step, k.Number, desk, r.Status)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	var got []string
	perDesk := map[string]int{}
	for num, desk := range served {
		got = append(got, num)
		perDesk[desk]++
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("served %v, want every ticket once: %v", got, want)
	}
	t.Logf("tickets served per desk: %v", perDesk)
}

// TestDeskReservedForAppointments reserves a desk for appointments: its
// "Chiama il prossimo" calls the checked-in citizen although a walk-in
// arrived first, and the other desk calls the walk-in.
func TestDeskReservedForAppointments(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	loc := e.ten.Location()
	now := time.Now().In(loc)
	// The appointment is the next 10-minute slot, today: near midnight
	// there is none left.
	minute := now.Hour()*60 + now.Minute()
	next := (minute/10 + 1) * 10
	if next+10 > 24*60 {
		t.Skip("no 10-minute slot left today in the Comune's time zone")
	}
	var week booking.Week
	for d := time.Sunday; d <= time.Saturday; d++ {
		week[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	office, err := e.book.SaveOffice(ctx, e.ten.ID, booking.Office{Name: "Stato civile", Address: "Corso Vittorio Emanuele 1", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc := func(name string, d time.Duration) booking.Service {
		s, err := e.book.SaveService(ctx, e.ten.ID, booking.Service{OfficeID: office.ID, Name: name, Description: name + ".",
			Category: "Stato civile", Duration: d, Channels: []booking.Channel{booking.InPerson}, Capacity: 1, HorizonDays: 2,
			CancelDeadline: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	short, long := svc("Certificato", 10*time.Minute), svc("Pubblicazioni di matrimonio", time.Hour)
	e.alwaysOpen(office.ID)
	for _, d := range []booking.Desk{
		{ID: "s-r", OfficeID: office.ID, Label: "Sportello prenotati", Kind: booking.DeskCounter, Appointments: true},
		{ID: "s-1", OfficeID: office.ID, Label: "Sportello 1", Kind: booking.DeskCounter},
	} {
		w, err := e.book.WriteDesk(ctx, e.ten.ID, d, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.node.WaitApplied(ctx, w.Index); err != nil {
			t.Fatal(err)
		}
		e.desks[d.ID] = w.ID
	}
	y, m, d := now.Date()
	start := time.Date(y, m, d, next/60, next%60, 0, 0, loc)
	c, err := e.book.Create(ctx, e.ten, booking.Request{ServiceID: short.ID, Start: start, Channel: booking.InPerson, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"}},
		"https://"+deskHost)
	if errors.Is(err, booking.ErrClosed) {
		t.Skipf("no appointment at %s today: the office is closed for a holiday (%v)", start.Format("15:04"), err)
	}
	if err != nil {
		t.Fatalf("book at %s: %v", start.Format("15:04"), err)
	}
	// The walk-in's service (an hour) would end after the appointment is
	// due, so the reserved desk does not fill the gap with it.
	walkIn := e.takeReq(queue.TakeRequest{OfficeID: office.ID, ServiceID: long.ID})
	booked := e.takeReq(queue.TakeRequest{OfficeID: office.ID, BookingCode: c.Booking.Code})
	if !booked.Booked {
		t.Fatalf("check-in at %s for %s: not booked: %+v", now.Format("15:04"), start.Format("15:04"), booked)
	}
	// By the ordering rule the walk-in comes first: the booked citizen
	// is early.
	if line := e.line(office.ID); len(line) != 2 || line[0] != walkIn.Number {
		t.Fatalf("line %v, want the walk-in %s first", line, walkIn.Number)
	}
	op := e.login("op-s", auth.Grant{Role: auth.RoleOperator, Offices: []string{office.ID}})
	expect(t, "reserved desk's page", op.get(deskURL(office.ID, e.desks["s-r"])), http.StatusOK, "Riservato agli appuntamenti")
	expect(t, "reserved desk calls", op.post("/gestione/coda/chiama", office.ID, "s-r"), http.StatusSeeOther)
	if k := e.atDesk(office.ID, "s-r"); k.ID != booked.ID {
		t.Errorf("reserved desk called %s, want the booked citizen %s (walk-in %s arrived first)", k.Number, booked.Number, walkIn.Number)
	}
	expect(t, "other desk calls", op.post("/gestione/coda/chiama", office.ID, "s-1"), http.StatusSeeOther)
	if k := e.atDesk(office.ID, "s-1"); k.ID != walkIn.ID {
		t.Errorf("other desk called %s, want the walk-in %s", k.Number, walkIn.Number)
	}
}
