package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
)

// The desk page's "Aggiungi un cittadino alla coda", on the real
// three-node cluster of newDeskEnv.

// addForm is the add form's fields.
func addForm(service, channel, priority string) url.Values {
	return url.Values{fAddService: {service}, fAddChannel: {channel}, fAddPriority: {priority}}
}

// TestDeskAddWithPriority adds a pregnant citizen at the desk after two
// walk-ins: the page tells the new number, the ticket has the priority
// and is first in the line, and "Chiama il prossimo" calls it.
func TestDeskAddWithPriority(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	a := e.anagrafe.ID
	w1, w2 := e.take(a, queue.NoPriority), e.take(a, queue.NoPriority)
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})

	page := op.get(deskURL(a, e.desks["a-1"]))
	expect(t, "desk page", page, http.StatusOK, "Aggiungi un cittadino alla coda…", "aggiungi=1")
	page = op.get(deskURL(a, e.desks["a-1"]) + "&aggiungi=1")
	expect(t, "add form", page, http.StatusOK, `action="/gestione/coda/aggiungi"`, "<legend", `name="precedenza"`,
		`<option value="pregnancy">Gravidanza</option>`, `<option value="disability">Disabilità</option>`,
		`<option value="`+e.service.ID+`">`, `<option value="in_person" selected>`)
	if strings.Contains(page.Body, `http-equiv="refresh"`) {
		t.Errorf("the page with the add form reloads itself")
	}
	checkDeskAccessible(t, "add form", page.Body)

	r := op.postWith("/gestione/coda/aggiungi", a, "a-1", addForm(e.service.ID, "in_person", "pregnancy"))
	expect(t, "add", r, http.StatusSeeOther)
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || loc.Query().Get(qDeskOutcome) != outcomeAdded || loc.Query().Get(qDesk) != e.desks["a-1"] {
		t.Fatalf("add: Location %q", r.Header.Get("Location"))
	}
	k := e.ticket(loc.Query().Get(qDeskAdded))
	if k.Priority != queue.Pregnancy || k.ServiceID != e.service.ID || k.Channel != queue.InPerson || k.State != queue.Waiting || k.OfficeID != a {
		t.Fatalf("added ticket: %+v", k)
	}
	page = op.get(loc.RequestURI())
	expect(t, "page after adding", page, http.StatusOK, "Aggiunto il numero "+k.Number+": comunicalo al cittadino.")
	if got := deskShownLine(page.Body); len(got) != 3 || got[0] != k.Number || got[1] != w1.Number || got[2] != w2.Number {
		t.Errorf("line shown %v, want %s (priority) before %s and %s", got, k.Number, w1.Number, w2.Number)
	}
	expect(t, "the row's mark", page, http.StatusOK, "Precedenza: gravidanza")
	if line := e.line(a); len(line) != 3 || line[0] != k.Number {
		t.Errorf("line %v, want %s first", line, k.Number)
	}
	expect(t, "call", op.post("/gestione/coda/chiama", a, "a-1"), http.StatusSeeOther)
	if got := e.atDesk(a, "a-1"); got.ID != k.ID {
		t.Errorf("call-next called %s, want the priority citizen %s", got.Number, k.Number)
	}

	// The flash's number comes from the ticket, never from the URL: a
	// ticket of another office or an unknown one gives the plain flash.
	kt := e.take(e.tributi.ID, queue.NoPriority)
	for _, id := range []string{kt.ID, "A999", "<b>x</b>"} {
		page := op.get(deskURL(a, "") + "&" + url.Values{qDeskOutcome: {outcomeAdded}, qDeskAdded: {id}}.Encode())
		expect(t, "flash of "+id, page, http.StatusOK, "Cittadino aggiunto alla coda.")
		if strings.Contains(page.Body, "Aggiunto il numero") {
			t.Errorf("flash of %q names a number", id)
		}
	}

	// Without a desk chosen the form works too, and returns to the
	// office's page; a video citizen with a disability.
	r = op.postWith("/gestione/coda/aggiungi", a, "", addForm("", "video", "disability"))
	expect(t, "add without a desk", r, http.StatusSeeOther)
	loc, _ = url.Parse(r.Header.Get("Location"))
	if k := e.ticket(loc.Query().Get(qDeskAdded)); k.Priority != queue.Disability || k.Channel != queue.Video || k.ServiceID != "" ||
		loc.Query().Get(qDesk) != "" {
		t.Errorf("added without a desk: %+v, Location %s", k, loc)
	}
}

