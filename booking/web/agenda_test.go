package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// loginWith records a login of subject in Comune c and assigns it grants
// in the back office, as an administrator would.
func (ae *adminEnv) loginWith(c comune, subject, name string, grants ...auth.Grant) *user {
	t := ae.t
	t.Helper()
	ctx := context.Background()
	lr, cookie, err := ae.store.Login(ctx, c.Tenant.ID, auth.Identity{
		Provider: "regione", Issuer: issuer, Subject: subject, DisplayName: name,
	}, "", "")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if err := ae.store.SetGrants(ctx, c.Tenant.ID, lr.User.ID, grants); err != nil {
		t.Fatalf("SetGrants: %v", err)
	}
	return &user{e: ae, c: c, cookie: cookie, csrf: lr.Session.CSRF}
}

// bookingState is a booking's row, office record and notes as text, to
// prove that a refused request changed nothing.
func (ae *adminEnv) bookingState(t *testing.T, id string) string {
	t.Helper()
	it, err := ae.book.AgendaItem(context.Background(), ae.bari.Tenant, id)
	if err != nil {
		t.Fatalf("AgendaItem: %v", err)
	}
	b, _ := json.Marshal(it)
	return string(b)
}

// followAgenda GETs the Location of a 303 as u, without its fragment
// (which a browser keeps to itself: it scrolls to the booking).
func (u *user) followAgenda(t *testing.T, r response) response {
	t.Helper()
	if r.Status != http.StatusSeeOther {
		t.Fatalf("got %d, want 303; body:\n%s", r.Status, text(r.Body))
	}
	loc, frag, _ := strings.Cut(r.Header.Get("Location"), "#")
	if !strings.HasPrefix(frag, "p-") {
		t.Errorf("redirect %q does not point at the booking", r.Header.Get("Location"))
	}
	return u.get(u.c.Host, loc)
}

// tuesday is the day after testNow, when the agenda's bookings are.
func tuesday(hh, mm int) time.Time { return slot(2, hh, mm) }

