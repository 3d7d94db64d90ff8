package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
)

// lockedBuffer is a bytes.Buffer safe for the handler's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// giulia is citizen n renamed, so that a search by name tells the
// bookings apart from the other tests' Mario Rossi.
func giulia(n int, family string) booking.Citizen {
	c := citizen(n)
	c.GivenName, c.FamilyName = "Giulia", family
	return c
}

// TestAgendaSearch searches the agenda as operators and a supervisor
// through real sessions: by name, code and fiscal code, only among the
// offices of the user's grant and the Comune of the host, within the
// window, with a link to the booking on its day's agenda; a short text is
// refused with a field error; the text never reaches the logs.
func TestAgendaSearch(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	var logs lockedBuffer
	// Every level, so that even a debug line holding the text is seen.
	ae.handler.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := ae.bari
	mine := ae.create(t, c, c.InPerson, tuesday(9, 0), booking.InPerson, giulia(1, "Bianchi")).Booking
	other := ae.create(t, c, c.OtherService, tuesday(10, 0), booking.InPerson, giulia(2, "Bianchi")).Booking
	lecce := ae.create(t, ae.lecce, ae.lecce.InPerson, tuesday(9, 0), booking.InPerson, giulia(3, "Bianchi")).Booking
	op := ae.loginWith(c, "op-a", "Olga Verdi", auth.Grant{Role: auth.RoleOperator, Offices: []string{c.Office.ID}})
	sup := ae.loginWith(c, "sup", "Carla Blu", auth.Grant{Role: auth.RoleSupervisor})
	search := func(u *user, q string) response {
		t.Helper()
		return u.get(bariHost, "/gestione/agenda/cerca?"+url.Values{qSearch: {q}}.Encode())
	}

	// The agenda offers the search box.
	page := op.get(bariHost, "/gestione/agenda")
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `action="/gestione/agenda/cerca"`) ||
		!strings.Contains(page.Body, `name="cerca"`) {
		t.Fatalf("agenda: got %d, want the search form", page.Status)
	}
	empty := op.get(bariHost, "/gestione/agenda/cerca")
	if empty.Status != http.StatusOK || strings.Contains(empty.Body, mine.Code) {
		t.Errorf("empty search: got %d, want 200 with the form only", empty.Status)
	}
	checkAccessible(t, "empty search", empty.Body)

	for _, q := range []string{"bianchi", "Giulia  BIANCHI", mine.Code, strings.ToLower(mine.Code), giulia(1, "").FiscalCode,
		strings.ToLower(giulia(1, "").FiscalCode[:6])} {
		r := search(op, q)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, mine.Code) {
			t.Errorf("search %q: got %d, want 200 with %s\n%s", q, r.Status, mine.Code, text(r.Body))
		}
		for what, b := range map[string]booking.Booking{"another office": other, "another Comune": lecce} {
			if strings.Contains(r.Body, b.Code) {
				t.Errorf("search %q: lists %s of %s", q, b.Code, what)
			}
		}
	}
	r := search(op, "bianchi")
	checkAccessible(t, "search results", r.Body)
	for _, want := range []string{"1 prenotazioni trovate", "Giulia Bianchi", "martedì 2 marzo 2027, 09:00", "Prenotato",
		"Rilascio carta d'identità elettronica"} {
		if !strings.Contains(text(r.Body), want) {
			t.Errorf("results lack %q:\n%s", want, text(r.Body))
		}
	}
	link := "/gestione/agenda?giorno=2027-03-02&amp;ufficio=" + c.Office.ID + "#p-" + mine.Code
	if !strings.Contains(r.Body, `href="`+link+`"`) {
		t.Fatalf("results lack the link %s:\n%s", link, r.Body)
	}
	day := op.get(bariHost, strings.ReplaceAll(strings.Split(link, "#")[0], "&amp;", "&"))
	if day.Status != http.StatusOK || !strings.Contains(day.Body, `id="p-`+mine.Code+`"`) {
		t.Errorf("the link's agenda: got %d, want the booking's anchor", day.Status)
	}

	// Nothing matches: a name not there, a word that does not match the
	// same booking, LIKE's wildcards taken as text.
	for _, q := range []string{"Verdi", "Giulia Verdi", "%%%", "___"} {
		r := search(op, q)
		if r.Status != http.StatusOK || !strings.Contains(text(r.Body), "Nessuna prenotazione trovata") || strings.Contains(r.Body, mine.Code) {
			t.Errorf("search %q: got %d, want 200 with no booking\n%s", q, r.Status, text(r.Body))
		}
	}
	// Too short: a field error, no search.
	r = search(op, " bi ")
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(text(r.Body), "almeno 3 caratteri") ||
		!strings.Contains(r.Body, `aria-invalid="true"`) || strings.Contains(r.Body, mine.Code) {
		t.Errorf("short search: got %d, want 422 with the field error\n%s", r.Status, text(r.Body))
	}

	// A supervisor of every office finds both of Bari's, not Lecce's.
	r = search(sup, "bianchi")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, mine.Code) || !strings.Contains(r.Body, other.Code) || strings.Contains(r.Body, lecce.Code) {
		t.Errorf("supervisor: got %d, want both of Bari's bookings and not Lecce's\n%s", r.Status, text(r.Body))
	}
	// An operator without office is told so.
	none := ae.loginWith(c, "op-n", "Nino Grigi", auth.Grant{Role: auth.RoleOperator, Offices: []string{"nessuno"}})
	if r := search(none, "bianchi"); r.Status != http.StatusOK || strings.Contains(r.Body, mine.Code) || !strings.Contains(text(r.Body), "non è assegnato") {
		t.Errorf("operator without offices: got %d\n%s", r.Status, text(r.Body))
	}

	// The window: 30 days after the appointment it is still found, 31
	// days after it is not. The operator logs in again: the session of
	// a month ago has expired.
	grant := auth.Grant{Role: auth.RoleOperator, Offices: []string{c.Office.ID}}
	ae.clock.Set(tuesday(9, 0).Add(30 * 24 * time.Hour))
	if r := search(ae.loginWith(c, "op-a", "Olga Verdi", grant), "bianchi"); r.Status != http.StatusOK || !strings.Contains(r.Body, mine.Code) {
		t.Errorf("30 days later: got %d, want the booking\n%s", r.Status, text(r.Body))
	}
	ae.clock.Set(tuesday(9, 0).Add(31 * 24 * time.Hour))
	if r := search(ae.loginWith(c, "op-a", "Olga Verdi", grant), "bianchi"); r.Status != http.StatusOK || strings.Contains(r.Body, mine.Code) {
		t.Errorf("31 days later: got %d, want 200 without the booking", r.Status)
	}

	if l := strings.ToLower(logs.String()); strings.Contains(l, "bianchi") || strings.Contains(l, strings.ToLower(giulia(1, "").FiscalCode)) {
		t.Errorf("the search text reached the logs:\n%s", logs.String())
	}
}