// TestDeskAddPassesTheDailyCap fills the office's daily cap with a
// public take: the citizens' doors are refused, the desk still adds.
func TestDeskAddPassesTheDailyCap(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	a := e.anagrafe.ID
	c, err := e.q.Config(ctx, e.ten.ID, a)
	if err != nil {
		t.Fatal(err)
	}
	c.DailyCap = 1
	if err := e.q.Configure(ctx, e.ten.ID, c); err != nil {
		t.Fatal(err)
	}
	public := queue.TakeRequest{OfficeID: a, Channel: queue.InPerson, Source: queue.SourceWeb, ClientIP: "192.0.2.1"}
	first := e.takeReq(public)
	public.ClientIP = "192.0.2.2"
	if _, err := e.q.Take(ctx, e.ten, public); !errors.Is(err, queue.ErrDailyCap) {
		t.Fatalf("public take over the cap: %v, want ErrDailyCap", err)
	}
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	r := op.postWith("/gestione/coda/aggiungi", a, "a-1", addForm("", "in_person", ""))
	expect(t, "add over the cap", r, http.StatusSeeOther)
	if line := e.line(a); len(line) != 2 || line[0] != first.Number {
		t.Errorf("line %v, want %s and the added citizen", line, first.Number)
	}
	// The added ticket does not count against the cap either way: the
	// citizens' door stays closed at one.
	public.ClientIP = "192.0.2.3"
	if _, err := e.q.Take(ctx, e.ten, public); !errors.Is(err, queue.ErrDailyCap) {
		t.Errorf("public take after the desk's: %v, want ErrDailyCap", err)
	}
}

// TestDeskAddRefusals sends bad add forms: another office's, forged
// services, channels and priorities, no office, no CSRF token. Each is
// refused with its reason and nothing changes.
func TestDeskAddRefusals(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	a, o := e.anagrafe.ID, e.tributi.ID
	e.take(a, queue.NoPriority)
	e.take(o, queue.NoPriority)
	tributiSvc, err := e.book.SaveService(ctx, e.ten.ID, booking.Service{
		OfficeID: o, Name: "IMU", Description: "Imposta municipale.", Category: "Tributi",
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	old, err := e.book.SaveService(ctx, e.ten.ID, booking.Service{
		OfficeID: a, Name: "Vecchio servizio", Description: "Non più offerto.", Category: "Anagrafe",
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.book.ArchiveService(ctx, e.ten.ID, old.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.node.WaitApplied(ctx, w.Index); err != nil {
		t.Fatal(err)
	}
	op := e.login("op-a", auth.Grant{Role: auth.RoleOperator, Offices: []string{a}})
	if strings.Contains(op.get(deskURL(a, "")+"&aggiungi=1").Body, old.ID) {
		t.Errorf("the add form offers an archived service")
	}
	before := e.fullState(a) + " | " + e.fullState(o)
	for _, c := range []struct {
		name, office, desk string
		form               url.Values
		status             int
		want               string
	}{
		{"another office", o, "", addForm("", "in_person", ""), http.StatusForbidden, ""},
		{"unknown office", "nessuno", "", addForm("", "in_person", ""), http.StatusForbidden, ""},
		{"no office", "", "", addForm("", "in_person", ""), http.StatusUnprocessableEntity, "Scegli l&#39;ufficio"},
		{"unknown service", a, "a-1", addForm("nessuno", "in_person", ""), http.StatusUnprocessableEntity, "non è offerto da questo ufficio"},
		{"service of another office", a, "a-1", addForm(tributiSvc.ID, "in_person", "pregnancy"), http.StatusUnprocessableEntity, "non è offerto da questo ufficio"},
		{"archived service", a, "a-1", addForm(old.ID, "in_person", ""), http.StatusUnprocessableEntity, "non è offerto da questo ufficio"},
		{"bad channel", a, "a-1", addForm("", "fax", ""), http.StatusUnprocessableEntity, "Scegli come sarà servito"},
		{"bad priority", a, "", addForm("", "in_person", "vip"), http.StatusUnprocessableEntity, "Scegli una precedenza"},
	} {
		r := op.postWith("/gestione/coda/aggiungi", c.office, c.desk, c.form)
		if c.want == "" {
			expect(t, c.name, r, c.status)
			continue
		}
		expect(t, c.name, r, c.status, c.want)
		if c.office != "" {
			// The form stays open with the field's error and what was
			// chosen, and the page does not reload itself.
			expect(t, c.name, r, c.status, `aria-invalid="true"`, `action="/gestione/coda/aggiungi"`)
			if strings.Contains(r.Body, `http-equiv="refresh"`) {
				t.Errorf("%s: the page with the error reloads itself", c.name)
			}
			checkDeskAccessible(t, c.name, r.Body)
		}
	}
	if r := e.send("POST", "/gestione/coda/aggiungi", url.Values{qDeskOffice: {a}, fAddChannel: {"in_person"}}, op.cookie); r.Status != http.StatusForbidden {
		t.Errorf("add without the CSRF token: got %d, want 403", r.Status)
	}
	if r := e.send("POST", "/gestione/coda/aggiungi", url.Values{qDeskOffice: {a}, fAddChannel: {"in_person"}}, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("add without a session: got %d, want 401", r.Status)
	}
	if after := e.fullState(a) + " | " + e.fullState(o); after != before {
		t.Fatalf("refused adds changed %s into %s", before, after)
	}
}