// TestAgendaAccess tries every agenda and statistics route as anonymous,
// as an operator of another office, as a user of another Comune and as
// the right role; a refused POST changes nothing.
func TestAgendaAccess(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	b := ae.create(t, ae.bari, ae.bari.InPerson, tuesday(9, 0), booking.InPerson, citizen(1))
	lb := ae.create(t, ae.lecce, ae.lecce.InPerson, tuesday(9, 0), booking.InPerson, citizen(2))
	ae.clock.Set(tuesday(9, 10))
	mine := ae.loginWith(ae.bari, "op-a", "Olga Verdi", auth.Grant{Role: auth.RoleOperator, Offices: []string{ae.bari.Office.ID}})
	other := ae.loginWith(ae.bari, "op-b", "Bruno Neri", auth.Grant{Role: auth.RoleOperator, Offices: []string{ae.bari.Other.ID}})
	supOther := ae.loginWith(ae.bari, "sup-b", "Sara Gialli", auth.Grant{Role: auth.RoleSupervisor, Offices: []string{ae.bari.Other.ID}})
	supAll := ae.loginWith(ae.bari, "sup", "Carla Blu", auth.Grant{Role: auth.RoleSupervisor})
	lecceAdmin := ae.loginWith(ae.lecce, "adm-l", "Luca Rosa", auth.Grant{Role: auth.RoleComuneAdmin})
	id := b.Booking.ID
	pathOf := func(p string) string { return strings.ReplaceAll(p, "{id}", id) }
	forms := map[string]url.Values{
		"/gestione/agenda/{id}/servito": {"esito-" + id: {"fatto"}},
		"/gestione/agenda/{id}/nota":    {"nota-" + id: {"nota"}},
		"/gestione/agenda/{id}/annulla": {"motivo-" + id: {"motivo"}},
	}
	before := ae.bookingState(t, id)
	for _, rt := range ae.handler.agendaRouteTable() {
		p := pathOf(rt.path)
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			if rt.method == "GET" {
				if r := ae.get(bariHost, p); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/_auth/login?return=") {
					t.Errorf("anonymous: got %d %q, want 303 to the login", r.Status, r.Header.Get("Location"))
				}
				// A session of Lecce is no session on Bari's host.
				if r := lecceAdmin.get(bariHost, p); r.Status != http.StatusSeeOther {
					t.Errorf("administrator of another Comune: got %d, want 303 to the login", r.Status)
				}
				return
			}
			if r := ae.postForm(bariHost, p, forms[rt.path]); r.Status != http.StatusUnauthorized {
				t.Errorf("anonymous: got %d, want 401", r.Status)
			}
			if r := lecceAdmin.postHost(bariHost, p, forms[rt.path]); r.Status != http.StatusUnauthorized {
				t.Errorf("administrator of another Comune: got %d, want 401", r.Status)
			}
			for who, u := range map[string]*user{"operator of another office": other, "supervisor of another office": supOther} {
				if r := u.post(p, forms[rt.path]); r.Status != http.StatusForbidden {
					t.Errorf("%s: got %d, want 403", who, r.Status)
				}
			}
			v := cloneValues(forms[rt.path])
			v.Set(csrfField, "sbagliato")
			if r := mine.post(p, v); r.Status != http.StatusForbidden {
				t.Errorf("right operator with a wrong CSRF token: got %d, want 403", r.Status)
			}
			if after := ae.bookingState(t, id); after != before {
				t.Errorf("a refused POST changed the booking:\n%s\nwant\n%s", after, before)
			}
		})
	}

	agendaOf := func(office string) string { return "/gestione/agenda?giorno=2027-03-02&ufficio=" + office }
	if r := mine.get(bariHost, agendaOf(ae.bari.Office.ID)); r.Status != http.StatusOK || !strings.Contains(r.Body, b.Booking.Code) {
		t.Errorf("operator's own agenda: got %d, want 200 listing %s", r.Status, b.Booking.Code)
	}
	if r := other.get(bariHost, agendaOf(ae.bari.Office.ID)); r.Status != http.StatusForbidden || strings.Contains(r.Body, b.Booking.Code) {
		t.Errorf("agenda of another office: got %d, want 403 without the booking", r.Status)
	}
	if r := other.get(bariHost, "/gestione/agenda?giorno=2027-03-02"); r.Status != http.StatusOK || strings.Contains(r.Body, b.Booking.Code) ||
		strings.Contains(r.Body, `value="`+ae.bari.Office.ID+`"`) {
		t.Errorf("operator's default agenda: got %d, want 200 without the other office or its booking", r.Status)
	}
	if r := supAll.get(bariHost, agendaOf(ae.bari.Office.ID)); r.Status != http.StatusOK || !strings.Contains(r.Body, b.Booking.Code) {
		t.Errorf("supervisor of every office: got %d, want 200", r.Status)
	}
	if r := mine.get(bariHost, "/gestione/statistiche"); r.Status != http.StatusForbidden {
		t.Errorf("operator on the statistics: got %d, want 403", r.Status)
	}
	if r := supOther.get(bariHost, "/gestione/statistiche?ufficio="+ae.bari.Office.ID); r.Status != http.StatusForbidden {
		t.Errorf("supervisor asking for another office's statistics: got %d, want 403", r.Status)
	}
	if r := supAll.get(bariHost, "/gestione/statistiche"); r.Status != http.StatusOK {
		t.Errorf("supervisor on the statistics: got %d, want 200", r.Status)
	}
	// Lecce's booking IDs are not found through Bari.
	admin := ae.loginWith(ae.bari, "adm", "Anna Bianchi", auth.Grant{Role: auth.RoleComuneAdmin})
	if r := admin.post("/gestione/agenda/"+lb.Booking.ID+"/arrivo", url.Values{}); r.Status != http.StatusNotFound {
		t.Errorf("a booking of another Comune: got %d, want 404", r.Status)
	}
}