// TestSearchAgendaLimit checks the store's bound and its validation.
func TestSearchAgendaLimit(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	c := ae.bari
	a := ae.create(t, c, c.Remote, tuesday(9, 0), booking.InPerson, giulia(1, "Bianchi")).Booking
	b := ae.create(t, c, c.Remote, tuesday(9, 0), booking.InPerson, giulia(2, "Bianchi")).Booking
	ctx := context.Background()
	s := booking.AgendaSearch{Text: "bianchi", Offices: []string{c.Office.ID}, From: testNow, To: testNow.AddDate(0, 1, 0), Limit: 1}
	items, more, err := ae.book.SearchAgenda(ctx, c.Tenant, s)
	if err != nil || len(items) != 1 || !more {
		t.Fatalf("limit 1: got %d items, more %v, %v; want 1 and more", len(items), more, err)
	}
	s.Limit = 2
	items, more, err = ae.book.SearchAgenda(ctx, c.Tenant, s)
	if err != nil || len(items) != 2 || more || items[0].Booking.Start.After(items[1].Booking.Start) {
		t.Errorf("limit 2: got %d items, more %v, %v; want %s and %s", len(items), more, err, a.Code, b.Code)
	}
	s.Offices = nil
	if items, _, err := ae.book.SearchAgenda(ctx, c.Tenant, s); err != nil || len(items) != 0 {
		t.Errorf("no office: got %d items, %v; want none", len(items), err)
	}
	for _, q := range []string{"ab", strings.Repeat("a", booking.MaxSearchText+1), "ab\x00c"} {
		s.Text = q
		var ve *booking.ValidationError
		if _, _, err := ae.book.SearchAgenda(ctx, c.Tenant, s); !errors.As(err, &ve) || ve.Fields["text"] == "" {
			t.Errorf("text %q: got %v, want a ValidationError on text", q, err)
		}
	}
}