// TestAgendaFlow drives the agenda as an operator through its forms.
func TestAgendaFlow(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	c := ae.bari
	first := ae.create(t, c, c.InPerson, tuesday(9, 0), booking.InPerson, citizen(1)).Booking
	second := ae.create(t, c, c.Remote, tuesday(11, 0), booking.Video, citizen(2)).Booking
	ae.clock.Set(tuesday(8, 55))
	op := ae.loginWith(c, "op-a", "Olga Verdi", auth.Grant{Role: auth.RoleOperator, Offices: []string{c.Office.ID}})

	// Today (the Comune's) is the default day, the first office the
	// default office.
	page := op.get(bariHost, "/gestione/agenda")
	if page.Status != http.StatusOK {
		t.Fatalf("agenda: got %d\n%s", page.Status, page.Body)
	}
	checkAccessible(t, "agenda", page.Body)
	txt := text(page.Body)
	for _, want := range []string{first.Code, second.Code, "Rilascio carta d'identità elettronica", "Cambio di residenza",
		"Mario Rossi", "In videochiamata", "Prenotato", "09:00–09:30", "martedì 2 marzo 2027"} {
		if !strings.Contains(txt, want) {
			t.Errorf("agenda lacks %q:\n%s", want, txt)
		}
	}
	if strings.Index(txt, first.Code) > strings.Index(txt, second.Code) {
		t.Errorf("agenda not in time order")
	}

	// Too early for a no-show: the button is not offered, and posting
	// anyway is refused with the reason.
	if strings.Contains(page.Body, "/gestione/agenda/"+first.ID+"/assente") {
		t.Errorf("no-show offered before the start")
	}
	r := op.post("/gestione/agenda/"+first.ID+"/assente", url.Values{})
	if r.Status != http.StatusConflict || !strings.Contains(text(r.Body), "non è ancora iniziato") {
		t.Errorf("early no-show: got %d, want 409 with the reason\n%s", r.Status, text(r.Body))
	}

	f := findForm(t, page.Body, "/gestione/agenda/"+first.ID+"/arrivo", "")
	r = op.followAgenda(t, op.post(f.Action, f.Values))
	if !strings.Contains(text(r.Body), "Arrivo registrato.") || !strings.Contains(text(r.Body), "Arrivato") ||
		!strings.Contains(text(r.Body), "Arrivo registrato alle 08:55 del martedì 2 marzo 2027 da Olga Verdi") {
		t.Errorf("after arrival:\n%s", text(r.Body))
	}

	f = findForm(t, r.Body, "/gestione/agenda/"+first.ID+"/servito", "")
	f.Values.Set("esito-"+first.ID, "CIE richiesta.")
	r = op.followAgenda(t, op.post(f.Action, f.Values))
	if !strings.Contains(text(r.Body), "Servito alle 08:55 del martedì 2 marzo 2027 da Olga Verdi: CIE richiesta.") {
		t.Errorf("after serving:\n%s", text(r.Body))
	}
	if strings.Contains(r.Body, "/gestione/agenda/"+first.ID+"/annulla") {
		t.Errorf("cancel offered for a served booking")
	}

	f = findForm(t, r.Body, "/gestione/agenda/"+first.ID+"/nota", "")
	r = op.post(f.Action, f.Values) // empty note
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "Scrivi il testo della nota.") ||
		!strings.Contains(r.Body, `id="nota-`+first.ID+`"`) {
		t.Errorf("empty note: got %d, want 422 with the field's message\n%s", r.Status, text(r.Body))
	}
	checkAccessible(t, "agenda with an error", r.Body)
	f.Values.Set("nota-"+first.ID, "Documento <b>scaduto</b>")
	r = op.followAgenda(t, op.post(f.Action, f.Values))
	if !strings.Contains(r.Body, "Documento &lt;b&gt;scaduto&lt;/b&gt;") || !strings.Contains(text(r.Body), "Nota aggiunta.") {
		t.Errorf("note not shown (escaped):\n%s", text(r.Body))
	}

	// Cancel the second booking: the reason is required, then the slot
	// frees and the outbox holds the email with the reason.
	f = findForm(t, r.Body, "/gestione/agenda/"+second.ID+"/annulla", "")
	r = op.post(f.Action, f.Values)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "Indica il motivo dell'annullamento") {
		t.Errorf("cancel without reason: got %d, want 422\n%s", r.Status, text(r.Body))
	}
	reason := "Lo sportello resterà chiuso per un guasto: prenota un altro giorno."
	f.Values.Set("motivo-"+second.ID, reason)
	r = op.followAgenda(t, op.post(f.Action, f.Values))
	if !strings.Contains(text(r.Body), "Annullato dall'ufficio") || !strings.Contains(text(r.Body), "Motivo: "+reason) {
		t.Errorf("after cancel:\n%s", text(r.Body))
	}
	ms, err := ae.node.Outbox(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range ms {
		var n booking.Notice
		if json.Unmarshal(m.Payload, &n) == nil && n.Booking.ID == second.ID && n.Kind == booking.NoticeCancel {
			found = n.Reason == reason && n.Booking.Citizen.Email == citizen(2).Email
			_, _, msg, err := booking.ComposeEmail(n, ae.clock.Now())
			if err == nil && !strings.Contains(string(msg), "Motivo") {
				t.Errorf("composed email lacks the reason")
			}
		}
	}
	if !found {
		t.Errorf("no cancellation email with the reason in the outbox")
	}
	day := civil.Date{Year: 2027, Month: time.March, Day: 2}
	slots, err := ae.book.Slots(context.Background(), c.Tenant, c.Remote.ID, day, day)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.Start.Equal(second.Start) && s.Remaining != c.Remote.Capacity {
			t.Errorf("the cancelled slot has %d places left, want %d", s.Remaining, c.Remote.Capacity)
		}
	}

	// The audit log names who cancelled which booking, not the reason.
	entries, err := ae.node.Audit(context.Background(), string(c.Tenant.ID), cluster.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, e := range entries {
		if e.Type == booking.CmdOfficeCancel {
			audited = e.Actor.Name == "Olga Verdi" && strings.Contains(e.Summary, "booking="+second.ID) && !strings.Contains(e.Summary, "guasto")
		}
	}
	if !audited {
		t.Errorf("no audit row for the office's cancellation by Olga Verdi without the reason: %+v", entries)
	}

	// Posting again for the cancelled booking is refused, with the
	// reason, and changes nothing.
	before := ae.bookingState(t, second.ID)
	r = op.post("/gestione/agenda/"+second.ID+"/servito", url.Values{})
	if r.Status != http.StatusConflict || !strings.Contains(text(r.Body), "annullato") {
		t.Errorf("serve a cancelled booking: got %d, want 409", r.Status)
	}
	if after := ae.bookingState(t, second.ID); after != before {
		t.Errorf("refused step changed the booking")
	}
}

// TestStatisticsPageAndCSV checks the supervisor's numbers against a
// seeded history, on the page and in the CSV.
func TestStatisticsPageAndCSV(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	c := ae.bari
	ctx := context.Background()
	by := booking.Operator{ID: "u", Name: "Olga Verdi"}
	served := ae.create(t, c, c.Remote, tuesday(9, 0), booking.InPerson, citizen(1))
	absent := ae.create(t, c, c.Remote, tuesday(9, 0), booking.InPerson, citizen(2))
	byCitizen := ae.create(t, c, c.Remote, tuesday(9, 20), booking.InPerson, citizen(3))
	byOffice := ae.create(t, c, c.Remote, tuesday(9, 40), booking.InPerson, citizen(4))
	ae.create(t, c, c.OtherService, tuesday(10, 0), booking.InPerson, citizen(5))
	if _, err := ae.book.Cancel(ctx, c.Tenant, byCitizen.Booking.Code, byCitizen.ManageToken, "http://"+c.Host); err != nil {
		t.Fatal(err)
	}
	if _, err := ae.book.CancelByOffice(ctx, c.Tenant, c.Office.ID, byOffice.Booking.ID, by, "Guasto", "http://"+c.Host); err != nil {
		t.Fatal(err)
	}
	ae.clock.Set(tuesday(9, 15))
	if _, err := ae.book.Serve(ctx, c.Tenant, c.Office.ID, served.Booking.ID, by, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ae.book.NoShow(ctx, c.Tenant, c.Office.ID, absent.Booking.ID, by); err != nil {
		t.Fatal(err)
	}
	sup := ae.loginWith(c, "sup", "Carla Blu", auth.Grant{Role: auth.RoleSupervisor, Offices: []string{c.Office.ID}})

	r := sup.get(bariHost, "/gestione/statistiche")
	if r.Status != http.StatusOK {
		t.Fatalf("statistics: got %d\n%s", r.Status, r.Body)
	}
	checkAccessible(t, "statistics", r.Body)
	// Made on Monday 08:00 for Tuesday 09:00–09:40: 25 h, 25 h, 25 h 20,
	// 25 h 40 → 25 h 15 on average.
	txt := text(r.Body)
	if !strings.Contains(txt, "Cambio di residenza 4 1 1 1 1 1 giorno e 1 ora") {
		t.Errorf("statistics row missing or wrong:\n%s", txt)
	}
	if strings.Contains(txt, "Certificato di destinazione urbanistica") {
		t.Errorf("statistics show an office outside the supervisor's grant")
	}

	r = sup.get(bariHost, "/gestione/statistiche?dal=2027-03-01&al=2027-03-31&formato=csv")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("CSV: got %d, %q, %q", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
	}
	records, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, r.Body)
	}
	want := [][]string{
		{"ufficio", "servizio", "prenotazioni", "annullate_dal_cittadino", "annullate_dall_ufficio", "servite", "assenze", "anticipo_medio_ore"},
		{c.Office.Name, "Cambio di residenza", "4", "1", "1", "1", "1", "25.25"},
		{"Totale", "", "4", "1", "1", "1", "1", "25.25"},
	}
	if got, _ := json.Marshal(records); string(got) != mustJSON(want) {
		t.Errorf("CSV\n%s\nwant\n%s", got, mustJSON(want))
	}
	for _, personal := range []string{"Rossi", "Mario", citizen(1).FiscalCode, "example.org"} {
		if strings.Contains(r.Body, personal) {
			t.Errorf("CSV holds personal data %q", personal)
		}
	}
	if r := sup.get(bariHost, "/gestione/statistiche?dal=2027-03-31&al=2027-03-01"); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(text(r.Body), "L'ultimo giorno precede il primo.") {
		t.Errorf("reversed period: got %d, want 422 with the message", r.Status)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
